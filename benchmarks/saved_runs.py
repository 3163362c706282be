"""Shared plumbing of the benchmarks that replay saved runs on a built-in task (gaze_focus.py, mining_quality.py).

Each of those scripts defines ``measure(run_dir, envs, steps, seed) -> dict`` and a table layout; ``main`` parses
the common command line (run directories, --envs, --steps, --seed), measures every run with one torch thread,
prints the table and writes the rows to ``benchmarks/results/<name>.json`` (``--out``: another file).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Callable

import torch

from gazelab.rl.algorithms import load_policy
from gazelab.envs import make_env

RESULTS = Path(__file__).resolve().parent / "results"
Column = tuple[str, str, str]
"""(header, row key, format spec incl. width), e.g. ("mu std", "mu_std", ">7.3f")."""
ID_COLUMNS: list[Column] = [("env", "env_id", "24s"), ("method", "method", "26s"), ("seed", "seed", ">4d")]


def open_run(run_dir: str, envs: int, seed: int):
    """(agent, config, env): a saved run's policy (CPU) and ``envs`` fresh copies of its built-in task."""
    agent, config, _ = load_policy(run_dir, device="cpu")
    env = make_env(config.env_id, envs, seed=seed, device="cpu", **config.env_kwargs())
    if not hasattr(env, "gripper"):
        env.close()
        raise ValueError(f"{run_dir}: {config.env_id} is not a built-in reach/push task (needs true positions)")
    return agent, config, env


def run_identity(run_dir: str, config) -> dict:
    """The columns every row starts with."""
    return {"run": str(run_dir), "env_id": config.env_id, "method": config.method_name(), "seed": config.seed}


def _header(header: str, fmt: str) -> str:
    """A column header padded and aligned like the column's values (fmt such as ">7.3f" or "24s")."""
    align, width = re.match(r"([<>^]?)(\d+)", fmt).groups()
    return f"{header:{align or '<'}{width}}"


def main(doc: str, measure: Callable[[str, int, int, int], dict], columns: list[Column], name: str,
         steps: int, seed: int) -> None:
    """Command line of a replay benchmark (see the module docstring); ``doc`` is the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories (with checkpoint.pt)")
    parser.add_argument("--envs", type=int, default=64, help="parallel envs replayed per run")
    parser.add_argument("--steps", type=int, default=steps, help="steps replayed per env")
    parser.add_argument("--seed", type=int, default=seed, help="seed of the replayed episodes")
    parser.add_argument("--out", type=Path, default=RESULTS / f"{name}.json", help="where the rows go (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        rows = [measure(run, args.envs, args.steps, args.seed) for run in args.runs]
    except (ValueError, FileNotFoundError) as err:  # a run this benchmark cannot measure: say which and why
        parser.error(str(err))
    columns = ID_COLUMNS + columns
    print(" ".join(_header(header, fmt) for header, _, fmt in columns))
    for row in rows:
        print(" ".join(f"{row[key]:{fmt}}" for _, key, fmt in columns))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")
