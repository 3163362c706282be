"""Sample efficiency of gazelab's methods (none / patch / gaze / gaze+contrastive ...), PPO or SAC, on any tasks.

    python benchmarks/sample_efficiency.py                          # full sweep: 4 methods x 2 tasks x 5 seeds
    python benchmarks/sample_efficiency.py --seeds 10 --tasks gazelab/Push-v0 gazelab/PushClutter-v0
    python benchmarks/sample_efficiency.py --smoke                  # a minute: checks the pipeline only
    python benchmarks/sample_efficiency.py --set num_envs=16 --tag envs16   # a hyper-parameter variant
    python benchmarks/sample_efficiency.py --algo sac --tag sac     # SAC instead of PPO
    python benchmarks/sample_efficiency.py --backend local          # without Ray: one trial after another

Where it runs (``gazelab.experiments.sweep``): with Ray installed (``pip install "gazelab[sweep]"``) every (task, method,
seed) trial is a Ray task reserving ``--threads`` CPUs and ``--gpus-per-trial`` GPUs, and Ray runs as many at
once as fit: on this machine by default (all cores), or on an existing Ray cluster with ``--address``:

    ray start --head --port 6379                                    # on the head node
    ray start --address <head-ip>:6379                              # on every other node (same gazelab install)
    python benchmarks/sample_efficiency.py --address auto --gpus-per-trial 1 --results-dir /shared/se   # on the head

On a cluster ``--results-dir`` must be a filesystem every node sees (NFS, ...): trials write their files where
they run. Without Ray (or with ``--backend local``) the same trial function runs here, one trial at a time.

For every trial one training run with the task's defaults of the algorithm (``TASK_DEFAULTS`` of gazelab.rl.ppo /
gazelab.rl.sac, shown by ``gazelab train ppo --env-id ID --help``; PPO on the two Reach tasks: the budgets in
``BUDGETS``), evaluated with the deterministic policy
every ``--eval-every`` iterations. Per run: *steps to threshold* = the first evaluation step whose success rate
reaches ``--threshold`` (runs that never reach it count as censored at their budget) and *final success* = mean
of the last two evaluations. Per method: mean, std and min-max across seeds, and the speed-up over `none` (ratio
of mean steps to threshold).

Resumable: each run lives in ``<results-dir>[/<tag>]/<task>/<method>/seed<k>/`` (default results dir
``benchmarks/results/sample_efficiency``); a run with ``result.json`` is skipped, a run with only a checkpoint is
resumed, so an interrupted sweep (Ctrl-C) picks up where it stopped when the same command runs again. A failing
run is reported with its traceback and the others go on (exit status 1 at the end). Writes ``summary.json`` and
``curves.png`` next to the runs.

Threads: ``--threads`` torch threads per trial (default 1). On a machine that other processes also load, keep 1:
OpenMP threads waiting for a busy core are far slower than one thread (measured on a loaded 2-core machine: a SAC
gradient step took 82 ms with 1 thread, 188 ms with 2); Ray then runs one trial per core.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from gazelab.experiments import statistics, sweep
from gazelab.rl.algorithms import ALGORITHMS, algorithm
from gazelab.rl.config import METHODS

RESULTS = Path(__file__).resolve().parent / "results" / "sample_efficiency"
TASKS = ("gazelab/Reach-v0", "gazelab/ReachClutter-v0")
BUDGETS = {"ppo": {"gazelab/Reach-v0": 30_000, "gazelab/ReachClutter-v0": 60_000}}
"""Env steps per PPO run (rounded down to whole PPO iterations, as in ppo_rgb.py): what 2 CPU cores sweep in about
an hour. Other tasks and SAC train for the algorithm's per-task default (TASK_DEFAULTS)."""
EVAL_EVERY = {"ppo": 5}
"""Default evaluation interval in iterations: PPO every 5 (5,120 env steps on the built-in tasks, as in the
committed sweeps); SAC at its per-task default (50 iterations of 64 steps on the built-in tasks)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked (bad values stop here with one argparse error), plus ``root`` (the sweep's
    results directory), ``overrides`` (parsed ``--set``) and ``trials`` (``gazelab.experiments.sweep.grid``)."""
    has_ray = importlib.util.find_spec("ray") is not None
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", choices=list(ALGORITHMS), default="ppo", help="trainer (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N per (task, method) (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--total-timesteps", type=int, default=None,
                        help="budget per run (default: BUDGETS, else the task's default)")
    parser.add_argument("--threshold", type=float, default=0.5, help="success rate that counts as solved")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="evaluate every this many iterations (default: 5 for PPO, the task's default for SAC)")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="extra config fields for every run, parsed with the field's type, e.g. num_envs=16 "
                             "gamma=0.9 gaze_rl_grad=0 target_kl=None")
    parser.add_argument("--tag", default="", help="sub-directory for a variant (e.g. a --set sweep)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--backend", choices=sweep.BACKENDS, default="ray" if has_ray else "local",
                        help="ray: trials in parallel on this machine or a cluster; local: one at a time in this "
                             f"process (default: {'ray' if has_ray else 'local, as Ray is not installed'})")
    parser.add_argument("--address", default=None,
                        help="address of an existing Ray cluster ('auto', '<head-ip>:6379', 'ray://<head-ip>:10001');"
                             " default: start Ray on this machine")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (= CPUs reserved) per trial")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0,
                        help="GPUs reserved per trial (Ray; 0.5 puts two trials on a GPU; default 0: CPU only)")
    parser.add_argument("--smoke", action="store_true", help="2 seeds, 2 methods, tiny budget: checks the pipeline")
    args = parser.parse_args(argv)
    for name in ("seeds", "threads", "eval_episodes", "total_timesteps", "eval_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.gpus_per_trial < 0:
        parser.error(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if args.backend == "ray" and not has_ray:
        parser.error('--backend ray needs Ray: pip install "gazelab[sweep]" (or use --backend local)')
    if args.backend == "local" and (args.address or args.gpus_per_trial):
        parser.error("--address and --gpus-per-trial need --backend ray")
    if args.smoke:
        args.seeds, args.methods, args.total_timesteps = 2, ["none", "gaze+contrastive"], 4096
        args.tag = args.tag or "smoke"
    # Parsed and built here, so a bad --set value or config stops before anything runs.
    args.root = args.results_dir / args.tag if args.tag else args.results_dir
    budgets = {task: args.total_timesteps for task in args.tasks} if args.total_timesteps else BUDGETS.get(args.algo)
    try:
        args.overrides = sweep.parse_overrides(args.set, algorithm(args.algo).config_cls)
        args.trials = sweep.grid(args.root, args.algo, args.tasks, args.methods, args.seeds, args.overrides,
                                 budgets=budgets, eval_every=args.eval_every or EVAL_EVERY.get(args.algo),
                                 eval_episodes=args.eval_episodes, threshold=args.threshold, threads=args.threads)
    except ValueError as e:
        parser.error(str(e))
    return args


def print_table(summary: dict, threshold: float) -> None:
    """Per task: steps to threshold as IQM [95% stratified bootstrap interval] over seeds (mean ± std without
    rliable), the speed-up over the baseline (and over RL-only ``gaze``) with its interval, final success."""
    for task, methods in summary.items():
        print(f"\n{task} (threshold {threshold})")
        print(f"{'method':18s} {'reached':>8s} {'steps to threshold':>30s} {'vs none':>22s} {'vs gaze':>22s} "
              f"{'final success':>14s}")
        for method, s in methods.items():
            if "steps_to_threshold_iqm" in s:
                steps = statistics.format_interval(s["steps_to_threshold_iqm"])
            else:
                steps = f"{s['steps_to_threshold_mean']:,.0f} ± {s['steps_to_threshold_std']:,.0f}"
            vs = [statistics.format_interval(s[k], ".2f", "x") if k in s else "-"
                  for k in ("speedup_vs_none_iqm", "speedup_vs_gaze_iqm")]
            print(f"{method:18s} {s['reached']:>4d}/{s['seeds']:<3d} {steps:>30s} {vs[0]:>22s} {vs[1]:>22s} "
                  f"{s['final_success_mean']:>7.2f} ± {s['final_success_std']:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; exit status 0, 1 if a trial failed, 2 for bad arguments, 130 on Ctrl-C."""
    args = parse_args(argv)
    try:
        finished, pending = sweep.split_finished(args.trials)
        print(f"{len(finished)} runs already finished, {len(pending)} to go ({args.algo}, {args.backend} backend, "
              f"{args.threads} threads per run)", flush=True)
        _, failures = sweep.run_trials(pending, args.backend, address=args.address,
                                       gpus_per_trial=args.gpus_per_trial)
    except (ValueError, ConnectionError) as e:  # finished runs with other settings; no Ray cluster at --address
        print(f"sample_efficiency.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are kept; run the same command again to continue", file=sys.stderr)
        return 130
    done = sweep.split_finished(args.trials)[0]  # grid order: a summary must not depend on which trial ended first
    if done:
        summary = sweep.write_summary(args.root, done, args.overrides, args.threshold)
        print_table(summary, args.threshold)
        print(f"\nwrote {args.root / 'summary.json'} and {args.root / 'curves.png'}")
    if failures:
        print(f"\n{len(failures)} runs failed (tracebacks above): "
              + ", ".join(trial.name for trial, _ in failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
