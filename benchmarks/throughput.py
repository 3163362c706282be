"""End-to-end training throughput (environment steps per second) of each method, and its cost relative to 'none'.

    python benchmarks/throughput.py                       # PPO on the built-in task + a short ManiSkill CPU run
    python benchmarks/throughput.py --algo sac --no-maniskill
    python benchmarks/throughput.py --steps 30000 --threads 2

Each method trains from scratch for ``--steps`` environment steps with the task's default PPO/SAC settings,
without evaluation or intermediate checkpoints; SPS = steps / wall time of the training loop (rollout + update +
contrastive step, the first iteration's warm-up included; making the envs excluded). Methods run one after another (never in parallel:
they would compete for the cores). Prints a table and writes benchmarks/results/throughput_<algo>.json.

Targets (2 CPU cores, built-in task, PPO): gaze >= 500 env steps/s; gaze+contrastive <= 15% slower than none
(the paper reports ~32% for its implementation).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from gazelab.method.contrastive import ContrastiveConfig
from gazelab.rl.algorithms import ALGORITHMS, algorithm
from gazelab.rl.config import METHODS as TRAINING_METHODS

RESULTS = Path(__file__).resolve().parent / "results"
# The paper's four methods plus the contrastive step every 4th iteration (the stride option).
METHODS = dict(TRAINING_METHODS, **{"gaze+contrastive/4": dict(attention="gaze", contrastive=True,
                                                               contrastive_config=ContrastiveConfig(every=4))})


def measure(algo: str, env_id: str, steps: int, method: dict, threads: int, extra: dict) -> float:
    """Train once; environment steps per second of the training loop (charts/SPS: env creation excluded)."""
    trainer = algorithm(algo)
    with tempfile.TemporaryDirectory() as tmp:
        config = trainer.config_cls(env_id=env_id, total_timesteps=steps, eval_freq=0, checkpoint_every=0,
                                    progress=False, torch_threads=threads, run_dir=tmp, **method, **extra)
        return trainer.train(config).final["charts/SPS"]


def table(algo: str, env_id: str, steps: int, threads: int, methods: list[str], extra: dict) -> dict:
    print(f"\n{algo.upper()} on {env_id}, {steps} steps per method, torch threads {threads}")
    print(f"{'method':22s} {'env steps/s':>12s} {'vs none':>9s}")
    rows = {}
    for name in methods:
        sps = measure(algo, env_id, steps, METHODS[name], threads, extra)
        rows[name] = {"sps": sps}
        ratio = sps / rows["none"]["sps"] if "none" in rows else float("nan")
        rows[name]["ratio_to_none"] = ratio
        rows[name]["extra_time_vs_none"] = 1 / ratio - 1 if ratio == ratio else float("nan")
        print(f"{name:22s} {sps:12.0f} {ratio:8.2f}x  (wall time {100 * rows[name]['extra_time_vs_none']:+.0f}%)",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", choices=list(ALGORITHMS), default="ppo")
    parser.add_argument("--env-id", default="gazelab/ReachClutter-v0", help="built-in task (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=None, help="env steps per method (default: PPO 20480, SAC 4096)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--maniskill", action=argparse.BooleanOptionalAction, default=True,
                        help="also a short run on ManiSkill PushCube-v1 (CPU: 2 env processes)")
    args = parser.parse_args()
    steps = args.steps or (20_480 if args.algo == "ppo" else 4_096)
    # SAC: learning from the start, so the measured rate includes the updates.
    extra = {} if args.algo == "ppo" else {"learning_starts": 256}
    report = {"algo": args.algo, "threads": args.threads, "cuda": torch.cuda.is_available(),
              args.env_id: table(args.algo, args.env_id, steps, args.threads, args.methods, extra)}
    if args.maniskill:
        ms_extra = dict(extra, device="cpu", num_envs=2)
        ms_extra.update(num_steps=16, num_minibatches=4) if args.algo == "ppo" else ms_extra.update(training_freq=32)
        report["PushCube-v1"] = table(args.algo, "PushCube-v1", 128 if args.algo == "ppo" else 256, args.threads,
                                      ["none", "gaze", "gaze+contrastive"], ms_extra)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"throughput_{args.algo}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
