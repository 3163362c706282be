#!/usr/bin/env bash
# Installs the system packages ManiSkill3 needs to render on a machine without an NVIDIA GPU:
# Mesa's lavapipe Vulkan driver >= 24.3 (SAPIEN needs Vulkan extensions older ones lack) and the Vulkan loader.
# Debian 12 ships Mesa 22.3, so the driver comes from bookworm-backports; Debian 13 ships a new enough one.
# Needs root (it is skipped, with a note, otherwise) and is idempotent: a second run changes nothing.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "install_system_deps: not root; skipping apt. ManiSkill3 rendering needs mesa-vulkan-drivers >= 24.3." >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_system_deps: no apt-get; install Mesa lavapipe >= 24.3 and the Vulkan loader yourself." >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
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
