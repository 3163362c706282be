"""What a run leaves on disk: checkpoint sizes, rebuilding a policy without an env, lazy loading."""

import pytest
import torch

from gazelab.envs import make_env
from gazelab.evaluate import evaluate_policy, load_policy
from gazelab.ppo import train_ppo
from gazelab.sac import train_sac
from gazelab.training import load_checkpoint
from test_ppo import tiny as tiny_ppo
from test_sac import tiny as tiny_sac


def sac_run(tmp_path, name, **overrides):
    return train_sac(tiny_sac(tmp_path, name, **overrides)).run_dir


def ppo_run(tmp_path, name, **overrides):
    return train_ppo(tiny_ppo(tmp_path, name, **overrides)).run_dir


def _tensor_bytes(obj) -> int:
    """Bytes of the tensor elements inside a nested checkpoint (what a checkpoint has to hold)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _replay_row_bytes(ckpt) -> int:
    """Bytes of one replay row of all envs: obs + next obs + action + reward + done."""
    replay = ckpt["replay"]
    return _tensor_bytes(replay) // replay["rewards"].shape[0]


def test_sac_checkpoint_leaves_the_replay_out_unless_asked(tmp_path):
    kw = dict(attention="gaze", contrastive=True, contrastive_buffer_size=512, buffer_size=4096)
    lean = sac_run(tmp_path, "lean", **kw)
    full = sac_run(tmp_path, "full", checkpoint_replay=True, **kw)
    lean_ckpt, full_ckpt = load_checkpoint(lean), load_checkpoint(full)
    lean_size, full_size = (lean / "checkpoint.pt").stat().st_size, (full / "checkpoint.pt").stat().st_size
    assert lean_ckpt["replay"] is None
    # No storage behind views: the file holds the tensors' own elements plus pickling overhead.
    assert lean_size < _tensor_bytes(lean_ckpt) + 2**20, (lean_size, _tensor_bytes(lean_ckpt))
    # With the option, it grows by the filled replay rows only (8 iterations x 16 steps / 4 envs = 32 rows), not by
    # the whole 4096-transition storage.
    rows = full_ckpt["replay"]["rewards"].shape[0]
    assert rows == 32
    grown = full_size - lean_size
    assert 0.95 * rows * _replay_row_bytes(full_ckpt) < grown < 1.05 * rows * _replay_row_bytes(full_ckpt) + 2**20


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


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_load_policy_does_not_read_the_replay(tmp_path):
    run = sac_run(tmp_path, "sac", total_timesteps=2 * 16, checkpoint_replay=True)
    ckpt = load_checkpoint(run)
    ckpt["replay"]["obs"]["rgb"] = torch.ones(200 * 2**20, dtype=torch.uint8)  # a 200 MB replay
    torch.save(ckpt, run / "checkpoint.pt")
    del ckpt
    before = _resident_mb()
    agent, _, ckpt = load_policy(run, device="cpu")
    assert _resident_mb() - before < 100, "load_policy read the replay into memory"
    assert ckpt["replay"]["obs"]["rgb"].shape == (200 * 2**20,)  # still reachable, read when touched
