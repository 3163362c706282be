"""Returns: what a state's future rewards add up to, the two estimates gazelab uses.

* :func:`discount_cumsum`: the discounted **return-to-go** of a finished stretch of rewards,
  ``G_t = r_t + gamma G_{t+1}`` with nothing after the end (no bootstrap): what actually happened from each state
  on. SAC's contrastive labels (:mod:`gazelab.method.labels`), the mining benchmark and notebook 7 use it.
* :func:`gae`: PPO's **generalized advantage estimate** over a rollout, as ManiSkill3's ``ppo_rgb.py`` computes it
  (the critic bootstraps what lies beyond the rollout and beyond a truncated episode); the returns PPO regresses
  its critic on, and labels its contrastive maps with, are ``advantages + values``.

Both work on time-major tensors, (T, ...) with time first, like the trainers' storage.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["discount_cumsum", "gae"]


def discount_cumsum(rewards: Tensor, gamma: float, dones: Tensor | None = None) -> Tensor:
    """Discounted cumulative sums along the first axis: ``out[t] = rewards[t] + gamma * out[t + 1]``.

    rewards (T, ...) -> (T, ...); e.g. ``[1, 2, 4]`` with gamma 0.5 -> ``[1 + 0.5*2 + 0.25*4, 2 + 0.5*4, 4]``.
    ``dones`` (T, ...), optional: 1 (or True) where an episode ended with step t; nothing after it is added
    (``out[t] = rewards[t]``), so one call covers a stretch holding several episodes of each env.
    """
    out = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0]) if len(rewards) else None
    for t in reversed(range(len(rewards))):
        if dones is not None:
            running = running * (1 - dones[t].to(rewards.dtype))
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def gae(rewards: Tensor, values: Tensor, dones: Tensor, final_values: Tensor, next_value: Tensor,
        next_done: Tensor, gamma: float, gae_lambda: float) -> Tensor:
    """Generalized advantage estimates of one rollout (Schulman et al., 2016), ppo_rgb's variant.

    ``A_t = delta_t + gamma * lambda * (1 - d_{t+1}) * A_{t+1}`` with the TD error
    ``delta_t = r_t + gamma * V'_{t+1} - V(s_t)``, where ``V'_{t+1}`` is the value of what followed step t: the next
    stored observation's value if the episode went on (``d_{t+1} = 0``), else ``final_values[t]``, the value of the
    episode's final observation (0 for a termination the trainer does not bootstrap).

    Args:
        rewards, values, dones, final_values: (T, N) per step and env: reward of step t, V(s_t), whether s_t began
            a new episode (the previous step ended one), and the value of the final observation of an episode that
            ended with step t (0 elsewhere).
        next_value, next_done: (N,) value of the observation after the rollout and whether it began a new episode.
        gamma, gae_lambda: discount and GAE lambda.

    Returns:
        (T, N) advantages; the value targets are ``advantages + values``.
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        next_not_done = 1.0 - (next_done if t == len(rewards) - 1 else dones[t + 1])
        next_values = next_value if t == len(rewards) - 1 else values[t + 1]
        # next_not_done = 1: the next value is the next stored observation's and final_values is 0;
        # next_not_done = 0: the episode ended at t and final_values holds V(final observation).
        delta = rewards[t] + gamma * (next_not_done * next_values + final_values[t]) - values[t]
        advantages[t] = last = delta + gamma * gae_lambda * next_not_done * last
    return advantages
