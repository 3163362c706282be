"""Helpers shared by the course notebooks: the smoke switch, budgets, paths and an environment report.

Every notebook starts with one parameters cell::

    from gazelab.teach.course import SMOKE, budget
    STEPS = budget(2000, 50)      # the full (teaching) budget, or the smoke budget when SMOKE

``SMOKE`` is True when the environment variable ``GAZELAB_SMOKE`` is set to anything but "" or "0" (CI runs all
notebooks that way); the full budgets are the default a student sees.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from typing import TypeVar

from gazelab.core.errors import GazelabError
from gazelab.core.paths import REPO_ROOT

SMOKE_ENV_VAR = "GAZELAB_SMOKE"
"""Root of the gazelab checkout (holds solutions/, tutorials/, runs/); notebooks resolve paths from it."""
RUNS_DIR = REPO_ROOT / "runs"
"""Where notebooks write training runs (never next to the notebook: nbmake runs in the notebook's folder)."""

TIMES_TABLE = REPO_ROOT / "tutorials" / "README.md"
"""Where the measured time of every notebook is written down (one table row per notebook)."""

T = TypeVar("T")


def smoke_mode() -> bool:
    """True when ``GAZELAB_SMOKE`` is set to a value other than "" or "0" (read at call time)."""
    return os.environ.get(SMOKE_ENV_VAR, "") not in ("", "0")


SMOKE: bool = smoke_mode()
"""The smoke switch as it was when gazelab.teach.course was imported (the notebooks' parameters cell reads this)."""


def budget(full: T, smoke: T) -> T:
    """``smoke`` when smoke mode is on (env var ``GAZELAB_SMOKE``, read at call time), else ``full``.

    Both values must have the same type (e.g. two ints), so a budget cannot silently change meaning in CI.
    """
    if type(full) is not type(smoke):
        raise GazelabError(f"full and smoke must have the same type, got {type(full).__name__} {full!r} and "
                         f"{type(smoke).__name__} {smoke!r}")
    return smoke if smoke_mode() else full


def _version(distribution: str) -> str:
    # Package metadata, not an import: importing mani_skill/sapien is slow and must wait for the Vulkan check.
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> dict[str, str]:
    """What the notebooks depend on, as {name: description}: versions, threads, CUDA, Vulkan, widgets.

    Never raises: a missing piece is reported as such (e.g. "not installed", or the Vulkan error message), so the
    set-up notebook can show everything at once. Checking Vulkan may set ``VK_ICD_FILENAMES`` (see
    :func:`gazelab.envs.vulkan.ensure_vulkan`), exactly as making a ManiSkill env would.
    """
    import torch

    from gazelab import __version__
    from gazelab.envs.vulkan import VulkanUnavailableError, ensure_vulkan

    report = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "gazelab": __version__,
        "repo_root": str(REPO_ROOT),
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "cpu_count": str(os.cpu_count()),
        "cuda": (f"available: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "not available (CPU)"),
    }
    for distribution in ("numpy", "faiss-cpu", "gymnasium", "matplotlib", "ipywidgets", "mani_skill", "sapien"):
        report[distribution] = _version(distribution)
    try:
        report["vulkan"] = ensure_vulkan()
    except VulkanUnavailableError as error:
        report["vulkan"] = f"UNAVAILABLE: {error}"
    report["smoke"] = str(smoke_mode())
    return report


def format_report(report: dict[str, str]) -> str:
    """The report as aligned ``name : value`` lines."""
    width = max(map(len, report))
    return "\n".join(f"{name:<{width}} : {value}" for name, value in report.items())


_TIME_ROW = re.compile(r"^\| (?P<number>\d\d) \| \[(?P<title>[^\]]+)\]\([^)]*\) \|[^|]*\| (?P<full>[^|]+?) \| "
                       r"(?P<smoke>[^|]+?) \|$", re.MULTILINE)


def notebook_times() -> list[dict[str, str]]:
    """The measured times of the notebooks, as :data:`TIMES_TABLE` states them: one dict per notebook with
    ``number``, ``title``, ``full`` and ``smoke`` (e.g. "10 s", "3 min 17 s", "≈ 25 s*")."""
    if not TIMES_TABLE.exists():
        raise GazelabError(f"{TIMES_TABLE} is missing: the notebooks' times are written there (a git checkout has it)")
    rows = [found.groupdict() for found in _TIME_ROW.finditer(TIMES_TABLE.read_text(encoding="utf-8"))]
    if not rows:
        raise GazelabError(f"{TIMES_TABLE} holds no table row '| 00 | [title](file) | goals | full | smoke |'")
    return rows
