"""DrQ-v2's random shift: every image moves by its own offset within the pad, the privileged prize moves with its
picture, and the trainers use it only in their updates (the policy acts on true frames)."""

import pytest
import torch

from gazelab.core.errors import GazelabError
from gazelab.rl.augment import augment_obs, random_shift
from gazelab.rl.ppo import PPOConfig, train_ppo
from gazelab.rl.sac import SACConfig, train_sac


def dots(b=64, side=24, seed=0):
    """(b, side, side, 3) black images with one white pixel each, away from the border, and its image coordinates."""
    g = torch.Generator().manual_seed(seed)
    rc = torch.randint(5, side - 5, (b, 2), generator=g)
    rgb = torch.zeros(b, side, side, 3, dtype=torch.uint8)
    rgb[torch.arange(b), rc[:, 0], rc[:, 1]] = 255
    prize = torch.stack([rc[:, 1], rc[:, 0]], 1).float() * 2 / (side - 1) - 1  # x = column, y = row
    return rgb, prize


def white_pixel(rgb):
    idx = (rgb[..., 0] == 255).flatten(1).float().argmax(1)
    side = rgb.shape[2]
    return torch.stack([idx // side, idx % side], 1)  # (row, col)


def test_each_image_moves_by_its_own_offset_within_the_pad_and_the_prize_follows():
    rgb, prize = dots()
    torch.manual_seed(0)
    shifted, moved = random_shift(rgb, 4, prize)
    assert shifted.shape == rgb.shape and shifted.dtype == torch.uint8
    assert ((shifted[..., 0] == 255).flatten(1).sum(1) == 1).all()  # a translated copy: the dot is still there, once
    delta = white_pixel(shifted) - white_pixel(rgb)
    assert delta.abs().max() <= 4 and len({tuple(d) for d in delta.tolist()}) > 20  # offsets differ between images
    side = rgb.shape[2]
    rc = white_pixel(shifted)
    expected = torch.stack([rc[:, 1], rc[:, 0]], 1).float() * 2 / (side - 1) - 1
    assert torch.allclose(moved, expected, atol=1e-5)


def test_the_border_repeats_the_edge_and_pad_zero_changes_nothing():
    rgb = torch.zeros(8, 16, 16, 3, dtype=torch.uint8)
    rgb[:, :, 0] = 100  # the left column
    torch.manual_seed(1)
    shifted, _ = random_shift(rgb, 3)
    assert set(shifted.unique().tolist()) <= {0, 100}  # replicated pixels, never a fill colour
    assert random_shift(rgb, 0)[0] is rgb


def test_both_privileged_points_move_with_their_own_image_by_one_offset():
    """prize and prize_parts (the two-fovea oracle's targets) follow the same shift: a reach task's prize is its
    first part before and after."""
    rgb, prize = dots(16)
    parts = torch.stack([prize, -prize], 1)  # (B, 2, 2)
    torch.manual_seed(3)
    out = augment_obs({"rgb": rgb, "state": torch.zeros(16, 4), "prize": prize, "prize_parts": parts}, "shift", 4)
    torch.testing.assert_close(out["prize_parts"][:, 0], out["prize"])
    torch.testing.assert_close(out["prize_parts"][:, 1] - parts[:, 1], out["prize"] - prize)
    assert not torch.equal(out["prize"], prize)


def test_augment_obs_keeps_the_state_and_refuses_an_unknown_kind():
    rgb, prize = dots(4)
    obs = {"rgb": rgb, "state": torch.randn(4, 4), "prize": prize}
    assert augment_obs(obs, "none", 4) is obs
    out = augment_obs(obs, "shift", 4)
    assert out["state"] is obs["state"] and not torch.equal(out["prize"], prize)
    with pytest.raises(GazelabError, match=r"augment must be one of 'none', 'shift', got 'crop'"):
        augment_obs(obs, "crop", 4)
    with pytest.raises(GazelabError, match="augment"):
        PPOConfig(augment="crop")


def _ppo(tmp_path, name, **overrides):
    return train_ppo(PPOConfig(env_id="gazelab/Reach-v0", seed=3, num_envs=8, num_steps=16, num_minibatches=2,
                               update_epochs=2, total_timesteps=2 * 128, encoder="nature", attention="gaze",
                               eval_freq=0, progress=False, run_dir=str(tmp_path / name), **overrides))


def test_ppo_shifts_only_its_updates(tmp_path):
    """The first rollout is acted on true frames (its gaze statistics are the same with and without the shift); the
    updates see shifted ones (the losses differ); the method's name says so."""
    plain, shifted = _ppo(tmp_path, "plain"), _ppo(tmp_path, "shift", augment="shift")
    gaze = lambda row: {k: v for k, v in row.items() if k.startswith("gaze/")}  # noqa: E731
    assert gaze(plain.history[0]) == gaze(shifted.history[0])
    assert plain.history[0]["losses/value"] != shifted.history[0]["losses/value"]
    assert PPOConfig(attention="gaze", augment="shift").method_name() == "gaze+shift"


def test_sac_with_the_shift_trains(tmp_path):
    config = SACConfig(env_id="gazelab/Reach-v0", seed=5, num_envs=4, training_freq=16, utd=0.25, batch_size=32,
                       buffer_size=1024, learning_starts=32, total_timesteps=6 * 16, encoder="nature", eval_freq=0,
                       progress=False, run_dir=str(tmp_path / "sac"), augment="shift")
    result = train_sac(config)
    assert config.method_name() == "none+shift"
    assert torch.isfinite(torch.tensor(result.final["losses/qf"]))
