"""Method comparisons over seeds the way rliable recommends: interquartile means with stratified bootstrap intervals.

Why not mean +- std over 5 seeds: one lucky or unlucky seed moves a mean a lot, and a std says nothing about how
sure the comparison is. The IQM (the mean of the middle 50% of runs) resists outliers, and a 95% bootstrap interval
says which differences the seeds can tell apart (Agarwal et al., 2021, "Deep RL at the edge of the statistical
precipice"; the `rliable` library).

Scores here are *steps to a success threshold* (lower is better; a run that never reached it counts at its budget,
censored), one value per seed and task: arrays (runs, tasks). ``rliable`` (``pip install "gazelab[stats]"``) is
imported when a function is called.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np

from gazelab.core.errors import GazelabError

__all__ = ["BOOTSTRAP_REPS", "available", "iqm", "iqm_interval", "speedup_interval", "difference_interval",
           "improvement_probability", "format_interval"]

BOOTSTRAP_REPS = 2000
"""Bootstrap resamples per interval: the interval's ends move by < 1% between reruns at this size with 5-10 seeds."""


def available() -> bool:
    """Whether rliable is installed (summaries then carry IQM intervals)."""
    try:
        _rliable()
    except GazelabError:
        return False
    return True


def _rliable():
    try:
        from rliable import library, metrics
    except ImportError:
        raise GazelabError('method comparisons use rliable: pip install "gazelab[stats]"') from None
    return library, metrics


def _scores(name: str, values) -> np.ndarray:
    """values as a float (runs, tasks) array: a 1-D sequence is one task's runs."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 1 or not np.isfinite(array).all():
        raise GazelabError(f"{name} must be finite scores of shape (runs,) or (runs, tasks), got {array.shape}")
    return array


@contextlib.contextmanager
def _seeded(seed: int):
    """rliable's stratified resampling draws from NumPy's global generator: seed it here, and put it back."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def iqm(scores) -> float:
    """Interquartile mean over all runs and tasks (rliable's ``aggregate_iqm``)."""
    return float(_rliable()[1].aggregate_iqm(_scores("scores", scores)))


def iqm_interval(scores, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> tuple[float, float, float]:
    """(low, IQM, high): the IQM of ``scores`` (runs[, tasks]) with its 95% stratified bootstrap interval."""
    library, metrics = _rliable()
    array = _scores("scores", scores)
    with _seeded(seed):
        points, intervals = library.get_interval_estimates(
            {"x": array}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps)
    return float(intervals["x"][0, 0]), float(points["x"][0]), float(intervals["x"][1, 0])


def _two_sample_interval(baseline, method, compare, reps: int, seed: int) -> tuple[float, float, float]:
    """(low, compare(baseline, method), high): a statistic of two methods' scores ((runs, tasks) arrays) with its 95%
    interval from resampling each method's runs independently within each task (rliable's
    ``StratifiedIndependentBootstrap``)."""
    library, _ = _rliable()
    if baseline.shape[1] != method.shape[1]:
        raise GazelabError(f"baseline and method need the same tasks, got {baseline.shape[1]} and {method.shape[1]}")
    with _seeded(seed):
        points, intervals = library.get_interval_estimates(
            {"x": [baseline, method]}, lambda b, m: np.array([compare(b, m)]), reps=reps)
    return float(intervals["x"][0, 0]), float(points["x"][0]), float(intervals["x"][1, 0])


def speedup_interval(baseline_steps, method_steps, reps: int = BOOTSTRAP_REPS,
                     seed: int = 0) -> tuple[float, float, float]:
    """(low, ratio, high): how many times fewer steps the method needs, IQM(baseline) / IQM(method), with a 95%
    interval from resampling each method's runs independently within each task (rliable's
    ``StratifiedIndependentBootstrap``). An interval that excludes 1 is an effect the seeds can tell."""
    iqm_of = _rliable()[1].aggregate_iqm
    return _two_sample_interval(_scores("baseline_steps", baseline_steps), _scores("method_steps", method_steps),
                                lambda b, m: iqm_of(b) / iqm_of(m), reps, seed)


def difference_interval(baseline_scores, method_scores, reps: int = BOOTSTRAP_REPS,
                        seed: int = 0) -> tuple[float, float, float]:
    """(low, difference, high): IQM(method) - IQM(baseline) of a score where higher is better (e.g. the area under
    the success curve), with a 95% interval as :func:`speedup_interval`'s. An interval that excludes 0 is an effect
    the seeds can tell."""
    iqm_of = _rliable()[1].aggregate_iqm
    return _two_sample_interval(_scores("baseline_scores", baseline_scores), _scores("method_scores", method_scores),
                                lambda b, m: iqm_of(m) - iqm_of(b), reps, seed)


def improvement_probability(method_steps, baseline_steps, reps: int = BOOTSTRAP_REPS,
                            seed: int = 0) -> tuple[float, float, float]:
    """(low, P, high): the probability that a run of the method needs fewer steps than a run of the baseline
    (ties count half; rliable's ``probability_of_improvement`` on negated steps), with its 95% interval."""
    library, metrics = _rliable()
    method, base = _scores("method_steps", method_steps), _scores("baseline_steps", baseline_steps)
    with _seeded(seed):
        points, intervals = library.get_interval_estimates(
            {"p": [-method, -base]}, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), reps=reps)
    return float(intervals["p"][0, 0]), float(points["p"][0]), float(intervals["p"][1, 0])


def format_interval(interval: Sequence[float], spec: str = ",.0f", suffix: str = "") -> str:
    """'12,288 [10,752, 15,360]' for (low, point, high)."""
    low, point, high = interval
    return f"{point:{spec}}{suffix} [{low:{spec}}, {high:{spec}}]"
