"""check_exercise: PASS keeps the student's function, a stub or a wrong answer falls back to the reference."""

import pytest
import torch

from gazelab.exercises import ExerciseError, check_exercise


def reference(x, scale=2.0):
    return {"y": x * scale, "parts": (x.sum(), None)}


def make_inputs(generator):
    return (torch.randn(4, 3, generator=generator),)


def correct(x, scale=2.0):
    return {"y": scale * x, "parts": (x.sum(), None)}


def wrong(x, scale=2.0):
    return {"y": x * scale + 1e-2, "parts": (x.sum(), None)}


def stub(x, scale=2.0):
    raise NotImplementedError("Exercise: write it")


def test_a_correct_answer_passes_and_is_used(capsys, monkeypatch):
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)
    assert check_exercise("t", correct, reference, make_inputs) is correct
    assert "PASS" in capsys.readouterr().out


def test_a_stub_falls_back_to_the_reference_with_a_note(capsys, monkeypatch):
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)
    assert check_exercise("t", stub, reference, make_inputs) is reference
    assert "not implemented yet" in capsys.readouterr().out


def test_a_wrong_answer_fails_with_the_size_of_the_error(capsys, monkeypatch):
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)
    assert check_exercise("t", wrong, reference, make_inputs) is reference
    out = capsys.readouterr().out
    assert "FAIL" in out and "0.01" in out


def test_a_wrong_structure_fails(capsys, monkeypatch):
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)
    assert check_exercise("t", lambda x, scale=2.0: x * scale, reference, make_inputs) is reference
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("student", [stub, wrong])
def test_strict_mode_raises_instead_of_falling_back(student, monkeypatch):
    monkeypatch.setenv("GAZELAB_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseError):
        check_exercise("t", student, reference, make_inputs)


def test_student_cannot_corrupt_the_reference_inputs(monkeypatch):
    monkeypatch.delenv("GAZELAB_STRICT_EXERCISES", raising=False)

    def in_place(x, scale=2.0):
        x.mul_(scale)
        return {"y": x, "parts": (x.sum() / scale, None)}

    assert check_exercise("t", in_place, reference, make_inputs) is in_place
