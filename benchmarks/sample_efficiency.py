"""Sample efficiency of none / patch / gaze / gaze+contrastive PPO on the built-in task, clean and cluttered.

    python benchmarks/sample_efficiency.py                          # full sweep: 4 methods x 2 tasks x 5 seeds
    python benchmarks/sample_efficiency.py --seeds 10 --tasks gazelab/Push-v0 gazelab/PushClutter-v0
    python benchmarks/sample_efficiency.py --smoke                  # a minute: checks the pipeline only
    python benchmarks/sample_efficiency.py --set num_envs=16 --tag envs16   # a hyper-parameter variant

For every (task, method, seed) one PPO run with the task's defaults (gazelab.ppo.TASK_DEFAULTS), evaluated with
the deterministic policy every ``--eval-every`` iterations. Per run: *steps to threshold* = the first evaluation
step whose success rate reaches ``--threshold`` (runs that never reach it count as censored at their budget) and
*final success* = mean of the last two evaluations. Per method: mean, std and min-max across seeds, and the
speed-up over `none` (ratio of mean steps to threshold).

Resumable: each run lives in ``benchmarks/results/sample_efficiency[/<tag>]/<task>/<method>/seed<k>/``; a run
with ``result.json`` is skipped, a run with only a checkpoint is resumed, so an interrupted sweep picks up where
it stopped. Writes ``summary.json`` and ``curves.png`` next to the runs.

Cores: one run at a time (``--jobs 1``) with ``--threads`` torch threads. On a machine that other processes
also load, use ``--threads 1``: OpenMP threads waiting for a busy core are far slower than one thread (measured
on a loaded 2-core machine: a SAC gradient step took 82 ms with 1 thread, 188 ms with 2). ``--jobs N`` runs N
runs at once for machines with more cores, splitting ``--threads`` between them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from gazelab.training import METHODS

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("gazelab/Reach-v0", "gazelab/ReachClutter-v0")
BUDGETS = {"gazelab/Reach-v0": 30_000, "gazelab/ReachClutter-v0": 60_000}
"""Env steps per run (rounded down to whole PPO iterations, as in ppo_rgb.py): what 2 CPU cores sweep in about an
hour. Tasks not listed here train for their PPO default (gazelab.ppo.TASK_DEFAULTS)."""


def parse_value(text: str):
    """'16' -> 16, '0.5' -> 0.5, 'true' -> True, 'none' -> None, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def run_one(job: dict) -> dict:
    """Train (or resume) one (task, method, seed) run; write and return its result.json content."""
    import torch

    from gazelab.ppo import PPOConfig, train_ppo
    from gazelab.training import CHECKPOINT_NAME, saved_config

    run_dir, threads = Path(job["run_dir"]), job["threads"]
    torch.set_num_threads(threads)
    if (run_dir / CHECKPOINT_NAME).exists():
        config = saved_config(PPOConfig, run_dir, progress=False, torch_threads=threads,
                              total_timesteps=job["config"].get("total_timesteps"))
    else:
        config = PPOConfig(run_dir=str(run_dir), progress=False, torch_threads=threads, **job["config"])
    start = time.time()
    result = train_ppo(config)
    evals = [(row["global_step"], row["eval/success_once"]) for row in result.history if "eval/success_once" in row]
    reached = next((step for step, success in evals if success >= job["threshold"]), None)
    summary = {
        "task": job["task"], "method": job["method"], "seed": config.seed, "total_timesteps": config.total_timesteps,
        "steps_to_threshold": reached, "final_success": float(np.mean([s for _, s in evals[-2:]])),
        "eval_curve": evals, "sps": result.final["charts/SPS"], "wall_time_s": round(time.time() - start, 1),
    }
    (run_dir / "result.json").write_text(json.dumps(summary))
    print(f"  done {job['task']} {job['method']} seed {config.seed}: final success {summary['final_success']:.2f}, "
          f"reached {job['threshold']} at {reached}, {summary['wall_time_s']:.0f} s", flush=True)
    return summary


def aggregate(results: list[dict], threshold: float) -> dict:
    """Per task and method: mean / std / min / max of steps-to-threshold (censored at the budget) and final success."""
    out: dict = {}
    for r in results:
        out.setdefault(r["task"], {}).setdefault(r["method"], []).append(r)
    summary = {}
    for task, methods in out.items():
        summary[task] = {}
        for method, runs in methods.items():
            steps = np.array([r["steps_to_threshold"] if r["steps_to_threshold"] is not None else r["total_timesteps"]
                              for r in runs], dtype=float)
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
        if "none" in summary[task]:
            # Speed-up = baseline's mean steps / this method's. Censored runs count at their budget, so with runs
            # that never reached the threshold this is a rough figure, not a bound in either direction.
            for stats in summary[task].values():
                stats["speedup_vs_none"] = (summary[task]["none"]["steps_to_threshold_mean"]
                                            / stats["steps_to_threshold_mean"])
    return summary


def plot(results: list[dict], path: Path, threshold: float) -> None:
    from matplotlib.figure import Figure

    from gazelab.viz import plot_learning_curves

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
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per (task, method) (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--total-timesteps", type=int, default=None, help="budget per run (default: BUDGETS, else the task's PPO default)")
    parser.add_argument("--threshold", type=float, default=0.5, help="success rate that counts as solved")
    parser.add_argument("--eval-every", type=int, default=5, help="evaluate every this many PPO iterations")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="extra PPOConfig fields for every run, e.g. num_envs=16 gamma=0.9")
    parser.add_argument("--tag", default="", help="sub-directory for a variant (e.g. a --set sweep)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1: best on 2 cores)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in total, split between jobs")
    parser.add_argument("--smoke", action="store_true", help="2 seeds, 2 methods, tiny budget: checks the pipeline")
    args = parser.parse_args()
    if args.seeds < 1 or args.jobs < 1 or args.threads < 1:
        parser.error("--seeds, --jobs and --threads must be >= 1")
    if args.smoke:
        args.seeds, args.methods, args.total_timesteps, args.eval_every = 2, ["none", "gaze+contrastive"], 4096, 2
        args.tag = args.tag or "smoke"
    extra = dict(item.split("=", 1) for item in args.set)
    extra = {k: parse_value(v) for k, v in extra.items()}

    root = RESULTS / "sample_efficiency" / args.tag if args.tag else RESULTS / "sample_efficiency"
    threads = max(1, args.threads // args.jobs)
    jobs, done = [], []
    # Seed-major order: a sweep stopped early still has every (task, method) pair for its first seeds.
    for seed in range(1, args.seeds + 1):
        for task in args.tasks:
            for method in args.methods:
                run_dir = root / task.replace("/", "-") / method / f"seed{seed}"
                if (run_dir / "result.json").exists():
                    done.append(json.loads((run_dir / "result.json").read_text()))
                    continue
                config = dict(env_id=task, seed=seed, eval_freq=args.eval_every,
                              num_eval_episodes=args.eval_episodes, **METHODS[method], **extra)
                config["total_timesteps"] = args.total_timesteps or BUDGETS.get(task)
                jobs.append(dict(task=task, method=method, run_dir=str(run_dir), config=config, threads=threads,
                                 threshold=args.threshold))
    print(f"{len(done)} runs already finished, {len(jobs)} to go ({args.jobs} at a time, {threads} threads each)")
    if args.jobs == 1:
        done += [run_one(job) for job in jobs]
    else:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            done += pool.map(run_one, jobs, chunksize=1)

    summary = aggregate(done, args.threshold)
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps({"extra": extra, "results": summary}, indent=2))
    plot(done, root / "curves.png", args.threshold)
    for task, methods in summary.items():
        print(f"\n{task} (threshold {args.threshold})")
        print(f"{'method':18s} {'reached':>8s} {'steps to threshold':>24s} {'speed-up':>9s} {'final success':>16s}")
        for method, s in methods.items():
            speedup = f"{s['speedup_vs_none']:.2f}x" if "speedup_vs_none" in s else "-"
            print(f"{method:18s} {s['reached']:>4d}/{s['seeds']:<3d} {s['steps_to_threshold_mean']:>12.0f} ± "
                  f"{s['steps_to_threshold_std']:<9.0f} {speedup:>9s} {s['final_success_mean']:>7.2f} ± "
                  f"{s['final_success_std']:.2f}")
    print(f"\nwrote {root / 'summary.json'} and {root / 'curves.png'}")


if __name__ == "__main__":
    main()
