"""tutorials/ is generated from solutions/ (the single source): regenerate in memory and fail on any drift."""

from pathlib import Path

import nbformat
import pytest

from gazelab.authoring.tutorials import SOLUTIONS_DIR, TUTORIALS_DIR, exercise_count, make_tutorial, strip_solution_code

SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))


def test_every_solution_has_a_tutorial_and_vice_versa():
    assert SOLUTIONS, "solutions/ holds no notebook"
    assert [p.name for p in SOLUTIONS] == sorted(p.name for p in TUTORIALS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("solution_path", SOLUTIONS, ids=lambda p: p.name)
def test_tutorial_matches_its_regenerated_version(solution_path: Path):
    expected = make_tutorial(nbformat.read(solution_path, as_version=4), solution_path.name)
    committed = nbformat.read(TUTORIALS_DIR / solution_path.name, as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells], (
        f"tutorials/{solution_path.name} drifted from solutions/: run `make tutorials`"
    )
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


@pytest.mark.parametrize("solution_path", SOLUTIONS, ids=lambda p: p.name)
def test_notebooks_have_exercises_and_tutorials_hide_the_answers(solution_path: Path):
    solution = nbformat.read(solution_path, as_version=4)
    if not solution_path.name.startswith("00"):  # the set-up check has nothing to solve
        assert exercise_count(solution) >= 1, f"{solution_path.name} has no exercise"
    tutorial = nbformat.read(TUTORIALS_DIR / solution_path.name, as_version=4)
    assert exercise_count(tutorial) == 0
    stubs = sum(c.source.count("raise NotImplementedError(\"Exercise") for c in tutorial.cells if c.cell_type == "code")
    assert stubs == sum(
        sum(1 for line in c.source.splitlines() if line.lstrip().startswith("# BEGIN SOLUTION"))
        for c in solution.cells
        if c.cell_type == "code"
    )


@pytest.mark.parametrize("solution_path", SOLUTIONS, ids=lambda p: p.name)
def test_committed_notebooks_are_clean(solution_path: Path):
    for path in (solution_path, TUTORIALS_DIR / solution_path.name):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                assert output.get("output_type") != "error", f"{path.name} holds an error traceback"
        assert path.stat().st_size < 2_000_000, f"{path.name} is {path.stat().st_size} bytes: outputs too large"


def test_strip_solution_keeps_indentation_and_hint():
    source = "def f(x):\n    # BEGIN SOLUTION square it\n    return x * x\n    # END SOLUTION\n"
    assert strip_solution_code(source) == 'def f(x):\n    raise NotImplementedError("Exercise: square it")'


@pytest.mark.parametrize(
    "source, message",
    [("# BEGIN SOLUTION\nx = 1\n", "never closed"), ("x = 1\n# END SOLUTION\n", "without a BEGIN"),
     ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "nested")],
)
def test_malformed_markers_are_reported(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solution_code(source)
