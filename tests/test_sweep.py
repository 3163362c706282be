"""Sweeps (gazelab.experiments.sweep + benchmarks/sample_efficiency.py): typed --set, the grid, resume, failures, Ray, and the
committed results still aggregating to their committed summaries."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gazelab.core.errors import GazelabError
from gazelab.experiments import sweep
from gazelab.rl.algorithms import ALGORITHMS
from gazelab.rl.ppo import PPOConfig, train_ppo

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results" / "sample_efficiency"
TASK = "gazelab/Reach-v0"
TINY = {"num_envs": 8, "num_steps": 16, "num_minibatches": 2, "update_epochs": 1}  # 128 env steps per iteration
TINY_SET = [f"{k}={v}" for k, v in TINY.items()]


def tiny_grid(root, methods=("none",), seeds=1, budget=128, algo="ppo", overrides=None):
    return sweep.grid(root, algo, [TASK], list(methods), seeds, {**TINY, **(overrides or {})},
                      budgets={TASK: budget}, eval_every=1, eval_episodes=16)


# ---------------------------------------------------------------------------------------------- --set
def test_overrides_are_parsed_with_the_field_types():
    parsed = sweep.parse_overrides(["num_envs=16", "gamma=0.9", "gaze_rl_grad=0", "target_kl=None",
                                    "encoder=fine", "clutter=none", "total_timesteps=100_000", "contrastive.k=32",
                                    "contrastive.labels=success", "include_state=False"], PPOConfig)
    assert parsed == {"num_envs": 16, "gamma": 0.9, "gaze_rl_grad": 0.0, "target_kl": None, "encoder": "fine",
                      "clutter": "none", "total_timesteps": 100_000, "contrastive.k": 32,
                      "contrastive.labels": "success", "include_state": False}
    assert type(parsed["num_envs"]) is int and type(parsed["gamma"]) is float


@pytest.mark.parametrize("item, message", [
    ("num_envs=1.5", "'num_envs=1.5': '1.5' is not a value of num_envs"),
    ("gamma=high", "'high' is not a value of gamma"),
    ("contrastive=yes", "spell True, False, None as Python does"),
    ("encoder=resnet", "'resnet' is not a value of encoder"),
    ("num_env=16", "PPOConfig has no setting 'num_env'"),
    ("contrastive_k=32", "settings: env_id"),  # the flat name of configs before 2026-12-02: one vocabulary now
    ("num_envs", "expected FIELD=VALUE"),
])
def test_bad_overrides_name_the_item_and_what_it_accepts(item, message):
    with pytest.raises(ValueError) as error:
        sweep.parse_overrides([item], PPOConfig)
    assert message in str(error.value)


# ---------------------------------------------------------------------------------------------- the grid
def test_grid_is_seed_major_with_each_methods_fields(tmp_path):
    trials = tiny_grid(tmp_path, methods=("none", "gaze+contrastive"), seeds=2, overrides={"gamma": 0.9})
    assert [(t.seed, t.method) for t in trials] == [(1, "none"), (1, "gaze+contrastive"), (2, "none"),
                                                    (2, "gaze+contrastive")]
    last = trials[-1]
    assert last.run_dir == str(tmp_path.resolve() / "gazelab-Reach-v0" / "gaze+contrastive" / "seed2")
    assert last.config == dict(env_id=TASK, seed=2, num_eval_episodes=16, attention="gaze", contrastive=True,
                               **TINY, gamma=0.9, eval_freq=1, total_timesteps=128)


def test_tracked_trials_are_grouped_by_task_and_method_for_the_dashboard(tmp_path):
    """One wandb group per (task, method): the dashboard aggregates its seeds, as the summary's curves do."""
    overrides = sweep.parse_overrides(["track=True", "wandb_project_name=class"], PPOConfig)
    trials = tiny_grid(tmp_path, methods=("none", "gaze"), seeds=2, overrides=overrides)
    assert [(t.seed, t.config["wandb_group"], t.config["wandb_project_name"]) for t in trials] == [
        (1, "gazelab/Reach-v0/none", "class"), (1, "gazelab/Reach-v0/gaze", "class"),
        (2, "gazelab/Reach-v0/none", "class"), (2, "gazelab/Reach-v0/gaze", "class")]
    assert "wandb_group" not in tiny_grid(tmp_path, methods=("gaze",))[0].config  # untracked: no group to set


@pytest.mark.parametrize("overrides, methods, message", [
    ({"seed": 3}, ["none"], "the sweep sets seed itself (use --seeds)"),
    ({"attention": "patch"}, ["none", "gaze"], "methods ['none', 'gaze'] set attention themselves"),
    ({}, ["none", "telepathy"], "unknown methods ['telepathy']"),
    ({"num_envs": 0}, ["none"], "gazelab/Reach-v0 none: num_envs must be an int >= 1, got 0"),
    ({"track": True, "wandb_group": "mine"}, ["none"], "the sweep sets wandb_group itself"),
])
def test_grid_refuses_what_it_cannot_run_before_running_anything(tmp_path, overrides, methods, message):
    with pytest.raises(ValueError) as error:
        sweep.grid(tmp_path, "ppo", [TASK], methods, 1, overrides)
    assert message in str(error.value)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------- running
def _replace_trainer(monkeypatch, train):
    monkeypatch.setitem(ALGORITHMS, "ppo", dataclasses.replace(ALGORITHMS["ppo"], train=train))


def test_a_failing_trial_is_reported_and_the_others_finish(tmp_path, monkeypatch, capsys):
    def train_failing_seed_2(config):
        if config.seed == 2:
            raise RuntimeError("boom in seed 2")
        return train_ppo(config)

    _replace_trainer(monkeypatch, train_failing_seed_2)
    trials = tiny_grid(tmp_path, seeds=3)
    results, failures = sweep.run_trials(trials, "local")
    assert [r["seed"] for r in results] == [1, 3]
    assert [t.seed for t, _ in failures] == [2]
    assert "Traceback" in failures[0][1] and "RuntimeError: boom in seed 2" in failures[0][1]
    assert "FAILED gazelab/Reach-v0 none seed 2" in capsys.readouterr().err
    assert [(Path(t.run_dir) / "result.json").exists() for t in trials] == [True, False, True]


def test_ctrl_c_stops_the_sweep_and_leaves_only_finished_trials_finished(tmp_path, monkeypatch):
    def ctrl_c_in_seed_2(config):  # what train_ppo returns when Ctrl-C stopped it after a checkpoint
        result = train_ppo(config)
        return dataclasses.replace(result, interrupted=config.seed == 2)

    _replace_trainer(monkeypatch, ctrl_c_in_seed_2)
    trials = tiny_grid(tmp_path, seeds=3)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_trials(trials, "local")
    first, second, third = (Path(t.run_dir) for t in trials)
    assert (first / "result.json").exists()
    assert (second / "checkpoint.pt").exists() and not (second / "result.json").exists()  # resumed next time
    assert not third.exists()


def test_sac_trials_run_through_the_same_trial_function(tmp_path):
    trials = sweep.grid(tmp_path, "sac", [TASK], ["gaze+contrastive"], 1,
                        {"num_envs": 8, "learning_starts": 64, "batch_size": 32, "buffer_size": 1000,
                         "contrastive.buffer_size": 0}, budgets={TASK: 128}, eval_every=2, eval_episodes=16)
    (result,), failures = sweep.run_trials(trials, "local")
    assert not failures and result["algo"] == "sac" and result["config"]["batch_size"] == 32
    assert [step for step, _ in result["eval_curve"]] == [128]  # 2 iterations of training_freq = 64 steps


def test_resume_skips_finished_trials_and_continues_checkpointed_ones(tmp_path, monkeypatch):
    first = tiny_grid(tmp_path, methods=("none", "gaze"), budget=128)
    sweep.run_trials(first, "local")
    done, cut = (Path(t.run_dir) for t in first)
    done_mtime = (done / "result.json").stat().st_mtime_ns
    first_row = json.loads((cut / "history.jsonl").read_text().splitlines()[0])
    (cut / "result.json").unlink()  # as if stopped after its checkpoint

    ran = []
    run_trial = sweep.run_trial

    def counting_run_trial(trial):
        ran.append(trial.method)
        return run_trial(trial)

    monkeypatch.setattr(sweep, "run_trial", counting_run_trial)
    finished, pending = sweep.split_finished(tiny_grid(tmp_path, methods=("none", "gaze"), budget=256))
    assert [r["method"] for r in finished] == ["none"] and [t.method for t in pending] == ["gaze"]
    results, failures = sweep.run_trials(pending, "local")
    assert ran == ["gaze"] and not failures
    assert (done / "result.json").stat().st_mtime_ns == done_mtime
    rows = [json.loads(line) for line in (cut / "history.jsonl").read_text().splitlines()]
    assert rows[0] == first_row  # the first iteration was kept from the checkpoint, not trained again
    assert [row["global_step"] for row in rows] == [128, 256] and results[0]["total_timesteps"] == 256


def test_a_finished_run_with_other_settings_is_refused(tmp_path):
    sweep.run_trials(tiny_grid(tmp_path), "local")
    with pytest.raises(ValueError, match=r"gamma: 0\.8 there, 0\.9 now.*own --tag"):
        sweep.split_finished(tiny_grid(tmp_path, overrides={"gamma": 0.9}))
    with pytest.raises(ValueError, match="algo: 'ppo' there, 'sac' now"):
        sweep.split_finished(sweep.grid(tmp_path, "sac", [TASK], ["none"], 1))


def test_a_finished_contrastive_run_at_another_trainer_default_is_refused(tmp_path):
    """A sweep that leaves contrastive.lr unset gets the trainer's default, which can change (SAC's did); a finished
    run saved at another rate must not be counted beside new ones. Methods without the step are not concerned."""
    sweep.run_trials(tiny_grid(tmp_path, methods=("none", "gaze+contrastive")), "local")
    for method in ("none", "gaze+contrastive"):  # as if both had run when the default rate was 0.001
        path = tmp_path / "gazelab-Reach-v0" / method / "seed1" / sweep.RESULT_NAME
        result = json.loads(path.read_text())
        result["config"]["contrastive_config"]["lr"] = 0.001
        path.write_text(json.dumps(result))
    finished, _ = sweep.split_finished(tiny_grid(tmp_path, methods=("none",)))
    assert len(finished) == 1
    with pytest.raises(ValueError, match=r"contrastive\.lr: 0\.001 there, 0\.0003 now"):
        sweep.split_finished(tiny_grid(tmp_path, methods=("gaze+contrastive",)))
    finished, _ = sweep.split_finished(tiny_grid(tmp_path, methods=("gaze+contrastive",),
                                                 overrides={"contrastive.lr": 0.001}))
    assert len(finished) == 1


def test_two_trials_on_ray_write_the_summary_of_their_results(tmp_path):
    """The command end to end on a local Ray instance (2 CPUs here: both trials at once)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(ROOT / "benchmarks" / "sample_efficiency.py"), "--backend", "ray",
               "--tasks", TASK, "--methods", "none", "gaze+contrastive", "--seeds", "1", "--total-timesteps", "128",
               "--eval-every", "1", "--eval-episodes", "16", "--results-dir", str(tmp_path), "--set", *TINY_SET]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 runs already finished, 2 to go" in out.stdout and "Ray:" in out.stdout
    assert out.stdout.count("  done gazelab/Reach-v0") == 2  # reported by the driver, none lost at shutdown
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["extra"] == TINY
    # written from the runs in grid order, so it does not depend on which trial ended first
    assert list(saved["results"][TASK]) == ["none", "gaze+contrastive"]
    stats = saved["results"][TASK]
    assert set(stats) == {"none", "gaze+contrastive"}
    for method, s in stats.items():
        result = json.loads((tmp_path / "gazelab-Reach-v0" / method / "seed1" / "result.json").read_text())
        assert result["algo"] == "ppo" and result["config"]["num_envs"] == 8
        assert s["seeds"] == 1 and s["final_success_mean"] == result["final_success"]
        assert s["steps_to_threshold_mean"] == (result["steps_to_threshold"] or 128)
    assert stats["none"]["speedup_vs_none"] == 1.0
    assert (tmp_path / "curves.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------- committed results
def committed_sweeps():
    return sorted(path.parent for path in COMMITTED.glob("*/summary.json"))


@pytest.mark.parametrize("root", committed_sweeps(), ids=lambda p: p.name)
def test_committed_runs_aggregate_to_their_committed_summary(root):
    saved = json.loads((root / "summary.json").read_text())
    methods = {m: s for t in saved["results"].values() for m, s in t.items()}
    (threshold,) = {s["threshold"] for s in methods.values()}
    algo = json.loads(next(root.glob(f"*/*/seed*/{sweep.RESULT_NAME}")).read_text()).get("algo", "ppo")  # early sweeps: PPO, before results named it
    # seeds per method: a sweep may have been extended for one method (--seeds 5 --methods gaze beside 3 seeds of others)
    trials = [trial for method, stats in methods.items()
              for trial in sweep.grid(root, algo, list(saved["results"]), [method], stats["seeds"], saved["extra"])]
    finished, pending = sweep.split_finished(trials)
    assert not pending
    # The bootstrap intervals (*_iqm) take seconds per sweep: one sweep checks them (below), the rest the rest.
    assert strip_intervals(sweep.aggregate(finished, threshold)) == strip_intervals(saved["results"])


def strip_intervals(results: dict) -> dict:
    return {task: {m: {k: v for k, v in s.items() if not k.endswith("_iqm")} for m, s in methods.items()}
            for task, methods in results.items()}


def test_the_evidence_summary_carries_its_reproducible_rliable_intervals():
    """The committed evidence's IQM intervals are what aggregate computes from its runs (seeded bootstrap)."""
    saved = json.loads((COMMITTED / "evidence-mild" / "summary.json").read_text())["results"]
    results = [r for runs in sweep.results_by_method(COMMITTED / "evidence-mild").values() for r in runs]
    again = sweep.aggregate(results, 0.5)
    for method, stats in saved["gazelab/ReachClutter-v0"].items():
        assert again["gazelab/ReachClutter-v0"][method]["steps_to_threshold_iqm"] == stats["steps_to_threshold_iqm"]
        low, point, high = stats["steps_to_threshold_iqm"]
        assert low <= point <= high
    assert "speedup_vs_gaze_iqm" in saved["gazelab/ReachClutter-v0"]["gaze+contrastive"]


def test_variant_rows_match_the_committed_summary_and_carry_the_gaze_metrics():
    rows = sweep.variant_rows(COMMITTED, ["evidence-mild*"])
    saved = json.loads((COMMITTED / "evidence-mild" / "summary.json").read_text())["results"]
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == {"none", "patch", "gaze", "gaze+contrastive", "oracle"}
    for method, stats in saved["gazelab/ReachClutter-v0"].items():
        row = by_method[method]
        assert row["tag"] == "evidence-mild" and row["budget"] == 60_000
        assert row["steps_to_threshold_mean"] == pytest.approx(stats["steps_to_threshold_mean"])
        assert len(row["steps_per_seed"]) == stats["seeds"] == 5
    # only runs with a fovea have gaze metrics; the learned gaze ends nearer the goal than a centred fovea would
    assert "prize_distance" not in by_method["none"]
    for method in ("gaze", "gaze+contrastive", "oracle"):
        assert by_method[method]["prize_distance"] < by_method[method]["centre_distance"] / 2
    # the area under each seed's success curve: its mean success; the oracle's is far above the CNN's in every seed
    assert sweep.success_auc({"eval_curve": [[1024, 0.0], [2048, 0.5], [3072, 1.0]]}) == pytest.approx(0.5)
    assert min(by_method["oracle"]["auc_per_seed"]) > max(by_method["none"]["auc_per_seed"]) + 0.2


def test_the_gaze_found_the_prize_at_the_first_row_nearer_than_the_ratio(tmp_path):
    rows = [{"global_step": 1024}, {"global_step": 2048, "gaze/prize_distance": 0.5, "gaze/centre_distance": 0.6},
            {"global_step": 3072, "gaze/prize_distance": 0.3, "gaze/centre_distance": 0.6},
            {"global_step": 4096, "gaze/prize_distance": 0.1, "gaze/centre_distance": 0.6}]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sweep.gaze_found_step(tmp_path) == 3072
    assert sweep.gaze_found_step(tmp_path, ratio=0.4) == 4096
    assert sweep.gaze_found_step(tmp_path, ratio=0.1) is None
    # the committed evidence: the oracle fovea is on the goal from the first iteration, the CNN baseline has no gaze
    by_method = {row["method"]: row for row in sweep.variant_rows(COMMITTED, ["evidence-mild"])}
    assert by_method["oracle"]["found_steps"] == [1024] * 5 and by_method["none"]["found_steps"] == [None] * 5


def test_triplet_separation_of_the_shuffled_control_is_nil_and_of_true_labels_is_not():
    """The committed control of issue 20: the same RL-free glimpse step separates its triplets with true labels and
    does not with shuffled ones (anchor-negative minus anchor-positive distance, last five updates)."""
    rows = {row["tag"]: row for row in sweep.variant_rows(COMMITTED, ["m20-rlfree-glimpse-lr1e-2-late*"])}
    true = [s["separation"] for s in rows["m20-rlfree-glimpse-lr1e-2-late"]["separation_per_seed"]]
    shuffled = [s["separation"] for s in rows["m20-rlfree-glimpse-lr1e-2-late-shuffled"]["separation_per_seed"]]
    assert len(true) == len(shuffled) == 5 and min(true) > 0.05 and max(shuffled) < 0.02
    assert sweep.triplet_separation(COMMITTED / "evidence-mild" / "gazelab-ReachClutter-v0" / "gaze" / "seed1") == {}


def test_variant_rows_of_no_matching_tag_is_empty():
    assert sweep.variant_rows(COMMITTED, ["no-such-tag-*"]) == []


def test_rerunning_a_finished_sweep_only_rewrites_its_summary(tmp_path, sample_efficiency):
    root = tmp_path / "variant-rlfree"
    shutil.copytree(COMMITTED / "variant-rlfree", root)
    (root / "summary.json").unlink()
    argv = ["--backend", "local", "--tasks", "gazelab/ReachClutter-v0", "--methods", "gaze+contrastive", "--seeds",
            "2", "--set", "gaze_rl_grad=0", "--results-dir", str(tmp_path), "--tag", "variant-rlfree"]
    assert sample_efficiency.main(argv) == 0
    regenerated = json.loads((root / "summary.json").read_text())
    assert regenerated == json.loads((COMMITTED / "variant-rlfree" / "summary.json").read_text())
    assert not list(root.rglob("checkpoint.pt"))  # nothing trained


@pytest.mark.parametrize("argv, message", [
    (["--set", "num_envs=many"], "--set 'num_envs=many': 'many' is not a value of num_envs"),
    (["--backend", "local", "--address", "auto"], "--address and --gpus-per-trial need --backend ray"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--algo", "sac", "--set", "num_steps=4"], "SACConfig has no setting 'num_steps'"),
])
def test_command_line_errors(argv, message, capsys, sample_efficiency):
    with pytest.raises(SystemExit) as exit_:
        sample_efficiency.parse_args(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_triplet_separation_reads_where_the_members_came_from_when_logged(tmp_path):
    row = {"contrastive/triplets": 100, "contrastive/pos_distance": 0.1, "contrastive/neg_distance": 0.3,
           "contrastive/triplet_loss": 0.05}
    shares = {"contrastive/positive_same_episode": 0.9, "contrastive/negative_same_episode": 0.5}
    (tmp_path / "history.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, **shares}) + "\n")
    assert sweep.triplet_separation(tmp_path, updates=1) == pytest.approx(
        {"separation": 0.2, "loss": 0.05, "positive_same_episode": 0.9, "negative_same_episode": 0.5})
    assert set(sweep.triplet_separation(tmp_path, updates=2)) == {"separation", "loss"}  # one update did not log them


def test_seed_runs_lists_the_seeds_that_kept_a_checkpoint_and_names_what_is_there(tmp_path):
    for seed, name in ((1, "final.pt"), (2, "history.jsonl"), (3, "checkpoint.pt")):
        folder = tmp_path / "tag" / "gazelab-ReachClutter-v0" / "gaze" / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / name).write_text("x")
    runs = sweep.seed_runs(tmp_path, "tag/gaze", "gazelab/ReachClutter-v0")
    assert [p.name for p in runs] == ["seed1", "seed3"]
    with pytest.raises(GazelabError, match=r"tag/none: no seed with a checkpoint .*methods there: \['gaze'\]"):
        sweep.seed_runs(tmp_path, "tag/none", "gazelab/ReachClutter-v0")


def test_saved_run_arguments_check_every_spec_before_playing(tmp_path):
    import argparse

    folder = tmp_path / "tag" / "gazelab-ReachClutter-v0" / "gaze" / "seed1"
    folder.mkdir(parents=True)
    (folder / "final.pt").write_text("x")
    parser = argparse.ArgumentParser()
    sweep.add_saved_run_arguments(parser, tmp_path, episodes=8, example="tag/gaze")
    args = parser.parse_args(["tag/gaze"])
    assert (args.episodes, args.seed, args.root) == (8, 10_000, tmp_path)
    assert sweep.saved_runs(args) == {"tag/gaze": [folder]}
    with pytest.raises(SystemExit, match=r"tag/none: no seed with a checkpoint"):
        sweep.saved_runs(parser.parse_args(["tag/gaze", "tag/none"]))
