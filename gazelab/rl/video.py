"""Episodes on film: the frames a policy saw, with its attention drawn on each, and the GIF / MP4 they make.

* :class:`EpisodeFilm`: the frames of one env's episode, filled step by step by whatever loop plays it: an
  evaluation during training (``capture_video``: :func:`gazelab.rl.evaluation.evaluate_policy` films the episode it
  plays anyway) or :func:`record_episode`;
* :func:`record_episode`: play one episode from a reset and film it (:func:`record_episodes`: several in a row);
* :func:`write_video`: GIF (always) and MP4 (when imageio-ffmpeg works).

The fovea is drawn by :func:`gazelab.method.drawing.draw_gaze`, its centre converted from feature-map to image
coordinates (:func:`gazelab.method.drawing.gaze_to_image`) so the ellipse sits where the fovea really looks; other
attention kinds shade the frame with their weights, and ``none`` leaves it plain.

This module draws with PIL: the trainers import it only when a run captures videos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from gazelab.method.attention import AttentionOutput
from gazelab.method.drawing import draw_gaze, gaze_to_image
from gazelab.rl.evaluation import EPISODE_KEYS, Policy

__all__ = ["EpisodeFilm", "record_episode", "record_episodes", "write_video", "image_cnn"]


def _overlay(frame: Tensor, att: AttentionOutput, i: int, scale: int, encoder=None) -> np.ndarray:
    if att.mu is not None:
        mu, sigma, rho = (att.mu[i], att.sigma[i], att.rho[i]) if att.foveae is None else (f[i] for f in att.foveae)
        # The gaze lives on the feature map, which covers only the middle of the image: convert before drawing.
        mu, sigma = (mu, sigma) if encoder is None else gaze_to_image(mu, sigma, encoder)
        return draw_gaze(frame, mu, sigma, rho, weights=att.weights[i], scale=scale)
    weights = None if bool((att.weights[i] == 1).all()) else att.weights[i]  # 'none': plain frame
    return draw_gaze(frame, weights=weights, scale=scale)


class EpisodeFilm:
    """The frames of env ``env_index``'s next episode with the attention drawn on each; the loop that plays the
    episode calls :meth:`add` with every observation the policy acts on and :meth:`end` after every step.

    Args:
        env_index: which env of the batch to film.
        scale: upscale factor of the frames (None: to about 256 px).
        encoder: the agent's CNN (``agent.image.cnn``): places the fovea on the image (None: the gaze is drawn as
            if the map covered the whole image).

    Attributes:
        frames: list of (H*scale, W*scale, 3) uint8, one per observation the policy saw (including the last).
        episode: that episode's return / success_once / episode_len / reward once it ended, else None.
    """

    def __init__(self, env_index: int = 0, scale: Optional[int] = None, encoder=None):
        self.env_index, self.scale, self.encoder = env_index, scale, encoder
        self.frames: list[np.ndarray] = []
        self.episode: Optional[dict[str, float]] = None

    def add(self, obs: dict, att: AttentionOutput) -> None:
        """Draw the observation the policy acts on with its attention (nothing once the episode ended)."""
        if self.episode is not None:
            return
        self.scale = self.scale or max(1, 256 // obs["rgb"].shape[1])
        self.frames.append(_overlay(obs["rgb"][self.env_index].cpu(), att, self.env_index, self.scale, self.encoder))

    @torch.no_grad()
    def end(self, info: dict, policy: Policy) -> bool:
        """After a step: when the filmed episode ended in it, draw its final observation (``policy`` gives the
        attention there; a deterministic policy draws no random numbers) and keep its metrics. True once ended."""
        i = self.env_index
        if self.episode is None and "final_info" in info and bool(info["_final_info"][i]):
            last = {k: v[i:i + 1] for k, v in info["final_observation"].items()}
            self.frames.append(_overlay(last["rgb"][0].cpu(), policy(last)[1], 0, self.scale, self.encoder))
            self.episode = {k: float(info["final_info"]["episode"][k][i]) for k in EPISODE_KEYS}
        return self.episode is not None


@torch.no_grad()
def record_episode(policy: Policy, env, *, scale: Optional[int] = None, env_index: int = 0, encoder=None
                   ) -> tuple[list[np.ndarray], dict[str, float]]:
    """Play one episode of env ``env_index`` from a reset and film it (:class:`EpisodeFilm`).

    Returns:
        frames: list of (H*scale, W*scale, 3) uint8, one per observation the policy saw (including the last);
        episode: that episode's return / success_once / episode_len / reward.
    """
    obs, _ = env.reset()
    film = EpisodeFilm(env_index, scale, encoder)
    for _ in range(env.max_episode_steps):
        action, att = policy(obs)
        film.add(obs, att)
        obs, _, _, _, info = env.step(action)
        if film.end(info, policy):
            return film.frames, film.episode
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
