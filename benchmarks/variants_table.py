"""One table of sweep results with the gaze-on-prize metric: every (tag, method) of benchmarks/results/sample_efficiency.

    python benchmarks/variants_table.py screen-mild-*              # tags (shell patterns) under the results directory
    python benchmarks/variants_table.py ladder-* --markdown --out benchmarks/results/prize_ladder.json

Per (tag, task, method), over its seeds: how many reached the threshold (0.5 success) and the mean steps to it
(runs that never reached it count at their budget: *censored*), the final success (mean of each run's last two
evaluations), and, from the same last two evaluations of every run, where the gaze looked: fovea-to-prize distance
against a fovea fixed at the map centre, weight on the prize against chance, spread of the fovea's centre across
frames and its sigma (image units for distances and spread, map units for sigma). The config overrides of the
tag (``summary.json``'s ``extra``) name the variant.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from pathlib import Path

import numpy as np

from gazelab import sweep

ROOT = Path(__file__).resolve().parent / "results" / "sample_efficiency"
THRESHOLD = 0.5
"""The sweeps' success threshold: each result.json's steps_to_threshold was measured at it (sample_efficiency.py's
default; every committed sweep used it)."""
GAZE_KEYS = ("prize_distance", "centre_distance", "prize_mass", "prize_mass_chance", "mu_std", "sigma_x")


def final_gaze(run: Path) -> dict:
    """The gaze metrics of a run's last two evaluations (the window of its final success), averaged."""
    evals = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    last = [row for row in evals if "eval/success_once" in row][-2:]
    return {k: float(np.mean([row[f"eval/{k}"] for row in last])) for k in GAZE_KEYS
            if last and all(f"eval/{k}" in row for row in last)}


def collect(patterns: list[str]) -> list[dict]:
    """Rows (tag, task, method, overrides, the sweep's statistics, per-seed steps, gaze metrics averaged over seeds)
    for every tag matching a pattern; steps to threshold and final success are the trials' own (``result.json``,
    at the sweep's threshold), aggregated by :func:`gazelab.sweep.aggregate` as in ``summary.json``."""
    rows = []
    tags = (p for p in ROOT.iterdir() if p.is_dir() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns))
    for tag_dir in sorted(tags):
        summary = tag_dir / "summary.json"
        extra = json.loads(summary.read_text()).get("extra", {}) if summary.exists() else {}
        for task_dir in sorted(p for p in tag_dir.iterdir() if p.is_dir()):
            for method_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
                runs = [r for r in sorted(method_dir.glob("seed*")) if (r / "result.json").exists()]
                if not runs:
                    continue
                results = [json.loads((r / "result.json").read_text()) for r in runs]
                (stats,) = (m for t in sweep.aggregate(results, THRESHOLD).values()
                            for m in t.values())
                row = {"tag": tag_dir.name, "task": task_dir.name, "method": method_dir.name, "extra": extra, **stats,
                       "steps_per_seed": [r["steps_to_threshold"] for r in results]}
                gazes = [final_gaze(r) for r in runs]
                for key in GAZE_KEYS:
                    values = [g[key] for g in gazes if key in g]
                    if values:
                        row[key] = float(np.mean(values))
                rows.append(row)
    return rows


def fmt(row: dict, key: str, spec: str = ".2f") -> str:
    return format(row[key], spec) if key in row else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tags", nargs="+", help="tag names or shell patterns, e.g. 'screen-mild-*'")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = collect(args.tags)
    header = ["tag", "method", "overrides", "reached", "steps to 0.5", "final success", "fovea->prize", "centre->prize",
              "mass on prize", "mu std", "sigma"]
    lines = []
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in r["extra"].items()) or "-"
        lines.append([r["tag"], r["method"], extra, f"{r['reached']}/{r['seeds']}",
                      f"{r['steps_to_threshold_mean']:,.0f} ± {r['steps_to_threshold_std']:,.0f}",
                      f"{r['final_success_mean']:.2f} ± {r['final_success_std']:.2f}",
                      fmt(r, "prize_distance"), fmt(r, "centre_distance"),
                      f"{fmt(r, 'prize_mass')} / {fmt(r, 'prize_mass_chance')}", fmt(r, "mu_std"), fmt(r, "sigma_x")])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)] if lines else []
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for line in lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths)))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
