"""One env of a batched gazelab env as a plain gymnasium env.

gazelab's envs simulate a batch (ManiSkill3's convention): torch tensors with a leading env dimension, and an
episode that ends restarts in the same step. :class:`SingleEnv` shows one of them the way gymnasium's own tools
expect an env to look: numpy observations and actions without the batch dimension, a float reward, bool flags, and
an episode that *ends* (the final observation is returned; the caller resets). It passes
``gymnasium.utils.env_checker.check_env``::

    from gymnasium.utils.env_checker import check_env
    check_env(SingleEnv(make_env("gazelab/Reach-v0", num_envs=1)))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from gazelab.core.checks import check_int

__all__ = ["SingleEnv"]


def _first(value: Any) -> Any:
    """Env 0 of batched data: tensors (N, ...) -> numpy (...); dicts recursively; anything else unchanged."""
    if isinstance(value, dict):
        return {k: _first(v) for k, v in value.items()}
    if isinstance(value, Tensor):
        return value[0].cpu().numpy()
    return value


class SingleEnv(gym.Env):
    """The gymnasium view of a batched gazelab env with ``num_envs == 1`` (see the module docstring).

    Args:
        env: a batched env of one (``make_env(env_id, num_envs=1)``); the view closes it when closed.
    """

    def __init__(self, env):
        check_int("num_envs of the env a SingleEnv views", env.num_envs, 1, 1)
        self.env = env
        self.observation_space = env.single_observation_space
        self.action_space = env.single_action_space
        self.metadata = getattr(env, "metadata", {"render_modes": []})
        self.render_mode = getattr(env, "render_mode", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """(obs, info) of a new episode; ``seed`` reseeds the env."""
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        return _first(obs), _first(info)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        """One step; when the episode ends, the observation and info of its last step (the batch has already
        begun the next episode, which the caller starts with ``reset``)."""
        action = torch.as_tensor(np.asarray(action), dtype=torch.float32)[None]
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "final_observation" in info:
            obs, info = info["final_observation"], info["final_info"]
        return _first(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), _first(info)

    def render(self) -> np.ndarray | None:
        """(H, W, 3) uint8 frame (None without a render mode)."""
        frames = self.env.render()
        return None if frames is None else frames[0].cpu().numpy()

    def close(self) -> None:
        self.env.close()
