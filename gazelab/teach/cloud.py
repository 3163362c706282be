"""A cloud notebook (Colab, Kaggle, a JupyterHub) that installed gazelab from its wheel: the Vulkan set-up ManiSkill3 needs.

Notebook 08's first cell installs gazelab from a wheel (``make wheel``; docs/gpu.md) and then calls
:func:`setup_vulkan`. On a GPU runtime the NVIDIA driver renders ManiSkill3 through Vulkan, which needs the Vulkan
loader (``libvulkan1``) and NVIDIA's ICD manifest, both often missing from cloud images. This is the ``--gpu`` part
of ``scripts/install_system_deps.sh`` (which the wheel does not carry) in Python; the manifest's text is the same
(a test compares them).

Without an NVIDIA driver it installs nothing: ManiSkill3 then renders on the CPU with Mesa's lavapipe >= 24.3, which
``scripts/install_system_deps.sh`` (a checkout, Debian) installs; the notebooks say when rendering is unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from gazelab.envs.vulkan import ICD_DIRS, has_nvidia

__all__ = ["NVIDIA_ICD", "setup_vulkan"]

NVIDIA_ICD = {"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.2.155"}}
"""NVIDIA's Vulkan ICD manifest, as ManiSkill's installation guide ("Troubleshooting: Vulkan") gives it."""


def _has_loader() -> bool:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True) if shutil.which("ldconfig") else None
    return out is not None and "libvulkan.so.1" in out.stdout


def setup_vulkan(*, icd_dirs: tuple[str, ...] = ICD_DIRS, nvidia: bool | None = None, root: bool | None = None,
                 apt: bool | None = None, loader: bool | None = None) -> str:
    """Make ManiSkill3 able to render on an NVIDIA runtime: install the Vulkan loader (apt) when it is missing and
    write NVIDIA's ICD manifest into ``icd_dirs[0]`` when no ``nvidia_icd*.json`` exists. Returns what it did (one
    line per action), and changes nothing without an NVIDIA driver, without root or without apt-get.

    ``nvidia``, ``root``, ``apt`` and ``loader`` (the Vulkan loader is installed) override the detection (tests)."""
    nvidia = has_nvidia() if nvidia is None else nvidia
    root = (os.geteuid() == 0) if root is None else root
    apt = (shutil.which("apt-get") is not None) if apt is None else apt
    if not nvidia:
        return ("no NVIDIA driver: nothing to set up; ManiSkill3 renders on the CPU with Mesa's lavapipe >= 24.3 "
                "(scripts/install_system_deps.sh in a checkout); without it notebook 08 says rendering is unavailable")
    if not root or not apt:
        return ("NVIDIA driver found, but " + ("not root" if not root else "no apt-get") + ": install the Vulkan "
                f"loader (libvulkan1) and NVIDIA's ICD manifest yourself ({icd_dirs[0]}/nvidia_icd.json: "
                f"{json.dumps(NVIDIA_ICD)})")
    done = []
    if not (_has_loader() if loader is None else loader):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "libvulkan1"], check=True, env=env)
        done.append("installed the Vulkan loader (libvulkan1)")
    if not any(any(Path(folder).glob("nvidia_icd*.json")) for folder in icd_dirs):
        path = Path(icd_dirs[0]) / "nvidia_icd.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(NVIDIA_ICD, indent=4) + "\n")
        done.append(f"wrote {path}")
    return "; ".join(done) or "Vulkan loader and NVIDIA's ICD manifest already present"
