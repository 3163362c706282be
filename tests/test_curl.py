"""CURL's instance contrast: it learns to tell images apart, its key encoder follows by tau, and PPO and SAC train
with it (and resume it) as one more step on the CNN."""

import math

import pytest
import torch

from gazelab.method.encoders import make_encoder
from gazelab.rl.checkpoint import load_checkpoint
from gazelab.rl.curl import InstanceContrast
from gazelab.rl.config import saved_config
from gazelab.rl.ppo import PPOConfig, train_ppo
from gazelab.rl.sac import SACConfig, train_sac


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 64, 64, 3) uint8 scenes of three discs of random colours at random places on a plain table."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.full((n, 64, 64, 3), 200, dtype=torch.uint8)
    ys, xs = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    for i in range(n):
        for _ in range(3):
            centre = torch.randint(8, 56, (2,), generator=g)
            rgb[i][(ys - centre[0]) ** 2 + (xs - centre[1]) ** 2 < 36] = torch.randint(0, 256, (3,), generator=g,
                                                                                      dtype=torch.uint8)
    return rgb


def test_the_contrast_learns_to_pick_each_image_own_key():
    """32 scenes, each view shifted by its own random offset: after 150 steps of InfoNCE on the CNN and the head,
    most scenes pick their own key out of the 32 (chance 1/32) and the loss is far below chance's ln 32."""
    torch.manual_seed(0)
    cnn = make_encoder("fine", 64)
    curl = InstanceContrast(cnn, tau=0.05)
    rgb = blobs(32)
    optimizer = torch.optim.Adam([*cnn.parameters(), *curl.trainable()], lr=1e-3)
    for _ in range(150):
        loss, _ = curl.loss(cnn, rgb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curl.follow(cnn)
    loss, accuracy = curl.loss(cnn, rgb)
    assert accuracy > 0.5 and loss < 0.5 * math.log(32), (accuracy, loss)


def test_the_key_encoder_moves_tau_of_the_way_to_the_query_encoder():
    cnn = make_encoder("nature", 64)
    curl = InstanceContrast(cnn, tau=0.25)
    key_before = [p.clone() for p in curl.key_cnn.parameters()]
    with torch.no_grad():
        for p in cnn.parameters():
            p.add_(1.0)
    curl.follow(cnn)
    for key, old, query in zip(curl.key_cnn.parameters(), key_before, cnn.parameters()):
        torch.testing.assert_close(key, 0.75 * old + 0.25 * query)
    assert not any(p.requires_grad for p in curl.key_cnn.parameters())  # only the query side learns


def _ppo(tmp_path, name, **overrides):
    return PPOConfig(env_id="gazelab/Reach-v0", seed=3, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                     total_timesteps=2 * 128, encoder="nature", attention="gaze", eval_freq=0, progress=False,
                     run_dir=str(tmp_path / name), **overrides)


def test_ppo_adds_the_contrast_to_its_loss_and_resumes_it(tmp_path):
    plain = train_ppo(_ppo(tmp_path, "plain"))
    config = _ppo(tmp_path, "curl", curl_coef=0.5)
    assert config.method_name() == "gaze+curl"
    with_curl = train_ppo(config)
    row = with_curl.history[-1]
    assert 0 <= row["losses/curl_accuracy"] <= 1 and row["losses/curl"] > 0
    assert "losses/curl" not in plain.history[-1]
    # the first rollout is the same (the policy acts alike); the updates differ (the CNN also learns the contrast)
    gaze = lambda row: {k: v for k, v in row.items() if k.startswith("gaze/")}  # noqa: E731
    assert gaze(plain.history[0]) == gaze(with_curl.history[0])
    assert plain.history[0]["losses/value"] != with_curl.history[0]["losses/value"]
    saved = load_checkpoint(tmp_path / "curl")
    assert set(saved["curl"]) >= {"bilinear", "head.0.weight", "key_head.0.weight"} and saved["curl_optimizer"]["state"]
    # curl_coef scales CURL's own learning rate (a loss weight would be undone by Adam)
    assert saved["curl_optimizer"]["param_groups"][0]["lr"] == pytest.approx(config.curl_coef * config.learning_rate)
    resumed = train_ppo(saved_config(PPOConfig, tmp_path / "curl", total_timesteps=3 * 128))
    assert resumed.history[-1]["global_step"] == 3 * 128 and "losses/curl" in resumed.history[-1]


def test_sac_steps_the_contrast_after_each_critic_step_and_resumes_it(tmp_path):
    """SAC (CURL's own setting): CURL trains the CNN beside the critic, with its own Adam at curl_coef x q_lr; the
    acting before learning starts is untouched; the run resumes with CURL's state."""
    common = dict(env_id="gazelab/Reach-v0", seed=5, num_envs=4, training_freq=16, utd=0.125, batch_size=32,
                  buffer_size=1024, learning_starts=64, total_timesteps=8 * 16, encoder="nature", attention="gaze",
                  eval_freq=0, log_freq=16, progress=False, checkpoint_replay=True)
    plain = train_sac(SACConfig(**common, run_dir=str(tmp_path / "plain")))
    config = SACConfig(**common, curl_coef=2.0, run_dir=str(tmp_path / "curl"))
    assert config.method_name() == "gaze+curl"
    with_curl = train_sac(config)
    learning = [row for row in with_curl.history if "losses/qf" in row]
    assert learning and all(0 <= row["losses/curl_accuracy"] <= 1 and row["losses/curl"] > 0 for row in learning)
    assert not any("losses/curl" in row for row in plain.history)
    assert plain.history[-1]["losses/qf"] != with_curl.history[-1]["losses/qf"]  # the CNN also learned the contrast
    saved = load_checkpoint(tmp_path / "curl")
    assert set(saved["curl"]) >= {"bilinear", "head.0.weight", "key_head.0.weight"} and saved["curl_optimizer"]["state"]
    assert saved["curl_optimizer"]["param_groups"][0]["lr"] == pytest.approx(2.0 * saved["config"]["q_lr"])
    resumed = train_sac(saved_config(SACConfig, tmp_path / "curl", total_timesteps=10 * 16, progress=False))
    assert resumed.history[-1]["global_step"] == 10 * 16 and "losses/curl" in resumed.history[-1]
