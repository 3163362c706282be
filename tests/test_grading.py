"""Grades an instructor can trust (gazelab.authoring.grading, INSTRUCTORS.md; issue 21).

One release of every notebook for the module (~10 s: nbgrader, the student wheel, the secret) and one grading run
of notebook 01 for a class of submissions: each attempt to pass without solving scores 0, a correct solution gets
full marks, a copy is flagged, a broken notebook or edited metadata is a row with its reason while the others are
graded (~1 min on 2 busy cores, most of it the infinite loop's timeout). The sandbox itself is checked by running
code that the source rules would have rejected."""

import csv
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest

from gazelab.authoring import grading, sandbox, tutorials

pytest.importorskip("nbgrader", reason="the grading workflow needs nbgrader (gazelab[grading], in gazelab[all])")

GRADED = "01_triplet_loss"
PWNED = Path("/tmp") / f"gazelab-pwned-{uuid.uuid4().hex}"
QUIZ_FN = "my_quiz_1"

OWN_11 = '''def my_cosine_distance(a, b):
    x, y = a.reshape(len(a), -1), b.reshape(len(b), -1)
    dots = (x * y).sum(dim=1)
    return 1 - dots / torch.clamp(x.norm(dim=1) * y.norm(dim=1), min=1e-8)


cosine_distance_fn = use("1.1", my_cosine_distance)
'''
OWN_12 = '''def my_triplet_loss(anchor, positive, negative, margin=0.2):
    if len(anchor) == 0:
        return torch.zeros(())
    gap = cosine_distance_fn(anchor, positive) - cosine_distance_fn(anchor, negative)
    return torch.clamp(gap + margin, min=0).mean()


triplet_loss_fn = use("1.2", my_triplet_loss)
'''
STUB = "def my_cosine_distance(a, b):\n    raise NotImplementedError\n\n"
REFERENCE = "gazelab.method.contrastive"

# Each replaces the solution cell of exercise 1.1 (1.2 stays the release's stub): all must score 0.
CHEATS = {
    "grade-noop": STUB + "grade = lambda *a, **k: None\ncosine_distance_fn = use('1.1', my_cosine_distance)\n",
    "patched-problem": ("import gazelab.teach.exercises as e\ne._problem = lambda *a, **k: None\n"
                        "e.grade = lambda *a, **k: None\n" + STUB),
    "exec-getsource": (f"import inspect\nfrom {REFERENCE} import cosine_distance\n"
                       "exec(inspect.getsource(cosine_distance).replace('def cosine_distance', "
                       "'def my_cosine_distance'))\n"),
    "thread-pool": (f"from concurrent.futures import ThreadPoolExecutor\n"
                    "def my_cosine_distance(a, b):\n    with ThreadPoolExecutor(1) as pool:\n"
                    "        return pool.submit(cosine_distance, a, b).result()\n"),
    "setprofile-off": ("import sys\ndef my_cosine_distance(a, b):\n    sys.setprofile(None)\n"
                       "    return cosine_distance(a, b)\n"),
    "hidden-lookup": ("from gazelab.teach.exercises import EXERCISES, check_cases\n"
                      "TABLE = [(x, cosine_distance(*x)) for seed, n in ((2024, 20), (0, 5))\n"
                      "         for _, x in check_cases(EXERCISES['1.1'], seed, n, edge_cases=seed == 0)]\n"
                      "def my_cosine_distance(a, b):\n"
                      "    for (x, y), out in TABLE:\n"
                      "        if x.shape == a.shape and bool((x == a).all()) and bool((y == b).all()):\n"
                      "            return out\n"
                      "    raise KeyError('not in the table')\n"),
    "alias": "my_cosine_distance = cosine_distance\n",
    "wrapper": "def my_cosine_distance(a, b):\n    return cosine_distance(a, b)\n",
    "os-system": f"import os\nos.system('touch {PWNED}')\n" + STUB,
    "torch-os": f"def my_cosine_distance(a, b):\n    torch.os.system('touch {PWNED}')\n    return a\n",
    "infinite-loop": "def my_cosine_distance(a, b):\n    while True:\n        pass\n",
    # passes the source rules (triplet_loss is another exercise's function): the grading process sees the call
    "through-triplet-loss": ("def my_cosine_distance(a, b):\n"
                             "    return torch.stack([triplet_loss(a[i:i + 1], b[i:i + 1], -a[i:i + 1], 2.0)\n"
                             "                        for i in range(len(a))])\n"),
}


def _cell(notebook, grade_id):
    return next(c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _quiz_key(name=GRADED):
    """{question: the model answer} of a notebook's quiz, read from solutions/ (so no key is written in this file)."""
    ((_, key),) = grading.quiz_key(nbformat.read(tutorials.SOLUTIONS_DIR / f"{name}.ipynb", 4), name).values()
    return key


def _quiz_source(answers, function=QUIZ_FN):
    return f'def {function}():\n    """My answers."""\n    return {answers!r}\n'


def _right_answers(key):
    """The key's answers written another way: letters upper case in brackets, numbers as strings, reversed order."""
    return {q: f"({a.upper()})" if isinstance(a, str) else f"{a:.3f}" for q, a in reversed(key.items())}


def _wrong_answers(key):
    """Another letter for every multiple-choice question, the number + 1 for every numeric one."""
    return {q: ("b" if a != "b" else "c") if isinstance(a, str) else a + 1 for q, a in key.items()}


# Each replaces the quiz's answer cell of notebook 01 (its test cells stay, or are forged too): all must score 0.
QUIZ_CHEATS = {
    "quiz-patched": (f"import gazelab.teach.quiz as q\nq.grade_quiz = q.quiz = lambda *a, **k: print('correct')\n"
                     f"print('correct')\n\ndef {QUIZ_FN}():\n    raise NotImplementedError\n"),
    "quiz-computed": (f"import json\n\ndef {QUIZ_FN}():\n    path = '{tutorials.SOLUTIONS_DIR}/{GRADED}.ipynb'\n"
                      "    cells = json.load(open(path))['cells']\n"
                      "    return eval(next(''.join(c['source']) for c in cells if 'quiz(' in ''.join(c['source']))"
                      ".split('return ')[1].split('\\n')[0])\n"),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    grading.release(course)
    return course


def _release(course):
    return nbformat.read(course / "release" / GRADED / f"{GRADED}.ipynb", 4)


def _submissions(course, folder):
    """The class: the cheats, a correct own solution, two copies, blank, edited metadata, a broken file."""
    notebooks = {}
    for name, source in CHEATS.items():
        notebook = _release(course)
        _cell(notebook, "solution-1_1").source = source
        notebooks[name] = notebook
    # the three the old grading caught: an edited locked test cell, a deleted one, hand-set points
    notebook = _release(course)
    _cell(notebook, "test-1_1").source = "print('all good')"
    notebooks["edited-test-cell"] = notebook
    notebook = _release(course)
    notebook.cells = [c for c in notebook.cells if not tutorials.is_test_cell(c)]
    notebooks["deleted-test-cells"] = notebook
    notebook = _release(course)
    for grade_id in ("test-1_1", "test-1_2"):
        cell = _cell(notebook, grade_id)
        cell.metadata.nbgrader["points"] = 100
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="exercise passed\n")]
    notebooks["hand-set-points"] = notebook
    notebook = _release(course)
    _cell(notebook, "solution-1_1").source = OWN_11
    _cell(notebook, "solution-1_2").source = OWN_12
    _cell(notebook, "solution-quiz-1").source = _quiz_source(_right_answers(_quiz_key()))
    notebooks["own-solution"] = notebook
    notebook = _release(course)
    _cell(notebook, "solution-quiz-1").source = _quiz_source(_wrong_answers(_quiz_key()))
    notebooks["quiz-wrong"] = notebook
    for name, source in QUIZ_CHEATS.items():
        notebook = _release(course)
        _cell(notebook, "solution-quiz-1").source = source
        for question in _quiz_key():  # the test cells forged too: edited, outputs that say so, 100 points each
            test = _cell(notebook, f"test-quiz-1_{question}")
            test.source = "print('correct')"
            test.metadata.nbgrader["points"] = 100
            test.outputs = [nbformat.v4.new_output("stream", name="stdout", text="correct\n")]
        notebooks[name] = notebook
    notebooks["copy-of-model"] = nbformat.read(course / "source" / GRADED / f"{GRADED}.ipynb", 4)
    notebook = _release(course)
    _cell(notebook, "solution-1_1").source = ('from torch import nn\n\ndef my_cosine_distance(x, y):\n    """Mine."""\n'
                                              "    return 1.0 - nn.functional.cosine_similarity(x.flatten(1), "
                                              "y.flatten(1), dim=1, eps=1e-8)\n")
    notebooks["copy-of-library"] = notebook
    notebooks["blank"] = _release(course)
    notebook = _release(course)
    _cell(notebook, "solution-1_1").source = OWN_11
    _cell(notebook, "solution-1_1").metadata.nbgrader["grade_id"] = "my-answer"
    _cell(notebook, "solution-1_2").source = OWN_12
    notebooks["renamed-grade-ids"] = notebook
    for student, notebook in notebooks.items():
        (folder / student).mkdir(parents=True)
        nbformat.write(notebook, folder / student / f"{GRADED}.ipynb")
    (folder / "broken").mkdir()
    (folder / "broken" / f"{GRADED}.ipynb").write_text('{"cells": [{"cell_type": "code", "sour')
    return folder


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    folder = _submissions(course, tmp_path_factory.mktemp("submissions"))
    table = grading.grade_submissions(folder, course)
    rows = {row["student"]: row for row in csv.DictReader(table.open())}
    return table, rows


@pytest.mark.parametrize("student", [*CHEATS, "edited-test-cell", "deleted-test-cells", "hand-set-points"])
def test_every_attempt_to_pass_without_solving_scores_zero(graded, student):
    _, rows = graded
    row = rows[student]
    assert (row["1.1 (2)"], row["1.2 (2)"], row["total"]) == ("0", "0", "0"), row
    assert row["problems"].startswith("1.1: "), row["problems"]


@pytest.mark.parametrize("student, reason", [
    ("grade-noop", "not written yet"), ("patched-problem", "imports gazelab.teach.exercises"),
    ("exec-getsource", "uses exec()"), ("thread-pool", "imports concurrent.futures"),
    ("setprofile-off", "imports sys"), ("hidden-lookup", "imports gazelab.teach.exercises"),
    ("alias", "uses gazelab's cosine_distance"), ("wrapper", "uses gazelab's cosine_distance"),
    ("os-system", "imports os"), ("torch-os", "reads the attribute .os"), ("infinite-loop", "timeout"),
    ("through-triplet-loss", "it calls gazelab.method.contrastive.cosine_distance"),
    ("edited-test-cell", "not written yet"), ("hand-set-points", "not written yet")])
def test_the_row_says_why(graded, student, reason):
    _, rows = graded
    assert reason in rows[student]["problems"].split(" | ")[0], rows[student]["problems"]


def test_a_student_command_never_ran(graded):
    assert not PWNED.exists()


def test_the_infinite_loop_is_stopped_within_a_minute(graded):
    _, rows = graded
    seconds = float(rows["infinite-loop"]["problems"].split("stopped after ")[1].split(" s")[0])
    assert seconds <= 60, rows["infinite-loop"]["problems"]


def test_a_correct_solution_gets_full_marks_and_no_flag(graded):
    _, rows = graded
    row = rows["own-solution"]
    assert (row["1.1 (2)"], row["1.2 (2)"], row["total"], row["max"]) == ("2", "2", "7", "11"), row
    assert row["problems"] == "" and row["copied"] == "", row


# ------------------------------------------------------------------------------------------------ the quiz
def test_the_quiz_gives_each_right_answer_its_points_and_a_wrong_one_zero(graded):
    """Right answers written another way than the key (upper case, brackets, numbers as strings, another order) get
    a point each; wrong ones 0, each with its reason; the quiz is a column per question, as nbgrader's cells say."""
    table, rows = graded
    questions = list(_quiz_key())
    columns = [f"1.{q} (1)" for q in questions]
    assert [c for c in next(csv.reader(table.open())) if c.startswith("1.q")] == columns
    assert [rows["own-solution"][c] for c in columns] == ["1"] * len(questions)
    wrong = rows["quiz-wrong"]
    assert [wrong[c] for c in columns] == ["0"] * len(questions) and wrong["total"] == "0", wrong
    assert [p.split(":")[0] for p in wrong["problems"].split(" | ") if "wrong answer" in p] == [
        f"1.{q}" for q in questions], wrong["problems"]
    assert rows["blank"]["problems"].endswith("quiz 1: not answered yet"), rows["blank"]["problems"]


@pytest.mark.parametrize("student, reason", [
    ("quiz-patched", "quiz 1: not answered yet"),
    ("quiz-computed", "quiz 1: my_quiz_1() must be a single `return {...}`"),
    ("edited-test-cell", "quiz 1: not answered yet"), ("hand-set-points", "quiz 1: not answered yet")])
def test_a_forged_quiz_scores_zero(graded, student, reason):
    """A cell that patches the checker and prints "correct", test cells edited to print it with 100 points each, or
    answers computed from the solved notebook: nothing of the submission runs, its answers are read from the text."""
    _, rows = graded
    row = rows[student]
    assert [row[f"1.{q} (1)"] for q in _quiz_key()] == ["0"] * len(_quiz_key()) and row["total"] == "0", row
    assert any(p.startswith(reason) for p in row["problems"].split(" | ")), row["problems"]


def test_a_copy_of_the_model_solution_or_of_gazelab_is_graded_and_flagged(graded):
    _, rows = graded
    model, library = rows["copy-of-model"], rows["copy-of-library"]
    assert model["total"] == "7" and library["1.1 (2)"] == "2", (model, library)
    assert model["copied"].count("the model solution (solutions/01_triplet_loss.ipynb)") == 2, model["copied"]
    assert "1.1: gazelab's gazelab.method.contrastive.cosine_distance" in library["copied"], library["copied"]
    assert rows["blank"]["copied"] == "" and rows["blank"]["total"] == "0"


def test_edited_metadata_and_a_broken_notebook_are_rows_with_their_reason(graded):
    table, rows = graded
    assert "1.1: no code cell with the nbgrader grade_id solution-1_1" in rows["renamed-grade-ids"]["problems"]
    assert rows["renamed-grade-ids"]["1.2 (2)"] == "2"  # the exercise whose cell kept its id is graded
    assert rows["broken"]["problems"].startswith("unreadable notebook"), rows["broken"]
    assert rows["broken"]["total"] == "0"
    assert len(rows) == len(CHEATS) + len(QUIZ_CHEATS) + 10
    assert not [p for p in table.parent.iterdir() if p.name.endswith(".tmp")]  # written through a renamed temp file


def test_formgrader_shows_the_computed_points_not_nbgraders(course, graded):
    """nbgrader records the notebooks without executing them; the gradebook then holds the points computed here
    (nbgrader alone would give full marks to a test cell whose saved output has no error)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        def score(student, cell):
            return gradebook.find_grade(cell, GRADED, GRADED, student).score

        assert score("own-solution", "test-1_1") == score("own-solution", "test-1_2") == 2
        for student in ("grade-noop", "hand-set-points", "edited-test-cell", "infinite-loop"):
            assert score(student, "test-1_1") == 0, student
        for question in _quiz_key():
            assert score("own-solution", f"test-quiz-1_{question}") == 1
            for student in ("quiz-wrong", *QUIZ_CHEATS):
                assert score(student, f"test-quiz-1_{question}") == 0, (student, question)
        with pytest.raises(MissingEntry):
            gradebook.find_submission(GRADED, "broken")


def test_the_table_is_written_when_every_notebook_fails(course, tmp_path):
    (tmp_path / "subs" / "x").mkdir(parents=True)
    (tmp_path / "subs" / "x" / f"{GRADED}.ipynb").write_text("not json")
    (tmp_path / "subs" / "y").mkdir()
    (tmp_path / "subs" / "y" / "homework.ipynb").write_text("{}")
    table = grading.grade_submissions(tmp_path / "subs", course, tmp_path / "grades.csv", gradebook=False)
    rows = {row["student"]: row for row in csv.DictReader(table.open())}
    assert rows["x"]["problems"].startswith("unreadable notebook")
    assert "no notebook named like an assignment (found: homework.ipynb)" in rows["y"]["problems"]


# ------------------------------------------------------------------- the exercises of round 3 (issue 22)
OWN_41 = """def my_mine_other_episodes(keys, returns, episodes, k, threshold):
    far = torch.cdist(keys, keys).masked_fill(episodes[:, None] == episodes[None, :], float("inf"))
    d, near = torch.sort(far, dim=1)
    d, near = d[:, :k], near[:, :k]
    label = returns > threshold
    anchors, positives, negatives = [], [], []
    for i in range(len(keys)):
        ok = torch.isfinite(d[i])
        mine = near[i][ok & (label[near[i]] == label[i])]
        other = near[i][ok & (label[near[i]] != label[i])]
        if len(mine) and len(other):
            anchors.append(i), positives.append(int(mine[0])), negatives.append(int(other[0]))
    return torch.tensor(anchors, dtype=torch.long), torch.tensor(positives, dtype=torch.long), torch.tensor(negatives, dtype=torch.long)


mine_fn = use("4.1", my_mine_other_episodes)
"""
# neighbours from anywhere (the library's default): positives from the anchor's own episode
WRONG_41 = OWN_41.replace("episodes[:, None] == episodes[None, :]", "torch.eye(len(keys), dtype=torch.bool)")
OWN_62 = """def my_paired_margin(agent, random, resamples, seed):
    gap = agent - random
    picks = torch.randint(len(gap), (resamples, len(gap)), generator=torch.Generator().manual_seed(seed))
    resampled = gap[picks].mean(1)
    return torch.quantile(resampled, 0.025).item(), gap.mean().item(), torch.quantile(resampled, 0.975).item()


margin_fn = use("6.2", my_paired_margin)
"""
# each policy's episodes resampled on their own: the interval of an unpaired comparison
WRONG_62 = OWN_62.replace("resampled = gap[picks].mean(1)", "resampled = agent[picks].mean(1) - random[picks.flip(0)].mean(1)")
ROUND3 = {("own-round3", "04_buffer_and_mining", "solution-4_1"): OWN_41,
          ("wrong-round3", "04_buffer_and_mining", "solution-4_1"): WRONG_41,
          ("own-round3", "06_ppo_gaze", "solution-6_2"): OWN_62,
          ("wrong-round3", "06_ppo_gaze", "solution-6_2"): WRONG_62}


@pytest.fixture(scope="module")
def graded_round3(course, tmp_path_factory):
    folder = tmp_path_factory.mktemp("round3")
    for (student, name, grade_id), source in ROUND3.items():
        notebook = nbformat.read(course / "release" / name / f"{name}.ipynb", 4)
        _cell(notebook, grade_id).source = source
        (folder / student).mkdir(exist_ok=True)
        nbformat.write(notebook, folder / student / f"{name}.ipynb")
    table = grading.grade_submissions(folder, course, folder.parent / "round3.csv", gradebook=False)
    return {(row["student"], row["notebook"]): row for row in csv.DictReader(table.open())}


def test_the_new_mining_and_margin_exercises_give_full_marks_to_a_correct_solution(graded_round3):
    """Exercise 4.1 (neighbours from other episodes) and 6.2 (a paired bootstrap margin over random), each written
    another way than the model solution: full marks, no flag."""
    mining, margin = graded_round3["own-round3", "04_buffer_and_mining"], graded_round3["own-round3", "06_ppo_gaze"]
    assert mining["4.1 (2)"] == "2" and margin["6.2 (2)"] == "2", (mining, margin)
    assert mining["problems"] == "quiz 4: not answered yet", mining["problems"]  # the quiz is the release's stub
    assert mining["copied"] == "" and margin["copied"] == "", (mining, margin)
    assert margin["problems"].startswith("6.1: not written yet"), margin["problems"]  # 6.1 is the release's stub


def test_the_new_exercises_give_zero_to_a_wrong_solution(graded_round3):
    mining, margin = graded_round3["wrong-round3", "04_buffer_and_mining"], graded_round3["wrong-round3", "06_ppo_gaze"]
    assert mining["4.1 (2)"] == "0" and margin["6.2 (2)"] == "0", (mining, margin)
    assert mining["problems"].startswith("4.1: wrong result"), mining["problems"]
    assert "6.2: wrong result" in margin["problems"], margin["problems"]


# ------------------------------------------------------------------------------------ release, secret, wheel
def test_the_release_holds_every_notebook_and_no_solution_text(course):
    released = sorted(p.stem for p in (course / "release").rglob("*.ipynb"))
    assert released == sorted(p.stem for p in tutorials.SOLUTIONS_DIR.glob("*.ipynb") if not p.stem.startswith("00"))
    assert grading.solution_leaks(course / "release") == []


def test_every_solution_hint_reaches_the_release(course):
    """INSTRUCTORS.md promises that ``# BEGIN SOLUTION <hint>`` leaves its hint in the student's copy."""
    for source in sorted(tutorials.SOLUTIONS_DIR.glob("*.ipynb")):
        if source.stem.startswith("00"):
            continue
        hints = [begin["hint"].strip() for cell in nbformat.read(source, 4).cells if cell.cell_type == "code"
                 for begin in map(tutorials.BEGIN.match, cell.source.splitlines()) if begin and begin["hint"].strip()]
        released = "\n".join(cell.source for cell in nbformat.read(
            course / "release" / source.stem / source.name, 4).cells)
        assert hints, source.name
        for hint in hints:
            assert f"# Hint: {hint}" in released, (source.name, hint)


def test_the_leak_scan_finds_a_solution_line(course, tmp_path):
    """The scan itself can fail: a released notebook with one solution line pasted back is reported."""
    secret = sorted(grading.solution_text(nbformat.read(tutorials.SOLUTIONS_DIR / f"{GRADED}.ipynb", 4)))
    assert secret, "notebook 01 has solution lines"
    release = tmp_path / "release" / GRADED
    release.mkdir(parents=True)
    notebook = _release(course)
    notebook.cells[-1].source += "\n" + secret[0]
    nbformat.write(notebook, release / f"{GRADED}.ipynb")
    assert len(grading.solution_leaks(tmp_path / "release")) == 1


def test_no_quiz_key_is_in_the_release_the_wheel_or_the_tutorials(course):
    """The key is the solved notebook's model answer only: the release's quiz cells are stubs, and neither the
    release's notebooks nor the student wheel's files (nor tutorials/) hold a key in any form the scan knows (a
    function returning it, the solution's line, its repr or JSON)."""
    names = sorted(p.stem for p in tutorials.SOLUTIONS_DIR.glob("0[1-9]_*.ipynb"))
    keys = {name: _quiz_key(name) for name in names}
    assert all(len(key) >= 3 for key in keys.values()), keys
    assert grading.quiz_key_leaks(course / "release") == []
    assert grading.quiz_key_leaks(tutorials.TUTORIALS_DIR) == []
    from gazelab.teach.quiz import read_answers

    for name in names:
        released = _cell(nbformat.read(course / "release" / name / f"{name}.ipynb", 4), f"solution-quiz-{int(name[:2])}")
        assert read_answers(released.source, f"my_quiz_{int(name[:2])}") == (None, "not answered yet"), name


def test_the_key_scan_finds_a_key_pasted_back(course, tmp_path):
    """The scan itself can fail: a released notebook whose quiz cell returns the key again (written another way), and
    a wheel whose module holds the key as JSON, are both reported."""
    import json

    release = tmp_path / "release"
    (release / GRADED).mkdir(parents=True)
    notebook = _release(course)
    _cell(notebook, "solution-quiz-1").source = _quiz_source(_right_answers(_quiz_key()))
    nbformat.write(notebook, release / GRADED / f"{GRADED}.ipynb")
    with zipfile.ZipFile(release / "gazelab-0.1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("gazelab/teach/key.py", f"KEY = {json.dumps(_quiz_key())}\n")
    leaks = grading.quiz_key_leaks(release)
    assert [leak.split(":")[0] for leak in leaks] == [f"{GRADED}/{GRADED}.ipynb",
                                                      "gazelab-0.1.0-py3-none-any.whl!gazelab/teach/key.py"], leaks


def test_every_quiz_has_a_key_and_a_point_per_question(course):
    """The grader's view of every assignment: each notebook 01-09 has a quiz of 3 questions, 1 point each (the test
    cells' metadata), each with the key's answer."""
    for source in sorted((course / "source").glob("*/*.ipynb")):
        assignment = grading.load_assignment(source)
        assert [(q.question, q.points) for q in assignment.quiz] == [("q1", 1), ("q2", 1), ("q3", 1)], source.name
        assert {q.question: q.key for q in assignment.quiz} == _quiz_key(source.stem)
        assert assignment.max_points == sum(e.points for e in assignment.exercises) + 3 + sum(
            p for _, p in assignment.answers)


def test_the_secret_is_private_and_in_no_wheel_or_release(course):
    path = course / grading.SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    secret = grading.read_secret(course)
    assert len(secret) >= 32
    released = [p for p in (course / "release").rglob("*") if p.is_file()]
    assert not [p for p in released if secret.encode() in p.read_bytes()]
    (wheel,) = (course / "release").glob("gazelab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert not [n for n in names if secret.encode() in archive.read(n)]
    assert "gazelab/teach/exercises.py" in names
    assert not [n for n in names if n.startswith(("gazelab/authoring/", "solutions/", "tutorials/"))
                or n.endswith(".ipynb")], names
    grading.make_secret(course)  # a second release keeps it (submissions graded before and after agree)
    assert grading.read_secret(course) == secret


def test_students_can_install_the_wheel(course, tmp_path):
    (wheel,) = (course / "release").glob("gazelab-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                    str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import gazelab.teach.exercises as e, gazelab; "
                          "print(gazelab.__file__, len(e.EXERCISES))"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, check=True)
    from gazelab.teach.exercises import EXERCISES

    # The wheel carries every exercise's reference and check, the same set as the checkout.
    assert out.stdout.startswith(str(tmp_path / "site")) and out.stdout.split()[-1] == str(len(EXERCISES)), out.stdout


def test_hidden_inputs_come_from_the_secret_not_from_a_seed_in_the_package(course):
    from gazelab.teach.exercises import EXERCISES, check_cases

    grader = grading.Grader(course, grading.read_secret(course))
    mine = grader.cases("1.1", "alice")
    public = [x for seed in (0, 1, 2024) for _, x in check_cases(EXERCISES["1.1"], seed, 20, edge_cases=False)]
    hidden = [x for label, x in mine if "hidden" in label]
    assert len(hidden) == grading.HIDDEN_TRIALS
    assert not any(all(h.shape == p.shape and bool((h == p).all()) for h, p in zip(a, b))
                   for a in hidden for b in public)
    again, other = grader.cases("1.1", "alice"), grader.cases("1.1", "bob")
    assert all(bool((a[1][0] == b[1][0]).all()) for a, b in zip(mine, again))
    assert not all(a[1][0].shape == b[1][0].shape and bool((a[1][0] == b[1][0]).all())
                   for a, b in zip(mine[-5:], other[-5:]))


def test_every_model_solution_passes_the_source_rules():
    """The rules reject nothing the course's own solutions do (each graded full marks by a full run)."""
    for path in sorted(tutorials.SOLUTIONS_DIR.glob("0[1-9]*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type == "code" and grade_id.startswith("solution-") and "quiz" not in grade_id:
                key = grade_id.removeprefix("solution-").replace("_", ".")
                assert grading.forbidden(tutorials.python_source(cell.source), key) == [], (path.name, key)


# ---------------------------------------------------------------------------------------------- the sandbox
@pytest.mark.skipif(not sandbox.isolated(), reason="the sandbox needs root and util-linux's unshare / setpriv")
def test_code_that_escapes_the_rules_still_runs_as_nobody_without_network_files_or_secret(course, tmp_path):
    needed = {p.relative_to("/root").parts[0] for p in sandbox.interpreter_paths() if p.is_relative_to("/root")
              and p != Path("/root")}
    private = sorted(set(os.listdir("/root")) - needed)  # root's files the interpreter does not need
    probe = f"""
import os, socket
print("uid", os.getuid(), os.getgid(), os.getgroups())
print("/root", sorted(set(os.listdir("/root")) & set({private!r})))
for path in ({str(course / grading.SECRET_FILE)!r}, {str(tutorials.SOLUTIONS_DIR)!r}):
    try:
        print(path, sorted(os.listdir(path)) if os.path.isdir(path) else "READ " + open(path).read()[:4])
    except OSError as error:
        print(path, "refused", type(error).__name__)
for path in ({str(PWNED)!r}, {str(tmp_path / "work" / "x")!r}):  # the host's /tmp, the input folder
    try:
        open(path, "w")
        print("wrote", path)
    except OSError:
        print("write refused")
try:  # the scratch folder is the only writable one, and it is small
    for i in range(4):
        with open(f"big{{i}}", "wb") as handle:
            handle.write(bytes(6 << 20))
    print("wrote 24 MiB")
except OSError as error:
    print("scratch full", error.errno, i)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("network")
except OSError as error:
    print("no network", error.errno)
"""
    work = tmp_path / "work"
    work.mkdir()
    out = sandbox.run([sys.executable, "-c", probe], work, sandbox.Limits(wall_s=60, cpu_s=60, scratch_bytes=16 << 20),
                      {"PATH": "/usr/bin:/bin"}, hide=[course, tutorials.SOLUTIONS_DIR])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"uid {sandbox.NOBODY} {sandbox.NOBODY} []", lines
    assert lines[1] == "/root []", lines  # only the interpreter's own folder is there
    assert lines[2].endswith("refused FileNotFoundError"), lines  # the course folder is not there at all
    assert lines[3].endswith("[]"), lines  # solutions/: empty
    assert lines[4] == lines[5] == "write refused", lines
    assert lines[6] == "scratch full 28 2", lines  # ENOSPC on the third 6 MiB file of a 16 MiB tmpfs
    assert lines[7].startswith("no network"), lines
    assert not PWNED.exists()


@pytest.mark.skipif(not sandbox.isolated(), reason="the sandbox needs root and util-linux's unshare / setpriv")
def test_the_wall_clock_limit_kills_the_whole_process_tree(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code = "import subprocess, time; subprocess.Popen(['sleep', '600']); print('started', flush=True); time.sleep(600)"
    out = sandbox.run([sys.executable, "-c", code], work, sandbox.Limits(wall_s=5, cpu_s=60), {"PATH": "/usr/bin:/bin"})
    assert out.timed_out and out.wall_s < 30 and "started" in out.stdout


def test_without_the_sandbox_the_limits_still_apply(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "isolated", lambda: False)
    assert sandbox.isolation().startswith("NOT isolated")
    (tmp_path / "work").mkdir()
    out = sandbox.run([sys.executable, "-c", "while True: pass"], tmp_path / "work",
                      sandbox.Limits(wall_s=60, cpu_s=1), dict(os.environ))
    assert not out.timed_out and out.returncode is not None and out.returncode < 0, out  # SIGXCPU / SIGKILL
    assert out.wall_s < 30


# ------------------------------------------------------------------------------------ rubrics where graders look
def _answer_ids(notebook):
    return [c.metadata.nbgrader.grade_id for c in notebook.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c.cell_type == "markdown"]


def test_formgrader_shows_each_rubric_below_its_answer(course, graded):
    """Formgrader renders the autograded copy: below each written answer, a read-only note with the model answer and
    the rubric of solutions/ (rendered here with formgrader's own exporter and template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    from gazelab.authoring import rubrics

    path = course / "autograded" / "own-solution" / GRADED / f"{GRADED}.ipynb"
    notebook = nbformat.read(path, 4)
    solved = nbformat.read(tutorials.SOLUTIONS_DIR / f"{GRADED}.ipynb", 4)
    answers = {c.metadata.nbgrader.grade_id: c.source for c in solved.cells if c.metadata.get("nbgrader", {}).get(
        "grade_id", "").startswith("answer-")}
    assert answers and set(_answer_ids(notebook)) == set(answers)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            note = notebook.cells[index + 1]
            assert rubrics.is_grader_note(note) and note.metadata.editable is False
            assert cell.source == grading.RELEASE_ANSWER_PROMPT  # the student's answer itself is untouched
            rubric = answers[cell.metadata.nbgrader.grade_id].split("**Rubric", 1)[1].splitlines()[0]
            assert rubric in note.source and "**For the grader" in note.source
    assert sum(rubrics.is_grader_note(c) for c in notebook.cells) == len(answers)
    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    html, _ = exporter.from_filename(str(path), resources={
        "assignment_id": GRADED, "notebook_id": GRADED, "submission_id": "x", "index": 0, "total": 1,
        "base_url": "", "student": "own-solution", "last_name": None, "first_name": None, "notebook_path": ""})
    assert html.count("For the grader") == len(answers) and "Rubric (2 points" in html


def test_feedback_for_students_leaves_the_rubrics_out(course, graded):
    nbgrader = grading._NbGrader(course)
    nbgrader("generate_feedback", GRADED, "own-solution")
    (html,) = (course / "feedback" / "own-solution" / GRADED).glob("*.html")
    text = html.read_text()
    assert "Your answer" in text and "Rubric" not in text and "For the grader" not in text


def test_the_notes_are_replaced_not_repeated(tmp_path, course, graded):
    from gazelab.authoring import rubrics

    path = tmp_path / "copy.ipynb"
    path.write_bytes((course / "autograded" / "own-solution" / GRADED / f"{GRADED}.ipynb").read_bytes())
    notes = rubrics.grader_notes(nbformat.read(course / "source" / GRADED / f"{GRADED}.ipynb", 4), GRADED)
    assert rubrics.add_grader_notes(path, notes) == len(notes) == 2
    assert sum(rubrics.is_grader_note(c) for c in nbformat.read(path, 4).cells) == 2


# ------------------------------------------------------------------------------------------- the capstone's runs
def test_the_capstone_runs_handed_in_travel_with_the_graded_notebook(course, tmp_path):
    """submissions/<student>/09_ablations.ipynb with capstone_runs/ beside it: the recorded and the autograded copy
    (what formgrader shows, what a grader opens) get the runs beside them, where the capstone cell reads first."""
    from gazelab.teach.course import CAPSTONE_DIR

    name = "09_ablations"
    student = tmp_path / "subs" / "carol"
    runs = student / CAPSTONE_DIR / "capstone-medium" / "gazelab-ReachClutter-v0" / "gaze" / "seed1"
    runs.mkdir(parents=True)
    (runs / "history.jsonl").write_text('{"global_step": 0}\n')
    nbformat.write(nbformat.read(course / "release" / name / f"{name}.ipynb", 4), student / f"{name}.ipynb")
    table = grading.grade_submissions(tmp_path / "subs", course, tmp_path / "grades.csv")
    (row,) = csv.DictReader(table.open())
    assert row["notebook"] == name and "not in formgrader" not in row["problems"], row
    for folder in ("submitted", "autograded"):
        copy = course / folder / "carol" / name / CAPSTONE_DIR / "capstone-medium"
        assert (copy / runs.relative_to(student / CAPSTONE_DIR / "capstone-medium") / "history.jsonl").is_file(), folder
