"""The learning checks of the test suite, shared with scripts/learning_margins.py (which measures their margins).

A learning test trains a small agent and compares it with a uniformly random policy on the same evaluation
episodes. Seeded float results differ between CPUs (oneDNN/MKL kernels) and thread counts, so the check must hold
with a wide margin for *any* seed and thread count, not only for the one the test runs. Hence:

* the metric is the mean reward per step over 256 episodes (``eval/reward``, return / length), which measures
  "gets close to the goal" and varies far less between runs than the deterministic success rate (a policy that
  hovers just off the goal scores no success but nearly full reward; PPO's deterministic success swings by
  0.2-0.4 between neighbouring iterations);
* the budget and threshold come from ``scripts/learning_margins.py`` over 5 seeds x 1 and 2 torch threads (and
  deterministic algorithms); the measured numbers are written next to each assertion.
"""

from __future__ import annotations

import torch

from gazelab.rl.algorithms import load_policy
from gazelab.envs import make_env
from gazelab.rl.evaluation import evaluate_policy, random_actions

ENV = "gazelab/Reach-v0"
EVAL_EPISODES = 256
EVAL_SEED = 123


def ppo_config(run_dir, seed: int = 1, **overrides):
    """PPO on Reach with ManiSkill's RGB update (8 epochs) on 16 envs, NatureCNN: ~60 s on one idle core."""
    from gazelab.rl.ppo import PPOConfig

    values = dict(env_id=ENV, seed=seed, total_timesteps=20_480, num_envs=16, num_steps=32, num_minibatches=4,
                  update_epochs=8, encoder="nature", eval_freq=0, progress=False, run_dir=str(run_dir))
    return PPOConfig(**{**values, **overrides})


def sac_config(run_dir, seed: int = 1, **overrides):
    """SAC on Reach with a fixed small temperature (autotune starts alpha at 1 and needs thousands of updates to
    bring it down, longer than a test can wait): ~2300 gradient steps, 1-2 minutes on one idle core."""
    from gazelab.rl.sac import SACConfig

    values = dict(env_id=ENV, seed=seed, num_envs=8, total_timesteps=5_120, learning_starts=512, batch_size=64,
                  utd=0.5, autotune=False, alpha=0.02, encoder="nature", eval_freq=0, progress=False,
                  run_dir=str(run_dir))
    return SACConfig(**{**values, **overrides})


def evaluate(policy=None) -> dict[str, float]:
    """``evaluate_policy`` over EVAL_EPISODES fixed episodes of Reach-v0 (64 envs, seed EVAL_SEED); without a policy,
    of uniform random actions from a generator seeded 0 (the reference every learner must beat)."""
    env = make_env(ENV, 64, seed=EVAL_SEED, device="cpu")
    return evaluate_policy(policy or random_actions(env, torch.Generator().manual_seed(0)), env, EVAL_EPISODES)


def trained_vs_random(run_dir) -> tuple[dict[str, float], dict[str, float]]:
    """(trained policy's metrics, random policy's metrics) on the same evaluation episodes."""
    agent, _, _ = load_policy(run_dir, device="cpu")
    return evaluate(agent.act), evaluate()


def train_and_compare(algo: str, run_dir, seed: int = 1, **overrides) -> tuple[dict[str, float], dict[str, float]]:
    """Train ``algo`` ('ppo' or 'sac') with its check's config, then ``trained_vs_random``."""
    if algo == "ppo":
        from gazelab.rl.ppo import train_ppo

        train_ppo(ppo_config(run_dir, seed, **overrides))
    else:
        from gazelab.rl.sac import train_sac

        train_sac(sac_config(run_dir, seed, **overrides))
    return trained_vs_random(run_dir)
