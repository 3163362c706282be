"""PPO trainer: learns on Reach, contrastive step touches only the gaze, exact resume, Ctrl-C, bad values."""

import os
import signal
import threading

import pytest
import torch

from gazelab.envs import make_env
from gazelab.evaluate import evaluate_policy
from gazelab.ppo import PPOConfig, build_agent, train_ppo
from gazelab.training import load_checkpoint, saved_config

ENV = "gazelab/Reach-v0"


def tiny(tmp_path, name, **overrides) -> PPOConfig:
    """A few-second PPO config: 8 envs x 16 steps, NatureCNN (4x4 map), no eval, no progress bar."""
    values = dict(env_id=ENV, seed=3, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                  total_timesteps=4 * 128, encoder="nature", eval_freq=0, progress=False,
                  run_dir=str(tmp_path / name))
    values.update(overrides)
    return PPOConfig(**values)


def _random_policy(num_envs, seed=0):
    g = torch.Generator().manual_seed(seed)
    return lambda obs: (torch.rand(obs["rgb"].shape[0], 2, generator=g) * 2 - 1, None)


def test_ppo_beats_random_on_reach(tmp_path):
    # ManiSkill's RGB settings (8 epochs) on 16 envs: the fewest wall-clock seconds to a clear margin (~25 s).
    config = PPOConfig(env_id=ENV, seed=1, total_timesteps=12_288, num_envs=16, num_steps=32, num_minibatches=4,
                       update_epochs=8, encoder="nature", eval_freq=0, progress=False,
                       run_dir=str(tmp_path / "learn"))
    result = train_ppo(config)
    agent = build_agent(config, make_env(ENV, 1)).eval()
    agent.load_state_dict(load_checkpoint(result.run_dir)["agent"])
    trained = evaluate_policy(agent.act, make_env(ENV, 32, seed=123, device="cpu"), 64)
    random = evaluate_policy(_random_policy(32), make_env(ENV, 32, seed=123, device="cpu"), 64)
    assert trained["success_once"] > random["success_once"] + 0.2, (trained, random)


def _params(run_dir):
    return load_checkpoint(run_dir)["agent"]


def test_contrastive_step_changes_only_the_gaze(tmp_path):
    """With the RL update frozen (learning_rate=0), contrastive=True changes the gaze head and nothing else."""
    common = dict(attention="gaze", learning_rate=0.0, total_timesteps=2 * 256, num_envs=16,
                  contrastive_buffer_size=0)
    off = train_ppo(tiny(tmp_path, "off", contrastive=False, **common))
    on = train_ppo(tiny(tmp_path, "on", contrastive=True, **common))
    assert on.final["contrastive/triplets"] > 0
    before, after = _params(off.run_dir), _params(on.run_dir)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the contrastive update changed nothing"
    assert all(k.startswith("image.attention.") for k in changed), changed


def _comparable(history):
    return [{k: v for k, v in row.items() if k not in ("time", "charts/SPS")} for row in history]


def test_resume_continues_exactly(tmp_path):
    """4 iterations straight == 2 iterations + resume for 2 more: same weights, optimizers, metrics."""
    kw = dict(attention="gaze", contrastive=True, checkpoint_buffer=True, eval_freq=2, num_eval_envs=4,
              num_eval_episodes=4, contrastive_anchors=64)
    straight = train_ppo(tiny(tmp_path, "straight", **kw))
    half = train_ppo(tiny(tmp_path, "resumed", total_timesteps=2 * 128, **kw))
    assert half.final["global_step"] == 256
    resumed = train_ppo(saved_config(PPOConfig, half.run_dir, total_timesteps=4 * 128, progress=False))
    assert resumed.run_dir == half.run_dir
    a, b = load_checkpoint(straight.run_dir), load_checkpoint(resumed.run_dir)
    for key in a["agent"]:
        assert torch.equal(a["agent"][key], b["agent"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for i, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg_sq"], b["optimizer"]["state"][i]["exp_avg_sq"])
    assert straight.final["contrastive/triplets"] > 0
    assert _comparable(straight.history) == _comparable(resumed.history)
    lines = (resumed.run_dir / "history.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_ctrl_c_writes_a_checkpoint_and_stops(tmp_path):
    config = tiny(tmp_path, "interrupted", total_timesteps=500 * 128)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = train_ppo(config)
    finally:
        timer.cancel()
    assert result.interrupted
    ckpt = load_checkpoint(result.run_dir)  # weights_only=True
    assert 0 < ckpt["global_step"] < config.total_timesteps
    assert ckpt["global_step"] == result.final["global_step"]


@pytest.mark.parametrize("bad, field", [
    (dict(attention="fovea"), "attention"),
    (dict(encoder="resnet"), "encoder"),
    (dict(num_envs=0), "num_envs"),
    (dict(num_steps=-4), "num_steps"),
    (dict(env_id="gazelab/Nope-v0"), "env_id"),
    (dict(contrastive=True, attention="none"), "contrastive"),
    (dict(attention="gaze", contrastive=True, contrastive_buffer_size=100), "contrastive_buffer_size"),
    (dict(contrastive_buffer_size=-1), "contrastive_buffer_size"),
    (dict(gamma=1.5), "gamma"),
    (dict(num_minibatches=10_000), "num_minibatches"),
    (dict(total_timesteps=10), "total_timesteps"),
    (dict(contrastive_k=0), "k"),
])
def test_bad_values_raise_one_clear_error(tmp_path, bad, field):
    with pytest.raises(ValueError, match=field):
        tiny(tmp_path, "bad", **bad)


@pytest.mark.maniskill
def test_one_iteration_on_maniskill_pushcube_cpu(tmp_path):
    config = PPOConfig(env_id="PushCube-v1", device="cpu", num_envs=1, num_steps=4, num_minibatches=1,
                       update_epochs=1, total_timesteps=4, attention="gaze", contrastive=True,
                       contrastive_buffer_size=0, eval_freq=0, progress=False, run_dir=str(tmp_path / "ms"))
    result = train_ppo(config)
    assert result.final["global_step"] == 4
    assert 0 < result.final["gaze/sigma_x"]
    ckpt = load_checkpoint(result.run_dir)
    assert ckpt["config"]["encoder"] == "nature" and ckpt["env"] is None  # ManiSkill: state not captured


def test_oracle_attention_needs_a_builtin_task(tmp_path):
    with pytest.raises(ValueError, match="oracle"):
        PPOConfig(env_id="PushCube-v1", attention="oracle", device="cpu")
    with pytest.raises(ValueError, match="contrastive"):
        tiny(tmp_path, "bad", attention="oracle", contrastive=True)
