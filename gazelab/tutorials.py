"""Generate the student notebooks (``tutorials/``) from the solved ones (``solutions/``), the single source.

Markers used in ``solutions/*.ipynb``:

- In a code cell, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (markers included) become one
  ``raise NotImplementedError(...)`` line at the marker's indentation. Text after ``BEGIN SOLUTION`` becomes the
  hint in the error message, e.g. ``# BEGIN SOLUTION compute d = grid - mu first``.
- A markdown cell tagged ``solution`` (cell metadata ``tags``) is replaced by an "answer here" prompt.

Tutorials are written without outputs, so they open clean in JupyterLab. Run ``python -m gazelab.tutorials``
(or ``make tutorials``) after editing a solution; ``tests/test_tutorials.py`` fails when the two folders drift.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

from gazelab.errors import GazelabError

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
TUTORIALS_DIR = REPO_ROOT / "tutorials"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\b(?P<hint>.*)$")
END = re.compile(r"^[ \t]*# END SOLUTION\b")
SOLUTION_TAG = "solution"
ANSWER_PROMPT = "**Your answer:** _write it here, then compare with a classmate or the solutions notebook._"


def strip_solution_code(source: str, where: str = "cell") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of ``source`` by a stub line."""
    out: list[str] = []
    inside = None
    for number, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if inside is None and begin:
            hint = begin["hint"].strip() or "write your solution here"
            out.append(f'{begin["indent"]}raise NotImplementedError("Exercise: {hint}")')
            inside = number
        elif inside is not None and begin:
            raise GazelabError(f"{where}: nested '# BEGIN SOLUTION' at line {number} (the open one is at {inside})")
        elif END.match(line):
            if inside is None:
                raise GazelabError(f"{where}: '# END SOLUTION' at line {number} without a BEGIN")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise GazelabError(f"{where}: '# BEGIN SOLUTION' at line {inside} is never closed")
    return "\n".join(out)


def make_tutorial(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solved notebook: solutions stubbed out, no outputs."""
    tutorial = copy.deepcopy(solution)
    for index, cell in enumerate(tutorial.cells):
        where = f"{name} cell {index}"
        if cell.cell_type == "code":
            cell.source = strip_solution_code(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            cell.source = ANSWER_PROMPT
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
        cell.get("metadata", {}).pop("execution", None)
    return tutorial


def exercise_count(notebook: nbformat.NotebookNode) -> int:
    """Number of solution regions and solution-tagged answers in a solved notebook."""
    code = sum(
        sum(1 for line in cell.source.splitlines() if BEGIN.match(line))
        for cell in notebook.cells
        if cell.cell_type == "code"
    )
    answers = sum(1 for cell in notebook.cells if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []))
    return code + answers


def _write_atomically(notebook: nbformat.NotebookNode, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        nbformat.write(notebook, handle)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; a notebook is an ordinary readable file
    os.replace(tmp, path)


def generate(solutions_dir: Path = SOLUTIONS_DIR, tutorials_dir: Path = TUTORIALS_DIR) -> list[Path]:
    """Write ``tutorials_dir/X.ipynb`` for every ``solutions_dir/X.ipynb``; return the written paths."""
    tutorials_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for solution_path in sorted(solutions_dir.glob("*.ipynb")):
        solution = nbformat.read(solution_path, as_version=4)
        target = tutorials_dir / solution_path.name
        _write_atomically(make_tutorial(solution, solution_path.name), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR, help="folder of solved notebooks")
    parser.add_argument("--tutorials", type=Path, default=TUTORIALS_DIR, help="folder to write the student notebooks")
    args = parser.parse_args(argv)
    for path in generate(args.solutions, args.tutorials):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
