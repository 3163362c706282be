"""The course's code exercises, checked by value against gazelab's own implementation.

Each exercise is three cells of a notebook (``solutions/`` is the single source; see INSTRUCTORS.md)::

    def my_gaussian_map(mu, sigma, rho, height, width):   # solution cell: the student's code
        ...

    gaussian_map_fn = use("2.1", my_gaussian_map)          # locked cell: check it, bind what the notebook goes on with

    grade("2.1", my_gaussian_map)                          # autograded test cell (nbgrader), with points
    ### BEGIN HIDDEN TESTS
    grade("2.1", my_gaussian_map, seed=7, trials=20)       # more inputs, and edge cases the release does not show
    ### END HIDDEN TESTS

The reference implementations, the random inputs and the edge cases live here, in :data:`EXERCISES`: nothing in
the student's namespace holds an expected value, and while the student's function runs a profiler watches for the
library code the exercise asks to write (``my_gaussian_map = gaussian_map``, or a wrapper around it, fails).

* :func:`use` never stops a notebook: it prints one line and returns the student's function when it matches the
  reference on every input (PASS), else gazelab's reference (not written yet, a wrong value, an exception, a call
  into the reference), so the cells below always run; a function that passed but raises later falls back the same
  way, with a message. With ``GAZELAB_STRICT_EXERCISES=1`` (CI on the solved notebooks) it raises instead.
* :func:`grade` raises :class:`ExerciseError` (an AssertionError) with the same message: the notebook's own test
  cell (a self-check of the solved notebooks). Grades of submissions are not computed in the student's kernel:
  :mod:`gazelab.authoring.grading` runs the student's solution cell in a sandboxed process on inputs drawn with
  :func:`check_cases` from a secret of the course folder, and compares the results with these references itself.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from gazelab.teach import viz
from gazelab.method.attention import (GaussianGaze, _gaussian_map, _mixture_map, gaussian_map, gaze_parameters,
                                      mixture_map, soft_argmax)
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import (ContrastiveConfig, ContrastiveLearner, cosine_distance, knn_excluding_self,
                                        mine_triplets, spread_loss, triplet_loss)
from gazelab.method.encoders import FineNatureCNN, make_encoder
from gazelab.method.returns import discount_cumsum, gae

__all__ = ["STRICT_ENV_VAR", "ExerciseError", "Exercise", "EXERCISES", "use", "grade", "check_cases",
           "gaze_with_squash", "mine_other_episodes", "paired_margin"]

STRICT_ENV_VAR = "GAZELAB_STRICT_EXERCISES"

Inputs = tuple | dict
"""One call's arguments: positional (a tuple) or keyword (a dict)."""


class ExerciseError(AssertionError):
    """A student's function is missing or wrong (raised by :func:`grade`, and by :func:`use` in strict mode)."""


def _strict() -> bool:
    return os.environ.get(STRICT_ENV_VAR, "") not in ("", "0")


# --------------------------------------------------------------------------------------------- comparing results
def _difference(got: Any, expected: Any, atol: float, rtol: float) -> str | None:
    """None when ``got`` matches ``expected`` (tensors / numbers within tolerance, recursing into sequences, dicts
    and dataclasses), else what differs."""
    if dataclasses.is_dataclass(expected):
        if not dataclasses.is_dataclass(got):
            return f"expected a {type(expected).__name__}, got {type(got).__name__}"
        expected, got = vars(expected), vars(got)
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, Mapping) else got
            return f"expected a dict with keys {sorted(expected)}, got {keys!r:.80}"
        found = [_difference(got[k], expected[k], atol, rtol) for k in expected]
        return next((f"[{k!r}]: {d}" for k, d in zip(expected, found) if d), None)
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        if not isinstance(got, Sequence) or isinstance(got, str) or len(got) != len(expected):
            return f"expected {len(expected)} results, got {got!r:.80}"
        found = [_difference(g, e, atol, rtol) for g, e in zip(got, expected)]
        return next((f"result {i}: {d}" for i, d in enumerate(found) if d), None)
    if expected is None:
        return None if got is None else f"expected None, got {got!r:.80}"
    ref = torch.as_tensor(expected).detach().to(torch.float64)
    try:
        value = torch.as_tensor(got.detach() if isinstance(got, Tensor) else got).to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return f"expected a tensor or number, got {type(got).__name__}"
    if value.shape != ref.shape:
        return f"shape {tuple(value.shape)}, expected {tuple(ref.shape)}"
    if torch.allclose(value, ref, atol=atol, rtol=rtol, equal_nan=True):
        return None
    error = (value - ref).abs().nan_to_num(float("inf")).max().item()
    return f"largest difference {error:.3g} (allowed: atol {atol:g} + rtol {rtol:g} x |expected|)"


# --------------------------------------------------------------------------------------------- the exercise record
def _call(fn: Callable, inputs: Inputs) -> Any:
    return fn(**inputs) if isinstance(inputs, dict) else fn(*inputs)


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One code exercise: its reference and how to check a student's function against it."""

    key: str
    """Its number in the course, e.g. "2.1" (notebook 2, first exercise)."""
    name: str
    """What the student writes, e.g. "gaussian_map"."""
    reference: Callable
    """gazelab's implementation, with the signature the exercise asks for."""
    random_inputs: Callable[[torch.Generator], Inputs]
    """One random call's arguments from a seeded generator."""
    edge_cases: Mapping[str, Callable[[], Inputs]] = dataclasses.field(default_factory=dict)
    """Named edge cases every check includes (hidden ones are passed to :func:`grade` by the test cell)."""
    forbidden: tuple[Callable, ...] = ()
    """Library functions the student's function must not run (it would be passing the reference off as theirs)."""
    outcome: Callable[[Callable, Inputs], Any] = _call
    """What is compared: by default the function's result on the inputs; a stateful exercise builds its objects
    from the inputs, calls the function and returns what it changed."""
    difference: Callable[[Any, Any, Inputs], str | None] | None = None
    """Compares two outcomes (None: :func:`_difference` within atol / rtol)."""
    atol: float = 1e-5
    rtol: float = 1e-4

    def differs(self, got: Any, expected: Any, inputs: Inputs) -> str | None:
        if self.difference is not None:
            return self.difference(got, expected, inputs)
        return _difference(got, expected, self.atol, self.rtol)


class _NotWritten(Exception):
    pass


def _run_watched(exercise: Exercise, fn: Callable, inputs: Inputs) -> tuple[Any, list[str]]:
    """``exercise.outcome(fn, inputs)`` while a profiler records which forbidden library functions ran."""
    codes = {getattr(f, "__code__", None): f"{f.__module__}.{f.__qualname__}" for f in exercise.forbidden}
    hits: list[str] = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in hits:
            hits.append(codes[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        return exercise.outcome(fn, inputs), hits
    finally:
        sys.setprofile(previous)


def _problem(exercise: Exercise, fn: Callable, cases: Sequence[tuple[str, Inputs]]) -> str | None:
    """What is wrong with ``fn`` on the first case that shows it, or None if it matches the reference on all."""
    if not callable(fn):
        return f"expected a function, got {type(fn).__name__}"
    for label, inputs in cases:
        expected = exercise.outcome(exercise.reference, copy.deepcopy(inputs))
        try:
            got, hits = _run_watched(exercise, fn, copy.deepcopy(inputs))
        except NotImplementedError:
            raise _NotWritten from None
        except Exception as error:  # noqa: BLE001 - any bug of the student's is reported, never raised
            where = error.__traceback__
            while where.tb_next is not None:
                where = where.tb_next
            return (f"it raised {type(error).__name__}: {str(error)[:300]} (line {where.tb_lineno} of "
                    f"{where.tb_frame.f_code.co_name}) on {label}")
        if hits:
            return (f"it calls {', '.join(hits)}: that is the function this exercise asks you to write, "
                    "so write it yourself")
        difference = exercise.differs(got, expected, inputs)
        if difference is not None:
            return f"wrong result on {label}: {difference}"
    return None


def check_cases(exercise: Exercise, seed: int, trials: int, edge_cases: bool,
                origin: str | None = None) -> list[tuple[str, Inputs]]:
    """``trials`` named random inputs of ``exercise`` drawn from ``seed`` (then its edge cases, if asked).

    The seed is an argument, never a constant of the package that grades: :mod:`gazelab.authoring.grading` draws
    its hidden inputs from a secret of the instructor's course folder. ``origin`` names where the seed came from
    in the labels (default: the seed itself)."""
    generator = torch.Generator().manual_seed(seed)
    origin = f"seed {seed}" if origin is None else origin
    cases = [(f"random input {i + 1} of {trials} ({origin})", exercise.random_inputs(generator))
             for i in range(trials)]
    if edge_cases:
        cases += [(f"the edge case '{name}'", make()) for name, make in exercise.edge_cases.items()]
    return cases


def _lookup(key: str) -> Exercise:
    if key not in EXERCISES:
        raise KeyError(f"no exercise {key!r}; the course's exercises are {', '.join(EXERCISES)}")
    return EXERCISES[key]


def _guarded(exercise: Exercise, fn: Callable) -> Callable:
    """``fn``, falling back to the reference for good (with a message) if it raises later in the notebook."""
    current = [fn]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if current[0] is fn:
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001
                if _strict():
                    raise
                print(f"[ exercise {exercise.key} {exercise.name} ] your function raised {type(error).__name__}: "
                      f"{str(error)[:200]}; the notebook goes on with gazelab's reference from here on.")
                current[0] = exercise.reference
        return exercise.reference(*args, **kwargs)

    return call


def use(key: str, fn: Callable, *, trials: int = 5) -> Callable:
    """Check the student's ``fn`` for exercise ``key`` and return the function the notebook goes on with.

    The check: ``trials`` random inputs (seed 0) and the exercise's edge cases, compared by value with gazelab's
    reference. Prints one line. Returns ``fn`` on a PASS (falling back to the reference, with a message, should
    it raise later), else the reference; in strict mode (``GAZELAB_STRICT_EXERCISES=1``) anything but a PASS
    raises :class:`ExerciseError`.
    """
    exercise = _lookup(key)
    cases = check_cases(exercise, 0, trials, edge_cases=True)
    head = f"[ exercise {key} {exercise.name} ]"
    try:
        problem = _problem(exercise, fn, cases)
    except _NotWritten:
        message = f"{head} not written yet: the cells below use gazelab's reference."
    else:
        if problem is None:
            print(f"{head} PASS: your function matches gazelab's on {len(cases)} inputs "
                  f"({len(exercise.edge_cases)} edge cases); the cells below use yours.")
            return _guarded(exercise, fn)
        message = f"{head} FAIL: {problem}. The cells below use gazelab's reference."
    if _strict():
        raise ExerciseError(message)
    print(message)
    return exercise.reference


def grade(key: str, fn: Callable, *, seed: int = 0, trials: int = 5,
          cases: Mapping[str, Inputs] | None = None) -> None:
    """The test of an autograded cell: raise :class:`ExerciseError` unless ``fn`` matches the reference.

    Default: the same inputs as :func:`use` (``trials`` random ones from ``seed`` 0, and the edge cases). Another
    ``seed``: ``trials`` random inputs from it only. ``cases``: the given named inputs only (hidden edge cases).
    """
    exercise = _lookup(key)
    if cases is not None:
        checked = [(f"the case '{name}'", inputs) for name, inputs in cases.items()]
    else:
        checked = check_cases(exercise, seed, trials, edge_cases=seed == 0)
    head = f"exercise {key} {exercise.name}"
    try:
        problem = _problem(exercise, fn, checked)
    except _NotWritten:
        raise ExerciseError(f"{head}: not written yet (it raises NotImplementedError)") from None
    if problem is not None:
        raise ExerciseError(f"{head}: {problem}")
    print(f"{head}: passed on {len(checked)} inputs.")


# ------------------------------------------------------------------------------------ the teaching layer's gazes
def gaze_with_squash(squash: Callable, in_channels: int, **kwargs) -> GaussianGaze:
    """A :class:`~gazelab.method.attention.GaussianGaze` whose head maps its five outputs to a gaze with ``squash(raw,
    sigma_floor, sigma_max, rho_max)`` (the signature of :func:`gazelab.method.attention.gaze_parameters`, exercise 3.1)."""

    class SquashedGaze(GaussianGaze):
        def squash(self, raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            return squash(raw, self.sigma_floor, self.sigma_max, self.rho_max)

    return SquashedGaze(in_channels, **kwargs)


def mine_other_episodes(keys: Tensor, returns: Tensor, episodes: Tensor, k: int,
                        threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Exercise 4.1: :func:`~gazelab.method.contrastive.mine_triplets` with every state an anchor, neighbours only
    from *other episodes* than the anchor's (``neighbours="other_episodes"``) and the outcome classes
    ``returns > threshold``. keys (N, D), returns (N,), episodes (N,) integer ids -> (anchor, positive, negative)
    LongTensors: for each anchor, its k nearest states (L2) of other episodes; positive = the nearest of them in
    the anchor's class, negative = the nearest in the other class; anchors lacking either are skipped."""
    return mine_triplets(keys, returns, k, threshold=threshold, episodes=episodes, neighbours="other_episodes")


def paired_margin(agent: Tensor, baseline: Tensor, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Exercise 6.2, notebook 6's learning check: (low, margin, high), the mean over episodes of ``agent -
    baseline`` with its 95% paired bootstrap interval.

    ``agent`` and ``baseline`` are (E,) per-episode scores (success flags as 0/1, or returns) on the *same* E
    episodes: episode i starts from the same state for both, so the difference of episode i removes how hard that
    start was. The bootstrap resamples episodes, the pairs together: ``resamples`` rows of E episode indices drawn
    with replacement in one call, ``torch.randint(E, (resamples, E), generator=torch.Generator().manual_seed(seed))``;
    each row's mean difference is one resampled margin, and the interval is their 2.5% and 97.5% quantiles
    (``torch.quantile``, linear interpolation). Computed in float64.
    """
    differences = torch.as_tensor(agent, dtype=torch.float64) - torch.as_tensor(baseline, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(len(differences), (resamples, len(differences)), generator=generator)
    margins = differences[rows].mean(dim=1)
    low, high = torch.quantile(margins, torch.tensor([0.025, 0.975], dtype=torch.float64))
    return float(low), float(differences.mean()), float(high)


# ------------------------------------------------------------------------------------------- inputs per exercise
def _uniform(g: torch.Generator, low: float, high: float, *shape: int) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _int(g: torch.Generator, low: int, high: int) -> int:
    """A random int in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _gaze_inputs(g: torch.Generator) -> tuple:
    b = _int(g, 1, 4)
    return (_uniform(g, -1.2, 1.2, b, 2), _uniform(g, 0.08, 1.0, b, 2), _uniform(g, -0.9, 0.9, b), _int(g, 2, 12),
            _int(g, 2, 12))


def _one_gaze(mu, sigma, rho) -> tuple[Tensor, Tensor, Tensor]:
    return torch.tensor([mu], dtype=torch.float32), torch.tensor([sigma], dtype=torch.float32), torch.tensor([rho])


def _squash_inputs(g: torch.Generator) -> tuple:
    floor = float(_uniform(g, 0.01, 0.2))
    return (torch.randn(_int(g, 1, 6), 5, generator=g) * 3, floor, floor + float(_uniform(g, 0.1, 2.0)),
            float(_uniform(g, 0.5, 0.99)))


def _score_inputs(g: torch.Generator) -> tuple:
    return (torch.randn(_int(g, 1, 4), _int(g, 2, 12), _int(g, 2, 12), generator=g) * float(_uniform(g, 0.5, 10.0)),)


def _one_hot_scores(height: int, width: int, row: int, column: int, peak: float) -> tuple:
    scores = torch.zeros(1, height, width)
    scores[0, row, column] = peak
    return (scores,)


def _mining_inputs(g: torch.Generator) -> dict:
    """Continuous keys (no ties in distance), a few episodes of random lengths, N <= 60 (so the library's deeper
    search for other-episode neighbours, 4k + 64 deep, sees every state: the exercise's k nearest are exact)."""
    n = _int(g, 12, 60)
    episode_ids = torch.randint(0, 1000, (_int(g, 2, 8),), generator=g)
    episodes = episode_ids[torch.randint(0, len(episode_ids), (n,), generator=g)]
    if _int(g, 0, 1):
        returns = torch.randn(n, generator=g)
        threshold = float(_uniform(g, -0.5, 0.5))
    else:  # integer returns; a threshold equal to one of them: returns equal to it are in the low class
        returns = torch.randint(0, 4, (n,), generator=g).float()
        threshold = float(_int(g, 0, 2))
    return {"keys": torch.randn(n, _int(g, 2, 8), generator=g), "returns": returns, "episodes": episodes,
            "k": _int(g, 2, min(10, n - 1)), "threshold": threshold}


def _mining_case(seed: int, episodes: Tensor, returns: Tensor, k: int, threshold: float, dim: int = 4) -> dict:
    keys = torch.randn(len(episodes), dim, generator=torch.Generator().manual_seed(seed))
    return {"keys": keys, "returns": returns, "episodes": episodes, "k": k, "threshold": threshold}


def _mining_difference(got: Any, expected: Any, inputs: dict) -> str | None:
    """Triplets are compared by what they are, not by index (two states at the same distance are equally good).

    The anchors must be the same; each anchor's positive must come from another episode, be in the anchor's
    outcome class and be as near as the reference's positive (likewise the negative, in the other class)."""
    if not isinstance(got, Sequence) or len(got) != 3:
        return f"expected three index tensors (anchor, positive, negative), got {got!r:.80}"
    try:
        anchors, positives, negatives = (torch.as_tensor(t).long().reshape(-1) for t in got)
    except (TypeError, ValueError, RuntimeError):
        return "expected three tensors of integer indices"
    ref_anchors, ref_positives, ref_negatives = expected
    if not len(anchors) == len(positives) == len(negatives):
        return f"anchor, positive and negative hold {len(anchors)}, {len(positives)}, {len(negatives)} indices"
    order = torch.argsort(anchors)
    anchors, positives, negatives = anchors[order], positives[order], negatives[order]
    if not torch.equal(anchors, torch.as_tensor(ref_anchors).long()):
        missing = sorted(set(ref_anchors.tolist()) - set(anchors.tolist()))[:5]
        extra = sorted(set(anchors.tolist()) - set(ref_anchors.tolist()))[:5]
        return (f"{len(anchors)} triplets instead of {len(ref_anchors)} (anchors missing: {missing}, "
                f"anchors that should have no triplet: {extra})")
    keys, episodes = inputs["keys"].double(), inputs["episodes"]
    high = inputs["returns"] > inputs["threshold"]
    n = len(keys)
    for name, mine, ref, same in (("positive", positives, torch.as_tensor(ref_positives).long(), True),
                                  ("negative", negatives, torch.as_tensor(ref_negatives).long(), False)):
        if len(mine) and (mine.min() < 0 or mine.max() >= n):
            return f"a {name} index is out of range (the buffer has {n} states)"
        if (episodes[mine] == episodes[anchors]).any():
            a = int(anchors[episodes[mine] == episodes[anchors]][0])
            return f"the {name} of anchor {a} comes from the anchor's own episode"
        if ((high[mine] == high[anchors]) != same).any():
            a = int(anchors[(high[mine] == high[anchors]) != same][0])
            return f"the {name} of anchor {a} is in the {'other' if same else 'same'} outcome class"
        mine_d, ref_d = (torch.linalg.norm(keys[i] - keys[anchors], dim=1) for i in (mine, ref))
        far = ~torch.isclose(mine_d, ref_d, rtol=1e-5, atol=1e-6)
        if far.any():
            a = int(anchors[far][0])
            return (f"the {name} of anchor {a} is not its nearest neighbour of that class among its k nearest states "
                    f"of other episodes (distance {float(mine_d[far][0]):.4g}, the nearest is at "
                    f"{float(ref_d[far][0]):.4g})")
    return None


def _update_inputs(g: torch.Generator) -> dict:
    n, c = _int(g, 40, 120), _int(g, 2, 6)
    returns = torch.randn(n, generator=g) if _int(g, 0, 1) else (torch.rand(n, generator=g) < 0.4).float()
    return {"seed": _int(g, 0, 10_000), "maps": torch.rand(n, c, 6, 6, generator=g), "returns": returns,
            "num_anchors": _int(g, 8, 64), "k": _int(g, 2, 12), "margin": float(_uniform(g, 0.0, 0.5)),
            "spread_weight": float(_uniform(g, 0.0, 0.3)), "spread_target": float(_uniform(g, 0.2, 0.5)),
            "lr": float(_uniform(g, 1e-3, 3e-2))}


def _update_outcome(fn: Callable, inputs: dict) -> tuple:
    """Build gaze, Adam, buffer and generator from ``inputs``; run one update with ``fn``; return what it changed."""
    torch.manual_seed(inputs["seed"])
    maps = inputs["maps"]
    gaze = GaussianGaze(maps.shape[1], init_scale=0.5)  # gazes that differ between maps
    optimizer = torch.optim.Adam(gaze.parameters(), lr=inputs["lr"])
    buffer = ContrastiveBuffer(tuple(maps.shape[1:]), capacity=len(maps), seed=inputs["seed"])
    buffer.add(maps, inputs["returns"])
    generator = torch.Generator().manual_seed(inputs["seed"])
    result = fn(gaze, optimizer, buffer, generator, num_anchors=inputs["num_anchors"], k=inputs["k"],
                margin=inputs["margin"], spread_weight=inputs["spread_weight"], spread_target=inputs["spread_target"])
    return result, [p.detach().clone() for p in gaze.parameters()]


def _reference_update(gaze, optimizer, buffer, generator, **settings) -> tuple[int, float]:
    """One step of :class:`~gazelab.method.contrastive.ContrastiveLearner` with the given optimizer and generator;
    returns (number of triplets, loss before the step). ``settings``: ContrastiveConfig fields (num_anchors, k,
    margin, spread_weight, spread_target; the library's defaults for those not given)."""
    config = ContrastiveConfig(**settings, lr=optimizer.param_groups[0]["lr"], min_buffer=0)
    learner = ContrastiveLearner(gaze, config)
    learner.optimizer, learner.generator = optimizer, generator
    stats = learner.update(buffer)
    return stats.triplets, stats.triplet_loss + config.spread_weight * stats.spread_loss


def _gae_inputs(g: torch.Generator) -> tuple:
    t, n = _int(g, 1, 8), _int(g, 1, 4)
    dones = torch.rand(t, n, generator=g) < 0.25  # s_t began a new episode
    next_done = torch.rand(n, generator=g) < 0.25
    ended = torch.cat([dones[1:], next_done[None]])  # the episode ended with step t
    bootstrap = torch.rand(t, n, generator=g) < 0.5  # truncated (bootstrap its final value) or terminated (0)
    final_values = torch.randn(t, n, generator=g) * (ended & bootstrap)
    return (torch.rand(t, n, generator=g), torch.randn(t, n, generator=g), dones.float(), final_values,
            torch.randn(n, generator=g), next_done.float(), float(_uniform(g, 0.5, 1.0)), float(_uniform(g, 0.5, 1.0)))


def _margin_inputs(g: torch.Generator) -> tuple:
    """Per-episode scores of an agent and a random policy on the same episodes: success flags or returns."""
    e = _int(g, 1, 40)
    if _int(g, 0, 1):
        agent = (torch.rand(e, generator=g) < float(_uniform(g, 0.0, 1.0))).float()
        random = (torch.rand(e, generator=g) < float(_uniform(g, 0.0, 0.5))).float()
    else:  # returns: an episode's start makes both policies' returns high or low together
        agent = torch.randn(e, generator=g) * 5 + 20
        random = agent - torch.randn(e, generator=g) * 3 - float(_uniform(g, -2.0, 4.0))
    return agent, random, _int(g, 1, 500), _int(g, 0, 10_000)


def _margin_difference(got: Any, expected: Any, inputs: tuple) -> str | None:
    """Names the number that differs: the interval's low end, the margin or the high end."""
    if not isinstance(got, Sequence) or isinstance(got, str) or len(got) != 3:
        return f"expected three numbers (low, margin, high), got {got!r:.80}"
    for name, mine, reference in zip(("low (the 2.5% quantile)", "the margin", "high (the 97.5% quantile)"), got,
                                     expected):
        difference = _difference(mine, reference, 1e-5, 1e-4)
        if difference is not None:
            return f"{name}: {difference}"
    return None


def _rtg_inputs(g: torch.Generator) -> tuple:
    t = _int(g, 1, 30)
    return torch.rand(t, generator=g), float(_uniform(g, 0.0, 1.0)), torch.rand(t, generator=g) < 0.15


def _geometry_inputs(g: torch.Generator) -> tuple:
    kind, size = [("fine", 64), ("nature", 128), ("nature", 64), ("fine", 128)][_int(g, 0, 3)]
    b = _int(g, 1, 6)
    return _uniform(g, -1, 1, b, 2).numpy(), _uniform(g, 0.05, 1.0, b, 2).numpy(), make_encoder(kind, size)


def _mixture_inputs(g: torch.Generator) -> tuple:
    b, k = _int(g, 1, 3), _int(g, 1, 4)
    return (_uniform(g, -1, 1, b, k, 2), _uniform(g, 0.08, 0.8, b, k, 2), _uniform(g, -0.9, 0.9, b, k),
            _int(g, 3, 12), _int(g, 3, 12))


def _zeros_and_scales() -> tuple:
    a = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [3.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 2.0, 3.0], [1000.0, -2000.0, 500.0], [-3.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    return a, b


EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise(
        "1.1", "cosine_distance", cosine_distance,
        lambda g: tuple(torch.randn(2, 5, 4, 3, 3, generator=g)),
        {"zero vectors, a scaled copy, an opposite vector": _zeros_and_scales},
        forbidden=(cosine_distance,)),
    Exercise(
        "1.2", "triplet_loss", triplet_loss,
        lambda g: {"anchor": torch.randn(8, 5, generator=g), "positive": torch.randn(8, 5, generator=g),
                   "negative": torch.randn(8, 5, generator=g), "margin": float(_uniform(g, 0.0, 0.6))},
        {"every triplet satisfied (loss 0)": lambda: (torch.eye(3), torch.eye(3) * 2, -torch.eye(3), 0.5),
         "no triplet at all (N = 0): the loss is 0": lambda: (torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 4),
                                                             0.2)},
        forbidden=(triplet_loss,)),
    Exercise(
        "2.1", "gaussian_map", gaussian_map, _gaze_inputs,
        {"|rho| near 1: a thin, tilted fovea": lambda: (*_one_gaze([0.2, -0.1], [0.6, 0.3], 0.98), 9, 11),
         "a grid of one row (its centre sits at -1)": lambda: (*_one_gaze([0.0, -0.5], [0.3, 0.3], -0.4), 1, 7),
         "a centre off the grid": lambda: (*_one_gaze([1.5, -1.3], [0.5, 0.2], 0.0), 6, 6)},
        forbidden=(gaussian_map, _gaussian_map), atol=2e-5),
    Exercise(
        "2.2", "spread_loss", spread_loss,
        lambda g: (_uniform(g, 0.01, 2.0, _int(g, 1, 8), 2), float(_uniform(g, 0.1, 1.0))),
        {"sigma at the target (loss 0)": lambda: (torch.full((3, 2), 0.3), 0.3),
         "a collapsing fovea (sigma 1e-4)": lambda: (torch.tensor([[1e-4, 0.3]]), 0.3),
         "no gaze at all (B = 0): the loss is 0": lambda: (torch.zeros(0, 2), 0.3)},
        forbidden=(spread_loss,)),
    Exercise(
        "3.1", "gaze_parameters", gaze_parameters, _squash_inputs,
        {"a head that outputs zeros": lambda: (torch.zeros(2, 5), 0.05, 0.8, 0.9),
         "saturated head outputs (+-60)": lambda: (torch.tensor([[60.0, -60.0, 60.0, -60.0, 60.0]]), 0.05, 0.8, 0.9)},
        forbidden=(gaze_parameters, GaussianGaze.params, GaussianGaze.components, GaussianGaze.squash)),
    Exercise(
        "3.2", "soft_argmax", soft_argmax, _score_inputs,
        {"equal scores: the centre of the map": lambda: (torch.zeros(2, 5, 7),),
         "one score of 1e4 (exp overflows): that cell's centre": lambda: _one_hot_scores(6, 9, 1, 7, 1e4),
         "a map of one row (its centre sits at -1)": lambda: _one_hot_scores(1, 8, 0, 2, 3.0)},
        forbidden=(soft_argmax, GaussianGaze.params, GaussianGaze.components)),
    Exercise(
        "4.1", "mine_other_episodes", mine_other_episodes, _mining_inputs,
        {"one long episode: its anchors have fewer than k states of other episodes, all successes": lambda: _mining_case(
            1, torch.tensor([7] * 16 + [3, 3, 5, 5]), torch.cat([torch.arange(16.0) % 2, torch.ones(4)]), 6, 0.5),
         "success flags with threshold 0: a return equal to the threshold is in the low class": lambda: _mining_case(
            2, torch.arange(30) // 6, (torch.arange(30) % 10 < 7).float(), 5, 0.0),
         "a single episode: no triplet": lambda: _mining_case(3, torch.zeros(12, dtype=torch.long),
                                                              torch.arange(12.0), 4, 5.5),
         "episode ids that are any integers (negative, large, unsorted)": lambda: _mining_case(
            4, torch.tensor([-5, 10**9, 3, -1])[torch.arange(24) % 4], torch.rand(24, generator=torch.Generator()
                                                                                  .manual_seed(5)), 7, 0.5)},
        forbidden=(mine_triplets, knn_excluding_self),
        difference=_mining_difference),
    Exercise(
        "5.1", "contrastive_update", _reference_update, _update_inputs,
        {"one outcome class: no triplet, no step": lambda: {
            **_update_inputs(torch.Generator().manual_seed(5)), "returns": torch.full((64,), 0.5),
            "maps": torch.rand(64, 3, 6, 6, generator=torch.Generator().manual_seed(6))}},
        forbidden=(ContrastiveLearner.update, ContrastiveLearner._step, ContrastiveLearner._gazed_triplets),
        outcome=_update_outcome, atol=1e-4, rtol=1e-3),
    Exercise(
        "6.1", "gae", gae, _gae_inputs,
        {"one step, the episode ends after it": lambda: (torch.tensor([[1.0]]), torch.tensor([[0.5]]),
                                                        torch.tensor([[0.0]]), torch.tensor([[0.0]]),
                                                        torch.tensor([2.0]), torch.tensor([1.0]), 0.9, 0.95),
         "lambda = 0 (one-step TD errors) and gamma = 1": lambda: (*_gae_inputs(torch.Generator().manual_seed(7))[:6],
                                                                  1.0, 0.0)},
        forbidden=(gae,)),
    Exercise(
        "6.2", "paired_margin", paired_margin, _margin_inputs,
        {"one episode: every resample is that episode": lambda: (torch.tensor([1.0]), torch.tensor([0.0]), 50, 3),
         "the same scores: margin 0, interval [0, 0]": lambda: (torch.tensor([1.0, 0.0, 1.0, 1.0]),
                                                                torch.tensor([1.0, 0.0, 1.0, 1.0]), 200, 0),
         "worse than random: a negative margin": lambda: (torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
                                                          torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]), 300, 7),
         "a single resample": lambda: (torch.tensor([3.0, 1.0, 2.0]), torch.tensor([1.0, 1.5, 0.0]), 1, 11)},
        forbidden=(paired_margin,), difference=_margin_difference),
    Exercise(
        "7.1", "returns_to_go", discount_cumsum, _rtg_inputs,
        {"one step": lambda: (torch.tensor([2.0]), 0.9, torch.tensor([True])),
         "gamma = 1, episodes ending back to back": lambda: (torch.tensor([1.0, 2.0, 3.0, 4.0]), 1.0,
                                                            torch.tensor([False, True, True, False])),
         "gamma = 0: the return-to-go is the reward": lambda: (torch.tensor([1.0, 2.0, 3.0]), 0.0,
                                                               torch.tensor([False, False, False]))},
        forbidden=(discount_cumsum,)),
    Exercise(
        "8.1", "gaze_to_image", viz.gaze_to_image, _geometry_inputs,
        {"the map's corners, NatureCNN at 64 px (a 4x4 map)": lambda: (
            torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]]).numpy(), torch.ones(3, 2).numpy(),
            make_encoder("nature", 64))},
        forbidden=(viz.gaze_to_image, FineNatureCNN.map_geometry, FineNatureCNN.map_to_image,
                   FineNatureCNN.image_to_map, FineNatureCNN.cell_centres)),
    Exercise(
        "9.1", "mixture_map", mixture_map, _mixture_inputs,
        {"one component: the single gaze's map": lambda: (torch.tensor([[[0.3, -0.2]]]), torch.tensor([[[0.4, 0.2]]]),
                                                         torch.tensor([[0.5]]), 8, 8),
         "two coincident components": lambda: (torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.3),
                                               torch.tensor([[0.0, 0.6]]), 7, 7),
         "two far-apart foveae, each still 1 at its centre": lambda: (torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]]),
                                                                      torch.full((1, 2, 2), 0.2), torch.zeros(1, 2),
                                                                      5, 5)},
        forbidden=(mixture_map, _mixture_map)),
]}
"""Every code exercise of the course by its number; the notebooks' ``use`` / ``grade`` cells name them."""

