#!/usr/bin/env bash
# Installs the system packages ManiSkill3 needs to render.
#   bash scripts/install_system_deps.sh         no NVIDIA GPU: Mesa's lavapipe Vulkan driver >= 24.3 (SAPIEN needs
#                                               Vulkan extensions older ones lack) and the Vulkan loader. Debian 12
#                                               ships Mesa 22.3, so the driver comes from bookworm-backports; Debian
#                                               13 ships a new enough one.
#   bash scripts/install_system_deps.sh --gpu   an NVIDIA GPU renders: only the Vulkan loader, plus NVIDIA's ICD
#                                               manifest when the driver is loaded but the manifest is missing (as in
#                                               many containers and cloud notebooks; content from ManiSkill's
#                                               installation guide, "Troubleshooting: Vulkan").
# Needs root (it is skipped, with a note, otherwise) and is idempotent: a second run changes nothing.
set -euo pipefail

case "${1:-}" in
  "") gpu=0 ;;
  --gpu) gpu=1 ;;
  *) echo "usage: $0 [--gpu]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  if [ "$gpu" = 1 ]; then
    echo "install_system_deps: not root; skipping apt. ManiSkill3 on an NVIDIA GPU needs libvulkan1." >&2
  else
    echo "install_system_deps: not root; skipping apt. ManiSkill3 rendering needs mesa-vulkan-drivers >= 24.3." >&2
  fi
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  if [ "$gpu" = 1 ]; then
    echo "install_system_deps: no apt-get; install the Vulkan loader yourself." >&2
  else
    echo "install_system_deps: no apt-get; install Mesa lavapipe >= 24.3 and the Vulkan loader yourself." >&2
  fi
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ "$gpu" = 1 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null
  icd=/usr/share/vulkan/icd.d/nvidia_icd.json
  if [ -e /proc/driver/nvidia/version ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json \
      /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    mkdir -p "$(dirname "$icd")"
    cat > "$icd" <<'ICD'
{
    "file_format_version" : "1.0.0",
    "ICD": {
        "library_path": "libGLX_nvidia.so.0",
        "api_version" : "1.2.155"
    }
}
ICD
    echo "install_system_deps: wrote $icd"
  fi
  dpkg-query -W -f='install_system_deps: ${Package} ${Version}\n' libvulkan1
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
apt_target=()
if [ "$codename" = bookworm ]; then
  list=/etc/apt/sources.list.d/gazelab-bookworm-backports.sources
  if [ ! -f "$list" ]; then
    cat > "$list" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt_target=(-t bookworm-backports)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${apt_target[@]}" mesa-vulkan-drivers libvulkan1 >/dev/null
dpkg-query -W -f='install_system_deps: ${Package} ${Version}\n' mesa-vulkan-drivers libvulkan1
