"""Sweeps of (task, method, seed) trials: one trial function, run here one after another or as Ray tasks.

A *trial* is one training run (PPO or SAC) of one task, one method of :data:`gazelab.rl.config.METHODS` and one
seed, with the sweep's config overrides. :func:`run_trial` trains it, or continues it from its checkpoint, and
writes its ``result.json``; it is the only code that runs a trial, whatever the backend of :func:`run_trials`:

* ``"local"``: one trial after another in this process; needs nothing beyond gazelab;
* ``"ray"``: each trial a Ray task that reserves its resources (``num_cpus`` = its torch threads, ``num_gpus`` =
  a GPU or a fraction of one), so Ray runs as many at once as there is room for: on this machine
  (``ray.init()``, all cores) or on an existing Ray cluster (``address``). Needs ``pip install "gazelab[sweep]"``.

Plain Ray tasks rather than Ray Tune: the grid is fixed (there is no search algorithm or scheduler to drive), and
resuming is a file rule that Tune's own experiment state would only duplicate.

Layout and resume rule: a trial lives in ``<root>/<task with '/' -> '-'>/<method>/seed<k>/`` (``history.jsonl``,
TensorBoard events, ``checkpoint.pt``, ``result.json``). A trial with ``result.json`` is finished and never run
again; one with only a checkpoint continues from it. Checkpoints and JSON files are written atomically, so an
interrupted sweep (Ctrl-C, a killed worker) leaves its finished trials intact, and running the same sweep again
picks up where it stopped. On a cluster of several machines ``root`` must be on a filesystem every node sees.

With ``--set track=True`` every trial also logs to Weights & Biases (:mod:`gazelab.rl.tracking`; ``WANDB_MODE`` and
the other ``WANDB_*`` variables reach the Ray workers of this machine with the rest of the environment), in the
wandb group ``<task>/<method>``: the dashboard then shows a sweep's comparison with the seeds of each pair aggregated.

>>> trials = grid(Path("out"), "ppo", ["gazelab/Reach-v0"], ["none", "gaze+contrastive"], seeds=2)
>>> finished, pending = split_finished(trials)
>>> results, failures = run_trials(pending, backend="ray")
>>> summary = write_summary(Path("out"), finished + results, extra={}, threshold=0.5)
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import tyro

from gazelab.rl.algorithms import algorithm
from gazelab.rl.checkpoint import CHECKPOINT_NAME, write_atomic
from gazelab.method.contrastive import ContrastiveConfig
from gazelab.rl.config import LEGACY_CONTRASTIVE_FIELDS, METHODS, RUN_CONTROL_FIELDS, TRAINERS_OWN, config_from_dict
from gazelab.core.errors import GazelabError
from gazelab.experiments import statistics

__all__ = ["BACKENDS", "Trial", "Failure", "parse_overrides", "trial_dir", "grid", "split_finished", "run_trial",
           "run_trials", "import_ray", "aggregate", "plot", "write_summary", "write_json", "histories",
           "final_gaze", "success_auc", "variant_rows", "seed_runs", "add_saved_run_arguments", "saved_runs",
           "GAZE_KEYS"]

BACKENDS = ("ray", "local")
RESULT_NAME = "result.json"

# Config fields the sweep sets itself, and the option of benchmarks/sample_efficiency.py that sets each.
SWEEP_FIELDS = {"env_id": "--tasks", "seed": "--seeds", "total_timesteps": "--total-timesteps",
                "eval_freq": "--eval-every", "num_eval_episodes": "--eval-episodes", "torch_threads": "--threads",
                "run_dir": "--results-dir / --tag", "resume": "the resume rule", "progress": "the sweep (off)",
                "wandb_group": "the sweep (<task>/<method> with --set track=True)"}


# ---------------------------------------------------------------------------------------------- overrides
def settable_fields(config_cls) -> list[str]:
    """The names ``--set`` takes: the config's fields and its contrastive settings as ``contrastive.<field>``."""
    nested = [f"contrastive.{f.name}" for f in dataclasses.fields(ContrastiveConfig)]
    return [f.name for f in dataclasses.fields(config_cls) if f.name != "contrastive_config"] + nested


def setting(values: dict[str, Any], name: str) -> Any:
    """The value of a ``--set`` name in a config's ``to_dict()`` (``contrastive.k`` -> its nested ``k``; the flat
    names that sweeps committed before 2026-12-02 recorded, ``contrastive_k``, are read the same way)."""
    if name in LEGACY_CONTRASTIVE_FIELDS:
        name = "contrastive." + LEGACY_CONTRASTIVE_FIELDS[name]
    if name.startswith("contrastive."):
        return values["contrastive_config"][name.split(".", 1)[1]]
    return values[name]


def parse_overrides(items: Sequence[str], config_cls) -> dict[str, Any]:
    """``["num_envs=16", "contrastive.k=32", "target_kl=None"]`` -> ``{"num_envs": 16, "contrastive.k": 32, ...}``.

    Each value is parsed by tyro as the flag of the same name would be (``--num-envs 16``), spelled as Python
    spells it (``True``, ``None``). GazelabError naming the bad item and what it accepts.
    """
    names = settable_fields(config_cls)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise GazelabError(f"--set {item!r}: expected FIELD=VALUE, e.g. num_envs=16")
        if name not in names:
            raise GazelabError(f"--set {item!r}: {config_cls.__name__} has no setting {name!r}; settings: "
                               f"{', '.join(names)}")
        flag = "--" + name.replace("_", "-")
        try:
            parsed = tyro.cli(config_cls, args=[flag, text], config=(tyro.conf.FlagConversionOff,),
                              console_outputs=False)
        except SystemExit:
            raise GazelabError(f"--set {item!r}: {text!r} is not a value of {name} (`gazelab train "
                               f"{config_cls.algo} --help` shows what {flag} takes; spell True, False, None as "
                               "Python does)") from None
        out[name] = setting(parsed.to_dict(), name)
    return out


# ---------------------------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: everything :func:`run_trial` needs (picklable, so Ray can ship it)."""

    algo: str
    """'ppo' or 'sac'"""
    task: str
    """env id"""
    method: str
    """a key of gazelab.rl.config.METHODS"""
    seed: int
    run_dir: str
    """absolute path of the trial's directory"""
    config: dict
    """the config fields the sweep sets: env_id, seed, the method's fields, overrides, budget, evaluation"""
    threshold: float
    """success rate that counts as solved (for steps_to_threshold)"""
    threads: int = 1
    """torch CPU threads, and the CPUs a Ray task reserves"""

    @property
    def name(self) -> str:
        return f"{self.task} {self.method} seed {self.seed}"


def trial_dir(root: Path, task: str, method: str, seed: int) -> Path:
    """``<root>/<task with '/' -> '-'>/<method>/seed<seed>``."""
    return Path(root).resolve() / task.replace("/", "-") / method / f"seed{seed}"


def seed_runs(root: Path, spec: str, task: str) -> list[Path]:
    """The seed folders of ``spec`` = "TAG/METHOD" (a sweep under ``root``) that still hold a checkpoint, for the
    scripts that play a sweep's final policies again (the committed copies keep none); GazelabError naming the
    methods that are there otherwise."""
    tag, _, method = spec.partition("/")
    folder = Path(root) / tag / task.replace("/", "-") / method
    runs = sorted(p for p in folder.glob("seed*") if (p / "final.pt").exists() or (p / "checkpoint.pt").exists())
    if not runs:
        there = sorted(p.name for p in folder.parent.glob("*")) if folder.parent.is_dir() else []
        raise GazelabError(f"{spec}: no seed with a checkpoint under {folder} (methods there: {there or 'none'})")
    return runs


def add_saved_run_arguments(parser, root: Path, episodes: int, example: str) -> None:
    """The arguments of a script that plays sweeps' saved final policies again (``benchmarks/generalisation.py``,
    ``benchmarks/frame_swap.py``): TAG/METHOD specs, ``--task``, ``--root``, ``--episodes``, ``--seed``."""
    parser.add_argument("runs", nargs="+", metavar="TAG/METHOD", help=f"sweep tag and method, e.g. {example}")
    parser.add_argument("--task", default="gazelab/ReachClutter-v0")
    parser.add_argument("--root", type=Path, default=root, help="results folder holding the sweeps' checkpoints")
    parser.add_argument("--episodes", type=int, default=episodes, help="evaluation episodes per seed and condition")
    parser.add_argument("--seed", type=int, default=10_000, help="seed of the evaluation episodes")


def saved_runs(args) -> dict[str, list[Path]]:
    """{spec: its seed folders} for the parsed :func:`add_saved_run_arguments`, every spec checked before any
    evaluation; SystemExit with :func:`seed_runs`' message for the first spec without checkpoints."""
    try:
        return {spec: seed_runs(args.root, spec, args.task) for spec in args.runs}
    except GazelabError as error:
        sys.exit(str(error))


def results_by_method(root: Path) -> dict[str, list[dict]]:
    """The ``result.json`` of every finished trial under a sweep's ``root``, by method: {method: [result, ...]}
    (all tasks together; {} if there are none)."""
    found: dict[str, list[dict]] = {}
    for path in sorted(Path(root).glob(f"*/*/seed*/{RESULT_NAME}")):
        found.setdefault(path.parts[-3], []).append(json.loads(path.read_text()))
    return found


def histories(root: Path) -> dict[tuple[str, str], list[list[dict]]]:
    """The logged rows of every trial under a sweep's ``root``: {(task dir, method): [rows of seed 1, ...]}, each
    ``rows`` the lines of a ``history.jsonl`` (for :func:`gazelab.teach.viz.plot_learning_curves`); {} if there are none."""
    found: dict[tuple[str, str], list[list[dict]]] = {}
    for path in sorted(Path(root).glob("*/*/seed*/history.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            found.setdefault((path.parts[-4], path.parts[-3]), []).append(rows)
    return found


GAZE_KEYS = ("prize_distance", "centre_distance", "prize_mass", "prize_mass_chance", "mu_std", "sigma_x", "foveae_gap")
"""The gaze-on-prize metrics (``gazelab.rl.prize``) every evaluation logs as ``eval/<key>``: fovea-to-prize distance
and a centred fovea's, weight on the prize and chance's (image units), spread of the fovea's centre across frames,
sigma (map units), and for a gaze of several foveae the distance between the first two (image units)."""


def final_gaze(run: Path) -> dict[str, float]:
    """The gaze metrics (:data:`GAZE_KEYS`) of a trial's last two evaluations (the window of its final success),
    averaged; {} for a run without a gaze."""
    rows = [json.loads(line) for line in (Path(run) / "history.jsonl").read_text().splitlines() if line.strip()]
    last = [row for row in rows if "eval/success_once" in row][-2:]
    return {k: float(np.mean([row[f"eval/{k}"] for row in last])) for k in GAZE_KEYS
            if last and all(f"eval/{k}" in row for row in last)}


FOUND_RATIO = 0.6
"""The gaze has *found* the prize when its rollout fovea sits nearer the prize than this share of a centred fovea's
distance (:func:`gaze_found_step`)."""


def gaze_found_step(run: Path, ratio: float = FOUND_RATIO) -> Optional[int]:
    """The first env step at which a trial's gaze had found the prize: the rollout's mean fovea-to-prize distance
    (the ``gaze/prize_distance`` training scalar, logged every iteration) below ``ratio`` times a centred fovea's
    (``gaze/centre_distance``). None if it never did, or for a run without a gaze. Set beside the steps to 0.5
    success, it says how much of a run went into finding the prize and how much into learning after."""
    for line in (Path(run) / "history.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if "gaze/prize_distance" in row and row["gaze/prize_distance"] < ratio * row["gaze/centre_distance"]:
            return int(row["global_step"])
    return None


def triplet_separation(run: Path, updates: int = 5) -> dict[str, float]:
    """How well a trial's last ``updates`` contrastive updates (those that mined triplets) separated them: the mean
    anchor-negative minus anchor-positive cosine distance (``separation``; 0 = not at all, as with labels that say
    nothing about the image), the mean triplet loss (``loss``; the margin when nothing is separated) and, for runs
    that logged them (from 2026-12-07), the shares of positives and negatives from the anchor's own episode
    (``positive_same_episode``, ``negative_same_episode``). {} for a run without the contrastive step."""
    rows = [json.loads(line) for line in (Path(run) / "history.jsonl").read_text().splitlines() if line.strip()]
    rows = [row for row in rows if row.get("contrastive/triplets", 0) > 0][-updates:]
    if not rows:
        return {}
    out = {"separation": float(np.mean([r["contrastive/neg_distance"] - r["contrastive/pos_distance"] for r in rows])),
           "loss": float(np.mean([r["contrastive/triplet_loss"] for r in rows]))}
    for share in ("positive_same_episode", "negative_same_episode"):
        if all(f"contrastive/{share}" in r for r in rows):
            out[share] = float(np.mean([r[f"contrastive/{share}"] for r in rows]))
    return out


def success_auc(result: dict) -> float:
    """The area under a trial's success curve: the mean success over all its evaluations (``result.json``'s
    ``eval_curve``). It weighs how early and how well a run learned, and swings far less between evaluations than
    the step of one crossing; comparable between runs with the same budget and evaluation cadence."""
    return float(np.mean([success for _, success in result["eval_curve"]]))


def variant_rows(results_dir: Path, patterns: Sequence[str], threshold: float = 0.5) -> list[dict]:
    """One row per (sweep tag, task, method) for every tag directory under ``results_dir`` matching a shell
    pattern (``"screen-mild-*"``), in name order: ``tag``, ``task``, ``method``, ``extra`` (the tag's config
    overrides, from its ``summary.json``), the statistics of :func:`aggregate` over the seeds' ``result.json``
    (steps to ``threshold``, censored at the budget; final success), ``steps_per_seed`` (None: never reached),
    ``censored_steps`` (the same, a seed that never reached it at its budget: what :mod:`statistics` takes),
    ``auc_per_seed`` (each seed's :func:`success_auc`),
    ``budget`` (env steps per run), ``found_steps`` (per seed, :func:`gaze_found_step`), ``gaze_per_seed`` (each
    seed's :func:`final_gaze`), ``separation_per_seed`` (each seed's :func:`triplet_separation`) and the gaze metrics of :func:`final_gaze` averaged over seeds. ``threshold`` must be the one the sweep ran with (its trials measured
    steps to it)."""
    rows = []
    tags = [p for p in sorted(Path(results_dir).iterdir())
            if p.is_dir() and any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns)]
    for tag_dir in tags:
        summary = tag_dir / "summary.json"
        extra = json.loads(summary.read_text()).get("extra", {}) if summary.exists() else {}
        for task_dir in sorted(p for p in tag_dir.iterdir() if p.is_dir()):
            for method_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
                runs = [r for r in sorted(method_dir.glob("seed*")) if (r / RESULT_NAME).exists()]
                if not runs:
                    continue
                results = [json.loads((r / RESULT_NAME).read_text()) for r in runs]
                (stats,) = (m for t in aggregate(results, threshold).values() for m in t.values())
                row = {"tag": tag_dir.name, "task": task_dir.name, "method": method_dir.name, "extra": extra, **stats,
                       "steps_per_seed": [r["steps_to_threshold"] for r in results],
                       "censored_steps": censored_steps(results).tolist(),
                       "auc_per_seed": [success_auc(r) for r in results],
                       "budget": max(r["total_timesteps"] for r in results)}
                row["found_steps"] = [gaze_found_step(r) for r in runs]
                gazes = [final_gaze(r) for r in runs]
                row["gaze_per_seed"] = gazes
                row["separation_per_seed"] = [triplet_separation(r) for r in runs]
                for key in GAZE_KEYS:
                    values = [g[key] for g in gazes if key in g]
                    if values:
                        row[key] = float(np.mean(values))
                rows.append(row)
    return rows


def grid(root: Path, algo: str, tasks: Sequence[str], methods: Sequence[str], seeds: int,
         overrides: Optional[dict[str, Any]] = None, *, budgets: Optional[dict[str, int]] = None,
         eval_every: Optional[int] = None, eval_episodes: int = 32, threshold: float = 0.5,
         threads: int = 1) -> list[Trial]:
    """The trials of a sweep, seed-major (a sweep stopped early has every (task, method) pair of its first seeds).

    Args:
        root: results directory of the sweep (trials go to :func:`trial_dir`).
        algo: 'ppo' or 'sac'.
        tasks, methods: env ids and keys of ``gazelab.rl.config.METHODS``.
        seeds: seeds 1 .. ``seeds``.
        overrides: extra config fields for every trial (:func:`parse_overrides`).
        budgets: task -> total_timesteps; tasks not in it train for the config's per-task default.
        eval_every: evaluation interval in iterations (None: the config's per-task default).
        eval_episodes: episodes per evaluation.
        threshold: success rate that counts as solved.
        threads: torch threads per trial.
    Raises:
        GazelabError before any training when a method is unknown, an override clashes with what the sweep or a
        method sets, or a trial's config is invalid (every config is built here once).
    """
    config_cls = algorithm(algo).config_cls
    overrides, budgets = overrides or {}, budgets or {}
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise GazelabError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    for name in overrides:
        if name in SWEEP_FIELDS:
            raise GazelabError(f"--set {name}: the sweep sets {name} itself (use {SWEEP_FIELDS[name]})")
        setters = [m for m in methods if name in METHODS[m]]
        if setters:
            raise GazelabError(f"--set {name}: methods {setters} set {name} themselves; choose --methods instead")
    trials = []
    for seed in range(1, seeds + 1):
        for task in tasks:
            for method in methods:
                config = dict(env_id=task, seed=seed, num_eval_episodes=eval_episodes, **METHODS[method], **overrides)
                if overrides.get("track"):  # one wandb group per curve of the summary: its seeds aggregated
                    config["wandb_group"] = f"{task}/{method}"
                if eval_every is not None:
                    config["eval_freq"] = eval_every
                if task in budgets:
                    config["total_timesteps"] = budgets[task]
                try:
                    config_from_dict(config_cls, config)
                except ValueError as e:
                    raise GazelabError(f"{task} {method}: {e}") from None
                trials.append(Trial(algo, task, method, seed, str(trial_dir(root, task, method, seed)), config,
                                    threshold, threads))
    return trials


def split_finished(trials: Sequence[Trial]) -> tuple[list[dict], list[Trial]]:
    """(result.json contents of the finished trials, trials still to run), both in ``trials`` order.

    GazelabError when a finished trial ran with other settings than asked now (another algorithm, a different
    value of a field the sweep sets, or, for a contrastive method, of a contrastive default its trainer fills in):
    mixing the two in one summary would be wrong, rerunning would destroy it.
    Results written before ``algo`` and ``config`` were recorded count as PPO runs and are not compared.
    """
    finished, pending = [], []
    for trial in trials:
        path = Path(trial.run_dir) / RESULT_NAME
        if not path.exists():
            pending.append(trial)
            continue
        result = json.loads(path.read_text())
        saved = result.get("config", {})
        differ = [f"algo: {result.get('algo', 'ppo')!r} there, {trial.algo!r} now"] if result.get(
            "algo", "ppo") != trial.algo else []
        if saved:  # as a config of today (results written before the contrastive settings were nested too)
            saved = config_from_dict(algorithm(trial.algo).config_cls, saved).to_dict()
        asked = dict(trial.config)
        if saved:  # the trainer fills in some contrastive defaults; those changed (SAC's rate, 2026-12-07)
            now = config_from_dict(algorithm(trial.algo).config_cls, trial.config)
            if now.contrastive:
                filled = dataclasses.asdict(now.trainers_contrastive_config())
                asked.update({f"contrastive.{name}": filled[name] for name in TRAINERS_OWN
                              if f"contrastive.{name}" not in asked})
        differ += [f"{k}: {setting(saved, k)!r} there, {v!r} now" for k, v in asked.items()
                   if saved and k not in RUN_CONTROL_FIELDS and setting(saved, k) != v]
        if differ:
            raise GazelabError(f"{path} is a finished run with other settings ({'; '.join(differ)}); give this "
                             "sweep its own --tag or --results-dir")
        finished.append(result)
    return finished, pending


# ---------------------------------------------------------------------------------------------- one trial
def write_json(path: Path, obj: Any, indent: Optional[int] = None) -> None:
    """Write ``obj`` as JSON atomically (:func:`gazelab.rl.checkpoint.write_atomic`): never a half-written file."""
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=indent)))


def run_trial(trial: Trial) -> dict:
    """Train one trial, or continue it from its checkpoint; write and return its ``result.json`` content.

    The result: task, method, seed, algo, total_timesteps, ``steps_to_threshold`` (env steps of the first
    evaluation whose success rate reaches the threshold; None if none did), ``final_success`` (mean of the last
    two evaluations), ``eval_curve`` ([step, success] pairs), ``sps``, ``wall_time_s`` (this session),
    ``start_time`` / ``end_time`` (Unix seconds) and the full ``config``.

    Raises:
        KeyboardInterrupt: Ctrl-C stopped the run; its checkpoint is kept and no result.json is written.
    """
    algo = algorithm(trial.algo)
    run_dir = Path(trial.run_dir)
    # A checkpoint without result.json is an interrupted trial: continue it (Run refuses a different config).
    resume = str(run_dir) if (run_dir / CHECKPOINT_NAME).exists() else None
    config = config_from_dict(algo.config_cls, trial.config, run_dir=str(run_dir), resume=resume, progress=False,
                              torch_threads=trial.threads).resolve()
    start = time.time()
    result = algo.train(config)
    if result.interrupted:
        raise KeyboardInterrupt(f"{trial.name} was interrupted; its checkpoint is kept")
    evals = [(row["global_step"], row["eval/success_once"]) for row in result.history if "eval/success_once" in row]
    reached = next((step for step, success in evals if success >= trial.threshold), None)
    end = time.time()
    summary = {
        "task": trial.task, "method": trial.method, "seed": config.seed, "algo": trial.algo,
        "total_timesteps": config.total_timesteps, "steps_to_threshold": reached,
        "final_success": float(np.mean([s for _, s in evals[-2:]])), "eval_curve": evals,
        "sps": result.final["charts/SPS"], "wall_time_s": round(end - start, 1), "start_time": start,
        "end_time": end, "config": config.to_dict(),
    }
    write_json(run_dir / RESULT_NAME, summary)
    return summary


# ---------------------------------------------------------------------------------------------- backends
Failure = tuple[Trial, str]
"""A trial that raised, with its traceback."""


def run_trials(trials: Sequence[Trial], backend: str = "local", *, address: Optional[str] = None,
               gpus_per_trial: float = 0.0) -> tuple[list[dict], list[Failure]]:
    """Run every trial with :func:`run_trial`; (results of those that finished, failures with tracebacks).

    A failing trial is reported on stderr at once and the others go on. Ctrl-C raises KeyboardInterrupt after
    stopping the running trials (``local``: the current one finishes its iteration and writes a checkpoint;
    ``ray``: running tasks are cancelled and keep their last periodic checkpoint).

    Args:
        backend: ``"local"`` (this process, one trial at a time) or ``"ray"``.
        address: Ray only: address of an existing cluster (``"auto"``, ``"<head-ip>:6379"``,
            ``"ray://<head-ip>:10001"``); None starts Ray on this machine with all its cores.
        gpus_per_trial: Ray only: GPUs each trial reserves (a fraction shares a GPU; 0 = trials see no GPU).
    """
    if backend not in BACKENDS:
        raise GazelabError(f"backend={backend!r} is unknown; use one of {BACKENDS}")
    if gpus_per_trial < 0:
        raise GazelabError(f"gpus_per_trial must be >= 0, got {gpus_per_trial!r}")
    if backend == "local" and (address or gpus_per_trial):
        raise GazelabError("address and gpus_per_trial need the ray backend; the local backend runs trials in this "
                         "process on whatever device their config names")
    if not trials:
        return [], []
    if backend == "local":
        return _run_local(trials)
    return _run_ray(trials, address, gpus_per_trial)


# Reported by the driver, not the trial: a Ray worker's own output can be lost when the sweep shuts Ray down.
def _done(trial: Trial, result: dict) -> dict:
    print(f"  done {trial.name}: final success {result['final_success']:.2f}, reached {trial.threshold} at "
          f"{result['steps_to_threshold']}, {result['wall_time_s']:.0f} s", flush=True)
    return result


def _failed(trial: Trial, text: str) -> Failure:
    print(f"FAILED {trial.name} ({trial.run_dir}):\n{text}", file=sys.stderr, flush=True)
    return trial, text


def _run_local(trials: Sequence[Trial]) -> tuple[list[dict], list[Failure]]:
    results, failures = [], []
    for trial in trials:
        try:
            results.append(_done(trial, run_trial(trial)))
        except Exception:  # noqa: BLE001 -- one failing trial must not stop the sweep (Ctrl-C still does)
            failures.append(_failed(trial, traceback.format_exc()))
    return results, failures


def import_ray():
    """The ``ray`` module, or ImportError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError('the ray backend needs Ray: pip install "gazelab[sweep]" (or use the local backend)') \
            from None
    return ray


def _run_ray(trials: Sequence[Trial], address: Optional[str], gpus_per_trial: float):
    ray = import_ray()
    # Ray reports usage statistics by default: a sweep must work offline and send nothing anywhere.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray starts its workers at nice 15: any other process on the machine (a notebook, the test suite, a second
    # sweep) would then starve the trials (seen here: 13% of a core each while other jobs ran). A sweep
    # runs at the priority of the command that started it.
    os.environ.setdefault("RAY_worker_niceness", "0")
    if address:
        ray.init(address=address, logging_level=logging.ERROR)
    else:
        ray.init(include_dashboard=False, logging_level=logging.ERROR)
    try:
        threads = max(t.threads for t in trials)
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        if threads > cpus:
            raise GazelabError(f"each trial reserves {threads} CPUs (its torch threads) but the Ray cluster has {cpus:g}")
        if gpus_per_trial > gpus:
            raise GazelabError(f"each trial reserves {gpus_per_trial:g} GPUs but the Ray cluster has {gpus:g}")
        at_once = int(min(cpus // threads, gpus // gpus_per_trial if gpus_per_trial else float("inf")))
        print(f"Ray: {cpus:g} CPUs, {gpus:g} GPUs; up to {at_once} trials at a time, each reserving {threads} CPU"
              f"{f' and {gpus_per_trial:g} GPU' if gpus_per_trial else ''}", flush=True)
        # max_calls=1: a fresh worker process per trial, so no GPU memory, simulator or thread setting carries over.
        remote = ray.remote(max_calls=1)(run_trial)
        pending = {remote.options(num_cpus=t.threads, num_gpus=gpus_per_trial).remote(t): t for t in trials}
        results, failures = [], []
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                trial = pending.pop(ref)
                try:
                    results.append(_done(trial, ray.get(ref)))
                except ray.exceptions.RayError as e:  # a RayTaskError's text holds the trial's own traceback
                    failures.append(_failed(trial, str(e)))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results, failures
    finally:
        ray.shutdown()


# ---------------------------------------------------------------------------------------------- summary
REFERENCES = ("none", "gaze")
"""The methods every other one is compared with when a sweep has them: the CNN baseline and the gaze trained by
RL gradients only (what the contrastive step has to beat)."""


def censored_steps(runs: Sequence[dict]) -> np.ndarray:
    """Steps to threshold per run (runs, ), a run that never reached it counted at its budget."""
    return np.array([r["steps_to_threshold"] if r["steps_to_threshold"] is not None else r["total_timesteps"]
                     for r in runs], dtype=float)


def aggregate(results: Sequence[dict], threshold: float) -> dict:
    """Per task and method: steps to threshold (censored at the budget) and final success over the seeds.

    Returns ``{task: {method: stats}}``: mean / std / min / max of both, and, with rliable installed
    (:mod:`gazelab.experiments.statistics`), ``steps_to_threshold_iqm`` = [low, IQM, high] (95% stratified bootstrap)
    and, for each reference method of :data:`REFERENCES` the task has, ``speedup_vs_<reference>_iqm`` = [low,
    IQM(reference) / IQM(this), high]. ``speedup_vs_none`` is the ratio of the means (older summaries have only it).
    """
    out: dict = {}
    for r in results:
        out.setdefault(r["task"], {}).setdefault(r["method"], []).append(r)
    with_intervals = statistics.available()
    summary = {}
    for task, methods in out.items():
        summary[task] = {}
        for method, runs in methods.items():
            steps = censored_steps(runs)
            final = np.array([r["final_success"] for r in runs])
            summary[task][method] = {
                "seeds": len(runs), "threshold": threshold,
                "reached": int(sum(r["steps_to_threshold"] is not None for r in runs)),
                "steps_to_threshold_mean": float(steps.mean()), "steps_to_threshold_std": float(steps.std()),
                "steps_to_threshold_min": float(steps.min()), "steps_to_threshold_max": float(steps.max()),
                "final_success_mean": float(final.mean()), "final_success_std": float(final.std()),
                "final_success_min": float(final.min()), "final_success_max": float(final.max()),
                "sps_mean": float(np.mean([r["sps"] for r in runs])),
            }
            if with_intervals:
                summary[task][method]["steps_to_threshold_iqm"] = list(statistics.iqm_interval(steps))
        if "none" in summary[task]:
            # Speed-up = baseline's mean steps / this method's. Censored runs count at their budget, so with runs
            # that never reached the threshold this is a rough figure, not a bound in either direction.
            for stats in summary[task].values():
                stats["speedup_vs_none"] = (summary[task]["none"]["steps_to_threshold_mean"]
                                            / stats["steps_to_threshold_mean"])
        for reference in REFERENCES:
            if not with_intervals or reference not in methods:
                continue
            for method, runs in methods.items():
                if method != reference:
                    summary[task][method][f"speedup_vs_{reference}_iqm"] = list(statistics.speedup_interval(
                        censored_steps(methods[reference]), censored_steps(runs)))
    return summary


def plot(results: Sequence[dict], path: Path, threshold: float) -> None:
    """Deterministic success vs env steps, one panel per task, mean and min-max over seeds per method (PNG)."""
    from matplotlib.figure import Figure

    from gazelab.teach.viz import plot_learning_curves

    tasks = sorted({r["task"] for r in results})
    fig = Figure(figsize=(6 * len(tasks), 4))
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    for ax, task in zip(axes, tasks):
        runs: dict[str, list] = {}
        for r in results:
            if r["task"] == task:
                runs.setdefault(r["method"], []).append(
                    [{"global_step": s, "eval/success_once": v} for s, v in r["eval_curve"]])
        plot_learning_curves({m: runs[m] for m in METHODS if m in runs}, "eval/success_once", ax=ax, title=task)
        ax.axhline(threshold, color="grey", lw=0.8, ls="--")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def write_summary(root: Path, results: Sequence[dict], extra: dict[str, Any], threshold: float) -> dict:
    """Write ``root/summary.json`` (``{"extra": extra, "results": aggregate(...)}``) and ``root/curves.png``;
    return the aggregate. ``results`` must not be empty."""
    summary = aggregate(results, threshold)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "summary.json", {"extra": extra, "results": summary}, indent=2)
    plot(results, root / "curves.png", threshold)
    return summary
