"""Does the gaze transfer? Policies trained on one clutter level, evaluated on clutter they never saw.

    python benchmarks/generalisation.py generalise-mild/none generalise-mild/gaze generalise-mild/gaze+contrastive \
        aug-shift-mild/none aug-shift-mild/gaze+contrastive --out benchmarks/results/generalisation/mild.json

Each TAG/METHOD names the seeds of a sweep (``benchmarks/sample_efficiency.py --tag TAG``) whose checkpoints are
still on disk (``--root``: the results folder that holds them; the committed copies keep no checkpoints). Every
seed's final deterministic policy plays the same ``--episodes`` task episodes on each level of ``--levels``: the
trained level first, then the ladder's louder levels and the transfer levels (mild with one thing changed:
``gazelab.envs.clutter.TRANSFER_LEVELS``). Only the clutter's pixels differ between levels, so a drop in success is
the clutter's doing.

Per method and level: the success rate's IQM over seeds with its 95% stratified bootstrap interval (rliable), the
drop from the trained level (per seed, then IQM), and for a gaze the fovea's distance to the prize (image units; a
centred fovea is ~0.6 away). Writes the JSON (per-seed values included) and a figure beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gazelab.envs import CLUTTER_LADDER, TRANSFER_LEVELS
from gazelab.experiments import statistics, sweep
from gazelab.experiments.evaluate import evaluate_on_levels
from gazelab.rl.checkpoint import write_atomic

ROOT = Path(__file__).resolve().parent / "results" / "sample_efficiency"
LEVELS = ("mild", "medium", "heavy") + TRANSFER_LEVELS
"""Trained level first: the drop of every other level is measured from it."""


def summarise(per_seed: dict[str, list[float]], trained: str) -> dict[str, dict]:
    """{level: {"iqm": (low, IQM, high) of the values, "drop": (low, IQM, high) of trained - level}}."""
    base = np.array(per_seed[trained])
    out = {}
    for level, values in per_seed.items():
        values = np.array(values)
        out[level] = {"iqm": statistics.iqm_interval(values),
                      **({"drop": statistics.iqm_interval(base - values)} if level != trained else {})}
    return out


def plot(result: dict, path: Path) -> None:
    from gazelab.teach.viz import plot_transfer

    fig = plot_transfer(result)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sweep.add_saved_run_arguments(parser, ROOT, episodes=100, example="generalise-mild/none")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=list(CLUTTER_LADDER) + list(LEVELS),
                        help="clutter levels, the trained one first (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write (and a PNG beside it)")
    args = parser.parse_args()
    if len(set(args.levels)) != len(args.levels):
        parser.error(f"--levels {args.levels}: each level once")
    runs = sweep.saved_runs(args)

    from tqdm.auto import tqdm

    methods = {}
    with tqdm(total=sum(map(len, runs.values())), desc="seeds evaluated", unit="seed") as bar:
        for spec, seeds in runs.items():
            success = {level: [] for level in args.levels}
            distance = {level: [] for level in args.levels}
            centred = []  # a fovea fixed at the map centre: the distance a gaze that found nothing would show
            for run in seeds:
                evaluated = evaluate_on_levels(run, args.levels, num_episodes=args.episodes, seed=args.seed,
                                               num_envs=min(50, args.episodes))
                if evaluated["trained_on"] != args.levels[0]:
                    sys.exit(f"{run} trained on clutter={evaluated['trained_on']!r}; put that level first in --levels")
                for level, values in evaluated["levels"].items():
                    success[level].append(values["success_once"])
                    if "prize_distance" in values:
                        distance[level].append(values["prize_distance"])
                        centred.append(values["centre_distance"])
                bar.update()
            label = evaluated["method"]
            methods[spec] = {"label": label, "runs": [str(p) for p in seeds], "success": success,
                             "success_summary": summarise(success, args.levels[0]),
                             **({"prize_distance": distance, "centre_distance": float(np.mean(centred)),
                                 "prize_distance_summary": summarise(distance, args.levels[0])}
                                if all(distance.values()) else {})}
    result = {"command": " ".join(["python", "benchmarks/generalisation.py", *sys.argv[1:]]),
              "task": args.task, "levels": args.levels, "episodes": args.episodes, "seed": args.seed,
              "methods": methods}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, lambda tmp: tmp.write_text(json.dumps(result, indent=1)))
    plot(result, args.out.with_suffix(".png"))
    print(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def markdown(result: dict) -> str:
    """Success IQM [95% interval] per method (rows) and level (columns); below it the drop and the fovea distance."""
    levels = result["levels"]
    lines = ["| method | " + " | ".join(levels) + " |", "|---" * (len(levels) + 1) + "|"]
    for entry in result["methods"].values():
        cells = []
        for level in levels:
            summary = entry["success_summary"][level]
            text = statistics.format_interval(summary["iqm"], ".2f")
            if "drop" in summary:
                text += f" (drop {summary['drop'][1]:+.2f})"
            if "prize_distance_summary" in entry:
                text += f"; fovea {entry['prize_distance_summary'][level]['iqm'][1]:.2f}"
            cells.append(text)
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
