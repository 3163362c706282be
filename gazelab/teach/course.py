"""Helpers shared by the course notebooks: the smoke switch, budgets, paths, an environment report, the points of the
assignments and the capstone's handed-in runs.

Every notebook starts with one parameters cell::

    from gazelab.teach.course import SMOKE, budget
    STEPS = budget(2000, 50)      # the full (teaching) budget, or the smoke budget when SMOKE

``SMOKE`` is True when the environment variable ``GAZELAB_SMOKE`` is set to anything but "" or "0" (CI runs all
notebooks that way); the full budgets are the default a student sees.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
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


# ------------------------------------------------------------------------------------------- points per assignment
SOLUTIONS_DIR = REPO_ROOT / "solutions"
"""The solved notebooks, whose nbgrader metadata holds every exercise's points (INSTRUCTORS.md)."""
SYLLABUS = REPO_ROOT / "docs" / "syllabus.md"
"""The instructor's syllabus template; its points table is :func:`points_table` (a test keeps it so)."""
QUIZ_TEST_PREFIX = "test-quiz-"
"""grade_id prefix of a quiz question's autograded test cell (as :mod:`gazelab.authoring.tutorials` writes it)."""
POINTS_BEGIN = "<!-- points table: python -m gazelab.teach.course points -->"
POINTS_END = "<!-- end of the points table -->"


@dataclasses.dataclass(frozen=True)
class AssignmentPoints:
    """The points of one notebook as nbgrader grades it."""

    notebook: str
    """File stem, e.g. ``01_triplet_loss`` (the nbgrader assignment's name)."""
    title: str
    """The notebook's first heading without its number, e.g. ``The triplet loss``."""
    code_exercises: int
    """Autograded code exercises (nbgrader test cells: ``grade`` without ``solution``; a quiz's aside)."""
    code_points: float
    written_answers: int
    """Manually graded answers (``grade`` and ``solution``), the capstone's conclusion included."""
    written_points: float
    quiz_questions: int = 0
    """Questions of the notebook's quiz (autograded test cells whose grade_id starts with ``test-quiz-``)."""
    quiz_points: float = 0.0

    @property
    def total(self) -> float:
        return self.code_points + self.quiz_points + self.written_points


def assignment_points(solutions_dir: Path = SOLUTIONS_DIR) -> list[AssignmentPoints]:
    """Per graded notebook (name order), its exercises and points, read from the cells' nbgrader metadata
    (``metadata.nbgrader.grade`` / ``solution`` / ``points``: what ``make release`` hands nbgrader). Reads the JSON
    directly, so nbgrader and nbformat need not be installed."""
    rows = []
    for path in sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        title = ""
        counts = {"code": [0, 0.0], "written": [0, 0.0], "quiz": [0, 0.0]}
        for cell in cells:
            source = "".join(cell.get("source", ""))
            if not title and cell.get("cell_type") == "markdown" and source.startswith("# "):
                title = re.sub(r"^#\s*\d+\s*·\s*", "", source.splitlines()[0]).strip()
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("grade"):
                continue
            quiz = str(meta.get("grade_id", "")).startswith(QUIZ_TEST_PREFIX)
            kind = counts["written" if meta.get("solution") else "quiz" if quiz else "code"]
            kind[0] += 1
            kind[1] += float(meta.get("points") or 0)
        if not sum(n for n, _ in counts.values()):
            continue  # the set-up check (00) grades nothing: not an assignment (make release skips it too)
        rows.append(AssignmentPoints(path.stem, title, counts["code"][0], counts["code"][1], counts["written"][0],
                                     counts["written"][1], counts["quiz"][0], counts["quiz"][1]))
    if not rows:
        raise GazelabError(f"no solved notebook in {solutions_dir}: the points are read from solutions/ (a checkout)")
    return rows


def points_table(rows: Iterable[AssignmentPoints] | None = None) -> str:
    """The points per assignment as a markdown table with a total row (the syllabus' table)."""
    rows = assignment_points() if rows is None else list(rows)
    lines = ["| # | notebook | code exercises (autograded) | quiz questions (autograded) | written answers (by hand) "
             "| points |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.notebook[:2]} | {row.title} | {row.code_exercises} ({row.code_points:g} points) | "
                     f"{row.quiz_questions} ({row.quiz_points:g} points) | "
                     f"{row.written_answers} ({row.written_points:g} points) | {row.total:g} |")
    code, quiz = sum(r.code_points for r in rows), sum(r.quiz_points for r in rows)
    written = sum(r.written_points for r in rows)
    lines.append(f"| | **total** | {sum(r.code_exercises for r in rows)} ({code:g} points) | "
                 f"{sum(r.quiz_questions for r in rows)} ({quiz:g} points) | "
                 f"{sum(r.written_answers for r in rows)} ({written:g} points) | **{code + quiz + written:g}** |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- the capstone's runs
CAPSTONE_DIR = "capstone_runs"
"""The folder next to notebook 09 that holds the capstone's runs, one sub-folder per sweep tag: what a student
hands in with the notebook, and what the capstone cell reads first (INSTRUCTORS.md, "The capstone's runs")."""
CAPSTONE_PREFIX = "capstone-"
"""Sweep tags that :func:`capstone_runs` copies next to the notebook (the capstone's command names them so)."""
RUN_FILES = ("history.jsonl", "result.json", "config.json")
"""What a trial keeps in the copy (the plots and tables read these); checkpoints and event files stay behind."""
TAG_FILES = ("summary.json", "curves.png")


def _copy_sweep(source: Path, target: Path) -> None:
    """``source`` (a sweep tag's folder) -> ``target``: the tag's summary and every trial's RUN_FILES, replacing
    an older copy only once the new one is complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in TAG_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp / name)
        for trial in sorted(source.glob("*/*/seed*")):
            for name in RUN_FILES:
                if (trial / name).is_file():
                    (tmp / trial.relative_to(source)).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(trial / name, tmp / trial.relative_to(source) / name)
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def capstone_runs(tags: Iterable[str], results_dir: Path, here: Path | None = None) -> dict[str, Path]:
    """Where the capstone cell reads each sweep ``tag``: ``here/capstone_runs/<tag>`` (``here``: the notebook's
    folder, the kernel's working directory) when it exists, else ``results_dir/<tag>``; tags found in neither are
    left out. A tag named ``capstone-*`` that ``results_dir`` holds is first copied to ``here/capstone_runs/<tag>``
    (the summary and each trial's history, result and config: about 65 KB per run; no checkpoints), so the runs a
    student made travel with the notebook they hand in, and a grader who opens the notebook elsewhere sees them."""
    here = Path.cwd() if here is None else Path(here)
    found = {}
    for tag in tags:
        submitted, local = here / CAPSTONE_DIR / tag, Path(results_dir) / tag
        if tag.startswith(CAPSTONE_PREFIX) and local.is_dir():
            _copy_sweep(local, submitted)
        if submitted.is_dir():
            found[tag] = submitted
        elif local.is_dir():
            found[tag] = local
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The course's numbers an instructor quotes.")
    parser.add_argument("command", choices=["points"], help="points: the points per assignment (docs/syllabus.md)")
    parser.parse_args(argv)
    print(points_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
