"""Checks of the values given to gazelab: one helper per kind of constraint, one message format.

Every failed check raises :class:`~gazelab.core.errors.GazelabError` (a ``ValueError``) whose message names the value,
what was given and what is allowed, e.g. ``num_envs must be an int >= 1, got 0``.

* Functions and constructors check their arguments with :func:`check_int`, :func:`check_number`,
  :func:`check_choice` and :func:`check_tensor`.
* Config dataclasses declare each field's constraint once, next to the field, with ``typing.Annotated``, and call
  :func:`check_fields` in ``__post_init__``::

      @dataclass
      class Config:
          num_envs: Annotated[int, AtLeast(1)] = 32
          gamma: Annotated[float, Interval(0, 1, low_open=True)] = 0.8
          attention: Literal["none", "gaze"] = "none"

          def __post_init__(self):
              check_fields(self)   # types (int, float, bool, str, Literal choices, Optional) and the constraints

  tyro ignores these markers, so the same field is the command-line flag.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal, Optional, Sequence, Union

from gazelab.core.errors import GazelabError

__all__ = ["AtLeast", "Interval", "check_int", "check_number", "check_choice", "check_tensor", "check_fields"]


@dataclass(frozen=True)
class AtLeast:
    """Constraint ``value >= minimum`` (``Annotated[int, AtLeast(1)]``)."""

    minimum: float


@dataclass(frozen=True)
class Interval:
    """Constraint ``low <= value <= high``, either end open or absent (None)."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        low, high = _bound(self.low), _bound(self.high)
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}" if self.low is not None else "(any)"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _bound(value: Optional[float]) -> str:
    """An interval's end as the message writes it: an int in full (a seed's 4294967295, not 4.29497e+09)."""
    return str(value) if _is_int(value) else f"{value:g}" if value is not None else ""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """``value`` if it is an int (not a bool) within [minimum, maximum]; else GazelabError naming ``name``."""
    interval = Interval(minimum, maximum)
    if not _is_int(value) or not interval.contains(value):
        raise GazelabError(f"{name} must be an int{'' if interval == Interval() else ' ' + str(interval)}, "
                           f"got {value!r}")
    return value


def check_number(name: str, value, low: Optional[float] = None, high: Optional[float] = None, *,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` if it is a finite real number (not a bool) within the interval; else GazelabError naming ``name``."""
    interval = Interval(low, high, low_open, high_open)
    if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
            or not interval.contains(value)):
        where = "" if interval == Interval() else " " + str(interval)
        raise GazelabError(f"{name} must be a finite number{where}, got {value!r}")
    return value


def check_choice(name: str, value, allowed: Sequence):
    """``value`` if it is one of ``allowed``; else GazelabError listing them."""
    if value not in allowed:
        raise GazelabError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def check_tensor(name: str, value, shape: Sequence[Optional[int]], spelled: Optional[str] = None):
    """``value`` if it is a torch tensor of ``shape`` (None = any size); else GazelabError.

    ``spelled``: how the message writes the expected shape, e.g. ``"(B, 2)"`` (default: the sizes, ``*`` for None).
    """
    import torch  # here: this module is imported by code that must not need torch (the CLI's first parse)

    if (not isinstance(value, torch.Tensor) or value.ndim != len(shape)
            or any(want is not None and got != want for got, want in zip(value.shape, shape))):
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"{type(value).__name__}"
        expected = spelled or "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise GazelabError(f"{name} must be a tensor of shape {expected}, got {got}")
    return value


# ---------------------------------------------------------------------------------------------- dataclass fields
def _check_value(name: str, value, annotation) -> None:
    """Check ``value`` against a field annotation: Annotated constraints, Optional, Literal, bool, int, float, str."""
    constraints: list = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *metadata = typing.get_args(annotation)
        constraints += [m for m in metadata if isinstance(m, (AtLeast, Interval))]
    if typing.get_origin(annotation) is Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(annotation)):
            return
        if len(options) == 1:
            return _check_value(name, value, typing.Annotated[(options[0], *constraints)] if constraints
                                else options[0])
    if typing.get_origin(annotation) is Literal:
        check_choice(name, value, typing.get_args(annotation))
    elif annotation is bool:
        if not isinstance(value, bool):
            raise GazelabError(f"{name} must be True or False, got {value!r}")
    elif annotation is int:
        check_int(name, value)
    elif annotation is float:
        check_number(name, value)
    elif annotation is str and not isinstance(value, str):
        raise GazelabError(f"{name} must be a string, got {value!r}")
    for constraint in constraints:
        interval = Interval(constraint.minimum) if isinstance(constraint, AtLeast) else constraint
        if not interval.contains(value):
            kind = "an int" if annotation is int else "a finite number"
            raise GazelabError(f"{name} must be {kind} {interval}, got {value!r}")


def check_fields(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` against its annotation (see the module docstring); the
    first bad field raises GazelabError naming it, its value and what is allowed."""
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for field in dataclasses.fields(obj):
        _check_value(field.name, getattr(obj, field.name), hints[field.name])
