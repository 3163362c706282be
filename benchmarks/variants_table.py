"""One table of sweep results with the gaze-on-prize metric: every (tag, method) of benchmarks/results/sample_efficiency.

    python benchmarks/variants_table.py screen-mild-*              # tags (shell patterns) under the results directory
    python benchmarks/variants_table.py ladder-* --markdown --out benchmarks/results/prize_ladder.json
    python benchmarks/variants_table.py 'm20-*' --versus screen-mild-keypoint-rlfree/gaze+contrastive --markdown

Per (tag, task, method), over its seeds: how many reached the threshold (0.5 success) and the steps to it as IQM with
its 95% stratified bootstrap interval (rliable; runs that never reached it count at their budget: *censored*), the
area under each run's success curve (its mean success over all evaluations, ``sweep.success_auc``: far steadier than
one crossing of 0.5) as IQM with its interval, with ``--versus TAG/METHOD`` the speed-up over that reference (IQM
ratio with its interval) and the AUC difference (IQM difference with its interval; the rows must share the reference's
budget), the final success (mean of each run's last two evaluations), and, from the same last two evaluations of every
run, where the gaze looked: fovea-to-prize distance against a fovea fixed at the map centre, weight on the prize
against chance, spread of the fovea's centre across frames and its sigma (image units for distances and spread, map
units for sigma); and when the gaze *found* the prize (median over seeds of the first step its rollout fovea sat
nearer the prize than 0.6x a centred fovea's distance, ``sweep.gaze_found_step``; "never" counts the seeds that did
not). The config overrides of the tag (``summary.json``'s ``extra``) name the variant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gazelab.experiments import statistics, sweep

ROOT = Path(__file__).resolve().parent / "results" / "sample_efficiency"
THRESHOLD = 0.5
"""The sweeps' success threshold: each result.json's steps_to_threshold was measured at it (sample_efficiency.py's
default; every committed sweep used it)."""
def fmt(row: dict, key: str, spec: str = ".2f") -> str:
    return format(row[key], spec) if key in row else "-"


def found_at(row: dict) -> str:
    """Median step at which the gaze found the prize, with the seeds that never did; '-' without a gaze."""
    steps = [s for s in row["found_steps"] if s is not None]
    never = len(row["found_steps"]) - len(steps)
    if "prize_distance" not in row:
        return "-"
    text = f"{np.median(steps) / 1000:.1f}k" if steps else "never"
    return text + (f" ({never} never)" if never and steps else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tags", nargs="+", help="tag names or shell patterns, e.g. 'screen-mild-*'")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--versus", default=None, metavar="TAG/METHOD",
                        help="a reference row: every row's speed-up over it (IQM ratio, 95%% interval)")
    args = parser.parse_args()
    rows = sweep.variant_rows(ROOT, args.tags, THRESHOLD)
    reference = None
    if args.versus:
        tag, _, method = args.versus.partition("/")
        found = [r for r in sweep.variant_rows(ROOT, [tag], THRESHOLD) if r["method"] == method]
        if len(found) != 1:
            parser.error(f"--versus {args.versus!r}: no single (tag, method) row under {ROOT}")
        reference = found[0]
    header = ["tag", "method", "overrides", "reached", "steps to 0.5 (IQM [95%])", "success AUC (IQM [95%])",
              "final success", "fovea->prize", "centre->prize", "mass on prize", "mu std", "sigma", "found prize at"]
    if reference is not None:
        header += [f"speed-up vs {args.versus}", "AUC difference"]
    lines = []
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in r["extra"].items()) or "-"
        r["auc_iqm"] = list(statistics.iqm_interval(r["auc_per_seed"]))
        lines.append([r["tag"], r["method"], extra, f"{r['reached']}/{r['seeds']}",
                      statistics.format_interval(r["steps_to_threshold_iqm"]),
                      statistics.format_interval(r["auc_iqm"], ".3f"),
                      f"{r['final_success_mean']:.2f} ± {r['final_success_std']:.2f}",
                      fmt(r, "prize_distance"), fmt(r, "centre_distance"),
                      f"{fmt(r, 'prize_mass')} / {fmt(r, 'prize_mass_chance')}", fmt(r, "mu_std"), fmt(r, "sigma_x"),
                      found_at(r)])
        if reference is not None:
            if r["budget"] != reference["budget"]:
                parser.error(f"{r['tag']}/{r['method']} ran {r['budget']} steps, the reference {reference['budget']}: "
                             "areas under success curves of different budgets do not compare")
            r["speedup_vs_reference_iqm"] = list(statistics.speedup_interval(reference["censored_steps"],
                                                                             r["censored_steps"]))
            r["auc_difference_vs_reference_iqm"] = list(statistics.difference_interval(reference["auc_per_seed"],
                                                                                       r["auc_per_seed"]))
            lines[-1] += [statistics.format_interval(r["speedup_vs_reference_iqm"], ".2f", "x"),
                          statistics.format_interval(r["auc_difference_vs_reference_iqm"], "+.3f")]
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
