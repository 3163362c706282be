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
