"""The `gazelab` command: help, clear errors for bad values, train -> resume -> eval (GIF) end to end."""

import json
import subprocess
import sys

import imageio.v3 as iio
import pytest

from gazelab.cli import main
from gazelab.training import load_checkpoint

TINY = ["--env-id", "gazelab/Reach-v0", "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "1",
        "--update-epochs", "1", "--encoder", "nature", "--eval-freq", "0", "--no-progress"]


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train ppo", "train sac", "eval", "demo"):
        assert command in out


@pytest.mark.parametrize("argv, flags", [
    (["train", "ppo", "--help"], ["--env-id", "--total-timesteps", "--num-envs", "--learning-rate", "--gamma",
                                  "--attention", "--contrastive", "--contrastive-buffer-size", "--gaze-rl-grad"]),
    (["train", "sac", "--help"], ["--env-id", "--buffer-size", "--utd", "--q-lr", "--attention"]),
    (["eval", "--help"], ["RUN_OR_CHECKPOINT", "--num-episodes"]),
    (["demo", "--help"], ["--smoke"]),
])
def test_subcommand_help(capsys, argv, flags):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out


def _run(argv, capsys) -> tuple[int, str]:
    """Exit status and stderr (box drawing and line wraps of tyro's error panel removed)."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    return code, " ".join(err.replace("\u2502", " ").split())


@pytest.mark.parametrize("argv, message", [
    (["train", "ppo", "--num-envs", "0"], "num_envs must be an int >= 1, got 0"),
    (["train", "ppo", "--env-id", "Nope-v1"], "env_id='Nope-v1' is unknown"),
    (["train", "ppo", "--attention", "gaze", "--contrastive", "--contrastive-buffer-size", "10"],
     "contrastive_buffer_size=10 is smaller than one batch"),
    (["train", "sac", "--contrastive"], "contrastive=True needs attention"),
    (["train", "sac", "--num-envs", "128"], "training_freq=64 must be >= num_envs=128"),
    (["train", "ppo", "--attention", "fovea"], "fovea"),
    (["train", "dqn"], "train ppo"),
    (["fly"], "unknown command"),
    (["eval", "/nonexistent/run"], "no checkpoint"),
])
def test_bad_values_give_one_clear_error(capsys, argv, message):
    code, err = _run(argv, capsys)
    assert code == 2 and message in err, err


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "gazelab.cli", "--help"], capture_output=True, text=True, check=True)
    assert "train ppo" in out.stdout


def test_train_resume_eval_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "ppo", *TINY, "--attention", "gaze", "--total-timesteps", "32", "--run-dir", str(run)]
    assert main(argv) == 0
    assert load_checkpoint(run)["global_step"] == 32
    # train and eval say where they run (training envs, then evaluation envs of eval)
    assert "device: cpu, built-in torch env, 4 envs" in capsys.readouterr().out
    assert main(["train", "ppo", "--resume", str(run), "--total-timesteps", "64"]) == 0
    assert load_checkpoint(run)["global_step"] == 64
    assert main(["eval", str(run), "--num-episodes", "2", "--num-envs", "2"]) == 0
    summary = json.loads((run / "eval" / "eval.json").read_text())
    assert 0 <= summary["eval/success_once"] <= 1 and summary["num_episodes"] == 2
    frames = iio.imread(run / "eval" / "episode.gif", index=None)
    assert frames.shape[0] >= 2 and frames.shape[1:3] == (256, 256)
    out = capsys.readouterr().out
    assert "episode.gif" in out and "device: cpu, built-in torch env, 2 envs" in out
