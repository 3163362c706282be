"""gazelab.teach.course: the smoke switch, budgets and the set-up report the first notebook prints."""

import pytest

from gazelab.teach import course


@pytest.mark.parametrize("value, smoke", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_budget_follows_the_smoke_variable(monkeypatch, value, smoke):
    monkeypatch.setenv(course.SMOKE_ENV_VAR, value)
    assert course.smoke_mode() is smoke
    assert course.budget(2000, 50) == (50 if smoke else 2000)


def test_budget_full_by_default(monkeypatch):
    monkeypatch.delenv(course.SMOKE_ENV_VAR, raising=False)
    assert course.budget(1.5, 0.1) == 1.5


def test_budget_rejects_mixed_types():
    with pytest.raises(ValueError, match="same type"):
        course.budget(2000, 0.5)


def test_repo_root_holds_the_package_and_the_notebooks():
    assert (course.REPO_ROOT / "gazelab" / "teach" / "course.py").is_file()
    assert (course.REPO_ROOT / "solutions").is_dir()
    assert course.RUNS_DIR.parent == course.REPO_ROOT


def test_environment_report_names_what_the_course_needs():
    report = course.environment_report()
    for key in ("python", "torch", "torch_threads", "cuda", "vulkan", "ipywidgets", "faiss-cpu", "mani_skill"):
        assert isinstance(report[key], str) and report[key]
    assert report["ipywidgets"] != "not installed"
    text = course.format_report(report)
    assert len(text.splitlines()) == len(report) and "torch_threads" in text


def test_the_times_table_has_a_full_and_a_smoke_time_for_every_notebook():
    numbers = sorted(path.name[:2] for path in (course.REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    rows = course.notebook_times()
    assert [row["number"] for row in rows] == numbers
    assert all(any(ch.isdigit() for ch in row["full"] + row["smoke"]) and " s" in row["full"] for row in rows)


def test_a_missing_times_table_says_where_it_should_be(monkeypatch, tmp_path):
    monkeypatch.setattr(course, "TIMES_TABLE", tmp_path / "README.md")
    with pytest.raises(course.GazelabError, match="README.md is missing"):
        course.notebook_times()


# ------------------------------------------------------------------------------------------- points per assignment
def _notebook(path, cells):
    import json

    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def _graded(cell_type, points, solution, grade_id="x"):
    return {"cell_type": cell_type, "source": "x", "metadata": {"nbgrader": {"grade": True, "solution": solution,
                                                                             "points": points, "grade_id": grade_id}}}


def test_points_are_read_from_the_nbgrader_metadata(tmp_path):
    title = {"cell_type": "markdown", "source": ["# 3 · A title\n", "text"], "metadata": {}}
    _notebook(tmp_path / "03_x.ipynb", [title, _graded("code", 2, False), _graded("code", 3, False),
                                        _graded("markdown", 4, True),
                                        {"cell_type": "code", "source": "", "metadata": {"nbgrader": {"solution": True}}},
                                        _graded("code", 1, False, "test-quiz-3_q1"),
                                        _graded("code", 0.5, False, "test-quiz-3_q2")])
    _notebook(tmp_path / "00_setup.ipynb", [title])  # grades nothing: not an assignment
    (row,) = course.assignment_points(tmp_path)
    assert (row.notebook, row.title, row.code_exercises, row.code_points, row.quiz_questions, row.quiz_points,
            row.written_answers, row.written_points, row.total) == ("03_x", "A title", 2, 5.0, 2, 1.5, 1, 4.0, 10.5)
    assert course.points_table([row]).splitlines()[-1] == (
        "| | **total** | 2 (5 points) | 2 (1.5 points) | 1 (4 points) | **10.5** |")


def test_the_syllabus_quotes_the_points_of_the_notebooks():
    text = course.SYLLABUS.read_text(encoding="utf-8")
    assert course.POINTS_BEGIN in text and course.POINTS_END in text
    quoted = text.split(course.POINTS_BEGIN, 1)[1].split(course.POINTS_END, 1)[0].strip()
    assert quoted == course.points_table(), (
        "docs/syllabus.md's points table differs from the notebooks' nbgrader points: paste the output of "
        "`python -m gazelab.teach.course points` between its markers")


# ------------------------------------------------------------------------------------------- the capstone's runs
def _sweep(root, tag, seeds=(1, 2)):
    for method in ("gaze", "gaze+contrastive"):
        for seed in seeds:
            run = root / tag / "gazelab-ReachClutter-v0" / method / f"seed{seed}"
            run.mkdir(parents=True)
            for name in ("history.jsonl", "result.json", "config.json", "checkpoint.pt", "events.out.tfevents.1"):
                (run / name).write_text(f"{tag} {method} {seed} {name}\n")
    (root / tag / "summary.json").write_text("{}")
    return root / tag


def test_capstone_runs_are_copied_next_to_the_notebook_without_checkpoints(tmp_path):
    results, notebook_dir = tmp_path / "results", tmp_path / "nb"
    _sweep(results, "capstone-medium")
    found = course.capstone_runs(["capstone-medium"], results, here=notebook_dir)
    copy = notebook_dir / course.CAPSTONE_DIR / "capstone-medium"
    assert found == {"capstone-medium": copy}
    names = sorted(p.name for p in copy.rglob("*") if p.is_file())
    assert names == sorted(["summary.json"] + [n for n in course.RUN_FILES for _ in range(4)])
    assert (copy / "gazelab-ReachClutter-v0" / "gaze" / "seed2" / "history.jsonl").read_text().startswith(
        "capstone-medium gaze 2")
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_a_submitted_runs_folder_next_to_the_notebook_is_found_without_the_results(tmp_path):
    """What a grader has: the notebook and the capstone_runs/ folder handed in with it, no benchmarks/results."""
    _sweep(tmp_path / "nb" / course.CAPSTONE_DIR, "capstone-medium")
    found = course.capstone_runs(["capstone-medium", "capstone-missing"], tmp_path / "no-results", here=tmp_path / "nb")
    assert found == {"capstone-medium": tmp_path / "nb" / course.CAPSTONE_DIR / "capstone-medium"}


def test_a_new_sweep_replaces_the_copy_and_committed_tags_are_read_in_place(tmp_path):
    results, notebook_dir = tmp_path / "results", tmp_path / "nb"
    _sweep(results, "capstone-medium", seeds=(1,))
    course.capstone_runs(["capstone-medium"], results, here=notebook_dir)
    _sweep(results / "again", "capstone-medium", seeds=(1, 2, 3))
    (results / "capstone-medium").rename(results / "old")
    (results / "again" / "capstone-medium").rename(results / "capstone-medium")
    course.capstone_runs(["capstone-medium"], results, here=notebook_dir)
    seeds = sorted(p.name for p in (notebook_dir / course.CAPSTONE_DIR / "capstone-medium").glob("*/gaze/seed*"))
    assert seeds == ["seed1", "seed2", "seed3"]
    _sweep(results, "evidence-mild")
    assert course.capstone_runs(["evidence-mild"], results, here=notebook_dir) == {
        "evidence-mild": results / "evidence-mild"}
    assert not (notebook_dir / course.CAPSTONE_DIR / "evidence-mild").exists()


def test_notebook_09_draws_the_runs_handed_in_beside_it(tmp_path):
    """A grader's view: the notebook with capstone_runs/<tag> beside it, a tag no benchmarks/results holds; its
    capstone cell (with the cells it builds on) reads, plots and tabulates those runs; without the folder it says
    that it found none."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    solved = nbformat.read(course.SOLUTIONS_DIR / "09_ablations.ipynb", 4)
    code = [c for c in solved.cells if c.cell_type == "code"]
    capstone = next(c for c in code if "CAPSTONE_TAGS = [" in c.source)
    capstone.source = capstone.source.replace('CAPSTONE_TAGS = ["evidence-mild"]', 'CAPSTONE_TAGS = ["capstone-x"]')
    assert '"capstone-x"' in capstone.source
    needed = [code[0], next(c for c in code if "def show(" in c.source), capstone]
    notebook = nbformat.v4.new_notebook(cells=needed, metadata=solved.metadata)
    folder = tmp_path / "alice"
    course._copy_sweep(course.REPO_ROOT / "benchmarks" / "results" / "sample_efficiency" / "evidence-mild",
                       folder / course.CAPSTONE_DIR / "capstone-x")

    def run():
        executed = NotebookClient(nbformat.from_dict(notebook), timeout=600, kernel_name="python3",
                                  resources={"metadata": {"path": str(folder)}}).execute()
        outputs = executed.cells[-1].outputs
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        shown = [o for o in outputs if o.output_type == "display_data"]
        return text, shown

    text, shown = run()
    assert f"capstone-x: runs read from {folder / course.CAPSTONE_DIR / 'capstone-x'}" in text, text
    assert any("image/png" in o.data for o in shown)
    assert any("gaze+contrastive (capstone-x)" in o.data.get("text/markdown", "") for o in shown)
    shutil.rmtree(folder / course.CAPSTONE_DIR)
    text, shown = run()
    assert "no runs for ['capstone-x']" in text and not shown


def test_notebooks_keep_their_runs_in_temporary_folders_removed_when_the_kernel_stops():
    """Notebooks 06-08 train into a temporary folder (~100 MB each run); one made with mkdtemp outlives the kernel and
    fills /tmp run after run (121 of them had piled up here), a TemporaryDirectory is removed at shutdown."""
    import json
    for notebook in sorted((course.REPO_ROOT / "solutions").glob("*.ipynb")):
        code = "".join("".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
                       if cell["cell_type"] == "code")
        assert "mkdtemp" not in code, notebook.name
        if "RUN_ROOT" in code:
            assert "tempfile.TemporaryDirectory(" in code, notebook.name
