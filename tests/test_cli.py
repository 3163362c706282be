"""The `gazelab` command: help, clear errors for bad values, train -> resume -> eval (GIF) end to end."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys

import imageio.v3 as iio
import pytest
import torch

import gazelab
from gazelab.rl.algorithms import ALGORITHMS
from gazelab.rl.checkpoint import load_checkpoint
from gazelab.cli import main
from gazelab.envs import list_envs, registry
from gazelab.core.errors import GazelabError

TINY = ["--env-id", "gazelab/Reach-v0", "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "1",
        "--update-epochs", "1", "--encoder", "nature", "--eval-freq", "0", "--no-progress"]


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "demo", "envs", "--version"):
        assert command in out
    assert main([]) == 2 and "train" in capsys.readouterr().out  # no command: the same help, as a usage error


@pytest.mark.parametrize("argv, flags", [
    (["train", "--help"], ["ppo", "sac"]),
    (["train", "ppo", "--help"], ["--env-id", "--total-timesteps", "--num-envs", "--learning-rate", "--gamma",
                                  "--attention", "--contrastive", "--contrastive.buffer-size", "--gaze-rl-grad",
                                  "--track", "--wandb-project-name", "--wandb-entity", "--wandb-group",
                                  "--capture-video", "--capture-video-every"]),
    (["train", "sac", "--help"], ["--env-id", "--buffer-size", "--utd", "--q-lr", "--attention", "--track",
                                  "--capture-video"]),
    (["eval", "--help"], ["RUN_OR_CHECKPOINT", "--num-episodes"]),
    (["demo", "--help"], ["--smoke"]),
    (["envs", "--help"], ["--family"]),
])
def test_subcommand_help(capsys, argv, flags):
    assert main(argv) == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out


def _defaults_shown(out: str) -> dict[str, str]:
    """{flag: shown default} of a tyro help text (box drawing and line wraps removed)."""
    text = " ".join(out.replace("\u2502", " ").split())
    return dict(re.findall(r"(--[a-z-]+) [A-Z{][^ ]* .*?\(default: ([^)]*)\)", text))


@pytest.mark.parametrize("algo, argv, expected", [
    ("ppo", [], {"--total-timesteps": "100000", "--num-envs": "32", "--num-steps": "32", "--num-minibatches": "8",
                 "--update-epochs": "8", "--gamma": "0.8", "--eval-freq": "10", "--image-size": "64",
                 "--clutter": "none", "--encoder": "fine"}),
    ("ppo", ["--env-id", "gazelab/PushClutter-v0"], {"--total-timesteps": "400000", "--clutter": "medium"}),
    ("ppo", ["--env-id", "PushT-v1", "--device", "cpu"], {"--total-timesteps": "25000000", "--num-steps": "100",
                                                          "--gamma": "0.99", "--image-size": "128",
                                                          "--encoder": "nature"}),
    ("sac", [], {"--total-timesteps": "50000", "--buffer-size": "50000", "--batch-size": "128",
                 "--learning-starts": "2000", "--utd": "0.125", "--num-envs": "16"}),
])
def test_train_help_shows_the_numbers_of_the_chosen_task(capsys, algo, argv, expected):
    assert main(["train", algo, *argv, "--help"]) == 0
    shown = _defaults_shown(capsys.readouterr().out)
    assert {flag: shown.get(flag) for flag in expected} == expected
    # every per-task field the run uses shows a number (None stays only where None means something: no threshold,
    # no run directory, no resume, the training device, wandb's default entity and no wandb group, no clutter on a
    # ManiSkill task without clutter levels)
    env_id = shown["--env-id"]
    meaningful_none = {"run_dir", "resume", "buffer_device", "wandb_entity", "wandb_group"} | (
        set() if "clutter" in registry[env_id].allowed_kwargs else {"clutter"})
    per_task = [f.name for f in dataclasses.fields(ALGORITHMS[algo].config_cls)
                if f.default is None and f.name not in meaningful_none]
    assert not [name for name in per_task if shown.get("--" + name.replace("_", "-")) in (None, "None")], shown


def test_version_and_envs(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"gazelab {gazelab.__version__}"
    assert main(["envs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(list_envs()) and all(line.split()[0] in list_envs() for line in lines)


def _run(argv, capsys) -> tuple[int, str]:
    """Exit status and stderr (box drawing and line wraps of tyro's error panel removed)."""
    code = main(argv)
    err = capsys.readouterr().err
    return code, " ".join(err.replace("\u2502", " ").split())


@pytest.mark.parametrize("argv, message", [
    (["train", "ppo", "--num-envs", "0"], "num_envs must be an int >= 1, got 0"),
    (["train", "ppo", "--env-id", "Nope-v1"], "env_id='Nope-v1' is unknown"),
    (["train", "ppo", "--attention", "gaze", "--contrastive", "--contrastive.buffer-size", "10"],
     "contrastive.buffer_size=10 is smaller than one batch"),
    (["train", "sac", "--contrastive"], "contrastive=True needs attention"),
    (["train", "sac", "--num-envs", "128"], "training_freq=64 must be >= num_envs=128"),
    (["train", "ppo", "--attention", "fovea"], "fovea"),
    (["train", "dqn"], "Available subcommands: ppo, sac"),
    (["fly"], "Unrecognized options: fly"),
    (["eval", "/nonexistent/run"], "no checkpoint"),
    (["train", "ppo", "--seed", str(2**63)], "seed must be an int in [0, 4294967295], got 9223372036854775808"),
    (["train", "ppo", "--seed=-1"], "seed must be an int in [0, 4294967295], got -1"),
    (["train", "ppo", "--image-size", "4096"], "image_size must be an int in [36, 512], got 4096"),
    (["train", "ppo", "--num-envs", "8", "--num-minibatches", "3"], "num_minibatches=3 leaves a minibatch of 1 sample"),
])
def test_bad_values_give_one_clear_error(capsys, argv, message):
    code, err = _run(argv, capsys)
    assert code == 2 and message in err, err


def test_cuda_device_without_cuda_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # what a CPU-only torch says
    run = tmp_path / "run"
    code, err = _run(["train", "ppo", *TINY, "--device", "cuda", "--run-dir", str(run)], capsys)
    assert code == 2 and "device='cuda'" in err and "'cpu'" in err, err
    assert len(capsys.readouterr().err.splitlines()) <= 1 and not run.exists()


def test_errors_that_are_not_bad_input_keep_their_traceback(tmp_path, monkeypatch):
    def broken(config):
        raise ValueError("a bug deep inside torch")

    monkeypatch.setitem(ALGORITHMS, "ppo", dataclasses.replace(ALGORITHMS["ppo"], train=broken))
    with pytest.raises(ValueError, match="a bug deep inside torch"):
        main(["train", "ppo", *TINY, "--run-dir", str(tmp_path / "run")])


@pytest.mark.parametrize("module", ["gazelab", "gazelab.cli"])
def test_console_entry_point_runs(module):
    out = subprocess.run([sys.executable, "-m", module, "train", "--help"], capture_output=True, text=True, check=True)
    assert "ppo" in out.stdout and "sac" in out.stdout


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


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny PPO run of 32 steps (copy it before changing it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "ppo", *TINY, "--total-timesteps", "32", "--run-dir", str(run)]) == 0
    return run


def _damage(checkpoint, how):
    if how == "random bytes":
        checkpoint.write_bytes(os.urandom(4096))
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])


@pytest.mark.parametrize("how", ["random bytes", "truncated"])
@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_damaged_checkpoint_gives_one_line_naming_the_file(finished_run, tmp_path, capsys, how, command):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _damage(run / "checkpoint.pt", how)
    argv = (["eval", str(run), "--num-episodes", "1", "--num-envs", "1", "--no-video"] if command == "eval" else
            ["train", "ppo", "--resume", str(run), "--total-timesteps", "64"])
    code, err = _run(argv, capsys)
    assert code == 2 and f"{run / 'checkpoint.pt'} is not a gazelab checkpoint" in err, err
    assert "truncated or corrupt" in err and len(err) < 400, err
    # final.pt is a copy, not a hard link: damaging checkpoint.pt in place spares it, and the message names it
    assert "other checkpoints of this run that load: final.pt (step 32): pass one of those files instead" in err, err


def _copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_resume_accepts_the_run_control_overrides(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    assert main(["train", "ppo", "--resume", str(run), "--total-timesteps", "64", "--no-progress", "--eval-freq", "1",
                 "--checkpoint-every", "1", "--torch-threads", "1", "--capture-video"]) == 0
    ckpt = load_checkpoint(run)
    assert ckpt["global_step"] == 64 and ckpt["config"]["eval_freq"] == 1 and ckpt["config"]["progress"] is False
    assert "eval/success_once" in ckpt["history"][-1]
    assert [p.name for p in (run / "videos").glob("*.gif")] == ["step_64.gif"]


def test_resume_help_shows_the_saved_config(finished_run, capsys):
    assert main(["train", "ppo", "--resume", str(finished_run), "--help"]) == 0
    out = capsys.readouterr().out
    shown = _defaults_shown(out)
    assert shown["--num-envs"] == "4" and shown["--encoder"] == "nature" and shown["--total-timesteps"] == "32"
    assert f"the saved config of {finished_run}" in " ".join(out.split())


@pytest.mark.parametrize("flag, message", [
    (["--attention", "gaze"], "a resumed run keeps its saved config: attention was 'none'"),
    (["--no-include-state"], "a resumed run keeps its saved config: include_state was True"),
    (["--learning-rate=0.1"], "a resumed run keeps its saved config: learning_rate was 0.0003"),
])
def test_resume_names_a_field_it_cannot_change_with_its_saved_value(finished_run, capsys, flag, message):
    code, err = _run(["train", "ppo", "--resume", str(finished_run), "--total-timesteps", "64", *flag], capsys)
    assert code == 2 and message in err and "--total-timesteps" in err and "--no-progress" in err, err


@pytest.mark.parametrize("budget", [[], *(["--total-timesteps", str(steps)] for steps in (16, 32, 48))])
def test_resume_needs_a_budget_above_the_current_step(finished_run, tmp_path, capsys, budget):
    run = _copy(finished_run, tmp_path)
    before = (run / "checkpoint.pt").read_bytes()
    code, err = _run(["train", "ppo", "--resume", str(run), *budget], capsys)
    given = budget[-1] if budget else "32"
    assert code == 2 and f"total_timesteps={given}" in err and "at step 32" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before  # the saved run is untouched


def test_eval_on_clutter_the_run_never_saw(finished_run, tmp_path, capsys):
    """``--clutter`` swaps the run's clutter level for another (a transfer level); its summary says which, in a folder
    of its own, and an unknown level is refused with the allowed names."""
    run = _copy(finished_run, tmp_path)
    assert main(["eval", str(run), "--clutter", "mild-table", "--num-episodes", "2", "--num-envs", "2",
                 "--no-video"]) == 0
    summary = json.loads((run / "eval-mild-table" / "eval.json").read_text())
    assert summary["clutter"] == "mild-table" and 0 <= summary["eval/success_once"] <= 1
    assert not (run / "eval").exists()
    code, err = _run(["eval", str(run), "--clutter", "plaid", "--no-video"], capsys)
    assert code == 2 and "plaid" in err and "mild-grain" in err, err


def test_evaluate_on_levels_refuses_an_unknown_level_before_playing(finished_run):
    from gazelab.experiments.evaluate import evaluate_on_levels

    results = evaluate_on_levels(finished_run, ["mild", "mild-crowded"], num_episodes=2, num_envs=2)
    assert results["method"] == "none" and list(results["levels"]) == ["mild", "mild-crowded"]
    assert all(0 <= metrics["success_once"] <= 1 for metrics in results["levels"].values())
    with pytest.raises(GazelabError, match=r"clutter='plaid' is not a level; use one of .*'mild-table'"):
        evaluate_on_levels(finished_run, ["mild", "plaid"], num_episodes=2, num_envs=2)


def test_evaluate_on_frames_shows_the_policy_other_frames_and_keeps_the_rest_true(finished_run, monkeypatch):
    """The same episodes each time; 'grey' frames are uniform, 'other_episodes' frames are not the env's own (yet real
    frames of the task), and the state the policy reads is the true one in every case."""
    import gazelab.experiments.evaluate as evaluate
    from gazelab.rl.algorithms import load_policy

    seen = []

    def recording_load_policy(run, device):
        agent, config, ckpt = load_policy(run, device)
        act = agent.act
        agent.act = lambda obs: (seen[-1].append({k: v.clone() for k, v in obs.items()}), act(obs))[1]
        return agent, config, ckpt

    monkeypatch.setattr(evaluate, "load_policy", recording_load_policy)
    shown = {}
    for frames in ("true", "grey", "other_episodes"):
        seen.append([])
        played = evaluate.evaluate_on_frames(finished_run, frames, num_episodes=2, num_envs=2, device="cpu")  # one kind
        assert list(played["frames"]) == [frames]
        assert played["method"] == "none" and 0 <= played["frames"][frames]["success_once"] <= 1
        shown[frames] = seen[-1]
    all_kinds = evaluate.evaluate_on_frames(finished_run, num_episodes=2, num_envs=2, device="cpu")
    assert list(all_kinds["frames"]) == ["true", "other_episodes", "grey"]
    steps = min(len(v) for v in shown.values())
    assert steps >= 2
    for t in range(steps):
        true, grey, other = shown["true"][t], shown["grey"][t], shown["other_episodes"][t]
        assert (grey["rgb"] == 128).all()
        assert not torch.equal(other["rgb"], true["rgb"]) and other["rgb"].float().std() > 10
        if t == 0:  # the first step is the same reset in every call: the state is the env's, whatever is shown
            assert torch.equal(grey["state"], true["state"]) and torch.equal(other["state"], true["state"])
    with pytest.raises(GazelabError, match="frames must be one of .*'other_episodes'.*got 'blurred'"):
        evaluate.evaluate_on_frames(finished_run, ["true", "blurred"])
