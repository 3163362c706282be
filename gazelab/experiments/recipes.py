"""The paper-scale recipe: PPO-rgb and SAC-rgbd on five ManiSkill3 tasks, CNN baseline vs gaze+contrastive, on GPUs.

One :class:`Recipe` per (algorithm, task): the environment count, budget and update settings ManiSkill's own
baselines use, where each number comes from, the exact ``gazelab train`` command and whether it has been run.
:func:`recipe_table` renders the table that README.md and notebook 08 show, and :func:`sweep_command` the one
command that runs an algorithm's whole grid on Ray over GPUs; tests/test_recipes.py checks that both documents
hold the table verbatim and that every command parses into exactly these settings. ``python -m gazelab.experiments.recipes``
prints the table and the sweep commands.

Sources (ManiSkill3 repository, ``examples/baselines``):

* PPO: ``ppo/examples.sh``, section "RGB Based PPO" (PushCube-v1, PickCube-v1, PushT-v1); PokeCube-v1 has only a
  state-based command there (3M steps, 20-step rollouts), run with the RGB commands' batch (256 envs, 8 epochs of 8
  minibatches). These are gazelab.rl.ppo.TASK_DEFAULTS on a CUDA device, which the rows read.
* SAC: ``sac/README.md``, "Vision Based RL", whose only RGB command is PickCube-v1: 32 envs, utd 0.5, a 300k
  replay buffer, a 64x64 camera, 1M steps; the other tasks take the same settings (ManiSkill has no SAC-RGB
  command for them). Two differences: ManiSkill's command uses the ``pd_ee_delta_pos`` controller, gazelab keeps
  ``pd_joint_delta_pos`` (not a config field); and at 64 px gazelab uses the fine CNN (10x10 map) for both methods,
  as NatureCNN's 4x4 map there is too coarse for a fovea (sac_rgbd's own PlainConv is not in gazelab).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from gazelab.rl.config import METHODS
from gazelab.rl.ppo import BASE_DEFAULTS, TASK_DEFAULTS, PPOConfig

__all__ = ["PAPER_TASKS", "PAPER_METHODS", "Recipe", "RECIPES", "cli_flags", "recipe_table", "sweep_command"]

PAPER_TASKS = ("PushCube-v1", "PickCube-v1", "PushT-v1", "PokeCube-v1", "gazelab/PushCubeClutter-v1")
PAPER_METHODS = ("none", "gaze+contrastive")
NOT_RUN = "not run yet"
PAPER_SEEDS = 3
"""Seeds per (task, method) in the sweep, as ManiSkill's baselines.sh runs per task."""

PPO_FIELDS = ("num_envs", "num_steps", "update_epochs", "num_minibatches", "gamma", "total_timesteps")
PPO_SOURCES = {
    "PushCube-v1": "ManiSkill `ppo/examples.sh`, RGB",
    "PickCube-v1": "ManiSkill `ppo/examples.sh`, RGB",
    "PushT-v1": "ManiSkill `ppo/examples.sh`, RGB",
    "PokeCube-v1": "ManiSkill `ppo/examples.sh`, state command's budget and rollout, RGB batch",
    "gazelab/PushCubeClutter-v1": "as PushCube-v1 (clutter is visual only)",
}
SAC_SETTINGS = dict(num_envs=32, utd=0.5, buffer_size=300_000, image_size=64, encoder="fine",
                    total_timesteps=1_000_000)
SAC_SOURCE = "ManiSkill `sac/README.md`, PickCube-v1 RGB command; fine CNN at 64 px"
SWEEP_EVAL_EVERY = {"ppo": 10}
"""The sweep's evaluation interval in iterations (PPO: ManiSkill's PushCube/PokeCube eval_freq, for every task so
that all curves share one cadence; SAC: its default, 25 iterations of 64 steps)."""


@dataclass(frozen=True)
class Recipe:
    """One row of the recipe: an algorithm on a task with ManiSkill's settings."""

    algo: str
    """'ppo' or 'sac'"""
    env_id: str
    settings: dict[str, Any]
    """config fields -> values (env count, budget, update settings)"""
    source: str
    """where the numbers come from"""
    status: str = field(default=NOT_RUN)
    """'not run yet', or what a run gave (with its date)"""

    def command(self, method: str = "none") -> str:
        """The ``gazelab train`` command of this row for a method of ``gazelab.rl.config.METHODS``."""
        values = {"env_id": self.env_id, "device": "cuda", **self.settings, **METHODS[method]}
        return shlex.join(["gazelab", "train", self.algo, *cli_flags(values)])


def cli_flags(values: dict[str, Any]) -> list[str]:
    """Config fields -> tyro flags: ``{"num_envs": 256, "contrastive": True}`` -> ``--num-envs 256 --contrastive``
    (False -> ``--no-<name>``)."""
    flags: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


def _ppo_settings(env_id: str) -> dict[str, Any]:
    """The per-task defaults a CUDA run takes (ppo_rgb's, by task); the CPU override of num_envs does not apply."""
    defaults = {**BASE_DEFAULTS, **TASK_DEFAULTS.get(env_id, {})}
    return {name: defaults.get(name, getattr(PPOConfig, name, None)) for name in PPO_FIELDS}


RECIPES: tuple[Recipe, ...] = (
    *(Recipe("ppo", task, _ppo_settings(task), PPO_SOURCES[task]) for task in PAPER_TASKS),
    *(Recipe("sac", task, SAC_SETTINGS, SAC_SOURCE) for task in PAPER_TASKS),
)


def _other_settings(recipe: Recipe) -> str:
    s = recipe.settings
    if recipe.algo == "ppo":
        return (f"{s['num_steps']}-step rollouts, {s['update_epochs']} epochs x {s['num_minibatches']} minibatches, "
                f"gamma {s['gamma']}")
    return f"utd {s['utd']}, replay {s['buffer_size']:,}, {s['image_size']} px camera, {s['encoder']} CNN"


def recipe_table() -> str:
    """The recipe as a markdown table (one row per algorithm and task)."""
    baseline, gaze = (" ".join(cli_flags(METHODS[m])) for m in PAPER_METHODS)
    lines = [f"| algorithm | task | envs | env steps | other settings | numbers from | command (CNN baseline; "
             f"gaze+contrastive: `{gaze}` instead of `{baseline}`) | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in RECIPES:
        lines.append(f"| {r.algo.upper()} | {r.env_id} | {r.settings['num_envs']} | "
                     f"{r.settings['total_timesteps']:,} | {_other_settings(r)} | {r.source} | `{r.command()}` | "
                     f"{r.status} |")
    return "\n".join(lines)


def sweep_command(algo: str) -> str:
    """The one command that runs ``algo``'s grid (PAPER_TASKS x PAPER_METHODS x PAPER_SEEDS) on Ray over GPUs:
    one GPU per trial on this machine (add ``--address auto --results-dir <shared dir>`` for a cluster)."""
    args = ["python", "benchmarks/sample_efficiency.py", "--algo", algo, "--tasks", *PAPER_TASKS,
            "--methods", *PAPER_METHODS, "--seeds", str(PAPER_SEEDS), "--backend", "ray", "--gpus-per-trial", "1",
            "--threads", "2", "--tag", f"paper-{algo}"]
    if algo in SWEEP_EVAL_EVERY:
        args += ["--eval-every", str(SWEEP_EVAL_EVERY[algo])]
    # device=cuda: a trial that lands without a GPU fails loudly instead of simulating ManiSkill on the CPU.
    overrides = {"device": "cuda"}
    if algo == "sac":  # PPO's settings are its per-task defaults; SAC's are the same for every task
        args += ["--total-timesteps", str(SAC_SETTINGS["total_timesteps"])]
        overrides.update({k: v for k, v in SAC_SETTINGS.items() if k != "total_timesteps"})
    args += ["--set", *(f"{k}={v}" for k, v in overrides.items())]
    return shlex.join(args)


if __name__ == "__main__":
    print(recipe_table())
    print()
    for algo in ("ppo", "sac"):
        print(sweep_command(algo))
