"""Saved runs on screen: evaluate a run's policy, and record an episode with its fovea drawn on the frames.

``gazelab eval`` is :func:`evaluate_run`; :func:`evaluate_on_levels` is the same policy on several clutter levels
(a policy trained on ``mild`` on clutter it never saw: ``benchmarks/generalisation.py``); :func:`evaluate_on_frames`
asks whether a policy reads its task from the pixels at all (``benchmarks/frame_swap.py``). The pieces:

* :func:`gazelab.rl.algorithms.load_policy`: the policy of a saved run, rebuilt without an env;
* :func:`gazelab.rl.evaluation.evaluate_policy`: success rate, return and length over N whole episodes;
* :func:`gazelab.rl.video.record_episode`: frames of one episode with the attention drawn, as the videos a run
  captures during training (``capture_video``); :func:`gazelab.rl.video.write_video`: GIF and MP4.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import torch

from gazelab.rl.algorithms import load_policy
from gazelab.rl.checkpoint import write_atomic
from gazelab.envs import describe_env, make_env
from gazelab.envs.clutter import clutter_level
from gazelab.rl.evaluation import evaluate_policy, random_actions
from gazelab.core.checks import check_choice
from gazelab.rl.video import image_cnn, record_episode, write_video

__all__ = ["evaluate_run", "evaluate_on_levels", "evaluate_on_frames", "FRAMES", "eval_env_kwargs"]

FRAMES: tuple[str, ...] = ("true", "other_episodes", "grey")
"""What :func:`evaluate_on_frames` shows the policy: its episode's own frames; at every step the frame of another
episode (a decoy env of the same task on another seed, under random actions: its goal and gripper are elsewhere);
or a uniform grey frame."""


def eval_env_kwargs(config, clutter: Optional[str] = None) -> dict:
    """``make_env`` keywords of a run's own task, with its clutter level swapped for ``clutter`` when given (an
    unknown level is refused by name, before any env is made)."""
    kwargs = config.env_kwargs()
    if clutter is not None:
        kwargs["clutter"] = clutter_level(clutter)
    return kwargs


def evaluate_run(run_or_checkpoint, *, num_episodes: int = 50, num_envs: int = 16, seed: int = 10_000,
                 out_dir: Optional[str | os.PathLike] = None, video: bool = True, device: str = "auto",
                 fps: int = 10, clutter: Optional[str] = None) -> dict:
    """Evaluate a saved run: deterministic success rate over ``num_episodes`` and a video of one episode.

    ``clutter``: a clutter level instead of the one the run trained on (e.g. a transfer level, ``mild-table``).
    Writes ``eval.json`` (and ``episode.gif`` / ``episode.mp4``) to ``out_dir`` (default ``<run dir>/eval``, or
    ``<run dir>/eval-<clutter>`` with ``clutter``). Returns the summary dict (metrics, episode of the video, paths).
    """
    agent, config, _ = load_policy(run_or_checkpoint, device)
    env_kwargs = eval_env_kwargs(config, clutter)
    device_ = next(agent.parameters()).device
    path = Path(run_or_checkpoint)
    folder = "eval" if clutter is None else f"eval-{env_kwargs['clutter']}"
    out = Path(out_dir) if out_dir is not None else (path if path.is_dir() else path.parent) / folder
    metrics = _evaluate_on(agent, config, env_kwargs, num_episodes, num_envs, seed, show=True)
    summary = {"run": str(run_or_checkpoint), "env_id": config.env_id, "method": config.method_name(),
               "clutter": env_kwargs.get("clutter"), "num_episodes": num_episodes, "seed": seed,
               **{f"eval/{k}": v for k, v in metrics.items()}}
    if video:
        env = make_env(config.env_id, 1, seed=seed, device=device_, **env_kwargs)
        try:
            frames, episode = record_episode(agent.act, env, encoder=image_cnn(agent))
        finally:
            env.close()
        summary["video_episode"] = episode
        summary["videos"] = [str(p) for p in write_video(frames, out / "episode", fps)]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "eval.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    summary["json"] = str(out / "eval.json")
    return summary


def evaluate_on_levels(run_or_checkpoint, levels, *, num_episodes: int = 100, num_envs: int = 50,
                       seed: int = 10_000, device: str = "auto") -> dict:
    """A saved run's deterministic policy on each clutter level of ``levels``: ``{"method": its method's name,
    "trained_on": its clutter level, "levels": {level: metrics of evaluate_policy}}`` (success, return, and the
    gaze-on-prize means such as ``prize_distance`` for a gaze). Every level plays the same task episodes (the same
    ``seed``): only the clutter's pixels differ, so a drop in success is the clutter's doing. Loads the policy once."""
    agent, config, _ = load_policy(run_or_checkpoint, device)
    kwargs = {level: eval_env_kwargs(config, level) for level in levels}  # every name checked before any run
    results = {level: _evaluate_on(agent, config, kwargs[level], num_episodes, num_envs, seed) for level in levels}
    return {"method": config.method_name(), "trained_on": config.clutter, "levels": results}


def _evaluate_on(agent, config, env_kwargs: dict, num_episodes: int, num_envs: int, seed: int,
                 show: bool = False) -> dict[str, float]:
    """The policy's :func:`evaluate_policy` metrics on ``config``'s task made with ``env_kwargs`` (``show``: print
    where it runs)."""
    env = make_env(config.env_id, min(num_envs, num_episodes), seed=seed, device=next(agent.parameters()).device,
                   **env_kwargs)
    if show:
        print(describe_env(env))
    try:
        return evaluate_policy(agent.act, env, num_episodes, cnn=image_cnn(agent))
    finally:
        env.close()


def evaluate_on_frames(run_or_checkpoint, frames=FRAMES, *, num_episodes: int = 64, num_envs: int = 32,
                       seed: int = 10_000, decoy_seed: int = 99_999, device: str = "auto") -> dict:
    """A saved run's deterministic policy on its own task, shown each kind of ``frames`` in turn (see :data:`FRAMES`);
    everything else it reads stays true: the state vector and, for the oracle fovea, the privileged ``prize`` that
    places it. ``frames``: one kind (a string) or several. Every kind plays the same episodes (the same ``seed``).
    Loads the policy once.

    A policy that reads the goal from the image falls to about a random policy's success with ``other_episodes``
    or ``grey``. One that keeps its success finds the goal elsewhere: the oracle's fovea is placed by the true goal,
    so *where its weights are* tells the heads where the goal is whatever the pixels show. Returns ``{"method": its
    method's name, "clutter": its level, "frames": {kind: metrics of evaluate_policy}}``.
    """
    frames = (frames,) if isinstance(frames, str) else tuple(frames)  # one kind, or several
    for kind in frames:
        check_choice("frames", kind, FRAMES)
    agent, config, _ = load_policy(run_or_checkpoint, device)
    device_ = next(agent.parameters()).device
    kwargs = eval_env_kwargs(config)
    num_envs = min(num_envs, num_episodes)
    results = {}
    for kind in frames:
        env = make_env(config.env_id, num_envs, seed=seed, device=device_, **kwargs)
        decoy = make_env(config.env_id, num_envs, seed=decoy_seed, device=device_, **kwargs) \
            if kind == "other_episodes" else None
        try:
            if kind == "true":
                policy = agent.act
            elif kind == "grey":
                def policy(obs):
                    return agent.act({**obs, "rgb": torch.full_like(obs["rgb"], 128)})
            else:
                shown = {"obs": decoy.reset(seed=decoy_seed)[0]}
                decoy_moves = random_actions(decoy, torch.Generator().manual_seed(decoy_seed))

                def policy(obs):
                    out = agent.act({**obs, "rgb": shown["obs"]["rgb"]})
                    shown["obs"] = decoy.step(decoy_moves(obs)[0].to(device_))[0]
                    return out
            with torch.no_grad():
                results[kind] = evaluate_policy(policy, env, num_episodes, cnn=image_cnn(agent))
        finally:
            env.close()
            if decoy is not None:
                decoy.close()
    return {"method": config.method_name(), "clutter": config.clutter, "frames": results}
