"""The ``gazelab`` command.

    gazelab train ppo --env-id gazelab/Reach-v0 --attention gaze --contrastive     train PPO (flags: ppo_rgb's)
    gazelab train sac --env-id gazelab/Reach-v0 --attention gaze                   train SAC (flags: sac_rgbd's)
    gazelab train ppo --resume runs/ppo/<run> [--total-timesteps N]                continue a run exactly
    gazelab eval runs/ppo/<run>                                                    success rate + GIF/MP4 with fovea
    gazelab demo [--smoke]                                                         baseline vs gaze+contrastive

Every subcommand has ``--help``. Bad values stop with one line ``gazelab: error: ...`` and exit status 2
before any work starts. A run whose losses or weights turn nan/inf stops with one line and exit status 1, keeping
its last good checkpoint. Any other error is a bug and shows its traceback.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import tyro

from gazelab.errors import GazelabError, TrainingDiverged

__all__ = ["main"]

USAGE = """usage: gazelab {train ppo,train sac,eval,demo} [--help] ...

gazelab: visual RL with return-guided foveal attention ("Gaze on the Prize", arXiv 2510.08442).

commands:
  train ppo   train PPO from pixels (ManiSkill3 ppo_rgb baseline) with optional gaze + contrastive update
  train sac   train SAC from pixels (ManiSkill3 sac_rgbd baseline) with optional gaze + contrastive update
  eval        evaluate a saved run: deterministic success rate, GIF/MP4 of an episode with the fovea drawn
  demo        CNN baseline vs gaze+contrastive PPO on the built-in cluttered task -> runs/demo/ (~4 min CPU;
              --smoke: ~1 min)

examples:
  gazelab train ppo --env-id gazelab/Reach-v0 --attention gaze --contrastive
  gazelab train ppo --env-id PushCube-v1 --num-envs 256 --attention gaze      (GPU: ManiSkill GPU simulation)
  gazelab train ppo --resume runs/ppo/<run> --total-timesteps 300000
  gazelab eval runs/ppo/<run> --num-episodes 100
  gazelab demo --smoke

Run `gazelab <command> --help` (e.g. `gazelab train ppo --help`) for every option.
"""


@dataclass
class EvalArgs:
    """Evaluate a saved run with its deterministic policy; write eval.json and a GIF (+ MP4) with the fovea."""

    run: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_OR_CHECKPOINT")]
    """run directory (holding checkpoint.pt) or checkpoint file"""
    num_episodes: int = 50
    """episodes to average the success rate over"""
    num_envs: int = 16
    """parallel environments for the evaluation"""
    seed: int = 10_000
    """seed of the evaluation episodes (differs from training seeds by default)"""
    out: Optional[str] = None
    """output directory (default: <run>/eval)"""
    video: bool = True
    """write episode.gif (and episode.mp4 if imageio-ffmpeg works) with the fovea drawn"""
    device: str = "auto"
    """torch device ('auto' = cuda if available)"""


@dataclass
class DemoArgs:
    """Train the CNN baseline and gaze+contrastive PPO on the built-in cluttered task; write a learning-curve PNG,
    a GIF of the trained agent with its fovea and a JSON summary."""

    smoke: bool = False
    """~1 minute version (tiny budgets); also on with GAZELAB_SMOKE=1"""
    out: str = "runs/demo"
    """output directory"""


@dataclass
class ResumeArgs:
    """Continue a run exactly where its checkpoint stopped, with the config it was started with; only these
    run-control fields may change."""

    resume: str
    """run directory (holding checkpoint.pt) or checkpoint file"""
    total_timesteps: Optional[int] = None
    """new total budget (None = the run's own); must leave at least one iteration after the checkpoint's step"""
    progress: bool = True
    """show a tqdm progress bar"""
    eval_freq: Optional[int] = None
    """evaluate every this many iterations (0 = never; None = as the run was started)"""
    checkpoint_every: Optional[int] = None
    """write a checkpoint every this many iterations (None = as the run was started)"""
    keep_checkpoints: Optional[int] = None
    """keep the newest this many periodic checkpoints ckpt_<global_step>.pt (None = as the run was started)"""
    torch_threads: Optional[int] = None
    """torch CPU threads (None = as the run was started)"""


def _resume_path(args: list[str]) -> Optional[str]:
    """The value of ``--resume PATH`` / ``--resume=PATH`` in ``args`` (None without one)."""
    for i, arg in enumerate(args):
        if arg.startswith("--resume="):
            return arg.split("=", 1)[1]
        if arg == "--resume" and i + 1 < len(args):
            return args[i + 1]
    return None


def _reject_saved_fields(config_cls, args: list[str]) -> None:
    """GazelabError naming the first config field in ``args`` (``--name``, ``--name=v``, ``--no-name``) that a
    resumed run cannot change, with its saved value and the fields it can."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    resumable = [f.name for f in dataclasses.fields(ResumeArgs) if f.name != "resume"]
    for arg in args:
        if not arg.startswith("--"):
            continue
        name = arg[2:].split("=", 1)[0].replace("-", "_")
        if name not in fields and name.startswith("no_"):
            name = name[3:]
        if name in fields and name not in resumable + ["resume"]:
            from gazelab.training import load_checkpoint

            saved = load_checkpoint(_resume_path(args), mmap=True)["config"]
            allowed = ", ".join("--progress/--no-progress" if f == "progress" else "--" + f.replace("_", "-")
                                for f in resumable)
            raise GazelabError(f"a resumed run keeps its saved config: {name} was {saved.get(name)!r}; with "
                               f"--resume only {allowed} may be given")


def _fail(message: str) -> int:
    print(f"gazelab: error: {message}", file=sys.stderr)
    return 2


def _train(algo: str, args: list[str]) -> int:
    from gazelab import training

    if algo == "ppo":
        from gazelab.ppo import PPOConfig as config_cls, train_ppo as train
    else:
        from gazelab.sac import SACConfig as config_cls, train_sac as train
    if _resume_path(args) is not None:
        # Continue a run: its saved config, plus the few run-control flags of ResumeArgs.
        _reject_saved_fields(config_cls, args)
        resume = tyro.cli(ResumeArgs, args=args, prog=f"gazelab train {algo}")
        overrides = {k: v for k, v in dataclasses.asdict(resume).items() if v is not None and k != "resume"}
        config = training.saved_config(config_cls, resume.resume, **overrides)
    else:
        config = tyro.cli(config_cls, args=args, prog=f"gazelab train {algo}",
                          description=(sys.modules[train.__module__].__doc__ or "").split("\n")[0])
    result = train(config)
    print(f"run directory: {result.run_dir}")
    print(f"checkpoint:    {result.checkpoint}")
    shown = {k: v for k, v in result.final.items() if k.startswith(("eval/", "charts/"))}
    print("final:         " + ", ".join(f"{k}={v:.3g}" for k, v in shown.items()))
    if result.interrupted:
        print(f"interrupted; continue with: gazelab train {algo} --resume {result.run_dir}")
        return 130
    return 0


def _eval(args: list[str]) -> int:
    from gazelab.evaluate import evaluate_run

    ea = tyro.cli(EvalArgs, args=args, prog="gazelab eval")
    for name in ("num_episodes", "num_envs"):
        if getattr(ea, name) < 1:
            raise GazelabError(f"{name} must be >= 1, got {getattr(ea, name)}")
    summary = evaluate_run(ea.run, num_episodes=ea.num_episodes, num_envs=ea.num_envs, seed=ea.seed, out_dir=ea.out,
                           video=ea.video, device=ea.device)
    print(f"{summary['env_id']} {summary['method']}: success {summary['eval/success_once']:.2f}, "
          f"return {summary['eval/return']:.2f}, length {summary['eval/episode_len']:.1f} "
          f"over {summary['num_episodes']} episodes")
    for path in summary.get("videos", []):
        print(f"video: {path}")
    print(f"summary: {summary['json']}")
    return 0


def _demo(args: list[str]) -> int:
    from gazelab.demo import run_demo

    da = tyro.cli(DemoArgs, args=args, prog="gazelab demo")
    run_demo(smoke=da.smoke or None, out_dir=da.out)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``gazelab`` script; returns the exit status (0 ok, 1 training diverged, 2 bad usage / value,
    130 Ctrl-C or SIGTERM)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "train":
            if not rest or rest[0] not in ("ppo", "sac"):
                return _fail("use `gazelab train ppo ...` or `gazelab train sac ...` (see `gazelab --help`)")
            return _train(rest[0], rest[1:])
        if command == "eval":
            return _eval(rest)
        if command == "demo":
            return _demo(rest)
    except GazelabError as e:  # bad input we checked; anything else is a bug and keeps its traceback
        return _fail(str(e))
    except TrainingDiverged as e:
        print(f"gazelab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return _fail(f"unknown command {command!r}; use train ppo, train sac, eval or demo (see `gazelab --help`)")


if __name__ == "__main__":
    sys.exit(main())
