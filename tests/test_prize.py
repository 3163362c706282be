"""The gaze-on-prize metric: known geometry -> known distances and masses; the tracker's means and spread."""

import pytest
import torch

from gazelab.method.attention import AttentionOutput, GaussianGaze, NoAttention
from gazelab.method.encoders import FineNatureCNN
from gazelab.rl.prize import PRIZE_RADIUS, GazeTracker, gaze_on_prize

CNN = FineNatureCNN(64)  # 10x10 map over image coordinates -0.571 .. 0.571


def _gaze(mu_map, weights=None):
    mu = torch.tensor(mu_map, dtype=torch.float32)
    w = torch.ones(mu.shape[0], 10, 10) if weights is None else weights
    return AttentionOutput(w[:, None].expand(-1, 32, -1, -1), w, mu, torch.full_like(mu, 0.3), torch.zeros(len(mu)))


def test_distances_in_image_units():
    """Map (1, 0) is image (0.571, 0): 0.571 from a prize at the image centre; the centred fovea scores |prize|."""
    prize = torch.tensor([[0.0, 0.0], [0.3, 0.4]])
    out = gaze_on_prize(_gaze([[1.0, 0.0], [0.3 / 0.5714, 0.4 / 0.5714]]), prize, CNN)
    torch.testing.assert_close(out["prize_distance"], torch.tensor([0.5714, 0.0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["centre_distance"], torch.tensor([0.0, 0.5]))


def test_with_two_foveae_the_nearest_one_is_on_the_prize_and_their_gap_is_logged():
    mu = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])  # map units; 1.0 is image 0.571
    att = AttentionOutput(torch.ones(2, 32, 10, 10), torch.ones(2, 10, 10), mu[:, 0], torch.full((2, 2), 0.3),
                          torch.zeros(2), foveae=(mu, torch.full((2, 2, 2), 0.3), torch.zeros(2, 2)))
    out = gaze_on_prize(att, torch.tensor([[0.5714, 0.0], [0.0, 0.3]]), CNN)
    torch.testing.assert_close(out["prize_distance"], torch.tensor([0.0, 0.3]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["mu_image"], torch.tensor([[0.5714, 0.0], [0.0, 0.0]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["foveae_gap"], torch.tensor([0.5714, 0.0]), atol=1e-4, rtol=0)
    tracker = GazeTracker(CNN)
    tracker.add(att, torch.zeros(2, 2))
    assert tracker.scalars()["foveae_gap"] == pytest.approx(0.5714 / 2, abs=1e-3)


def test_prize_mass_counts_the_weight_near_the_prize():
    """All weight on one cell at the prize -> mass 1; uniform weights -> the share of cells within the radius."""
    cells = CNN.cell_centres()
    prize = cells[44][None]
    one_hot = torch.zeros(1, 100)
    one_hot[0, 44] = 1.0
    near = ((cells - prize).norm(dim=1) < PRIZE_RADIUS).float().mean()
    peaked = gaze_on_prize(_gaze([[0.0, 0.0]], one_hot.view(1, 10, 10)), prize, CNN)
    uniform = gaze_on_prize(NoAttention(32)(torch.rand(1, 32, 10, 10)), prize, CNN)
    assert peaked["prize_mass"].item() == pytest.approx(1.0)
    assert uniform["prize_mass"].item() == pytest.approx(near.item()) == pytest.approx(uniform["prize_mass_chance"].item())
    assert 0.02 < near < 0.2  # a few cells: the metric can tell a fovea on the prize from none
    assert "prize_distance" not in uniform  # no centre without a fovea


def test_tracker_means_and_frame_spread():
    """mu_std is 0 for a gaze that never moves and the std of the image-space centres for one that does."""
    tracker = GazeTracker(CNN)
    fixed = _gaze([[0.5, 0.5]] * 4)
    tracker.add(fixed, torch.zeros(4, 2))
    tracker.add(fixed, torch.zeros(4, 2))
    s = tracker.scalars()
    assert s["mu_std"] == 0.0 and s["mu_x"] == pytest.approx(0.5) and s["prize_distance"] == pytest.approx(0.5 * 0.5714 * 2 ** 0.5, abs=1e-3)
    assert tracker.scalars() == {}  # reset after reading
    moving = _gaze([[-1.0, 0.0], [1.0, 0.0]])
    tracker.add(moving)  # ManiSkill: no prize, only the gaze itself
    s = tracker.scalars()
    assert "prize_mass" not in s
    assert s["mu_std"] == pytest.approx((torch.tensor([-0.5714, 0.5714]).std().item() + 0.0) / 2, abs=1e-3)


def test_a_learned_gaze_feeds_the_tracker():
    gaze = GaussianGaze(32)
    tracker = GazeTracker(CNN)
    tracker.add(gaze(torch.rand(6, 32, 10, 10)), torch.rand(6, 2) * 2 - 1)
    s = tracker.scalars()
    assert {"mu_x", "sigma_y", "mu_std", "prize_distance", "centre_distance", "prize_mass"} <= set(s)
