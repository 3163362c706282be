"""The course's concept quizzes: three short questions at the end of every graded notebook, marked by ``make grade``.

A quiz is a markdown cell with the questions (``**q1.**``, ``**q2.**``, ... each with its choices (a), (b), ...
or asking for a number) and one code cell (``solutions/`` is the single source, INSTRUCTORS.md)::

    from gazelab.teach.quiz import grade_quiz, quiz


    def my_quiz_1():
        # BEGIN SOLUTION return a dict: each question -> the letter of your choice, or a number
        return {"q1": "d", "q2": "b", "q3": 2.5}      # (an example, not a notebook's key)
        # END SOLUTION


    quiz("1", my_quiz_1, {"q1": "abcd", "q2": "abcd", "q3": "number"})   # the form of each answer

followed, in the solved notebook and the nbgrader release, by one locked autograded test cell per question,
``grade_quiz("1", "q1", my_quiz_1)`` (1 point each unless its metadata says otherwise).

**The key is in no student's file.** It is the model answer of the solved notebook (the ``return`` line between the
solution markers), which the tutorials and the release replace by ``raise NotImplementedError`` and the student
wheel does not carry. So nothing here knows whether an answer is right: :func:`quiz` and :func:`grade_quiz` check
only that each answer has the right form (a letter the question offers, or a number) and that ``make grade`` can
read it; :mod:`gazelab.authoring.grading` marks the quiz against the instructor's source notebook. It *reads* the
answers from the text of the student's cell (:func:`read_answers`: the dict literal the function returns) and runs
none of the student's code, so a cell that patches this module, prints "correct" or computes its answers gets
nothing from it.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from gazelab.teach.exercises import ExerciseError, _strict

__all__ = ["NUMBER", "QuizError", "quiz", "grade_quiz", "read_answers", "answer_problem", "as_letter", "as_number",
           "same_answer", "NUMBER_TOLERANCE"]

NUMBER = "number"
"""The form of a numeric question in :func:`quiz`'s ``questions`` (the others list the letters they offer)."""
NUMBER_TOLERANCE = (0.01, 0.005)
"""A numeric answer is right within 1% of the key, at least 0.005 (the course's numeric questions have short exact
answers, such as 0.1, 1.5 or 8)."""

_LETTER = re.compile(r"\s*\(?\s*([A-Za-z])\s*\)?\s*\.?\s*")
_QUIZZES: dict[str, dict[str, str]] = {}
"""The questions of the quizzes this kernel checked (:func:`quiz` records them for :func:`grade_quiz`)."""


class QuizError(ExerciseError):
    """A quiz is not answered, or an answer has the wrong form (raised by :func:`grade_quiz`, and by :func:`quiz` in
    strict mode)."""


# --------------------------------------------------------------------------------------- answers and their form
def as_letter(answer: Any) -> str | None:
    """``"b"``, ``"B"``, ``"(b)"``, ``"b)"`` -> ``"b"``; anything else -> None."""
    if not isinstance(answer, str):
        return None
    found = _LETTER.fullmatch(answer)
    return found[1].lower() if found else None


def as_number(answer: Any) -> float | None:
    """A finite number, or a string that holds one, as a float; anything else (a bool included) -> None."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, str):
        try:
            answer = float(answer.strip())
        except ValueError:
            return None
    if isinstance(answer, (int, float)) and math.isfinite(answer):
        return float(answer)
    return None


def answer_problem(answer: Any, form: str) -> str | None:
    """What is wrong with the form of one answer (None: nothing). ``form``: :data:`NUMBER` or the letters offered."""
    if answer is None or answer == "" or answer is Ellipsis:
        return "not answered"
    if form == NUMBER:
        return None if as_number(answer) is not None else f"expected a number, got {answer!r:.40}"
    choice = as_letter(answer)
    if choice is None or choice not in form:
        return f"expected one of the letters {', '.join(form)}, got {answer!r:.40}"
    return None


def same_answer(answer: Any, key: Any) -> bool:
    """Whether ``answer`` is the key's: the same letter, or a number within :data:`NUMBER_TOLERANCE` of it."""
    if isinstance(key, str):
        return as_letter(answer) is not None and as_letter(answer) == as_letter(key)
    got, expected = as_number(answer), as_number(key)
    if got is None or expected is None:
        return False
    relative, floor = NUMBER_TOLERANCE
    return abs(got - expected) <= max(floor, relative * abs(expected))


def read_answers(source: str, function: str, first_line: int = 1) -> tuple[dict[str, Any] | None, str | None]:
    """The answers in the text of a quiz cell: the dict that ``function`` returns, as written; no code runs.

    Returns ``(answers, None)``, or ``(None, why not)``: "not answered yet" while the function still raises
    NotImplementedError; else the function must be one ``return {...}`` of plain values (letters in quotes,
    numbers), since ``make grade`` reads them from the cell's text. ``first_line``: the line of the cell on which
    ``source`` starts (the lines named in a reason are the cell's)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as error:
        return None, f"a syntax error at line {(error.lineno or 1) + first_line - 1}: {error.msg}"
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function]
    if not found:
        return None, f"the cell does not define {function}()"
    body = [statement for statement in found[-1].body if not (isinstance(statement, ast.Expr)
                                                              and isinstance(statement.value, ast.Constant))]
    raises = [s for s in body if isinstance(s, ast.Raise) and s.exc is not None
              and "NotImplementedError" in ast.unparse(s.exc)]
    if raises and not any(isinstance(node, ast.Return) for node in ast.walk(found[-1])):
        return None, "not answered yet"
    form = (f"{function}() must be a single `return {{...}}` of your answers as plain values (a letter in quotes, "
            "a number): make grade reads them from the cell's text")
    if len(body) != 1 or not isinstance(body[0], ast.Return) or not isinstance(body[0].value, ast.Dict):
        line = (body[0].lineno if body else found[-1].lineno) + first_line - 1
        return None, f"{form} (line {line})"
    try:
        answers = ast.literal_eval(body[0].value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, f"{form}; line {body[0].lineno + first_line - 1} computes one"
    if not all(isinstance(question, str) for question in answers):
        return None, f"{form}; the questions are strings, \"q1\" ..."
    return answers, None


def _source(fn: Callable) -> tuple[str, int] | None:
    """The function's source and the line of its cell (or file) where it starts, if Python can find them."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    return "".join(lines), max(first, 1)


# --------------------------------------------------------------------------------------------------- the checks
def _problems(fn: Callable, questions: Mapping[str, str]) -> tuple[list[str], bool]:
    """(what is wrong with the quiz's answers, whether it is answered at all)."""
    name = getattr(fn, "__name__", "the function")
    template = ", ".join(f'"{q}": ...' for q in questions)
    try:
        answers = fn()
    except NotImplementedError:
        return [f"not answered yet: replace the `raise` line of {name} by `return {{{template}}}` with your "
                "answers"], False
    except Exception as error:  # noqa: BLE001 - a student's bug is reported, never raised
        return [f"{name}() raised {type(error).__name__}: {str(error)[:200]}"], False
    if not isinstance(answers, Mapping):
        return [f"{name}() should return a dict {{{template}}}, not {type(answers).__name__}"], False
    problems = [f"{q}: {why}" for q, form in questions.items() if (why := answer_problem(answers.get(q), form))]
    problems += [f"{q}: no such question (this quiz asks {', '.join(questions)})" for q in answers
                 if q not in questions]
    source = _source(fn)
    if source is not None:
        written, why = read_answers(*source[:1], name, source[1])
        if why is not None:
            problems.append(why)
        elif any(written.get(q) != answers.get(q) for q in questions):
            problems.append(f"{name}() must return its answers as written in the cell: make grade reads the text")
    return problems, True


def quiz(number: str, fn: Callable, questions: Mapping[str, str]) -> None:
    """Check the form of quiz ``number``'s answers, ``fn()`` -> {question: answer}; prints one line.

    ``questions``: each question's form, the letters it offers (``"abcd"``) or :data:`NUMBER`. Whether an answer is
    right is not checked here: the key is with the instructor (module docstring). Never stops the notebook, except in
    strict mode (``GAZELAB_STRICT_EXERCISES=1``, the solved notebooks in CI), where any problem raises
    :class:`QuizError`."""
    _QUIZZES[str(number)] = dict(questions)
    head = f"[ quiz {number} ]"
    problems, answered = _problems(fn, questions)
    if not problems:
        print(f"{head} {len(questions)} of {len(questions)} answered, each in the right form. Your instructor's "
              "`make grade` marks them against a key that no student notebook holds (studying alone: the solved "
              "notebook in the repository's solutions/ has the answers).")
        return
    message = f"{head} {'; '.join(problems)}" if answered else f"{head} {problems[0]}"
    if _strict():
        raise QuizError(message)
    print(message + ("." if answered else ""))


def grade_quiz(number: str, question: str, fn: Callable) -> None:
    """The autograded test cell of one quiz question: raise :class:`QuizError` unless it is answered in a form
    ``make grade`` can mark (the points come from ``make grade``, which compares the answer with the key)."""
    questions = _QUIZZES.get(str(number), {question: ""})
    form = questions.get(question, "")
    try:
        answers = fn()
    except NotImplementedError:
        raise QuizError(f"quiz {number}, {question}: not answered yet") from None
    if not isinstance(answers, Mapping):
        raise QuizError(f"quiz {number}, {question}: {getattr(fn, '__name__', 'the function')}() should return a dict")
    answer = answers.get(question)
    why = answer_problem(answer, form) if form else ("not answered" if answer is None else None)
    if why is not None:
        raise QuizError(f"quiz {number}, {question}: {why}")
    print(f"quiz {number}, {question}: answered {answer!r}; make grade marks it against the instructor's key.")
