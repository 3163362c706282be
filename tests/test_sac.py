"""SAC trainer: learns on Reach, episode returns-to-go for the buffer, contrastive step touches only the gaze,
exact resume, bad values, one ManiSkill iteration."""

import learning_checks
import pytest
import torch

from gazelab.rl.checkpoint import load_checkpoint
from gazelab.rl.config import saved_config
from gazelab.rl.sac import SACConfig, train_sac
from gazelab.method.contrastive import ContrastiveConfig

ENV = "gazelab/Reach-v0"


def tiny(tmp_path, name, **overrides) -> SACConfig:
    """A few-second SAC config: 4 envs, 16 env steps and 2 gradient steps (batch 32) per iteration."""
    values = dict(env_id=ENV, seed=5, num_envs=4, training_freq=16, utd=0.125, batch_size=32, buffer_size=1024,
                  learning_starts=64, total_timesteps=8 * 16, encoder="nature", eval_freq=0, log_freq=16,
                  progress=False, run_dir=str(tmp_path / name))
    values.update(overrides)
    return SACConfig(**values).resolve()


SAC_MARGIN = 0.15
"""Required gap in mean reward per step between SAC (5,120 steps, fixed alpha 0.02; tests/learning_checks.py) and a
random policy (0.283). Measured with scripts/learning_margins.py, seeds 1-3 x 1 and 2 torch threads (2026-11-26): trained
0.622-0.666, margin 0.338-0.382 (mean 0.364) over the 6 runs, while their success rates ranged 0.55-0.77: the threshold
sits below half the smallest margin measured."""


def test_sac_beats_random_on_reach(tmp_path):
    """Mean reward per step over 256 episodes (tests/learning_checks.py); the measured margins: see SAC_MARGIN."""
    trained, random = learning_checks.train_and_compare("sac", tmp_path / "learn")
    assert trained["reward"] > random["reward"] + SAC_MARGIN, (trained, random)


def test_contrastive_step_changes_only_the_gaze(tmp_path):
    """With every SAC learning rate at 0, contrastive=True changes the gaze head and nothing else."""
    common = dict(attention="gaze", q_lr=0.0, policy_lr=0.0, num_envs=8, training_freq=32, total_timesteps=15 * 32,
                  learning_starts=32,
                  contrastive_config=ContrastiveConfig(buffer_size=2048, num_anchors=64))
    off = train_sac(tiny(tmp_path, "off", contrastive=False, **common))
    on = train_sac(tiny(tmp_path, "on", contrastive=True, **common))
    assert any(row.get("contrastive/triplets", 0) > 0 for row in on.history)
    a, b = load_checkpoint(off.run_dir), load_checkpoint(on.run_dir)
    changed = {k for k in a["actor"] if not torch.equal(a["actor"][k], b["actor"][k])}
    assert changed and all(k.startswith("image.attention.") for k in changed), changed
    for key in ("qf1", "qf2", "qf1_target", "qf2_target"):
        assert all(torch.equal(v, b[key][k]) for k, v in a[key].items()), key


def test_resume_continues_exactly(tmp_path):
    kw = dict(attention="gaze", contrastive=True, contrastive_config=ContrastiveConfig(buffer_size=512),
              checkpoint_buffer=True,
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
    (dict(attention="gaze", contrastive=True, contrastive_config=ContrastiveConfig(buffer_size=8)),
     "contrastive.buffer_size=8"),
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
                       contrastive_config=ContrastiveConfig(buffer_size=0), eval_freq=0, progress=False,
                       run_dir=str(tmp_path / "ms"))
    result = train_sac(config)
    assert result.final["global_step"] == 4 and "losses/qf" in result.final


def test_the_actor_loss_reaches_the_gaze_head_through_the_actors_own_path(tmp_path):
    """The critics see detached image features in the actor loss, but the action does not: the actor's MLP reads the
    image branch, so ``alpha log pi - min Q`` trains the gaze head as well (as in sac_rgbd); with gaze_rl_grad=0
    neither loss reaches it."""
    from gazelab.envs import make_env
    from gazelab.rl.networks import SoftQNetwork
    from gazelab.rl.sac import build_agent

    def head_gradient(gaze_rl_grad: float) -> float:
        torch.manual_seed(0)
        config = tiny(tmp_path, f"g{gaze_rl_grad}", attention="gaze", gaze_head="keypoint", gaze_rl_grad=gaze_rl_grad)
        env = make_env(config.env_id, 8, seed=0, **config.env_kwargs())
        obs, _ = env.reset(seed=0)
        actor = build_agent(config, env)
        critic = SoftQNetwork(actor.image.out_features, actor.state_dim, 2)
        pi, log_pi, _, features, _ = actor.get_action(obs)
        (0.1 * log_pi - critic(features.detach(), actor.state_input(obs), pi)).mean().backward()
        grads = [p.grad for p in actor.image.attention.parameters()]
        return sum(0.0 if g is None else g.abs().sum().item() for g in grads)

    assert head_gradient(1.0) > 0
    assert head_gradient(0.0) == 0


def test_each_trainer_fills_in_its_own_contrastive_rate():
    """SAC's gaze takes contrastive steps at 0.01 (its critic moves the gaze slowly; docs/evidence.md), PPO's at 3e-4;
    a rate given explicitly, or saved in an older config, is kept."""
    from gazelab.method.contrastive import STANDALONE_LR
    from gazelab.rl.config import config_from_dict
    from gazelab.rl.ppo import PPOConfig

    def rate(config):
        return config.resolve().contrastive_config.lr

    assert rate(SACConfig(env_id=ENV, contrastive_config=ContrastiveConfig(buffer_size=512))) == 0.01
    assert rate(PPOConfig(env_id=ENV)) == STANDALONE_LR == 3e-4
    assert rate(SACConfig(env_id=ENV, contrastive_config=ContrastiveConfig(lr=1e-3))) == 1e-3
    assert rate(config_from_dict(SACConfig, {"env_id": ENV, "contrastive_lr": 3e-4})) == 3e-4
    assert rate(config_from_dict(SACConfig, {"env_id": ENV, "contrastive.k": 8})) == 0.01


def test_sac_trains_a_gaze_of_two_foveae_with_the_contrastive_step(tmp_path):
    """gaze_foveae=2 in SAC: the actor and critics read the mixture, the step trains it, and the log says how far
    apart the two foveae sit."""
    result = train_sac(tiny(tmp_path, "two", attention="gaze", gaze_foveae=2, encoder="fine", contrastive=True,
                            total_timesteps=16 * 16,  # 64 steps per env: the first episodes end and are stored
                            contrastive_config=ContrastiveConfig(min_buffer=32)))
    assert result.final["contrastive/triplets"] > 0 and result.final["gaze/foveae_gap"] >= 0
    assert "gaze-2foveae+contrastive" == tiny(tmp_path, "name", attention="gaze", gaze_foveae=2,
                                              contrastive=True).method_name()
