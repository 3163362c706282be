"""What a run leaves on disk: config.json, periodic and final checkpoints, checkpoint sizes, rebuilding a policy
without an env, lazy loading, the last good checkpoint of a diverging run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_ppo import tiny as tiny_ppo
from test_sac import tiny as tiny_sac

import gazelab
from gazelab.rl.algorithms import load_policy
from gazelab.rl.checkpoint import load_checkpoint
from gazelab.cli import main
from gazelab.envs import make_env
from gazelab.rl.evaluation import evaluate_policy
from gazelab.core.errors import TrainingDiverged
from gazelab.rl.ppo import train_ppo
from gazelab.rl.sac import train_sac
from gazelab.method.contrastive import ContrastiveConfig


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
    kw = dict(attention="gaze", contrastive=True, contrastive_config=ContrastiveConfig(buffer_size=512),
              buffer_size=4096)
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
    make_run, budget = (sac_run, 2 * 16) if algo == "sac" else (ppo_run, 128)
    run = make_run(tmp_path, algo, total_timesteps=budget)
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


DIVERGED = r"(losses/\w+|alpha|parameter \S+) is (nan|-?inf) at iteration (\d+)"


def _all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_a_diverging_run_stops_at_the_first_non_finite_value_and_keeps_a_good_checkpoint(tmp_path, algo):
    """A learning rate of 1e6 blows the weights up within a few iterations; checkpoints come every 100, so only the
    one written at the start is good."""
    with pytest.raises(TrainingDiverged, match=DIVERGED) as diverged:
        if algo == "ppo":
            ppo_run(tmp_path, algo, learning_rate=1e6, total_timesteps=20 * 128, checkpoint_every=100)
        else:
            sac_run(tmp_path, algo, q_lr=1e6, policy_lr=1e6, learning_starts=16, total_timesteps=20 * 16,
                    checkpoint_every=100)
    assert "nan at iteration" in str(diverged.value) or "inf at iteration" in str(diverged.value)
    ckpt = load_checkpoint(tmp_path / algo)
    assert ckpt["global_step"] == 0 and str(tmp_path / algo / "checkpoint.pt") in str(diverged.value)
    assert _all_finite(ckpt["agent" if algo == "ppo" else "actor"])


def test_cli_reports_a_diverging_run_in_one_line_with_exit_status_1(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "ppo", "--env-id", "gazelab/Reach-v0", "--num-envs", "4", "--num-steps", "8", "--encoder",
            "nature", "--eval-freq", "0", "--no-progress", "--learning-rate", "1e6", "--total-timesteps", "640",
            "--run-dir", str(run)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "diverged" in err, err
    assert load_checkpoint(run)["global_step"] == 0


def _git_commit_of_the_package():
    package = Path(gazelab.__file__).parent
    out = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                         text=True)
    top, commit = out.stdout.split() if out.returncode == 0 else (None, None)
    return commit if top is not None and Path(top) == package.parent else None


def test_config_json_records_the_resolved_run(tmp_path, monkeypatch):
    run = tmp_path / "run"
    argv = ["train", "ppo", "--env-id", "gazelab/Reach-v0", "--num-steps", "4", "--num-minibatches", "1",
            "--update-epochs", "1", "--total-timesteps", "128", "--eval-freq", "0", "--no-progress",
            "--run-dir", str(run)]
    monkeypatch.setattr(sys, "argv", ["gazelab", *argv])
    assert main(argv) == 0
    record = json.loads((run / "config.json").read_text())
    config = record["config"]
    assert config["num_envs"] == 32 and config["encoder"] == "fine" and config["gamma"] == 0.8  # per-task defaults
    assert config["device"] == "cpu" and record["device"] == "cpu"  # 'auto' resolved on this CPU-only machine
    assert record["algo"] == "ppo" and record["start_step"] == 0
    versions = record["versions"]
    assert versions["gazelab"] == gazelab.__version__ and versions["torch"] == torch.__version__
    assert "mani_skill" in versions and "gymnasium" in versions
    assert record["git_commit"] == _git_commit_of_the_package()
    assert record["command"] == ["gazelab", *argv]


def _periodic(run):
    return sorted(p.name for p in run.glob("ckpt_*.pt"))


@pytest.mark.parametrize("keep", [0, 2])
def test_periodic_checkpoints_keep_the_newest_and_a_final_one(tmp_path, keep):
    run = ppo_run(tmp_path, "run", total_timesteps=5 * 128, checkpoint_every=1, keep_checkpoints=keep)
    assert _periodic(run) == (["ckpt_512.pt", "ckpt_640.pt"] if keep else [])
    for name in _periodic(run):
        assert load_checkpoint(run / name)["global_step"] == int(name[5:-3])
    final, latest = load_checkpoint(run / "final.pt"), load_checkpoint(run)
    assert final["global_step"] == latest["global_step"] == 640
    assert all(torch.equal(v, latest["agent"][k]) for k, v in final["agent"].items())
