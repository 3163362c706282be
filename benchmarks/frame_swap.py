"""Does a policy read the goal from the pixels? Final policies played with their frames swapped.

    python benchmarks/frame_swap.py leak-mild/none leak-mild/gaze leak-mild/oracle \
        --out benchmarks/results/frame_swap/mild.json

Each TAG/METHOD names the seeds of a sweep (``benchmarks/sample_efficiency.py --tag TAG``) whose checkpoints are still
on disk (``--root``). Every seed's final deterministic policy plays the same ``--episodes`` task episodes three times
(:func:`gazelab.experiments.evaluate.evaluate_on_frames`): on its own frames; with each frame swapped for the frame of
another episode (its goal and gripper elsewhere); and on grey frames. The state vector, and the privileged goal
position that places the oracle's fovea, stay true. A uniformly random policy on the same episodes is the floor.

Why: the oracle fovea is placed by the true goal position, so the heads could learn where the goal is from *where its
weights are* rather than from the image; then its speed-up over the CNN is not what a perfect eye on the image would
buy. A policy that reads the goal from the image falls to the floor on swapped frames. Per method and frames: the
success rate's IQM over seeds with its 95% stratified bootstrap interval (rliable). Writes the JSON (per-seed values
included) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gazelab.envs import make_env
from gazelab.experiments import statistics, sweep
from gazelab.experiments.evaluate import FRAMES, evaluate_on_frames
from gazelab.rl.checkpoint import write_atomic
from gazelab.rl.evaluation import evaluate_policy, random_actions

ROOT = Path(__file__).resolve().parent / "results" / "sample_efficiency"


def random_success(task: str, clutter: str, episodes: int, seed: int) -> float:
    """Success of uniformly random actions on the same episodes (the floor)."""
    env = make_env(task, min(32, episodes), seed=seed, clutter=clutter)
    try:
        return evaluate_policy(random_actions(env, torch.Generator().manual_seed(seed)), env, episodes)["success_once"]
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sweep.add_saved_run_arguments(parser, ROOT, episodes=64, example="leak-mild/oracle")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = parser.parse_args()
    runs = sweep.saved_runs(args)

    from tqdm.auto import tqdm

    methods, clutter = {}, None
    with tqdm(total=sum(map(len, runs.values())), desc="seeds played", unit="seed") as bar:
        for spec, seeds in runs.items():
            success = {frames: [] for frames in FRAMES}
            for run in seeds:
                played = evaluate_on_frames(run, FRAMES, num_episodes=args.episodes, seed=args.seed)
                for frames, metrics in played["frames"].items():
                    success[frames].append(metrics["success_once"])
                bar.update()
            clutter = played["clutter"]
            methods[spec] = {"label": played["method"], "runs": [str(p) for p in seeds], "success": success,
                             "iqm": {frames: statistics.iqm_interval(np.array(values))
                                     for frames, values in success.items()}}
    result = {"command": " ".join(["python", "benchmarks/frame_swap.py", *sys.argv[1:]]), "task": args.task,
              "clutter": clutter, "episodes": args.episodes, "seed": args.seed,
              "random_policy": random_success(args.task, clutter, args.episodes, args.seed), "methods": methods}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, lambda tmp: tmp.write_text(json.dumps(result, indent=1)))
    print(markdown(result))
    print(f"wrote {args.out}")


def markdown(result: dict) -> str:
    """Success IQM [95% interval] per method (rows) and frames (columns), and the random policy's floor."""
    header = {"true": "its own frames", "other_episodes": "frames of other episodes", "grey": "grey frames"}
    lines = ["| method | seeds | " + " | ".join(header[f] for f in FRAMES) + " |", "|---" * (len(FRAMES) + 2) + "|"]
    for entry in result["methods"].values():
        cells = [statistics.format_interval(entry["iqm"][f], ".2f") for f in FRAMES]
        lines.append(f"| {entry['label']} | {len(entry['runs'])} | " + " | ".join(cells) + " |")
    lines.append(f"| random actions | - | {result['random_policy']:.2f} | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
