"""Deterministic evaluation of a policy, and videos of it with its fovea drawn on the frames.

A *policy* here is any callable ``policy(obs) -> (action (N, A), AttentionOutput)``: ``PPOAgent.act`` and
``SACActor.act`` are (deterministic: the Gaussian mean, squashed for SAC).

* :func:`evaluate_policy`: success rate, return and length over N whole episodes (the trainers' ``eval/*``);
* :func:`record_episode`: frames of one episode with the attention overlay (:func:`gazelab.viz.draw_gaze`);
* :func:`write_video`: GIF (always) and MP4 (when imageio-ffmpeg works);
* :func:`load_policy` / :func:`evaluate_run`: the same for a saved run, used by ``gazelab eval``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from gazelab.attention import AttentionOutput
from gazelab.prize import GazeTracker
from gazelab.training import EnvSpaces, load_checkpoint, resolve_device
from gazelab.viz import draw_gaze, gaze_to_image

__all__ = ["evaluate_policy", "record_episode", "write_video", "load_policy", "evaluate_run"]

Policy = Callable[[dict], tuple[Tensor, AttentionOutput]]
EPISODE_KEYS = ("return", "success_once", "episode_len", "reward")
"""Per-episode metrics of ManiSkill's ``record_metrics`` (``reward`` = return / length, the mean reward per step)."""


@torch.no_grad()
def evaluate_policy(policy: Policy, env, num_episodes: int, cnn=None) -> dict[str, float]:
    """Mean ``return``, ``success_once``, ``episode_len`` and ``reward`` (per step) over ``num_episodes`` whole episodes.

    Rounds of: reset every env, step until each has finished one episode, keep each env's first episode
    (later ones would start mid-round and be cut short). So the built-in tasks' early termination on success,
    and ManiSkill's partial resets, never bias the count towards short episodes.

    With ``cnn`` (the policy's encoder) the gaze and gaze-on-prize means over every frame the policy saw are added
    (``mu_std``, ``prize_distance``, ... of :class:`gazelab.prize.GazeTracker`).
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an int >= 1, got {num_episodes!r}")
    collected: dict[str, list[Tensor]] = {k: [] for k in EPISODE_KEYS}
    tracker = GazeTracker(cnn) if cnn is not None else None
    count = 0
    while count < num_episodes:
        obs, _ = env.reset()
        finished = torch.zeros(env.num_envs, dtype=torch.bool)
        for _ in range(env.max_episode_steps):
            action, att = policy(obs)
            if tracker is not None:
                tracker.add(att, obs.get("prize"))
            obs, _, _, _, info = env.step(action)
            if "final_info" in info:
                done = info["_final_info"].cpu()
                first = done & ~finished
                for key in EPISODE_KEYS:
                    collected[key].append(info["final_info"]["episode"][key].cpu()[first].float())
                finished |= done
                if finished.all():
                    break
        count = sum(len(v) for v in collected["return"])
    metrics = {key: torch.cat(values)[:num_episodes].mean().item() for key, values in collected.items()}
    return {**metrics, **(tracker.scalars() if tracker is not None else {})}


def _overlay(frame: Tensor, att: AttentionOutput, i: int, scale: int, encoder=None) -> np.ndarray:
    if att.mu is not None:
        # The gaze lives on the feature map, which covers only the middle of the image: convert before drawing.
        mu, sigma = (att.mu[i], att.sigma[i]) if encoder is None else gaze_to_image(att.mu[i], att.sigma[i], encoder)
        return draw_gaze(frame, mu, sigma, att.rho[i], weights=att.weights[i], scale=scale)
    weights = None if bool((att.weights[i] == 1).all()) else att.weights[i]  # 'none': plain frame
    return draw_gaze(frame, weights=weights, scale=scale)


@torch.no_grad()
def record_episode(policy: Policy, env, *, scale: Optional[int] = None, env_index: int = 0, encoder=None
                   ) -> tuple[list[np.ndarray], dict[str, float]]:
    """Play one episode of env ``env_index`` from a reset; frames with the attention drawn on each.

    ``encoder``: the agent's CNN (e.g. ``agent.image.cnn``); when given, the gaze is converted from feature-map
    to image coordinates (:func:`gazelab.viz.gaze_to_image`) so the ellipse sits where the fovea really looks.

    Returns:
        frames: list of (H*scale, W*scale, 3) uint8, one per observation the policy saw (including the last);
        episode: that episode's return / success_once / episode_len.
    """
    obs, _ = env.reset()
    scale = scale or max(1, 256 // obs["rgb"].shape[1])
    frames = []
    for _ in range(env.max_episode_steps):
        action, att = policy(obs)
        frames.append(_overlay(obs["rgb"][env_index].cpu(), att, env_index, scale, encoder))
        obs, _, _, _, info = env.step(action)
        if "final_info" in info and bool(info["_final_info"][env_index]):
            last = {k: v[env_index:env_index + 1] for k, v in info["final_observation"].items()}
            frames.append(_overlay(last["rgb"][0].cpu(), policy(last)[1], 0, scale, encoder))
            episode = {k: float(info["final_info"]["episode"][k][env_index]) for k in EPISODE_KEYS}
            return frames, episode
    raise RuntimeError(f"episode of env {env_index} did not end within max_episode_steps={env.max_episode_steps}")


def image_cnn(agent) -> torch.nn.Module:
    """The CNN of a PPO agent (``agent.image``) or SAC actor (``agent.encoder``): needed to place the fovea."""
    image_encoder = agent.image if hasattr(agent, "image") else agent.encoder
    return image_encoder.cnn


def write_video(frames: list[np.ndarray], path_stem: str | os.PathLike, fps: int = 10) -> list[Path]:
    """Write ``<stem>.gif`` (always, looping) and ``<stem>.mp4`` (if imageio-ffmpeg works). Returns the paths."""
    import imageio.v3 as iio

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    gif = stem.with_suffix(".gif")
    iio.imwrite(gif, np.stack(frames), duration=1000 / fps, loop=0)
    written = [gif]
    try:
        # yuv420p needs even sides; our frames are multiples of the upscale factor, usually even anyway.
        mp4 = stem.with_suffix(".mp4")
        h, w = frames[0].shape[:2]
        iio.imwrite(mp4, np.stack([f[: h - h % 2, : w - w % 2] for f in frames]), fps=fps, plugin="FFMPEG",
                    codec="libx264", macro_block_size=1)
        written.append(mp4)
    except Exception as e:  # noqa: BLE001 -- the MP4 is optional; the GIF already exists
        print(f"(no MP4: {type(e).__name__}: {e})")
    return written


def load_policy(run_or_checkpoint, device: str = "auto"):
    """Rebuild the trained networks of a run -> (agent with ``.act``, config, checkpoint).

    The config is rebuilt from the checkpoint (so it is validated again); the agent is in eval mode on ``device``.
    No env is made: the network sizes come from the spaces saved in the checkpoint. The checkpoint is
    memory-mapped (``load_checkpoint(..., mmap=True)``), so what the policy does not need (a saved replay or
    contrastive buffer) is never read from disk unless the caller touches it in the returned checkpoint.
    """
    ckpt = load_checkpoint(run_or_checkpoint, mmap=True)
    if ckpt["algo"] == "ppo":
        from gazelab import ppo as algo
    else:
        from gazelab import sac as algo
    config = algo.config_from_dict({**ckpt["config"], "resume": None, "device": device})
    agent = algo.build_agent(config, _saved_spaces(ckpt, config))
    agent.load_state_dict(algo.policy_state(ckpt))
    return agent.to(resolve_device(device)).eval(), config, ckpt


def _saved_spaces(ckpt: dict, config) -> EnvSpaces:
    """The env spaces a checkpoint was trained with."""
    if "spaces" in ckpt:
        return EnvSpaces.from_state_dict(ckpt["spaces"])
    # Checkpoints written before the spaces were saved: read them from a one-env CPU copy of the task.
    from gazelab.envs import make_env

    env = make_env(config.env_id, 1, seed=0, device="cpu", **config.env_kwargs())
    try:
        return EnvSpaces.of(env)
    finally:
        env.close()


def evaluate_run(run_or_checkpoint, *, num_episodes: int = 50, num_envs: int = 16, seed: int = 10_000,
                 out_dir: Optional[str | os.PathLike] = None, video: bool = True, device: str = "auto",
                 fps: int = 10) -> dict:
    """Evaluate a saved run: deterministic success rate over ``num_episodes`` and a video of one episode.

    Writes ``eval.json`` (and ``episode.gif`` / ``episode.mp4``) to ``out_dir`` (default ``<run dir>/eval``).
    Returns the summary dict (metrics, episode of the video, written paths).
    """
    from gazelab.envs import describe_env, make_env

    agent, config, _ = load_policy(run_or_checkpoint, device)
    device_ = next(agent.parameters()).device
    path = Path(run_or_checkpoint)
    out = Path(out_dir) if out_dir is not None else (path if path.is_dir() else path.parent) / "eval"
    env = make_env(config.env_id, min(num_envs, num_episodes), seed=seed, device=device_, **config.env_kwargs())
    print(describe_env(env))
    try:
        metrics = evaluate_policy(agent.act, env, num_episodes, cnn=image_cnn(agent))
    finally:
        env.close()
    summary = {"run": str(run_or_checkpoint), "env_id": config.env_id, "method": config.method_name(),
               "num_episodes": num_episodes, "seed": seed, **{f"eval/{k}": v for k, v in metrics.items()}}
    if video:
        env = make_env(config.env_id, 1, seed=seed, device=device_, **config.env_kwargs())
        try:
            frames, episode = record_episode(agent.act, env, encoder=image_cnn(agent))
        finally:
            env.close()
        summary["video_episode"] = episode
        summary["videos"] = [str(p) for p in write_video(frames, out / "episode", fps)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    summary["json"] = str(out / "eval.json")
    return summary
