"""The instructor's workflow on nbgrader (INSTRUCTORS.md): the student release holds no solution text, and
autograding gives full marks to the solved notebook's code exercises and zero to the unsolved release's.

One course folder is built for the module (release of every notebook: ~30 s; autograding notebook 01 for two
students in smoke mode: ~30 s on 2 idle cores)."""

import csv
import shutil

import nbformat
import pytest

from gazelab.authoring import tutorials

pytest.importorskip("nbgrader", reason="the grading workflow needs nbgrader (gazelab[grading], in gazelab[all])")

GRADED = "01_triplet_loss"
CODE_TESTS = ("test-1_1", "test-1_2")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    tutorials.release(course)
    return course


def test_the_release_holds_every_notebook_and_no_solution_text(course):
    released = sorted(p.stem for p in (course / "release").rglob("*.ipynb"))
    assert released == sorted(p.stem for p in tutorials.SOLUTIONS_DIR.glob("*.ipynb") if not p.stem.startswith("00"))
    assert tutorials.solution_leaks(course / "release") == []


def test_the_leak_scan_finds_a_solution_line(course, tmp_path):
    """The scan itself can fail: a released notebook with one solution line pasted back is reported."""
    secret = sorted(tutorials.solution_text(nbformat.read(tutorials.SOLUTIONS_DIR / f"{GRADED}.ipynb", 4)))
    assert secret, "notebook 01 has solution lines"
    release = tmp_path / "release" / GRADED
    release.mkdir(parents=True)
    notebook = nbformat.read(course / "release" / GRADED / f"{GRADED}.ipynb", 4)
    notebook.cells[-1].source += "\n" + secret[0]
    nbformat.write(notebook, release / f"{GRADED}.ipynb")
    assert len(tutorials.solution_leaks(tmp_path / "release")) == 1


def test_autograde_gives_full_marks_to_the_solution_and_zero_to_the_blank_release(course, tmp_path, monkeypatch):
    monkeypatch.setenv("GAZELAB_SMOKE", "1")
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)  # a blank submission must run to the end
    submissions = tmp_path / "submissions"
    for student, source in (("solved", course / "source"), ("blank", course / "release")):
        (submissions / student).mkdir(parents=True)
        shutil.copyfile(source / GRADED / f"{GRADED}.ipynb", submissions / student / f"{GRADED}.ipynb")
    table = tutorials.grade_submissions(submissions, course, tmp_path / "grades.csv")
    rows = {row["student"]: row for row in csv.DictReader(table.open())}
    for cell in CODE_TESTS:
        column = f"{GRADED}/{cell} (2)"
        assert float(rows["solved"][column]) == 2.0, (cell, rows["solved"])
        assert float(rows["blank"][column]) == 0.0, (cell, rows["blank"])
    # the blank release executed top to bottom: only its test cells failed
    graded = nbformat.read(course / "autograded" / "blank" / GRADED / f"{GRADED}.ipynb", 4)
    errors = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in graded.cells
              if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    assert errors and set(errors) <= set(CODE_TESTS), errors
