"""Measure the margins of the test suite's learning checks over seeds, torch thread counts and deterministic mode.

    python scripts/learning_margins.py                       # PPO and SAC, seeds 1-5, 1 and 2 threads
    python scripts/learning_margins.py --algos ppo --seeds 1 2 --deterministic

Seeded float results differ between CPUs, so a learning test that passes here may fail on the next machine
unless its margin holds across seeds and float paths. This script runs each check of tests/learning_checks.py
(the same configs the tests use) for every (seed, threads[, deterministic]) and prints the trained and random
policies' mean reward per step and success rate, and the margin (trained - random reward) the tests assert on.
Writes benchmarks/results/learning_margins.json (replacing the rows of the algorithms measured, keeping the others).
Each run is one process, so thread counts do not mix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "learning_margins.json"
CHILD = """
import json, sys, torch
sys.path.insert(0, {tests!r})
import learning_checks
torch.set_num_threads({threads})
if {deterministic}:
    torch.use_deterministic_algorithms(True)
trained, random = learning_checks.train_and_compare({algo!r}, {run_dir!r}, seed={seed})
print("RESULT " + json.dumps({{"trained": trained, "random": random}}))
"""


def measure(algo: str, seed: int, threads: int, deterministic: bool) -> dict:
    """One check in a fresh process; its trained/random metrics and margin."""
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(tests=str(ROOT / "tests"), threads=threads, deterministic=deterministic, algo=algo,
                            run_dir=str(Path(tmp) / "run"), seed=seed)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    trained, random = result["trained"], result["random"]
    return {"algo": algo, "seed": seed, "threads": threads, "deterministic": deterministic,
            "trained_reward": trained["reward"], "random_reward": random["reward"],
            "trained_success": trained["success_once"], "random_success": random["success_once"],
            "margin": trained["reward"] - random["reward"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--deterministic", action="store_true", help="also run each with deterministic algorithms")
    args = parser.parse_args()
    modes = [False, True] if args.deterministic else [False]
    rows = []
    print(f"{'algo':4s} {'seed':>4s} {'thr':>3s} {'det':>5s} {'reward':>7s} {'random':>7s} {'margin':>7s} "
          f"{'success':>7s} {'random':>7s}")
    for algo in args.algos:
        for seed in args.seeds:
            for threads in args.threads:
                for deterministic in modes:
                    row = measure(algo, seed, threads, deterministic)
                    rows.append(row)
                    print(f"{algo:4s} {seed:>4d} {threads:>3d} {deterministic!s:>5s} {row['trained_reward']:>7.3f} "
                          f"{row['random_reward']:>7.3f} {row['margin']:>7.3f} {row['trained_success']:>7.3f} "
                          f"{row['random_success']:>7.3f}", flush=True)
    for algo in args.algos:
        margins = [r["margin"] for r in rows if r["algo"] == algo]
        print(f"{algo}: margin min {min(margins):.3f}, mean {sum(margins) / len(margins):.3f}, max {max(margins):.3f} "
              f"over {len(margins)} runs")
    # Keep the rows of the algorithms not measured now, so `--algos ppo` and `--algos sac` runs add up.
    kept = [r for r in json.loads(RESULTS.read_text()) if r["algo"] not in args.algos] if RESULTS.exists() else []
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(kept + rows, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
