"""The ``gazelab`` command, built by tyro from the configs (``python -m gazelab`` runs the same)::

    gazelab train ppo --env-id gazelab/Reach-v0 --attention gaze --contrastive     train PPO (flags: ppo_rgb's)
    gazelab train sac --env-id gazelab/Reach-v0 --attention gaze                   train SAC (flags: sac_rgbd's)
    gazelab train ppo --resume runs/ppo/<run> [--total-timesteps N]                continue a run exactly
    gazelab eval runs/ppo/<run>                                                    success rate + GIF/MP4 with fovea
    gazelab demo [--smoke]                                                         baseline vs gaze+contrastive
    gazelab envs                                                                   the environment ids
    gazelab --version

Every command has ``--help``. ``train ppo --help`` shows the numbers the run would use: the per-task defaults of
``--env-id`` (default gazelab/Reach-v0) on ``--device``, or with ``--resume`` the run's saved config, because
those three flags are read first and the defaults built from them.

Bad values stop with one error naming the value and what is allowed, exit status 2, before any work starts. A run
whose losses or weights turn nan/inf stops with one line and exit status 1, keeping its last good checkpoint; Ctrl-C
or SIGTERM stops after a checkpoint with exit status 130. Any other error is a bug and shows its traceback.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Union

import tyro

import gazelab
from gazelab.rl.algorithms import ALGORITHMS, algorithm
from gazelab.rl.checkpoint import load_checkpoint
from gazelab.core.checks import AtLeast, check_fields
from gazelab.rl.config import TrainConfig, config_from_dict
from gazelab.core.errors import GazelabError, TrainingDiverged
from gazelab.envs.clutter import ClutterName

__all__ = ["main"]

DESCRIPTION = 'gazelab: visual RL with return-guided foveal attention ("Gaze on the Prize", arXiv 2510.08442).'


@dataclass
class Eval:
    """Evaluate a saved run with its deterministic policy; write eval.json and a GIF (+ MP4) with the fovea."""

    run: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_OR_CHECKPOINT")]
    """run directory (holding checkpoint.pt) or checkpoint file"""
    num_episodes: Annotated[int, AtLeast(1)] = 50
    """episodes to average the success rate over"""
    num_envs: Annotated[int, AtLeast(1)] = 16
    """parallel environments for the evaluation"""
    seed: int = 10_000
    """seed of the evaluation episodes (differs from training seeds by default)"""
    out: Optional[str] = None
    """output directory (default: <run>/eval)"""
    video: bool = True
    """write episode.gif (and episode.mp4 if imageio-ffmpeg works) with the fovea drawn"""
    device: str = "auto"
    """torch device ('auto' = cuda if available)"""
    clutter: Optional[ClutterName] = None
    """evaluate on this clutter level instead of the run's own (e.g. mild-table: clutter it never saw)"""

    def __post_init__(self):
        check_fields(self)

    def __call__(self) -> int:
        from gazelab.experiments.evaluate import evaluate_run

        summary = evaluate_run(self.run, num_episodes=self.num_episodes, num_envs=self.num_envs, seed=self.seed,
                               out_dir=self.out, video=self.video, device=self.device, clutter=self.clutter)
        print(f"{summary['env_id']} {summary['method']}: success {summary['eval/success_once']:.2f}, "
              f"return {summary['eval/return']:.2f}, length {summary['eval/episode_len']:.1f} "
              f"over {summary['num_episodes']} episodes")
        for path in summary.get("videos", []):
            print(f"video: {path}")
        print(f"summary: {summary['json']}")
        return 0


@dataclass
class Demo:
    """Train the CNN baseline, gaze+contrastive and the oracle fovea (PPO) on the evidence task; write a
    learning-curve PNG, a GIF of the trained gaze agent with its fovea and a JSON summary (~4 min on 2 CPU cores;
    --smoke: ~1-2 min)."""

    smoke: bool = False
    """~1 minute version (tiny budgets); also on with GAZELAB_SMOKE=1"""
    out: str = "runs/demo"
    """output directory"""

    def __call__(self) -> int:
        from gazelab.experiments.demo import run_demo

        run_demo(smoke=self.smoke or None, out_dir=self.out)
        return 0


@dataclass
class Envs:
    """List the environment ids, one line each: id, family, what the task is."""

    family: Optional[Literal["builtin", "maniskill"]] = None
    """only this family (default: both)"""

    def __call__(self) -> int:
        from gazelab.envs import list_envs, registry

        for env_id in list_envs(self.family):
            entry = registry[env_id]
            print(f"{env_id:28s} {entry.family:9s} {entry.description}")
        return 0


@dataclass
class _TrainTarget:
    """The flags the defaults of `gazelab train` depend on, read before the full command line."""

    env_id: Optional[str] = None
    device: Optional[str] = None
    resume: Optional[str] = None


def _train_defaults(argv: list[str]) -> dict[str, tuple[TrainConfig, str]]:
    """Per algorithm, the config ``train <algo> --help`` shows and fields not given on the command line take, and
    what it is: the per-task defaults of the given ``--env-id`` on ``--device``, or with ``--resume`` the run's
    saved config (its algorithm's entry; the command line still sets ``resume``)."""
    try:
        target, _ = tyro.cli(_TrainTarget, args=argv, return_unknown_args=True, add_help=False, console_outputs=False)
    except SystemExit:  # e.g. --env-id without a value: the full parse below reports it
        target = _TrainTarget()
    given = {k: v for k, v in (("env_id", target.env_id), ("device", target.device)) if v is not None}
    defaults = {}
    for name, algo in ALGORITHMS.items():
        config = algo.config_cls(**given).resolve()
        defaults[name] = config, f"{config.env_id}'s on {'this machine' if config.device == 'auto' else config.device}"
    if target.resume is not None:
        saved = load_checkpoint(target.resume, mmap=True)
        if saved["algo"] in ALGORITHMS:
            config = config_from_dict(ALGORITHMS[saved["algo"]].config_cls, saved["config"])
            defaults[saved["algo"]] = config, f"the saved config of {target.resume} (a resume may change only " \
                                              "the run-control fields)"
    return defaults


def _parser(defaults: dict[str, tuple[TrainConfig, str]]) -> type:
    """The command line as nested tyro subcommands, with the training subcommands' defaults built for this call."""
    def describe(name: str) -> str:
        return (f"{ALGORITHMS[name].summary}. Defaults shown: {defaults[name][1]}; with --env-id ID (and --device) "
                f"the help shows that task's numbers (per-task presets: gazelab.rl.{name}.TASK_DEFAULTS).")

    configs = Union[tuple(Annotated[ALGORITHMS[name].config_cls,
                                    tyro.conf.subcommand(name, default=defaults[name][0], description=describe(name))]
                          for name in ALGORITHMS)]
    train = dataclasses.make_dataclass("train", [("config", Annotated[configs, tyro.conf.arg(name="")])], namespace={
        "__doc__": "Train an agent from pixels (`gazelab train ppo --help`, `gazelab train sac --help`: every option).",
        "__call__": lambda self: _train(self.config)})
    command = Union[
        Annotated[train, tyro.conf.subcommand("train", prefix_name=False)],
        Annotated[Eval, tyro.conf.subcommand("eval", prefix_name=False)],
        Annotated[Demo, tyro.conf.subcommand("demo", prefix_name=False)],
        Annotated[Envs, tyro.conf.subcommand("envs", prefix_name=False)],
        Annotated[None, tyro.conf.subcommand("help", description="show this help")],
    ]
    main = dataclasses.make_dataclass("gazelab", [
        ("command", Annotated[command, tyro.conf.arg(name="")], dataclasses.field(default=None)),
        ("version", Annotated[bool, tyro.conf.FlagCreatePairsOff, tyro.conf.arg(help="print the version and exit")],
         dataclasses.field(default=False)),
    ])
    main.__doc__ = DESCRIPTION
    return main


def _train(config: TrainConfig) -> int:
    result = algorithm(config.algo).train(config)
    print(f"run directory: {result.run_dir}")
    print(f"checkpoint:    {result.checkpoint}")
    shown = {k: v for k, v in result.final.items() if k.startswith(("eval/", "charts/"))}
    print("final:         " + ", ".join(f"{k}={v:.3g}" for k, v in shown.items()))
    if result.interrupted:
        print(f"interrupted; continue with: gazelab train {config.algo} --resume {result.run_dir}")
        return 130
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``gazelab`` script; returns the exit status (0 ok, 1 training diverged, 2 bad usage / value,
    130 Ctrl-C or SIGTERM)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = (tyro.conf.OmitSubcommandPrefixes,)
    try:
        parser = _parser(_train_defaults(argv))
        parsed = tyro.cli(parser, args=argv, prog="gazelab", config=config)
        if parsed.version:
            print(f"gazelab {gazelab.__version__}")
            return 0
        if parsed.command is None:  # `gazelab` alone or `gazelab help`
            try:
                tyro.cli(parser, args=["--help"], prog="gazelab", config=config)
            except SystemExit:
                pass
            return 0 if argv else 2
        return parsed.command()
    except GazelabError as e:  # bad input we checked; anything else is a bug and keeps its traceback
        print(f"gazelab: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"gazelab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # tyro after --help (0) or a parse error it printed (2)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
