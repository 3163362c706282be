"""Generate the student notebooks (``tutorials/``) from the solved ones (``solutions/``), the single source.

Markers used in ``solutions/*.ipynb``:

- In a code cell, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (markers included) become one
  ``raise NotImplementedError(...)`` line at the marker's indentation. Text after ``BEGIN SOLUTION`` becomes the
  hint in the error message, e.g. ``# BEGIN SOLUTION compute d = grid - mu first``.
- A markdown cell tagged ``solution`` (cell metadata ``tags``) is replaced by an "answer here" prompt.

Tutorials are written without outputs, so they open clean in JupyterLab. Run ``python -m gazelab.authoring.tutorials``
(or ``make tutorials``) after editing a solution; ``tests/test_tutorials.py`` fails when the two folders drift.

The same solved notebooks are the source of the nbgrader assignments (INSTRUCTORS.md). ``make tutorials`` also
writes their nbgrader metadata (:func:`annotate`): the cell of each code exercise is a solution cell; after it
comes a locked, autograded test cell, ``grade("2.1", my_gaussian_map)`` with hidden tests between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, worth :data:`CODE_POINTS` (or the points its metadata
already holds); a solution-tagged answer is a manually graded answer cell whose text is the model answer and the
rubric; an exercise's statement is locked. A quiz (:mod:`gazelab.teach.quiz`: a ``## Quiz`` markdown cell, then a code
cell whose ``my_quiz_N`` returns the answers between the solution markers and calls ``quiz("N", my_quiz_N, {...})``)
gets a locked statement, a solution cell and one locked autograded test cell per question,
``grade_quiz("N", "q1", my_quiz_N)``, worth :data:`QUIZ_POINTS`. Tutorials drop the test cells (``use`` already tells
the student how they did, and a raising test would stop the self-study notebook) and the nbgrader metadata.

The student release and the grading (``make release``, ``make grade``) are :mod:`gazelab.authoring.grading`: it grades
each exercise from the student's solution cells in a sandboxed process, on hidden inputs drawn from a secret of the
course folder; the notebook's own hidden test (:data:`HIDDEN_SEED`) is a self-check of the solved notebook only.
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

from gazelab.core.errors import GazelabError
from gazelab.core.paths import REPO_ROOT
from gazelab.teach.course import QUIZ_TEST_PREFIX

SOLUTIONS_DIR = REPO_ROOT / "solutions"
TUTORIALS_DIR = REPO_ROOT / "tutorials"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\b(?P<hint>.*)$")
END = re.compile(r"^[ \t]*# END SOLUTION\b")
SOLUTION_TAG = "solution"
ANSWER_PROMPT = "**Your answer:** _write it here, then compare with a classmate or the solutions notebook._"
CODE_POINTS = 2
"""Points of a code exercise's autograded test cell (unless its metadata says otherwise)."""
ANSWER_POINTS = 2
"""Points of a written answer, graded by hand with the rubric in its model answer."""
QUIZ_POINTS = 1
"""Points of one quiz question (its autograded test cell), unless its metadata says otherwise."""
HIDDEN_SEED = 2024
"""Seed of the test cell's hidden check in the solved notebooks (a self-check that ``make test`` runs; the visible
test and ``use`` run seed 0). It is public: grades come from :mod:`gazelab.authoring.grading`, whose hidden inputs
are drawn from the course folder's secret instead."""
_USE = re.compile(r'\buse\(\s*"(?P<key>\d+\.\d+)"\s*,\s*(?P<fn>\w+)')
_EXERCISE_HEADER = re.compile(r"^#+ Exercise (?P<key>\d+\.\d+)", re.MULTILINE)
_QUIZ = re.compile(r'\bquiz\(\s*"(?P<quiz>\d+)"\s*,\s*(?P<fn>\w+)\s*,')
_QUIZ_HEADER = re.compile(r"^#+ Quiz\b", re.MULTILINE)


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


def is_test_cell(cell) -> bool:
    """An autograded test cell (nbgrader ``grade`` without ``solution``): points, no student code."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def make_tutorial(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solved notebook: solutions stubbed out, no test cells, no outputs."""
    tutorial = copy.deepcopy(solution)
    tutorial.cells = [cell for cell in tutorial.cells if not is_test_cell(cell)]
    for cell in tutorial.cells:
        cell.get("metadata", {}).pop("nbgrader", None)
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


# ------------------------------------------------------------------------------------------ nbgrader metadata
def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id.replace(".", "_"), "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = points
    return meta


def python_source(source: str) -> str:
    """A code cell's source as Python: IPython magics and shell lines blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def quiz_questions(source: str) -> tuple[str, str, list[str]] | None:
    """(quiz number, answer function, questions) of the ``quiz("N", my_quiz_N, {"q1": ..., ...})`` call in a code
    cell's source, or None when it has none."""
    import ast

    found = _QUIZ.search(source)
    if found is None:
        return None
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "quiz"
                and len(node.args) >= 3 and isinstance(node.args[2], ast.Dict)):
            questions = [ast.literal_eval(k) for k in node.args[2].keys]
            return found["quiz"], found["fn"], [str(q) for q in questions]
    return None


def quiz_test_id(quiz: str, question: str) -> str:
    return f"{QUIZ_TEST_PREFIX}{quiz}_{question}"


def _quiz_test_source(quiz: str, question: str, fn: str) -> str:
    return (f"# autograded test of quiz {quiz}, question {question}: make grade compares your answer with the "
            f"instructor's key\n"
            f'grade_quiz("{quiz}", "{question}", {fn})')


def _test_source(key: str, fn: str) -> str:
    return (f'# autograded test of exercise {key}: the same check as use() above; hidden tests on other inputs\n'
            f'grade("{key}", {fn})\n'
            f'### BEGIN HIDDEN TESTS\n'
            f'grade("{key}", {fn}, seed={HIDDEN_SEED}, trials=20)\n'
            f'### END HIDDEN TESTS')


def annotate(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The solved notebook with its nbgrader metadata (see the module's docstring); idempotent.

    Inserts the autograded test cell after every code exercise (a cell with a ``# BEGIN SOLUTION`` region and a
    ``use("K", fn)`` call) that has none, and keeps the points already in the metadata."""
    notebook = copy.deepcopy(solution)
    cells, answers, key, solution_cell = [], 0, None, None
    old_tests = {cell.metadata["nbgrader"].get("grade_id"): cell for cell in notebook.cells if is_test_cell(cell)}
    quizzes = [q for cell in notebook.cells if cell.cell_type == "code" for q in [quiz_questions(cell.source)] if q]
    if len({q[0] for q in quizzes}) != len(quizzes):
        raise GazelabError(f"{name}: more than one quiz with the same number")
    headers = iter(quizzes)
    for index, cell in enumerate(notebook.cells):
        old = cell.get("metadata", {}).get("nbgrader", {})
        if is_test_cell(cell):
            continue  # rewritten after its exercise's cell below
        if cell.cell_type == "markdown":
            header = _EXERCISE_HEADER.search(cell.source)
            key = header["key"] if header else key
            if _QUIZ_HEADER.search(cell.source):
                asked = next(headers, None)
                if asked is None:
                    raise GazelabError(f"{name} cell {index}: a '## Quiz' heading without its quiz(\"N\", ...) cell")
                cell.metadata["nbgrader"] = _nbgrader(f"quiz-{asked[0]}", locked=True)
                key = None
                cells.append(cell)
                continue
            if SOLUTION_TAG in cell.metadata.get("tags", []):
                answers += 1
                answer_id = f"answer-{key}" if key else f"answer-{name[:2]}-{answers}"
                cell.metadata["nbgrader"] = _nbgrader(answer_id, grade=True, solution=True,
                                                      points=old.get("points", ANSWER_POINTS))
                key = None
            elif header:
                cell.metadata["nbgrader"] = _nbgrader(f"exercise-{header['key']}", locked=True)
            else:
                cell.metadata.pop("nbgrader", None)
            cells.append(cell)
            continue
        cells.append(cell)
        exercise = any(BEGIN.match(line) for line in cell.source.splitlines())
        asked = quiz_questions(cell.source)
        if asked is not None:  # a quiz: its solution cell, then a test cell per question
            number, fn, questions = asked
            if not exercise:
                raise GazelabError(f"{name} cell {index}: quiz {number}'s answers need their # BEGIN SOLUTION region")
            cell.metadata["nbgrader"] = _nbgrader(f"solution-quiz-{number}", solution=True)
            for question in questions:
                grade_id = quiz_test_id(number, question)
                test = old_tests.get(grade_id) or nbformat.v4.new_code_cell()
                points = test.get("metadata", {}).get("nbgrader", {}).get("points")
                test.source = _quiz_test_source(number, question, fn)
                test.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, locked=True,
                                                      points=QUIZ_POINTS if points is None else points)
                cells.append(test)
            solution_cell, key = None, None
            continue
        used = _USE.search(cell.source)
        if exercise:
            solution_cell = cell
        else:
            cell.metadata.pop("nbgrader", None)
        if used is None or solution_cell is None:
            if exercise:  # its use() line may sit in the next cell
                following = notebook.cells[index + 1] if index + 1 < len(notebook.cells) else None
                if following is None or not _USE.search(following.source):
                    raise GazelabError(f"{name} cell {index}: a code exercise needs its `fn = use(\"K\", my_fn)` "
                                       "line, in its cell or the next")
            continue
        solution_cell.metadata["nbgrader"] = _nbgrader(f"solution-{used['key']}", solution=True)
        solution_cell = None
        following = notebook.cells[index + 1] if index + 1 < len(notebook.cells) else None
        points = CODE_POINTS
        if following is not None and is_test_cell(following):
            points = following.metadata["nbgrader"].get("points", CODE_POINTS)
            test = following
            test.source = _test_source(used["key"], used["fn"])
        else:
            test = nbformat.v4.new_code_cell(_test_source(used["key"], used["fn"]))
        test.metadata["nbgrader"] = _nbgrader(f"test-{used['key']}", grade=True, locked=True, points=points)
        key = None
        cells.append(test)
    notebook.cells = cells
    return notebook


def generate(solutions_dir: Path = SOLUTIONS_DIR, tutorials_dir: Path = TUTORIALS_DIR) -> list[Path]:
    """Write ``tutorials_dir/X.ipynb`` for every ``solutions_dir/X.ipynb`` (after writing the solution's nbgrader
    metadata into it, when missing); return the written paths."""
    tutorials_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for solution_path in sorted(solutions_dir.glob("*.ipynb")):
        solution = nbformat.read(solution_path, as_version=4)
        annotated = annotate(solution, solution_path.name)
        if annotated != solution:
            _write_atomically(annotated, solution_path)
            solution = annotated
        target = tutorials_dir / solution_path.name
        _write_atomically(make_tutorial(solution, solution_path.name), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="The nbgrader release and grading: python -m gazelab.authoring.grading")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR, help="folder of solved notebooks")
    parser.add_argument("--tutorials", type=Path, default=TUTORIALS_DIR, help="folder to write the student notebooks")
    args = parser.parse_args(argv)
    for path in generate(args.solutions, args.tutorials):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
