"""Method comparisons with rliable: IQM, stratified bootstrap intervals, speed-up ratios."""

import numpy as np
import pytest

from gazelab.core.errors import GazelabError
from gazelab.experiments import statistics


def test_iqm_is_the_mean_of_the_middle_half():
    steps = [10_000, 12_000, 14_000, 16_000, 90_000, 1_000, 13_000, 15_000]  # two outliers
    middle = sorted(steps)[2:6]
    assert statistics.iqm(steps) == pytest.approx(np.mean(middle))


def test_intervals_are_reproducible_contain_the_point_and_leave_numpy_alone():
    steps = np.array([15_360, 18_432, 16_896, 21_504, 13_824, 19_968])
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    low, point, high = statistics.iqm_interval(steps, seed=4)
    assert low <= point <= high and low < high
    assert statistics.iqm_interval(steps, seed=4) == (low, point, high)
    assert (np.random.get_state()[1] == before).all()


def test_a_speedup_the_seeds_can_tell_and_one_they_cannot():
    rng = np.random.default_rng(0)
    baseline = rng.normal(30_000, 3_000, 10)
    low, ratio, high = statistics.speedup_interval(baseline, baseline / 2)
    assert ratio == pytest.approx(2.0) and 1.5 < low < 2.0 < high < 2.7
    same = rng.normal(30_000, 3_000, 10)
    low, ratio, high = statistics.speedup_interval(baseline, same)
    assert low < 1.0 < high
    p_low, p, p_high = statistics.improvement_probability(baseline / 2, baseline)
    assert p == 1.0 and p_low > 0.9


def test_a_difference_the_seeds_can_tell_and_one_they_cannot():
    rng = np.random.default_rng(1)
    baseline = rng.normal(0.5, 0.03, 10)
    low, difference, high = statistics.difference_interval(baseline, baseline + 0.1)
    assert difference == pytest.approx(0.1) and 0.05 < low < 0.1 < high < 0.15
    low, difference, high = statistics.difference_interval(baseline, rng.normal(0.5, 0.03, 10))
    assert low < 0.0 < high
    with pytest.raises(GazelabError, match="same tasks"):
        statistics.difference_interval(np.zeros((5, 2)), np.zeros((5, 1)))


def test_bad_scores_are_named():
    with pytest.raises(GazelabError, match="scores"):
        statistics.iqm_interval([1.0, float("nan")])
    with pytest.raises(GazelabError, match="same tasks"):
        statistics.speedup_interval(np.ones((3, 2)), np.ones((3, 1)))
