"""What a run leaves on disk: config.json, periodic and final checkpoints, checkpoint sizes, rebuilding a policy
without an env, lazy loading, the last good checkpoint of a diverging run; one line for each fault of a run
directory (in use by another run, full disk, read-only, corrupt files, leftovers of a killed run)."""

import builtins
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_ppo import tiny as tiny_ppo
from test_sac import tiny as tiny_sac

import gazelab
from gazelab.rl.algorithms import load_policy
from gazelab.rl.checkpoint import load_checkpoint, write_atomic
from gazelab.rl.config import saved_config
from gazelab.cli import main
from gazelab.envs import make_env
from gazelab.rl.evaluation import evaluate_policy
from gazelab.core.errors import GazelabError, TrainingDiverged
from gazelab.rl.ppo import PPOConfig, train_ppo
from gazelab.rl.run import Run
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
    # what it names as the likely cause: the run's learning rates, with their values
    assert ("learning_rate=1e+06" if algo == "ppo" else "policy_lr=1e+06, q_lr=1e+06") in str(diverged.value)
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


# ------------------------------------------------------------------------------------------ a run directory's faults
def test_a_second_training_into_a_busy_run_dir_stops_naming_the_holder(tmp_path):
    """A run holds its directory for its whole life: a second one there (here in the same process, as two
    terminals would) stops at once, before writing anything, instead of interleaving history.jsonl."""
    first = Run(tiny_ppo(tmp_path, "run"))
    try:
        with pytest.raises(GazelabError, match=rf"run_dir='{tmp_path / 'run'}' is in use by another training "
                                               rf"\(pid {os.getpid()}\)"):
            Run(tiny_ppo(tmp_path, "run"))
    finally:
        first.close()
    Run(tiny_ppo(tmp_path, "run")).close()  # free again once the first one ended


def _full_disk(monkeypatch, run_dir: Path, name: str):
    """Make writes to run_dir/<name> (or to its temporary file) fail as on a full disk, once 64 bytes are written."""
    real_open = builtins.open

    class Full:
        def __init__(self, file):
            self.file, self.room = file, 64

        def write(self, data):
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(data)
            return self.file.write(data)

        def __getattr__(self, attr):
            return getattr(self.file, attr)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        path = Path(file) if isinstance(file, (str, os.PathLike)) else None
        if path is not None and path.parent == run_dir and set(mode) & set("wax") and (
                path.name == name or path.name.startswith(f".{name}.")):
            return Full(f)
        return f

    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(io, "open", full_open)


@pytest.mark.parametrize("name", ["config.json", "history.jsonl", "checkpoint.pt"])
def test_a_full_disk_stops_the_run_in_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, name):
    run_dir = tmp_path / "run"
    config = tiny_ppo(tmp_path, "run", checkpoint_every=2)
    if name == "config.json":
        _full_disk(monkeypatch, run_dir, name)
    else:  # after the first checkpoint (step 0): mid-run
        real_save = Run.save

        def save_then_fill_the_disk(run, *args, **kwargs):
            path = real_save(run, *args, **kwargs)
            _full_disk(monkeypatch, run_dir, name)
            return path

        monkeypatch.setattr(Run, "save", save_then_fill_the_disk)
    with pytest.raises(GazelabError) as error:
        train_ppo(config)
    message = str(error.value)
    assert f"cannot write {run_dir / name}: No space left on device" in message and "\n" not in message, message
    monkeypatch.undo()
    if name != "config.json":
        assert f"{run_dir / 'checkpoint.pt'} (step 0) is intact: continue with resume={run_dir}" in message, message
        assert load_checkpoint(run_dir)["global_step"] == 0
    assert not list(run_dir.glob(".*.tmp"))


def test_write_atomic_reports_the_write_error_not_the_cleanup_error(tmp_path, monkeypatch):
    """On a read-only directory the temporary file can neither be written nor removed: the message is the first."""
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(GazelabError, match=rf"^cannot write {tmp_path / 'config.json'}: Read-only file system"):
        write_atomic(tmp_path / "config.json", read_only)


def test_resume_with_a_corrupt_config_json_names_the_file(tmp_path):
    run_dir = ppo_run(tmp_path, "run", total_timesteps=128)
    (run_dir / "config.json").write_text('{"algo": "ppo", ')
    with pytest.raises(GazelabError, match=rf"{run_dir / 'config.json'} is not valid JSON .*line 1"):
        train_ppo(saved_config(PPOConfig, run_dir, total_timesteps=256))
    assert load_checkpoint(run_dir)["global_step"] == 128  # nothing changed


@pytest.mark.parametrize("resume", [False, True])
def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path, resume):
    """kill -9 during a checkpoint leaves the temporary file behind; the next start in that directory removes it
    (a new run in a directory with no checkpoint yet, or a resume)."""
    run_dir = tmp_path / "run"
    if resume:
        ppo_run(tmp_path, "run", total_timesteps=128)
    else:
        run_dir.mkdir()
    stale = [run_dir / ".checkpoint.pt.999999.tmp", run_dir / ".config.json.999998.tmp"]
    for path in stale:
        path.write_bytes(b"")
    config = (saved_config(PPOConfig, run_dir, total_timesteps=256, progress=False) if resume else
              tiny_ppo(tmp_path, "run", total_timesteps=128))
    train_ppo(config)
    assert not any(path.exists() for path in stale)


def test_final_checkpoint_is_an_independent_copy_named_when_the_latest_is_corrupt(tmp_path, capsys):
    """checkpoint.pt and the newest ckpt_*.pt share their bytes (a hard link); final.pt is a copy, so damaging
    checkpoint.pt in place spares it, and the error names it and the older ones as the checkpoints to use."""
    run_dir = ppo_run(tmp_path, "run", total_timesteps=4 * 128, checkpoint_every=2, keep_checkpoints=2)
    assert (run_dir / "final.pt").stat().st_ino != (run_dir / "checkpoint.pt").stat().st_ino
    with open(run_dir / "checkpoint.pt", "r+b") as f:  # in place: the hard link ckpt_512.pt is damaged too
        f.truncate(1000)
    code = main(["train", "ppo", "--resume", str(run_dir), "--total-timesteps", "640"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{run_dir / 'checkpoint.pt'} is not a gazelab checkpoint" in err
    assert "other checkpoints of this run that load: final.pt (step 512), ckpt_256.pt (step 256)" in err, err
    assert load_checkpoint(run_dir / "final.pt")["global_step"] == 512


def test_a_run_saved_before_a_field_existed_resumes_with_its_default(tmp_path):
    """Checkpoints written before `augment` and `reward_mode` were fields hold no value for them: a resume reads the
    default (what such a run did), instead of refusing it as a changed config."""
    run_dir = ppo_run(tmp_path, "run", total_timesteps=128)
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    for name in ("augment", "augment_pad", "reward_mode"):
        del checkpoint["config"][name]
    torch.save(checkpoint, run_dir / "checkpoint.pt")
    result = train_ppo(saved_config(PPOConfig, run_dir, total_timesteps=256))
    assert result.final["global_step"] == 256
