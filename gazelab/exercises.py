"""Graded exercises: compare a student's function with the library's reference on random inputs.

Every exercise in the notebooks ends with a check cell like::

    gaussian_map_fn = check_exercise("2.1 gaussian_map", my_gaussian_map, gaussian_map, make_inputs)

It prints one clear line and returns the function the rest of the notebook should use:

- the student's function when it matches the reference on every trial (PASS);
- the reference when the stub still raises ``NotImplementedError`` (a note, so the tutorial runs top to bottom);
- the reference when the student's answer differs (FAIL, with the largest error and the trial that showed it).

With the environment variable ``GAZELAB_STRICT_EXERCISES=1`` (set by ``make test`` for the solved notebooks) a
FAIL or a missing implementation raises instead, so a broken solution cannot hide behind the fallback.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from gazelab.checks import check_int

STRICT_ENV_VAR = "GAZELAB_STRICT_EXERCISES"


class ExerciseError(AssertionError):
    """Raised in strict mode when an exercise is missing or wrong."""


def _compare(student: Any, reference: Any, atol: float, rtol: float) -> float | None:
    """Largest absolute difference between two results (recursing into tuples/lists/dicts/dataclasses).

    Returns None when they match within tolerance, otherwise the largest error (inf for a structural mismatch).
    """
    if dataclasses.is_dataclass(reference):
        if not dataclasses.is_dataclass(student):
            return float("inf")
        reference, student = vars(reference), vars(student)
    if isinstance(reference, Mapping):
        if not isinstance(student, Mapping) or set(student) != set(reference):
            return float("inf")
        errors = [_compare(student[k], reference[k], atol, rtol) for k in reference]
    elif isinstance(reference, Sequence) and not isinstance(reference, str):
        if not isinstance(student, Sequence) or len(student) != len(reference):
            return float("inf")
        errors = [_compare(s, r, atol, rtol) for s, r in zip(student, reference)]
    elif reference is None:
        return None if student is None else float("inf")
    else:
        ref = torch.as_tensor(reference, dtype=torch.float64)
        try:
            got = torch.as_tensor(student, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return float("inf")
        if got.shape != ref.shape:
            return float("inf")
        if torch.allclose(got, ref, atol=atol, rtol=rtol, equal_nan=True):
            return None
        return float((got - ref).abs().nan_to_num(float("inf")).max())
    bad = [e for e in errors if e is not None]
    return max(bad) if bad else None


def check_exercise(
    name: str,
    student_fn: Callable,
    reference_fn: Callable,
    make_inputs: Callable[[torch.Generator], tuple | dict],
    *,
    trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> Callable:
    """Check ``student_fn`` against ``reference_fn`` on ``trials`` random inputs; return the function to use.

    Args:
        name: shown in the message, e.g. ``"2.1 gaussian_map"``.
        student_fn: the student's implementation (a stub raises ``NotImplementedError``).
        reference_fn: the library's implementation with the same signature.
        make_inputs: ``make_inputs(generator)`` returns positional args (tuple) or keyword args (dict); both
            functions get the same (cloned) inputs.
        trials: number of random inputs.
        atol, rtol: tolerances of ``torch.allclose`` on every tensor (or number) in the results.
        seed: seed of the generator passed to ``make_inputs``, so a failure is reproducible.
    """
    check_int("trials", trials, 1)
    strict = os.environ.get(STRICT_ENV_VAR, "") not in ("", "0")
    generator = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        inputs = make_inputs(generator)
        args, kwargs = (inputs, {}) if isinstance(inputs, tuple) else ((), dict(inputs))
        clone = lambda x: x.clone() if isinstance(x, torch.Tensor) else x  # noqa: E731 - students may edit in place
        expected = reference_fn(*map(clone, args), **{k: clone(v) for k, v in kwargs.items()})
        try:
            got = student_fn(*map(clone, args), **{k: clone(v) for k, v in kwargs.items()})
        except NotImplementedError:
            message = f"[ exercise {name} ] not implemented yet: using the reference `{_qualname(reference_fn)}`."
            if strict:
                raise ExerciseError(message) from None
            print(message)
            return reference_fn
        error = _compare(got, expected, atol, rtol)
        if error is not None:
            message = (
                f"[ exercise {name} ] FAIL on trial {trial + 1}/{trials}: largest difference from the reference "
                f"is {error:.3g} (allowed atol={atol:g}, rtol={rtol:g}); using the reference so the notebook goes on."
            )
            if strict:
                raise ExerciseError(message)
            print(message)
            return reference_fn
    print(f"[ exercise {name} ] PASS: matches the reference on {trials} random inputs.")
    return student_fn


def _qualname(fn: Callable) -> str:
    module = getattr(fn, "__module__", "") or ""
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}".lstrip(".")
