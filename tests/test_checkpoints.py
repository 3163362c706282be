"""What a run leaves on disk: rebuilding a policy without an env."""

import pytest

from gazelab.envs import make_env
from gazelab.evaluate import evaluate_policy, load_policy
from gazelab.ppo import train_ppo
from gazelab.sac import train_sac
from test_ppo import tiny as tiny_ppo
from test_sac import tiny as tiny_sac


def sac_run(tmp_path, name, **overrides):
    return train_sac(tiny_sac(tmp_path, name, **overrides)).run_dir


def ppo_run(tmp_path, name, **overrides):
    return train_ppo(tiny_ppo(tmp_path, name, **overrides)).run_dir


def _refuse_to_make_envs(*args, **kwargs):
    raise AssertionError("load_policy made an env")


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_load_policy_builds_no_env(tmp_path, monkeypatch, algo):
    run = sac_run(tmp_path, algo, total_timesteps=2 * 16) if algo == "sac" else ppo_run(tmp_path, algo, total_timesteps=128)
    monkeypatch.setattr("gazelab.envs.make_env", _refuse_to_make_envs)
    agent, config, _ = load_policy(run, device="cpu")
    monkeypatch.undo()
    metrics = evaluate_policy(agent.act, make_env(config.env_id, 2, seed=0, device="cpu"), 2)
    assert 0 <= metrics["success_once"] <= 1
