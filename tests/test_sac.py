"""SAC trainer: learns on Reach, episode returns-to-go for the buffer, contrastive step touches only the gaze,
exact resume, bad values, one ManiSkill iteration."""

import pytest
import torch

from gazelab.checkpoint import load_checkpoint
from gazelab.config import saved_config
from gazelab.envs import make_env
from gazelab.episodes import evaluate_policy
from gazelab.sac import SACConfig, build_agent, train_sac

ENV = "gazelab/Reach-v0"


def tiny(tmp_path, name, **overrides) -> SACConfig:
    """A few-second SAC config: 4 envs, 16 env steps and 2 gradient steps (batch 32) per iteration."""
    values = dict(env_id=ENV, seed=5, num_envs=4, training_freq=16, utd=0.125, batch_size=32, buffer_size=1024,
                  learning_starts=64, total_timesteps=8 * 16, encoder="nature", eval_freq=0, log_freq=16,
                  progress=False, run_dir=str(tmp_path / name))
    values.update(overrides)
    return SACConfig(**values)


def test_sac_beats_random_on_reach(tmp_path):
    # A fixed small temperature: with autotune, alpha starts at 1 (log_alpha = 0, as in sac_rgbd) and needs
    # thousands of updates to come down, longer than a test can wait.
    # Pixel SAC is the slowest learner here: ~2300 gradient steps, 1-2 minutes on 2 CPU cores.
    config = SACConfig(env_id=ENV, seed=1, num_envs=8, total_timesteps=5_120, learning_starts=512, batch_size=64,
                       utd=0.5, autotune=False, alpha=0.02, encoder="nature", eval_freq=0, progress=False,
                       run_dir=str(tmp_path / "learn"))
    result = train_sac(config)
    actor = build_agent(config, make_env(ENV, 1)).eval()
    actor.load_state_dict(load_checkpoint(result.run_dir)["actor"])
    trained = evaluate_policy(actor.act, make_env(ENV, 32, seed=123, device="cpu"), 64)
    g = torch.Generator().manual_seed(0)
    random = evaluate_policy(lambda obs: (torch.rand(obs["rgb"].shape[0], 2, generator=g) * 2 - 1, None),
                             make_env(ENV, 32, seed=123, device="cpu"), 64)
    assert trained["success_once"] > random["success_once"] + 0.1, (trained, random)


def test_contrastive_step_changes_only_the_gaze(tmp_path):
    """With every SAC learning rate at 0, contrastive=True changes the gaze head and nothing else."""
    common = dict(attention="gaze", q_lr=0.0, policy_lr=0.0, num_envs=8, training_freq=32, total_timesteps=15 * 32,
                  learning_starts=32, contrastive_buffer_size=2048, contrastive_anchors=64)
    off = train_sac(tiny(tmp_path, "off", contrastive=False, **common))
    on = train_sac(tiny(tmp_path, "on", contrastive=True, **common))
    assert any(row.get("contrastive/triplets", 0) > 0 for row in on.history)
    a, b = load_checkpoint(off.run_dir), load_checkpoint(on.run_dir)
    changed = {k for k in a["actor"] if not torch.equal(a["actor"][k], b["actor"][k])}
    assert changed and all(k.startswith("image.attention.") for k in changed), changed
    for key in ("qf1", "qf2", "qf1_target", "qf2_target"):
        assert all(torch.equal(v, b[key][k]) for k, v in a[key].items()), key


def test_resume_continues_exactly(tmp_path):
    kw = dict(attention="gaze", contrastive=True, contrastive_buffer_size=512, checkpoint_buffer=True,
              checkpoint_replay=True, eval_freq=4, num_eval_envs=2, num_eval_episodes=2)
    straight = train_sac(tiny(tmp_path, "straight", **kw))
    half = train_sac(tiny(tmp_path, "resumed", total_timesteps=4 * 16, **kw))
    resumed = train_sac(saved_config(SACConfig, half.run_dir, total_timesteps=8 * 16, progress=False))
    a, b = load_checkpoint(straight.run_dir), load_checkpoint(resumed.run_dir)
    for key in ("actor", "qf1", "qf2", "qf1_target", "qf2_target"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    assert torch.equal(a["temperature"]["log_alpha"], b["temperature"]["log_alpha"])
    drop = ("time", "charts/SPS")
    assert ([{k: v for k, v in r.items() if k not in drop} for r in straight.history]
            == [{k: v for k, v in r.items() if k not in drop} for r in resumed.history])


def test_resume_without_the_replay_refills_it_before_learning_again(tmp_path, capsys):
    """learning_starts=64: the first run learns from step 64; the resumed one (no replay saved) from 64 + 64."""
    half = train_sac(tiny(tmp_path, "half", total_timesteps=5 * 16))
    assert load_checkpoint(half.run_dir)["replay"] is None
    resumed = train_sac(saved_config(SACConfig, half.run_dir, total_timesteps=12 * 16, progress=False))
    assert "refilling it from scratch" in capsys.readouterr().out
    learned = {row["global_step"]: "losses/qf" in row for row in resumed.history}
    assert learned == {16: False, 32: False, 48: False, 64: True, 80: True,  # before the resume
                       96: False, 112: False, 128: False, 144: True, 160: True, 176: True, 192: True}


@pytest.mark.parametrize("bad, field", [
    (dict(attention="fovea"), "attention"),
    (dict(num_envs=0), "num_envs"),
    (dict(training_freq=2), "training_freq"),
    (dict(utd=0.01), "utd"),
    (dict(batch_size=0), "batch_size"),
    (dict(tau=0.0), "tau"),
    (dict(bootstrap_at_done="sometimes"), "bootstrap_at_done"),
    (dict(attention="gaze", contrastive=True, contrastive_buffer_size=8), "contrastive_buffer_size"),
    (dict(partial_reset=True), "partial_reset"),
    (dict(q_lr=float("inf")), "q_lr"),
])
def test_bad_values_raise_one_clear_error(tmp_path, bad, field):
    with pytest.raises(ValueError, match=field):
        tiny(tmp_path, "bad", **bad)


@pytest.mark.maniskill
def test_one_iteration_on_maniskill_pushcube_cpu(tmp_path):
    config = SACConfig(env_id="PushCube-v1", device="cpu", num_envs=1, training_freq=4, utd=0.25, batch_size=4,
                       buffer_size=64, learning_starts=0, total_timesteps=4, attention="gaze", contrastive=True,
                       contrastive_buffer_size=0, eval_freq=0, progress=False, run_dir=str(tmp_path / "ms"))
    result = train_sac(config)
    assert result.final["global_step"] == 4 and "losses/qf" in result.final
