"""gazelab.teach.exercises: `use` checks a student's function by value against references the student's namespace does not
hold, catches aliasing of the library's function, never stops a notebook (outside strict mode); `grade` raises."""

import math

import pytest
import torch

from gazelab.teach import exercises
from gazelab.method.contrastive import cosine_distance
from gazelab.teach.exercises import EXERCISES, ExerciseError, grade, use


@pytest.fixture(autouse=True)
def not_strict(monkeypatch):
    monkeypatch.delenv(exercises.STRICT_ENV_VAR, raising=False)


def correct(a, b):
    a, b = a.flatten(1), b.flatten(1)
    return 1 - (a * b).sum(1) / (a.norm(dim=1).clamp_min(1e-8) * b.norm(dim=1).clamp_min(1e-8))


def no_guard(a, b):  # right on random inputs, NaN on the zero-vector edge case
    a, b = a.flatten(1), b.flatten(1)
    return 1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def wrong(a, b):
    return 1 - (a.flatten(1) * b.flatten(1)).sum(1)


def stub(a, b):
    raise NotImplementedError("Exercise: write it")


def buggy(a, b):
    return a.flatten(1) @ b  # a shape error


def test_a_correct_answer_passes_and_is_used(capsys):
    fn = use("1.1", correct)
    assert "PASS" in capsys.readouterr().out
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(fn(a, b), correct(a, b))
    grade("1.1", correct)
    grade("1.1", correct, seed=7, trials=20)


@pytest.mark.parametrize("alias", [cosine_distance, lambda a, b: cosine_distance(a, b) + 0.0],
                         ids=["assigned", "wrapped"])
def test_aliasing_the_library_function_fails(alias, capsys):
    assert use("1.1", alias) is cosine_distance
    out = capsys.readouterr().out
    assert "FAIL" in out and "gazelab.method.contrastive.cosine_distance" in out and "write it yourself" in out
    with pytest.raises(ExerciseError, match="write it yourself"):
        grade("1.1", alias)


def test_the_expected_values_are_not_in_the_students_namespace():
    """The check cell names an exercise by its key: no reference function or value is passed in or returned."""
    import inspect
    assert list(inspect.signature(use).parameters)[:2] == ["key", "fn"]
    assert list(inspect.signature(grade).parameters)[:2] == ["key", "fn"]


def test_a_wrong_answer_fails_with_a_message(capsys):
    assert use("1.1", wrong) is cosine_distance
    out = capsys.readouterr().out
    assert "FAIL" in out and "wrong result on random input 1" in out and "largest difference" in out
    with pytest.raises(ExerciseError, match="wrong result"):
        grade("1.1", wrong)


def test_an_edge_case_is_checked(capsys):
    assert use("1.1", no_guard) is cosine_distance
    assert "edge case 'zero vectors" in capsys.readouterr().out
    grade("1.1", no_guard, seed=3, trials=5)  # random inputs alone do not show it


def test_not_implemented_falls_back_to_the_reference(capsys):
    assert use("1.1", stub) is cosine_distance
    assert "not written yet" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not written yet"):
        grade("1.1", stub)


def test_a_raising_function_falls_back_with_a_clear_message(capsys):
    assert use("1.1", buggy) is cosine_distance
    out = capsys.readouterr().out
    assert "FAIL: it raised RuntimeError" in out and "buggy" in out and "reference" in out


def test_a_function_that_passed_but_raises_later_falls_back(capsys):
    calls = []

    def fragile(a, b):
        calls.append(1)
        if a.shape[0] == 13:
            raise ValueError("not on 13 rows")
        return correct(a, b)

    fn = use("1.1", fragile)
    a, b = torch.randn(13, 3), torch.randn(13, 3)
    assert torch.allclose(fn(a, b), cosine_distance(a, b))
    assert "raised ValueError" in capsys.readouterr().out
    n = len(calls)
    fn(a, b)
    assert len(calls) == n  # from then on, the reference only


@pytest.mark.parametrize("student", [stub, wrong, buggy, cosine_distance])
def test_strict_mode_raises(student, monkeypatch):
    monkeypatch.setenv(exercises.STRICT_ENV_VAR, "1")
    with pytest.raises(ExerciseError):
        use("1.1", student)


def test_student_cannot_corrupt_the_reference_inputs(capsys):
    def in_place(a, b):
        out = correct(a, b)
        a.mul_(0)
        return out

    assert use("1.1", in_place) is not cosine_distance
    assert "PASS" in capsys.readouterr().out


def test_unknown_key_lists_the_exercises():
    with pytest.raises(KeyError, match="1.1"):
        use("0.9", correct)


def test_every_exercise_has_inputs_and_edge_cases_the_reference_handles():
    for key, exercise in EXERCISES.items():
        assert exercise.key == key and exercise.forbidden, key
        cases = exercises.check_cases(exercise, 0, 2, edge_cases=True)
        assert len(cases) >= 3, f"{key}: no edge case"
        for _, inputs in cases[:3] if key == "5.1" else cases:  # the stateful one is slow
            exercise.outcome(exercise.reference, inputs)


def _soft_argmax(scores, *, stable=True, order=(0, 1)):
    b, h, w = scores.shape
    flat = scores.reshape(b, -1)
    e = torch.exp(flat - flat.max(dim=1, keepdim=True).values if stable else flat)
    p = (e / e.sum(dim=1, keepdim=True)).reshape(b, h, w)
    xy = [(p.sum(1) * torch.linspace(-1, 1, w)).sum(1), (p.sum(2) * torch.linspace(-1, 1, h)).sum(1)]
    return torch.stack([xy[i] for i in order], dim=1)


def test_the_soft_argmax_exercise_catches_overflow_and_swapped_axes(capsys):
    assert use("3.2", _soft_argmax) is not EXERCISES["3.2"].reference
    assert "PASS" in capsys.readouterr().out
    use("3.2", lambda s: _soft_argmax(s, stable=False))  # exp(1e4) = inf: NaN
    assert "edge case 'one score of 1e4" in capsys.readouterr().out
    use("3.2", lambda s: _soft_argmax(s, order=(1, 0)))  # (row, column) instead of (x, y)
    assert "FAIL: wrong result on random input" in capsys.readouterr().out


def _mine_other_episodes(keys, returns, episodes, k, threshold):
    """Brute-force mining across episodes, exact distances (what a student writes for exercise 4.1)."""
    dist = torch.cdist(keys.double(), keys.double())
    dist[episodes[:, None] == episodes[None, :]] = float("inf")
    nearest = dist.topk(k, dim=1, largest=False)
    neighbours, usable = nearest.indices, torch.isfinite(nearest.values)
    high = returns > threshold
    same = high[neighbours] == high[:, None]
    ok_p, ok_n = same & usable, ~same & usable
    rows = torch.arange(len(keys))
    valid = ok_p.any(1) & ok_n.any(1)
    return rows[valid], neighbours[rows, ok_p.int().argmax(1)][valid], neighbours[rows, ok_n.int().argmax(1)][valid]


def test_the_mining_reference_agrees_index_for_index_with_brute_force():
    """Exercise 4.1's reference is mine_triplets (FAISS, a search 4k + 64 deep): on the generated inputs (continuous
    keys, N <= 60) it picks exactly the states a brute-force search over every other episode picks."""
    exercise = EXERCISES["4.1"]
    for seed in range(10):
        for label, inputs in exercises.check_cases(exercise, seed, 20, edge_cases=seed == 0):
            expected, got = exercise.reference(**inputs), _mine_other_episodes(**inputs)
            assert all(torch.equal(e, g) for e, g in zip(expected, got)), label
    grade("4.1", _mine_other_episodes, seed=11, trials=20)


def test_the_mining_exercise_catches_own_episode_neighbours_and_the_threshold_tie(capsys):
    def anywhere(keys, returns, episodes, k, threshold):  # the library's default neighbours
        return _mine_other_episodes(keys, returns, torch.arange(len(keys)), k, threshold)

    def at_or_above(keys, returns, episodes, k, threshold):
        return _mine_other_episodes(keys, returns, episodes, k, threshold - 1e-9)

    assert use("4.1", anywhere) is EXERCISES["4.1"].reference
    assert "FAIL" in capsys.readouterr().out
    assert use("4.1", at_or_above) is EXERCISES["4.1"].reference
    assert "FAIL" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="success flags with threshold 0"):  # the edge case alone shows it too
        grade("4.1", at_or_above, cases={"success flags with threshold 0": EXERCISES["4.1"].edge_cases[
            "success flags with threshold 0: a return equal to the threshold is in the low class"]()})


def _paired_margin(agent, random, resamples, seed, paired=True):
    generator = torch.Generator().manual_seed(seed)
    n = len(agent)
    if paired:
        margins = (agent - random)[torch.randint(n, (resamples, n), generator=generator)].mean(1)
    else:  # each policy's episodes resampled on their own
        margins = (agent[torch.randint(n, (resamples, n), generator=generator)].mean(1)
                   - random[torch.randint(n, (resamples, n), generator=generator)].mean(1))
    low, high = torch.quantile(margins, torch.tensor([0.025, 0.975]))
    return float(low), float((agent - random).mean()), float(high)


def test_the_margin_exercise_passes_a_paired_bootstrap_and_fails_an_unpaired_one(capsys):
    assert use("6.2", _paired_margin) is not EXERCISES["6.2"].reference
    assert "PASS" in capsys.readouterr().out
    grade("6.2", _paired_margin, seed=5, trials=20)
    with pytest.raises(ExerciseError, match="wrong result"):
        grade("6.2", lambda *args: _paired_margin(*args, paired=False))


# ------------------------------------------------------------------------------------------------ the quizzes
from gazelab.teach import quiz as quizzes  # noqa: E402

FORMS = {"q1": "abcd", "q2": "abc", "q3": quizzes.NUMBER}


def _answers(**given):
    """my_quiz_0 returning ``given`` as a literal (compiled from a string: the form check alone, no source to read)."""
    namespace = {}
    exec(compile(f"def my_quiz_0():\n    return {given!r}\n", "<quiz cell>", "exec"), namespace)
    return namespace["my_quiz_0"]


def test_an_unanswered_quiz_says_so_and_the_notebook_goes_on(capsys):
    def my_quiz_0():
        raise NotImplementedError("Exercise: return a dict")

    quizzes.quiz("0", my_quiz_0, FORMS)
    assert 'not answered yet: replace the `raise` line of my_quiz_0 by `return {"q1": ..., "q2": ..., "q3": ...}`' \
        in capsys.readouterr().out
    with pytest.raises(quizzes.QuizError, match="not answered yet"):
        quizzes.grade_quiz("0", "q1", my_quiz_0)


def test_a_quiz_checks_the_form_of_each_answer_not_whether_it_is_right(capsys):
    quizzes.quiz("0", _answers(q1="B", q2="(c)", q3="0.50"), FORMS)
    out = capsys.readouterr().out
    assert "3 of 3 answered, each in the right form" in out and "key" in out
    quizzes.quiz("0", _answers(q1="e", q3="half", q9="a"), FORMS)
    out = capsys.readouterr().out
    assert "q1: expected one of the letters a, b, c, d, got 'e'" in out and "q2: not answered" in out
    assert "q3: expected a number, got 'half'" in out and "q9: no such question" in out
    with pytest.raises(quizzes.QuizError, match="q2: expected one of the letters a, b, c"):
        quizzes.grade_quiz("0", "q2", _answers(q2="d"))


def test_a_quiz_in_strict_mode_raises(monkeypatch):
    monkeypatch.setenv(exercises.STRICT_ENV_VAR, "1")
    with pytest.raises(quizzes.QuizError, match="q3: expected a number"):
        quizzes.quiz("0", _answers(q1="a", q2="b", q3="none"), FORMS)
    quizzes.quiz("0", _answers(q1="a", q2="b", q3=2), FORMS)  # the right form passes


def test_answers_that_are_computed_are_flagged_in_the_notebook(capsys):
    def my_quiz_0():
        letters = "abc"
        return {"q1": letters[0], "q2": "b", "q3": 1}

    quizzes.quiz("0", my_quiz_0, FORMS)
    out = capsys.readouterr().out
    assert "my_quiz_0() must be a single `return {...}`" in out and "reads them from the cell's text" in out


@pytest.mark.parametrize("source, expected", [
    ('def f():\n    """doc"""\n    return {"q1": "b", "q2": -0.5}\n', ({"q1": "b", "q2": -0.5}, None)),
    ('def f():\n    raise NotImplementedError("Exercise: x")\n', (None, "not answered yet")),
    ('import os\ndef f():\n    return {"q1": os.getcwd()}\n', (None, "computes one")),
    ('def f():\n    print("correct")\n    return {"q1": "b"}\n', (None, "single `return {...}`")),
    ('print("correct")\n', (None, "does not define f()")),
    ('def f(:\n', (None, "a syntax error at line 1")),
])
def test_the_answers_are_read_from_the_text_without_running_it(source, expected):
    answers, problem = quizzes.read_answers(source, "f")
    assert answers == expected[0] and (problem is None if expected[1] is None else expected[1] in problem), problem


@pytest.mark.parametrize("answer, key, same", [
    ("B", "b", True), ("(b)", "b", True), ("b.", "b", True), ("c", "b", False), (2, "b", False),
    (0.1, 0.1, True), ("0.10", 0.1, True), (0.104, 0.1, True), (0.106, 0.1, False), (0.87, 0.875, True),
    (0.88, 0.875, True), (100.9, 100, True), (102, 100, False), (True, 1, False), ("b", 1, False)])
def test_a_numeric_answer_is_right_within_its_tolerance_and_a_letter_in_any_case(answer, key, same):
    assert quizzes.same_answer(answer, key) is same
