"""Saved runs on screen: evaluate a run's policy, and record an episode with its fovea drawn on the frames.

``gazelab eval`` is :func:`evaluate_run`. The pieces:

* :func:`gazelab.rl.algorithms.load_policy`: the policy of a saved run, rebuilt without an env;
* :func:`gazelab.rl.evaluation.evaluate_policy`: success rate, return and length over N whole episodes;
* :func:`record_episode`: frames of one episode with the attention overlay (:func:`gazelab.teach.viz.draw_gaze`), the
  gaze converted from feature-map to image coordinates (:func:`record_episodes`: several in a row);
* :func:`write_video`: GIF (always) and MP4 (when imageio-ffmpeg works).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from gazelab.rl.algorithms import load_policy
from gazelab.method.attention import AttentionOutput
from gazelab.rl.checkpoint import write_atomic
from gazelab.envs import describe_env, make_env
from gazelab.rl.evaluation import EPISODE_KEYS, Policy, evaluate_policy
from gazelab.teach.viz import draw_gaze, gaze_to_image

__all__ = ["evaluate_run", "record_episode", "record_episodes", "write_video", "image_cnn"]


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

    ``encoder``: the agent's CNN (``agent.image.cnn``); when given, the gaze is converted from feature-map to image
    coordinates (:func:`gazelab.teach.viz.gaze_to_image`) so the ellipse sits where the fovea really looks.

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


def record_episodes(policy: Policy, env, num_episodes: int, **kwargs) -> tuple[list[np.ndarray], list[dict]]:
    """``num_episodes`` episodes of :func:`record_episode` one after another (each reset draws a new layout, so a
    gaze that follows the goal is seen jumping to it); their frames concatenated and their episode records."""
    frames, episodes = [], []
    for _ in range(num_episodes):
        episode_frames, episode = record_episode(policy, env, **kwargs)
        frames += episode_frames
        episodes.append(episode)
    return frames, episodes


def image_cnn(agent) -> torch.nn.Module:
    """The CNN of a PPO agent or SAC actor (``agent.image.cnn``): its geometry places the fovea on the image."""
    return agent.image.cnn


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


def evaluate_run(run_or_checkpoint, *, num_episodes: int = 50, num_envs: int = 16, seed: int = 10_000,
                 out_dir: Optional[str | os.PathLike] = None, video: bool = True, device: str = "auto",
                 fps: int = 10) -> dict:
    """Evaluate a saved run: deterministic success rate over ``num_episodes`` and a video of one episode.

    Writes ``eval.json`` (and ``episode.gif`` / ``episode.mp4``) to ``out_dir`` (default ``<run dir>/eval``).
    Returns the summary dict (metrics, episode of the video, written paths).
    """
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
    write_atomic(out / "eval.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    summary["json"] = str(out / "eval.json")
    return summary
