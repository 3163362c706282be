"""The instructor's workflow on nbgrader: the student release, and grades computed where no student code can forge them.

``python -m gazelab.authoring.grading release --course DIR`` (``make release``):

* ``nbgrader generate_assignment`` for every solved notebook (one assignment each) -> ``DIR/release/<name>/``, then a
  scan of the release for solution text (it fails if it finds any);
* a **student wheel** of gazelab -> ``DIR/release/gazelab-<version>-py3-none-any.whl``: the library the notebooks
  import, without the course maintainer's tools (``gazelab.authoring``) and without solutions/ (students install it
  with pip instead of the repository);
* ``DIR/.grading_secret`` (mode 0600, kept when it exists): the hidden test inputs are drawn from it, so they are in
  no package, release or notebook.

``python -m gazelab.authoring.grading grade SUBMISSIONS --course DIR`` (``make grade``) grades
``SUBMISSIONS/<student>/**/<assignment>.ipynb``, every (student, notebook) on its own, and always writes
``DIR/grades_by_student.csv``: a row per student and notebook with the points of each exercise, the written answers'
points (from formgrader, empty until graded by hand), the total, ``problems`` (why an exercise scored 0, or why a
notebook could not be graded) and ``copied`` (functions that are a copy of gazelab's or of the model solution).

How one exercise is graded (:func:`grade_exercise`): its solution cell(s) (the student's code cells with the
nbgrader ``grade_id`` ``solution-K``) are read from the notebook, nothing else of it runs. The source is checked
(:func:`forbidden`: no imports or names that reach the reference, the grading code, the file system, processes,
threads or the profiler), then :mod:`gazelab.authoring.exercise_run` executes it in a fresh process inside
:mod:`gazelab.authoring.sandbox` (as ``nobody``, no network, CPU / memory / wall limits) on the visible cases and
:data:`HIDDEN_TRIALS` hidden ones drawn from the secret, and returns the results; they are compared here, with the
reference values computed in this process. The exercise's points if every result matches, else 0.

How a quiz is graded (:func:`score_quiz`): its answers are *read* from the text of the student's solution cell
(:func:`gazelab.teach.quiz.read_answers`: the dict literal that ``my_quiz_N`` returns; no code of the submission
runs) and compared with the key, the model answer in the instructor's source notebook (``course/source``, written
from ``solutions/``; the release, the tutorials and the student wheel hold none, which :func:`release` checks). Each
question's points (its autograded test cell's) when it is the key's answer, else 0.

The written answers stay nbgrader's: each graded notebook is recorded in the course's gradebook with
``nbgrader autograde`` configured *not to execute anything*, and the code exercises' scores are then overwritten
with the ones computed here, so formgrader shows them beside the answers to grade by hand, each answer with its
model answer and rubric below it (:mod:`gazelab.authoring.rubrics`: in the graded copy only, never in feedback).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import csv
import dataclasses
import hashlib
import inspect
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import nbformat

from gazelab.authoring import exercise_run, sandbox
from gazelab.authoring.tutorials import (BEGIN, QUIZ_TEST_PREFIX, SOLUTIONS_DIR, _write_atomically, annotate,
                                         is_test_cell, python_source, quiz_questions)
from gazelab.core.errors import GazelabError
from gazelab.core.paths import REPO_ROOT

COURSE_DIR = REPO_ROOT / "build" / "course"
"""The nbgrader course folder ``make release`` / ``make grade`` use (ignored by git)."""
SECRET_FILE = ".grading_secret"
"""The course folder's secret (``secrets.token_hex``, mode 0600): the hidden inputs are drawn from it."""
RELEASE_ANSWER_PROMPT = "**Your answer:** _write it here._"
VISIBLE_TRIALS = 5
"""Random inputs of the visible check (seed 0, as ``use`` in the notebook), with the exercise's edge cases."""
HIDDEN_TRIALS = 20
"""Random inputs drawn from the secret, per exercise and student."""
STARTUP_FACTOR, MIN_SECONDS, REFERENCE_FACTOR = 3.0, 10.0, 20.0
"""The wall-clock limit of one exercise's process: ``STARTUP_FACTOR x`` the measured start of a sandboxed process
(importing torch) ``+ MIN_SECONDS + REFERENCE_FACTOR x`` the time the reference takes on the same cases here."""
GRADER = Path(exercise_run.__file__)

_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "gazelab"
c.ClearSolutions.code_stub = {{"python": 'raise NotImplementedError("Exercise: write your solution here")'}}
c.ClearSolutions.text_stub = {answer!r}
# Grading never runs a submission in nbgrader (python -m gazelab.authoring.grading grade, INSTRUCTORS.md): nbgrader
# autograde only records the notebooks for formgrader, without executing them, and the code exercises' points are
# written into the gradebook afterwards. A plain `nbgrader autograde` here executes nothing either, and would score
# the test cells from the outputs saved in the notebooks: grade with `make grade` (INSTRUCTORS.md).
c.Execute.enabled = False
c.ClearOutput.enabled = False
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.IgnorePattern", "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata"]
# make grade adds each written answer's model answer and rubric below it in the graded copy formgrader shows;
# feedback for students leaves those notes out (gazelab.authoring.rubrics).
c.GenerateFeedback.preprocessors = [
    "gazelab.authoring.rubrics.DropGraderNotes", "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
"""


# ------------------------------------------------------------------------------------------------ course folder
def _hint_above(source: str) -> str:
    """``# BEGIN SOLUTION hint`` -> ``# Hint: hint`` then ``# BEGIN SOLUTION``: nbgrader drops the marker line."""
    def moved(line: str) -> str:
        begin = BEGIN.match(line)
        if not begin or not begin["hint"].strip():
            return line
        return f"{begin['indent']}# Hint: {begin['hint'].strip()}\n{begin['indent']}# BEGIN SOLUTION"
    return "\n".join(moved(line) for line in source.split("\n"))


def setup_course(course: Path = COURSE_DIR, solutions_dir: Path = SOLUTIONS_DIR,
                 names: list[str] | None = None) -> list[str]:
    """A course folder for nbgrader: its config and ``source/<name>/<name>.ipynb`` for every annotated solved
    notebook (``names``: only these; the set-up check 00 has nothing to grade); returns the assignment names."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(_CONFIG.format(answer=RELEASE_ANSWER_PROMPT))
    assignments = []
    for path in sorted(solutions_dir.glob("*.ipynb")):
        if path.stem.startswith("00") or (names and path.stem not in names):
            continue
        notebook = annotate(nbformat.read(path, as_version=4), path.name)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source = _hint_above(cell.source)
                cell.outputs, cell.execution_count = [], None
        (course / "source" / path.stem).mkdir(parents=True, exist_ok=True)
        _write_atomically(notebook, course / "source" / path.stem / path.name)
        assignments.append(path.stem)
    return assignments


class _NbGrader:
    """nbgrader's API in this process (one interpreter start instead of one per command), configured as
    ``nbgrader_config.py`` says: nothing is executed."""

    def __init__(self, course: Path):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        config = Config()
        exec(compile(_CONFIG.format(answer=RELEASE_ANSWER_PROMPT), "nbgrader_config.py", "exec"),
             {"get_config": lambda: config})
        config.CourseDirectory.root = str(course)
        self.course = course
        self.api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)

    def __call__(self, command: str, *args: str) -> None:
        # nbgrader runs the `alembic` command of its environment to set up the gradebook: this Python's scripts
        # first on PATH, so a .venv that is not activated (make's $(PY)) still finds it.
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SQLAlchemy's autoflush warnings, nbgrader's own
                result = getattr(self.api, command)(*args)
        finally:
            os.environ["PATH"] = path
        if not result.get("success"):
            lines = (result.get("error") or result.get("log") or "").strip().splitlines() or ["no message"]
            raise GazelabError(f"nbgrader {command} {' '.join(args)} failed: {lines[-1].strip()[:400]}")

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(f"sqlite:///{self.course / 'gradebook.db'}")


def make_secret(course: Path) -> Path:
    """``course/.grading_secret``: created once (``secrets.token_hex``), readable by its owner only."""
    path = course / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        read_secret(course)
        return path
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def read_secret(course: Path) -> str:
    path = course / SECRET_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise GazelabError(f"no {path}: the hidden inputs are drawn from the course's secret, which "
                           f"`make release` (python -m gazelab.authoring.grading release --course {course}) "
                           "creates; grade in the course folder of the release") from None
    if not re.fullmatch(r"[0-9a-f]{32,}", text):
        raise GazelabError(f"{path} is not a grading secret (expected hex digits); delete it and run release again")
    return text


def hidden_seed(secret: str, key: str, student: str) -> int:
    """The seed of the hidden inputs of exercise ``key`` for ``student``: a hash of the secret, never stored."""
    digest = hashlib.sha256(f"gazelab-grading\0{secret}\0{key}\0{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def build_student_wheel(dest: Path, root: Path = REPO_ROOT) -> Path:
    """A wheel of gazelab for students: the library, without ``gazelab/authoring`` (the maintainer's tools) and
    without the checkout's course files (solutions/, tutorials/, ...); returns its path in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gazelab-wheel-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(root / "gazelab", source / "gazelab",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "authoring"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(root / name, source / name)
        built = Path(tmp) / "dist"
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", "-w", str(built), str(source)], capture_output=True, text=True)
        if out.returncode != 0:
            raise GazelabError(f"building the student wheel failed: {(out.stderr or out.stdout)[-1500:]}")
        (wheel,) = built.glob("gazelab-*.whl")
        for old in dest.glob("gazelab-*.whl"):
            old.unlink()
        target = dest / wheel.name
        shutil.copy2(wheel, target)
    with zipfile.ZipFile(target) as archive:
        shipped = archive.namelist()
    bad = [n for n in shipped if n.startswith(("gazelab/authoring/", "solutions/", "tutorials/"))
           or n.endswith(".ipynb") or SECRET_FILE in n]
    if bad:
        raise GazelabError(f"the student wheel {target} holds course files: {bad[:5]}")
    return target


def release(course: Path = COURSE_DIR, names: list[str] | None = None) -> Path:
    """The student release: ``course/release/<name>/<name>.ipynb`` (``nbgrader generate_assignment``), the student
    wheel beside them, and the course's secret (``course/.grading_secret``)."""
    nbgrader = _NbGrader(course)
    for name in setup_course(course, names=names):
        nbgrader("generate_assignment", name)
    leaks = solution_leaks(course / "release")
    if leaks:
        raise GazelabError("solution text in the student release:\n" + "\n".join(leaks[:20]))
    make_secret(course)
    secret = read_secret(course)
    wheel = build_student_wheel(course / "release")
    keys = quiz_key_leaks(course / "release")
    if keys:
        raise GazelabError("a quiz key in the student release or wheel:\n" + "\n".join(keys[:20]))
    found = [p for p in (course / "release").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    if found:
        raise GazelabError(f"the course secret is in the release: {found}")
    print(f"student wheel: {wheel}")
    return course / "release"


def solution_text(solution: nbformat.NotebookNode) -> set[str]:
    """The lines only a solution holds: inside ``# BEGIN SOLUTION`` regions and hidden tests, and the model
    answers (lines of 20 characters or more that appear nowhere else in the notebook)."""
    from gazelab.authoring.tutorials import END, SOLUTION_TAG

    secret, public = set(), set()
    for cell in solution.cells:
        answer = SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if BEGIN.match(line) or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif END.match(line) or "END HIDDEN TESTS" in line:
                inside = False
            elif len(text) >= 20:
                (secret if inside or answer else public).add(text)
    return secret - public


def solution_leaks(release_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """``path: line`` for every solution line (:func:`solution_text`) or marker found in a released notebook."""
    leaks = []
    for path in sorted(release_dir.rglob("*.ipynb")):
        solved = solutions_dir / path.name
        secret = solution_text(nbformat.read(solved, as_version=4)) if solved.exists() else set()
        released = nbformat.read(path, as_version=4)
        for cell in released.cells:
            for line in cell.source.splitlines():
                text = line.strip()
                if text in secret or any(m in line for m in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS",
                                                             "**Rubric", "**Answer.**")):
                    leaks.append(f"{path.relative_to(release_dir)}: {text[:100]}")
    return leaks


def quiz_key(notebook: nbformat.NotebookNode, name: str = "notebook") -> dict[str, tuple[str, dict[str, Any]]]:
    """{quiz number: (answer function, key)} of a solved notebook: the answers its quiz cells return (read, not run).
    Raises :class:`GazelabError` when a quiz of the solved notebook has no readable key for every question."""
    from gazelab.teach.quiz import answer_problem, read_answers

    keys = {}
    for cell in notebook.cells:
        asked = quiz_questions(cell.source) if cell.cell_type == "code" else None
        if asked is None:
            continue
        number, function, questions = asked
        key, problem = read_answers(python_source(cell.source), function)
        if problem is not None:
            raise GazelabError(f"{name}: the key of quiz {number} cannot be read: {problem}")
        spec = _quiz_forms(cell.source)
        missing = [q for q in questions if answer_problem(key.get(q), spec.get(q, "")) is not None or q not in key]
        if missing:
            raise GazelabError(f"{name}: quiz {number}'s model answer does not answer {', '.join(missing)} in the "
                               "form the quiz asks")
        keys[number] = (function, key)
    return keys


def _quiz_forms(source: str) -> dict[str, str]:
    """{question: its form} of the ``quiz("N", fn, {...})`` call in a cell (the letters offered, or "number")."""
    tree = ast.parse(python_source(source))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "quiz"
                and len(node.args) >= 3):
            return {str(k): str(v) for k, v in ast.literal_eval(node.args[2]).items()}
    return {}


def _key_texts(solutions_dir: Path = SOLUTIONS_DIR) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """{"<notebook> quiz N": (key, the texts it could be found as)}: the model answer's lines, its repr, its JSON."""
    from gazelab.authoring.tutorials import END

    found = {}
    for path in sorted(solutions_dir.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for number, (_, key) in quiz_key(notebook, path.name).items():
            cell = next(c for c in notebook.cells if c.cell_type == "code"
                        and (quiz_questions(c.source) or ("",))[0] == number)
            lines, inside = [], False
            for line in cell.source.splitlines():
                if BEGIN.match(line):
                    inside = True
                elif END.match(line):
                    inside = False
                elif inside and len(line.strip()) >= 12:
                    lines.append(line.strip())
            found[f"{path.stem} quiz {number}"] = (key, lines + [repr(key), json.dumps(key)])
    return found


def quiz_key_leaks(release_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """``file: what`` for every quiz key found in ``release_dir`` (notebooks, the student wheel's files, any other
    file): a function of a code cell that returns a key, or the key's text (the solution's lines, its repr or JSON)."""
    from gazelab.teach.quiz import read_answers, same_answer

    keys = _key_texts(solutions_dir)

    def holds(text: str) -> list[str]:
        return [f"{name} ({needle[:60]})" for name, (_, needles) in keys.items() for needle in needles if needle in text]

    def returns_a_key(notebook) -> list[str]:
        hits = []
        for cell in notebook.cells:
            tree = _parsed(cell)
            if tree is None:
                continue
            for function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
                answers, _ = read_answers(python_source(cell.source), function)
                for name, (key, _) in keys.items():
                    if answers and all(q in answers and same_answer(answers[q], a) for q, a in key.items()):
                        hits.append(f"{name} (returned by {function})")
        return hits

    leaks = []
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        where = path.relative_to(release_dir)
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    leaks += [f"{where}!{member}: {hit}"
                              for hit in holds(archive.read(member).decode("utf-8", errors="replace"))]
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits = holds(text)
        if path.suffix == ".ipynb":  # the cells' text, unescaped, and what their functions return
            notebook = nbformat.reads(text, as_version=4)
            hits += holds("\n".join(cell.source for cell in notebook.cells)) + returns_a_key(notebook)
        leaks += [f"{where}: {hit}" for hit in dict.fromkeys(hits)]
    return leaks


# ----------------------------------------------------------------------------------- what an assignment grades
@dataclasses.dataclass(frozen=True)
class _Graded:
    """What every autograded item of an assignment has, a code exercise or a quiz question."""

    name: str
    """How the grades table names it: "1.2" (exercise 1.2), "1.q1" (question q1 of quiz 1)."""
    function: str
    """The function of the student's solution cell that its test cell calls."""
    points: float
    test_id: str
    """The grade_id of its autograded test cell."""
    solution_id: str
    """The grade_id of the student's solution cell it grades."""

    @property
    def column(self) -> str:
        return f"{self.name} ({self.points:g})"


@dataclasses.dataclass(frozen=True)
class CodeExercise(_Graded):
    """One autograded exercise of an assignment, as the instructor's source notebook defines it."""

    key: str
    """e.g. "1.2"."""


@dataclasses.dataclass(frozen=True)
class QuizQuestion(_Graded):
    """One question of an assignment's quiz, as the instructor's source notebook defines it."""

    quiz: str
    """The quiz's number, e.g. "1" (notebook 1's quiz)."""
    question: str
    """e.g. "q1"."""
    key: Any
    """The model answer (a letter or a number): never in anything a student gets."""


@dataclasses.dataclass(frozen=True)
class Assignment:
    """What grading needs of one assignment's source notebook (``course/source/<name>/<name>.ipynb``)."""

    name: str
    exercises: tuple[CodeExercise, ...]
    answers: tuple[tuple[str, float], ...]
    """(grade_id, points) of the hand-graded written answers."""
    imports: dict[str, str]
    """name -> the import statement of the notebook's other cells that binds it."""
    bindings: dict[str, str]
    """name -> exercise key, for the notebook's ``name = use("K", fn)`` lines."""
    model: dict[str, str]
    """exercise key -> the source of its solution cell(s) in the solved notebook (for :func:`copied`)."""
    quiz: tuple[QuizQuestion, ...] = ()
    """The questions of the notebook's quiz (a test cell each, ``grade_quiz("N", "q1", my_quiz_N)``)."""

    @property
    def max_points(self) -> float:
        return (sum(e.points for e in self.exercises) + sum(q.points for q in self.quiz)
                + sum(p for _, p in self.answers))


_GRADE_CALL = re.compile(r'^grade\(\s*"(?P<key>\d+\.\d+)"\s*,\s*(?P<fn>\w+)\s*\)', re.MULTILINE)
_GRADE_QUIZ_CALL = re.compile(r'^grade_quiz\(\s*"(?P<quiz>\d+)"\s*,\s*"(?P<question>\w+)"\s*,\s*(?P<fn>\w+)\s*\)',
                              re.MULTILINE)


def _parsed(cell) -> ast.Module | None:
    """A code cell's syntax tree (magics blanked); None for another cell or one that does not parse."""
    if cell.cell_type != "code":
        return None
    try:
        return ast.parse(python_source(cell.source))
    except SyntaxError:
        return None


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def load_assignment(path: Path) -> Assignment:
    notebook = nbformat.read(path, as_version=4)
    exercises, answers, imports, bindings, model, quiz = [], [], {}, {}, {}, []
    keys = quiz_key(notebook, path.name)
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if is_test_cell(cell) and str(meta.get("grade_id", "")).startswith(QUIZ_TEST_PREFIX):
            found = _GRADE_QUIZ_CALL.search(cell.source)
            if found and found["quiz"] in keys and found["question"] in keys[found["quiz"]][1]:
                quiz.append(QuizQuestion(f"{found['quiz']}.{found['question']}", found["fn"],
                                         float(meta.get("points") or 0), meta["grade_id"],
                                         f"solution-quiz-{found['quiz']}", quiz=found["quiz"],
                                         question=found["question"], key=keys[found["quiz"]][1][found["question"]]))
            elif found:
                raise GazelabError(f"{path.name}: quiz {found['quiz']} has no key for {found['question']}")
            continue
        if is_test_cell(cell):
            found = _GRADE_CALL.search(cell.source)
            if found:
                exercises.append(CodeExercise(found["key"], found["fn"], float(meta.get("points") or 0),
                                              meta["grade_id"], f"solution-{found['key'].replace('.', '_')}",
                                              key=found["key"]))
            continue
        if meta.get("grade") and meta.get("solution"):
            answers.append((meta["grade_id"], float(meta.get("points") or 0)))
        tree = _parsed(cell)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not meta.get("solution"):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    if isinstance(node, ast.Import):
                        imports[name] = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                    elif node.level == 0 and alias.name != "*":
                        imports[name] = f"from {node.module} import {alias.name}" + (
                            f" as {alias.asname}" if alias.asname else "")
            elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                  and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                  and node.value.func.id == "use" and node.value.args
                  and isinstance(node.value.args[0], ast.Constant)):
                bindings[node.targets[0].id] = str(node.value.args[0].value)
    solved = SOLUTIONS_DIR / path.name
    if solved.exists():
        for cell in nbformat.read(solved, as_version=4).cells:
            grade_id = _grade_id(cell) or ""
            if cell.cell_type == "code" and grade_id.startswith("solution-") and "quiz" not in grade_id:
                key = grade_id.removeprefix("solution-").replace("_", ".")
                model[key] = model.get(key, "") + "\n" + python_source(cell.source)
    return Assignment(path.stem, tuple(exercises), tuple(answers), imports, bindings, model, tuple(quiz))


# ------------------------------------------------------------------------------------------- the source rules
FORBIDDEN_MODULES = frozenset({
    "os", "sys", "subprocess", "shutil", "socket", "ssl", "ctypes", "cffi", "threading", "_thread", "concurrent",
    "multiprocessing", "asyncio", "signal", "inspect", "importlib", "imp", "pkgutil", "builtins", "gc", "code",
    "codeop", "runpy", "pty", "resource", "mmap", "marshal", "pickle", "dill", "cloudpickle", "types", "io",
    "pathlib", "glob", "tempfile", "urllib", "http", "requests", "sysconfig", "site", "traceback", "linecache",
    "faulthandler", "atexit", "weakref", "posix", "nt", "fcntl", "select", "selectors", "zipimport", "dis",
    "tracemalloc", "trace", "bdb", "pdb", "sqlite3", "shelve", "dbm", "webbrowser", "operator", "copyreg"})
"""Modules a solution may not import: the process, files, threads, frames, the import machinery."""
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "__import__", "open", "breakpoint", "globals", "locals", "vars", "input", "help",
    "exit", "quit", "delattr", "setattr", "memoryview"})
"""Built-ins a solution may not name."""
FORBIDDEN_ATTRIBUTES = frozenset(FORBIDDEN_MODULES) | {
    "system", "popen", "spawn", "execv", "execve", "fork", "kill", "setprofile", "settrace", "getprofile",
    "gettrace", "_getframe", "modules", "f_globals", "f_locals", "f_back", "f_code", "f_builtins", "gi_frame",
    "gi_code", "cr_frame", "ag_frame", "tb_frame", "tb_next", "func_globals", "getsource", "getsourcelines",
    "getsourcefile", "load_library", "exercises", "authoring", "attrgetter", "methodcaller", "load", "loads",
    "load_inline", "cpp_extension", "ctypeslib"}
"""Attributes a solution may not read (``torch.os.system``, ``frame.f_globals``, ``module.exercises``)."""
GRADING_NAMES = frozenset({"EXERCISES", "check_cases", "_problem", "_run_watched", "_lookup", "_difference",
                           "HIDDEN_SEED", "SECRET_FILE", "hidden_seed", "read_secret"})
"""The grading code's own names."""


def _forbidden_functions(key: str) -> list[Callable]:
    from gazelab.teach.exercises import EXERCISES

    exercise = EXERCISES[key]
    return [*exercise.forbidden, exercise.reference]


def _where(fn: Callable) -> tuple[str, str] | None:
    """(module, qualname) of a library function the child can import, or None (a lambda, a local function)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        return None
    return module, qualname


def _reference_names(key: str) -> set[str]:
    """The identifiers that name exercise ``key``'s reference (module-level functions; private methods)."""
    names = set()
    for fn in _forbidden_functions(key):
        where = _where(fn)
        if where is None:
            continue
        parts = where[1].split(".")
        if len(parts) == 1 or parts[-1].startswith("_"):
            names.add(parts[-1])
    return names


def _bound(tree: ast.AST) -> set[str]:
    """Every name the source binds anywhere (defs, classes, arguments, targets, imports, comprehension vars)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def free_names(tree: ast.AST) -> set[str]:
    """Names the source reads but never binds, built-ins aside: what it expects the notebook to define."""
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - _bound(tree) - set(dir(builtins))


def forbidden(source: str, key: str) -> list[str]:
    """Why the solution ``source`` of exercise ``key`` may not run (empty: it may). A blocklist, checked before
    anything runs: imports and names that reach the library's reference or the grading code, the process, files,
    threads, frames and the profiler; dynamic attribute access; the secret's name."""
    try:
        tree = ast.parse(source, "<solution>")
    except SyntaxError as error:
        return [f"a syntax error at line {error.lineno}: {error.msg}"]
    reference = _reference_names(key)
    own = _bound(tree)
    problems: list[str] = []

    def say(node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", None)
        text = f"{what} (line {line})" if line else what
        if text not in problems:
            problems.append(text)

    def check_module(node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top in FORBIDDEN_MODULES:
            say(node, f"imports {module}")
        elif module.startswith(("gazelab.teach.exercises", "gazelab.authoring")):
            say(node, f"imports {module}, the grading code")

    checked_calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                     and n.func.id in {"getattr", "hasattr"}}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in {"getattr", "hasattr"} and id(node) not in checked_calls:
            say(node, f"passes {node.id} around (call it with a literal attribute name)")
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            check_module(node, module)
            for alias in node.names:
                if module.startswith("gazelab") and alias.name in {"exercises", "authoring"}:
                    say(node, f"imports {module}.{alias.name}, the grading code")
                elif alias.name in reference:
                    say(node, f"imports {alias.name} from {module}: the function this exercise asks you to write")
                elif alias.name in GRADING_NAMES:
                    say(node, f"imports {alias.name} from {module}, the grading code's")
                elif alias.name == "*":
                    say(node, f"imports * from {module}")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                say(node, f"uses {node.id}()")
            elif node.id.startswith("__") and node.id.endswith("__"):
                say(node, f"uses {node.id}")
            elif node.id in GRADING_NAMES:
                say(node, f"uses {node.id}, the grading code's")
            elif node.id in reference and node.id not in own:
                say(node, f"uses gazelab's {node.id}: the function this exercise asks you to write")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr.startswith("__") and attr.endswith("__") and attr != "__init__":
                say(node, f"reads the attribute {attr}")
            elif attr in FORBIDDEN_ATTRIBUTES or attr in GRADING_NAMES:
                say(node, f"reads the attribute .{attr}")
            elif attr in reference and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                say(node, f"uses .{attr}: the function this exercise asks you to write")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"getattr", "hasattr"}:
                name = node.args[1] if len(node.args) > 1 else None
                if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                    say(node, f"{node.func.id}() with a computed attribute name")
                elif (name.value in FORBIDDEN_ATTRIBUTES or name.value in reference or name.value in GRADING_NAMES
                      or name.value.startswith("__")):
                    say(node, f"{node.func.id}(..., {name.value!r})")
            elif node.func.id == "use":
                other = node.args[0] if node.args else None
                if not (isinstance(other, ast.Constant) and other.value == key):
                    say(node, f"calls use() of another exercise ({ast.unparse(other) if other else '?'}): a "
                              f"solution cell checks its own exercise, {key}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode(errors="replace")
            if "grading_secret" in text or "gradebook" in text:
                say(node, "names the course's secret or gradebook")
    return problems


def not_written(source: str, function: str) -> bool:
    """True when ``function`` is still the release's stub: its body only raises NotImplementedError."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            return (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
                    and "NotImplementedError" in ast.unparse(body[0].exc))
    return False


# ----------------------------------------------------------------------------------------------- copy detection
class _Normalise(ast.NodeTransformer):
    """Identifiers renamed in the order they appear (n0, n1, ...), docstrings and annotations dropped."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def rename(self, name: str) -> str:
        return self.names.setdefault(name, f"n{len(self.names)}")

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(self.rename(node.id), node.ctx), node)

    def visit_arg(self, node):
        return ast.copy_location(ast.arg(self.rename(node.arg)), node)

    def _function(self, node):
        node.name = self.rename(node.name)
        node.returns, node.decorator_list = None, []
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node):
        node.annotation = ast.Constant(None)
        self.generic_visit(node)
        return node


def _normal(nodes: Iterable[ast.AST]) -> str:
    normaliser = _Normalise()
    return "\n".join(ast.dump(normaliser.visit(copy.deepcopy(n)), annotate_fields=False) for n in nodes)


def _functions(tree: ast.AST) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def copied(source: str, function: str, references: dict[str, str]) -> list[str]:
    """Which of ``references`` (name -> source) the student's ``function`` copies: the same AST once names,
    docstrings and annotations are normalised, or a reference's whole body inside one of the student's functions."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    mine = [f for f in _functions(tree)]
    graded = [f for f in mine if f.name == function]
    found = []
    for name, text in references.items():
        try:
            theirs = [f for f in _functions(ast.parse(textwrap.dedent(text)))]
        except SyntaxError:
            continue
        for reference in theirs:
            body = [s for s in reference.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            same = any(_normal([f]) == _normal([reference]) for f in graded)
            if not same and body and (len(body) >= 2 or len(ast.unparse(body[0])) > 60):
                target = _normal(body)
                same = any(_normal(f.body[i:i + len(body)]) == target
                           for f in mine for i in range(len(f.body) - len(body) + 1))
            if same:
                found.append(name)
                break
    return found


def _library_sources(key: str) -> dict[str, str]:
    sources = {}
    for fn in _forbidden_functions(key):
        where = _where(fn)
        try:
            text = inspect.getsource(fn)
        except (OSError, TypeError):
            continue
        if where is not None:
            sources[f"gazelab's {where[0]}.{where[1]}"] = text
    return sources


# ------------------------------------------------------------------------------------------- grading in a child
@dataclasses.dataclass
class Result:
    """One exercise of one submission."""

    points: float
    problem: str | None = None
    copied: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Grader:
    """Grades exercises of submissions of one course (its secret), each in a sandboxed child process."""

    course: Path
    secret: str
    timeout: float | None = None
    """Wall-clock seconds per exercise (None: sized from the measured start-up and the reference's own time)."""
    hide: tuple[Path, ...] = ()
    """Folders the student's code must not see besides the course folder (the submissions: other students')."""
    startup_s: float = 0.0

    def probe(self) -> float:
        """Time a sandboxed child that only imports torch (and check that the sandbox starts)."""
        with tempfile.TemporaryDirectory(prefix="gazelab-probe-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            outcome = sandbox.run(self._argv("--probe"), work, sandbox.Limits(wall_s=300, cpu_s=300),
                                  self._env(work), hide=self._hidden())
            if outcome.returncode != 0 or _report(outcome.stdout) != {"probe": True}:
                raise GazelabError(f"the grading sandbox does not start here (exit {outcome.returncode}): "
                                   f"{(outcome.stderr or outcome.stdout).strip()[-1500:]}")
        self.startup_s = outcome.wall_s
        return outcome.wall_s

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, "-s", "-B", "-P", str(GRADER), *args]

    def _env(self, work: Path) -> dict[str, str]:
        import gazelab

        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONPATH": str(Path(gazelab.__file__).resolve().parents[1]), "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": str(sandbox.scratch_path(work)), "MPLBACKEND": "Agg"}
        for threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[threads] = "1"
        return env

    def _hidden(self) -> list[Path]:
        import gazelab

        root = Path(gazelab.__file__).resolve().parents[1]
        return [self.course.resolve(), *(Path(p).resolve() for p in self.hide), root / "solutions",
                REPO_ROOT / "solutions"]

    def cases(self, key: str, student: str) -> list[tuple[str, Any]]:
        """The visible check's inputs and the hidden ones drawn from the secret for this student."""
        from gazelab.teach.exercises import EXERCISES, check_cases

        exercise = EXERCISES[key]
        return (check_cases(exercise, 0, VISIBLE_TRIALS, edge_cases=True)
                + check_cases(exercise, hidden_seed(self.secret, key, student), HIDDEN_TRIALS, edge_cases=False,
                              origin="hidden"))

    def grade(self, assignment: Assignment, exercise: CodeExercise, source: str, student: str) -> Result:
        """The points of one exercise's solution ``source`` (the student's solution cells), and why if 0."""
        from gazelab.teach.exercises import EXERCISES

        spec = EXERCISES[exercise.key]
        references = {**_library_sources(exercise.key)}
        if exercise.key in assignment.model:
            references[f"the model solution (solutions/{assignment.name}.ipynb)"] = assignment.model[exercise.key]
        flags = copied(source, exercise.function, references)
        rejected = forbidden(source, exercise.key)
        if rejected:
            return Result(0, "forbidden: " + "; ".join(rejected[:4]), flags)
        tree = ast.parse(source)
        if exercise.function not in _bound(tree):
            return Result(0, f"the solution cell does not define {exercise.function}", flags)
        if not_written(source, exercise.function):
            return Result(0, "not written yet (it raises NotImplementedError)", flags)
        cases = self.cases(exercise.key, student)
        start = time.monotonic()
        expected = [exercise_run.decode(exercise_run.encode(spec.outcome(spec.reference, copy.deepcopy(inputs))))
                    for _, inputs in cases]
        reference_s = time.monotonic() - start
        wall = self.timeout or (STARTUP_FACTOR * self.startup_s + MIN_SECONDS + REFERENCE_FACTOR * reference_s)
        report, problem = self._run(assignment, exercise, source, tree, [inputs for _, inputs in cases], wall,
                                    reference_s)
        if problem is not None:
            return Result(0, problem, flags)
        if not report.get("defined"):
            said = "; ".join(report.get("statements", [])[:2])
            return Result(0, f"{exercise.function} is not a function after the solution cell ran"
                             + (f" ({said})" if said else ""), flags)
        if report.get("alias"):
            return Result(0, f"{exercise.function} is gazelab's {report['alias']}: write it yourself", flags)
        if report.get("hits"):
            return Result(0, f"it calls {', '.join(report['hits'])}: that is the function this exercise asks you "
                             "to write", flags)
        results = report.get("cases", [])
        for index, (label, inputs) in enumerate(cases):
            if index >= len(results):
                return Result(0, f"no result on {label}", flags)
            result = results[index]
            if "error" in result:
                error = result["error"]
                if error.get("not_written"):
                    return Result(0, "not written yet (it raises NotImplementedError)", flags)
                where = f" (line {error['line']} of {error['function']})" if error.get("line") else ""
                return Result(0, f"it raised {error['type']}: {error['message'][:200]}{where} on {label}", flags)
            got = exercise_run.decode(result.get("value"))
            difference = spec.differs(got, expected[index], inputs)
            if difference is not None:
                return Result(0, f"wrong result on {label}: {difference}", flags)
        return Result(exercise.points, None, flags)

    def _run(self, assignment: Assignment, exercise: CodeExercise, source: str, tree: ast.AST, inputs: list,
             wall: float, reference_s: float) -> tuple[dict, str | None]:
        import torch
        from gazelab.teach.exercises import EXERCISES, _call

        needed = free_names(tree)
        request = {
            "key": exercise.key, "function": exercise.function,
            "preamble": sorted({assignment.imports[n] for n in needed if n in assignment.imports
                                and n not in assignment.bindings}),
            "bindings": {n: k for n, k in assignment.bindings.items() if n in needed and k != exercise.key},
            "references": {k: _where(EXERCISES[k].reference) for k in EXERCISES},
            "forbidden": [w for w in map(_where, _forbidden_functions(exercise.key)) if w is not None],
            "outcome": EXERCISES[exercise.key].outcome is not _call,
        }
        with tempfile.TemporaryDirectory(prefix="gazelab-grade-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            (work / "solution.py").write_text(source)
            (work / "request.json").write_text(json.dumps(request))
            torch.save(inputs, work / "inputs.pt")
            limits = sandbox.Limits(wall_s=wall, cpu_s=int(wall) + 1)
            outcome = sandbox.run(self._argv(str(work)), work, limits, self._env(work), hide=self._hidden())
            if outcome.timed_out:
                return {}, (f"timeout: stopped after {wall:.0f} s (the reference took {reference_s:.2f} s on the "
                            "same inputs)")
            if outcome.signal is not None:
                why = {9: "killed (SIGKILL: the CPU limit or memory)", 24: "killed at the CPU-time limit (SIGXCPU)",
                       25: "killed at the file-size limit (SIGXFSZ)"}.get(outcome.signal, "killed")
                return {}, f"{why}, signal {outcome.signal}"
            report = _report(outcome.stdout)
            if outcome.returncode != 0 or not isinstance(report, dict):
                tail = (outcome.stderr.strip().splitlines() or ["no report"])[-1][:300]
                return {}, f"the grading process failed (exit {outcome.returncode}): {tail}"
            return report, None


def _report(stdout: str) -> Any:
    """The child's report: the JSON line after the last :data:`~exercise_run.MARKER` (None if there is none)."""
    at = stdout.rfind(exercise_run.MARKER)
    if at < 0:
        return None
    try:
        return json.loads(stdout[at + len(exercise_run.MARKER):].split("\n", 1)[0])
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- the grade table
@dataclasses.dataclass
class Row:
    student: str
    notebook: str
    points: dict[str, float | str] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    copied: list[str] = dataclasses.field(default_factory=list)
    graded: nbformat.NotebookNode | None = None
    """The submission, when it could be read (then it goes to nbgrader's gradebook for formgrader)."""
    source: Path | None = None
    """The submitted file (its folder may hold the capstone's runs, ``capstone_runs/``)."""


def grade_notebook(grader: Grader, assignment: Assignment, student: str, path: Path) -> Row:
    """A row of the table for one student's notebook; a problem of the notebook is a reason in the row."""
    row = Row(student, assignment.name, source=path)
    for exercise in assignment.exercises:
        row.points[exercise.column] = 0
    for question in assignment.quiz:
        row.points[question.column] = 0
    try:
        notebook = nbformat.read(path, as_version=4)
        cells = list(notebook.cells)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a row with its reason
        row.problems.append(f"unreadable notebook ({type(error).__name__}: {str(error)[:200]})")
        return row
    row.graded = notebook
    for exercise in assignment.exercises:
        sources = [python_source(cell.get("source", "")) for cell in cells
                   if cell.get("cell_type") == "code" and _grade_id(cell) == exercise.solution_id]
        if not sources:
            ids = sorted({str(_grade_id(c)) for c in cells if c.get("cell_type") == "code" and _grade_id(c)})
            row.problems.append(f"{exercise.key}: no code cell with the nbgrader grade_id {exercise.solution_id} "
                                f"(its metadata was edited? code cells with grade ids: {', '.join(ids) or 'none'})")
            continue
        try:
            result = grader.grade(assignment, exercise, "\n\n".join(sources), student)
        except Exception as error:  # noqa: BLE001 - grading one exercise never stops the others
            result = Result(0, f"grading failed: {type(error).__name__}: {str(error)[:200]}")
        row.points[exercise.column] = result.points
        if result.problem:
            row.problems.append(f"{exercise.key}: {result.problem}")
        row.copied += [f"{exercise.key}: {name}" for name in result.copied]
    score_quiz(assignment, cells, row)
    return row


def score_quiz(assignment: Assignment, cells: list, row: Row) -> None:
    """Score the quiz questions of one submission into ``row``: the answers are read from the text of the solution
    cell(s) with the nbgrader grade_id ``solution-quiz-N`` (:func:`gazelab.teach.quiz.read_answers`; nothing runs) and
    compared with the key; a question scores its points when its answer is the key's, else 0 with the reason."""
    from gazelab.teach.quiz import read_answers, same_answer

    for number in dict.fromkeys(q.quiz for q in assignment.quiz):
        questions = [q for q in assignment.quiz if q.quiz == number]
        solution_id = questions[0].solution_id
        sources = [python_source(cell.get("source", "")) for cell in cells
                   if cell.get("cell_type") == "code" and _grade_id(cell) == solution_id]
        if not sources:
            row.problems.append(f"quiz {number}: no code cell with the nbgrader grade_id {solution_id} (its metadata "
                                "was edited?)")
            continue
        answers, problem = read_answers("\n\n".join(sources), questions[0].function)
        if problem is not None:
            row.problems.append(f"quiz {number}: {problem}")
            continue
        for question in questions:
            answer = answers.get(question.question)
            if answer is None:
                row.problems.append(f"{number}.{question.question}: not answered")
            elif same_answer(answer, question.key):
                row.points[question.column] = question.points
            else:
                row.problems.append(f"{number}.{question.question}: wrong answer ({answer!r:.40})")


def _record(nbgrader: _NbGrader, course: Path, assignment: Assignment, row: Row) -> None:
    """Put the graded notebook in nbgrader's gradebook (autograde without executing), then overwrite its code
    exercises' scores with the row's; read back the written answers' manual scores. A failure leaves the student
    out of the gradebook, never with nbgrader's own (unexecuted) scores. Below each written answer of the copy
    formgrader shows goes its model answer and rubric (:mod:`gazelab.authoring.rubrics`); a notebook that reads the
    capstone's runs gets the submission's ``capstone_runs/`` beside it."""
    from gazelab.authoring import rubrics
    from gazelab.teach.course import CAPSTONE_DIR

    target = course / "submitted" / row.student / assignment.name / f"{assignment.name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(row.graded, target)
    source = course / "source" / assignment.name / f"{assignment.name}.ipynb"
    runs = row.source.parent / CAPSTONE_DIR if row.source is not None else None
    # The capstone's runs travel with the notebook that reads them (nbgrader autograde copies them on to autograded/)
    if (runs is not None and runs.is_dir() and CAPSTONE_DIR in source.read_text(encoding="utf-8")
            and runs.resolve() != (target.parent / CAPSTONE_DIR).resolve()):
        shutil.rmtree(target.parent / CAPSTONE_DIR, ignore_errors=True)
        shutil.copytree(runs, target.parent / CAPSTONE_DIR)
    try:
        nbgrader("autograde", assignment.name, row.student)
        with nbgrader.gradebook() as gradebook:
            for exercise in [*assignment.exercises, *assignment.quiz]:
                grade = gradebook.find_grade(exercise.test_id, assignment.name, assignment.name, row.student)
                grade.auto_score = float(row.points[exercise.column])
            gradebook.db.commit()
            for grade_id, points in assignment.answers:
                try:
                    grade = gradebook.find_grade(grade_id, assignment.name, assignment.name, row.student)
                except Exception:  # noqa: BLE001
                    continue
                score = grade.manual_score  # an unchanged answer cell is 0 without grading (nbgrader)
                if score is None and not grade.needs_manual_grade:
                    score = grade.auto_score
                row.points[f"{grade_id} ({points:g})"] = "" if score is None else score
    except Exception as error:  # noqa: BLE001
        row.problems.append(f"not in formgrader's gradebook (grade its written answers by hand): "
                            f"{str(error)[:300]}")
        try:
            with nbgrader.gradebook() as gradebook:
                gradebook.remove_submission(assignment.name, row.student)
        except Exception:  # noqa: BLE001 - it was never there
            pass
        return
    try:
        notes = rubrics.grader_notes(nbformat.read(source, as_version=4), f"{assignment.name}.ipynb")
        rubrics.add_grader_notes(course / "autograded" / row.student / assignment.name / f"{assignment.name}.ipynb",
                                 notes)
    except Exception as error:  # noqa: BLE001 - the grades stand; the grader opens solutions/ for the rubrics
        row.problems.append(f"no rubrics below the answers in formgrader (see solutions/{assignment.name}.ipynb): "
                            f"{str(error)[:200]}")


def _submissions(submissions: Path, assignments: Iterable[str]) -> tuple[list[tuple[str, str, Path]], list[Row]]:
    found, empty = [], []
    names = set(assignments)
    for student in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths = sorted(p for p in student.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        mine = [(student.name, p.stem, p) for p in paths if p.stem in names]
        seen = set()
        for entry in mine:
            if entry[1] in seen:
                empty.append(Row(student.name, entry[1], problems=[f"more than one {entry[1]}.ipynb: graded "
                                                                   f"{next(p for s, n, p in mine if n == entry[1])}"]))
                continue
            seen.add(entry[1])
            found.append(entry)
        if not mine:
            empty.append(Row(student.name, "", problems=[
                f"no notebook named like an assignment (found: {', '.join(p.name for p in paths) or 'nothing'})"]))
    return found, empty


def grade_submissions(submissions: Path, course: Path = COURSE_DIR, table: Path | None = None, *,
                      timeout: float | None = None, gradebook: bool = True) -> Path:
    """Grade ``submissions/<student>/**/<assignment>.ipynb`` (module docstring) and write the table; returns its
    path (default ``course/grades_by_student.csv``). ``timeout``: wall-clock seconds per exercise (default: sized
    from the measured start-up of a sandboxed process and the reference's own time). ``gradebook``: also record
    the notebooks in nbgrader's gradebook for formgrader."""
    secret = read_secret(course)
    names = setup_course(course)
    if not submissions.is_dir() or not any(p.is_dir() for p in submissions.iterdir()):
        raise GazelabError(f"no submission under {submissions} (expected <student>/.../<assignment>.ipynb, "
                           f"assignments: {', '.join(names)})")
    assignments = {n: load_assignment(course / "source" / n / f"{n}.ipynb") for n in names}
    found, rows = _submissions(submissions, names)
    grader = Grader(course, secret, timeout, hide=(submissions,))
    grader.probe()
    print(f"grading {len(found)} notebooks; student code runs {sandbox.isolation()}", file=sys.stderr)
    for student, name, path in found:
        try:
            row = grade_notebook(grader, assignments[name], student, path)
        except Exception as error:  # noqa: BLE001 - one submission never blocks the others
            row = Row(student, name, problems=[f"grading failed: {type(error).__name__}: {str(error)[:300]}"])
        rows.append(row)
    if gradebook:
        try:
            nbgrader = _NbGrader(course)
            for name in sorted({r.notebook for r in rows if r.graded is not None}):
                nbgrader("generate_assignment", name)  # the assignment's cells in the gradebook
        except Exception as error:  # noqa: BLE001
            for row in rows:
                if row.graded is not None:
                    row.problems.append(f"not in formgrader's gradebook: {str(error)[:300]}")
        else:
            for row in rows:
                if row.graded is not None:
                    _record(nbgrader, course, assignments[row.notebook], row)
    return write_table(rows, assignments, table or course / "grades_by_student.csv")


def write_table(rows: list[Row], assignments: dict[str, Assignment], table: Path) -> Path:
    """The CSV, written atomically (a temporary file renamed over the old table)."""
    columns = []
    graded = {row.notebook for row in rows}
    for assignment in sorted((a for a in assignments.values() if a.name in graded), key=lambda a: a.name):
        columns += [e.column for e in assignment.exercises]
        columns += [q.column for q in assignment.quiz]
        columns += [f"{grade_id} ({points:g})" for grade_id, points in assignment.answers]
    header = ["student", "notebook", *dict.fromkeys(columns), "total", "max", "problems", "copied"]
    table.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=table.parent, prefix=f".{table.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            for row in sorted(rows, key=lambda r: (r.student, r.notebook)):
                assignment = assignments.get(row.notebook)
                numbers = [v for v in row.points.values() if isinstance(v, (int, float))]
                writer.writerow({"student": row.student, "notebook": row.notebook,
                                 **{k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.points.items()},
                                 "total": f"{sum(numbers):g}",
                                 "max": f"{assignment.max_points:g}" if assignment else "",
                                 "problems": " | ".join(row.problems), "copied": " | ".join(row.copied)})
        os.chmod(tmp, 0o644)
        os.replace(tmp, table)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["release", "grade", "wheel"],
                        help="release: the nbgrader student release, the student wheel and the course secret; "
                             "grade: grade SUBMISSIONS into course/grades_by_student.csv; "
                             "wheel: only the student wheel, into --out (make wheel: dist/)")
    parser.add_argument("submissions", nargs="?", type=Path, help="grade: folder of <student>/<notebook>.ipynb")
    parser.add_argument("--course", type=Path, default=COURSE_DIR, help="nbgrader course folder")
    parser.add_argument("--assignments", nargs="*", help="release: only these notebooks (e.g. 01_triplet_loss)")
    parser.add_argument("--timeout", type=float, help="grade: wall-clock seconds per exercise (default: sized "
                                                      "from the sandbox's start-up and the reference's time)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="wheel: where to write it")
    args = parser.parse_args(argv)
    try:
        if args.command == "wheel":
            print(f"student wheel: {build_student_wheel(args.out)}")
        elif args.command == "release":
            print(f"student release in {release(args.course, args.assignments)} (no solution text found in it); "
                  f"the hidden inputs' secret: {args.course / SECRET_FILE} (keep it, do not hand it out)")
        else:
            if args.submissions is None:
                parser.error("grade needs the folder of submissions")
            print(f"grades per student: {grade_submissions(args.submissions, args.course, timeout=args.timeout)}")
    except GazelabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
