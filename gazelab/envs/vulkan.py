"""Find a Vulkan driver ManiSkill3 (SAPIEN) can render with, before SAPIEN is imported.

SAPIEN renders camera images with Vulkan. With an NVIDIA GPU the NVIDIA driver does it. Without one, Mesa's CPU
driver *lavapipe* works, but only from Mesa 24.3 on (older ones lack extensions SAPIEN needs and fail with
"failed to find a rendering device"). The Vulkan loader picks drivers from ``VK_ICD_FILENAMES``; we point it at
lavapipe's manifest when there is no NVIDIA GPU, because otherwise the loader may try (and fail on) hardware
drivers. A ``VK_ICD_FILENAMES`` set by the user always wins.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d")
MIN_MESA = (24, 3)
INSTALL_HINT = (
    "Install Mesa's Vulkan CPU driver (lavapipe) >= 24.3: on Debian 12 "
    "`sudo apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (enable bookworm-backports first), "
    "on Debian 13 / Ubuntu 24.10+ `sudo apt-get install mesa-vulkan-drivers libvulkan1`; or run "
    "`bash scripts/install_system_deps.sh` from the gazelab repository. With an NVIDIA GPU, install its driver. "
    "To use a driver of your own, set VK_ICD_FILENAMES to its ICD json."
)


class VulkanUnavailableError(RuntimeError):
    """No Vulkan driver SAPIEN can render with."""


def has_nvidia() -> bool:
    """True when an NVIDIA driver is loaded (its Vulkan ICD then serves SAPIEN)."""
    return os.path.exists("/proc/driver/nvidia/version")


def find_lavapipe_icd() -> str | None:
    """Path of lavapipe's ICD manifest (``lvp_icd*.json``; the name varies between Mesa versions), or None."""
    for folder in ICD_DIRS:
        found = sorted(glob.glob(os.path.join(folder, "lvp_icd*.json")))
        if found:
            return found[0]
    return None


def mesa_version() -> tuple[int, int] | None:
    """(major, minor) of the installed Debian/Ubuntu ``mesa-vulkan-drivers`` package; None if not knowable."""
    if shutil.which("dpkg-query") is None:
        return None
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mesa-vulkan-drivers"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = out.stdout.strip().split(":")[-1]  # drop a Debian epoch like "1:"
    parts = version.split(".")
    if out.returncode != 0 or len(parts) < 2 or not parts[0].isdigit():
        return None
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def ensure_vulkan() -> str:
    """Make sure SAPIEN will find a usable Vulkan driver; call before importing mani_skill or sapien.

    Returns:
        A short description of the driver in use.
    Raises:
        VulkanUnavailableError: no NVIDIA driver and no lavapipe >= 24.3; the message says what to install.
    """
    if os.environ.get("VK_ICD_FILENAMES") or os.environ.get("VK_DRIVER_FILES"):
        return f"user-selected Vulkan driver ({os.environ.get('VK_ICD_FILENAMES') or os.environ['VK_DRIVER_FILES']})"
    if has_nvidia():
        return "NVIDIA Vulkan driver"
    icd = find_lavapipe_icd()
    if icd is None:
        raise VulkanUnavailableError(
            "ManiSkill3 needs a Vulkan driver to render camera images, and this machine has no NVIDIA GPU and no "
            f"Mesa lavapipe driver (no lvp_icd*.json in {', '.join(ICD_DIRS)}). " + INSTALL_HINT)
    version = mesa_version()
    if version is not None and version < MIN_MESA:
        raise VulkanUnavailableError(
            f"Mesa lavapipe {version[0]}.{version[1]} is installed ({icd}), but ManiSkill3 rendering needs Mesa "
            f">= {MIN_MESA[0]}.{MIN_MESA[1]} (older lavapipe fails with 'failed to find a rendering device'). "
            + INSTALL_HINT)
    os.environ["VK_ICD_FILENAMES"] = icd
    return f"Mesa lavapipe {'.'.join(map(str, version)) if version else '(version unknown)'} ({icd})"
