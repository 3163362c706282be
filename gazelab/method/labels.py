"""Return labels: what counts as "the outcome" of a state when the contrastive step splits neighbours by return.

======================= =================================================================================
label                   the number a state's feature map is stored with
======================= =================================================================================
``gae``                 PPO's own return targets, advantages + values (per step; the critic bootstraps the
                        rest of the episode). PPO only: it needs the rollout's values.
``return_to_go``        discounted return-to-go of the finished episode, ``G_t = r_t + gamma G_{t+1}``, no
                        bootstrap: what actually happened after this state.
``episode_return``      the episode's undiscounted return, the same for all of its states (the paper's label).
``success``             1 if the episode reached success at least once, else 0, for all of its states.
======================= =================================================================================

Per-step labels (``gae``, ``return_to_go``) differ between the frames of one episode; per-episode labels do not,
so with them two frames of the same episode are never a positive/negative pair by outcome.
:class:`EpisodeLabeller` holds each env's maps and rewards until its episode ends and then hands them over
labelled; the return-to-go is :func:`gazelab.method.returns.discount_cumsum`.
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor

from gazelab.core.checks import check_choice
from gazelab.method.returns import discount_cumsum

__all__ = ["Label", "LABELS", "EPISODE_LABELS", "EpisodeLabeller"]

Label = Literal["gae", "return_to_go", "episode_return", "success"]
LABELS = typing.get_args(Label)
EPISODE_LABELS = LABELS[1:]
"""The labels an :class:`EpisodeLabeller` computes from finished episodes (``gae`` comes from PPO's rollout)."""


class EpisodeLabeller:
    """Per-env feature maps and rewards of the running episodes, labelled when the episodes end.

    Storage: maps (T, N, C, h, w) float16 and rewards (T, N) with T = the episode time limit; ``t[i]`` counts the
    steps of env i's running episode; ``episode[i]`` is its id (ids grow by one per started episode, starting at
    0, 1, ..., N-1 for the first episodes of the N envs).

    Args:
        num_envs: N.
        max_steps: the episode time limit T.
        feature_shape: (C, h, w) of one map.
        label: one of :data:`EPISODE_LABELS`.
        gamma: discount of ``return_to_go``.
        device: where the storage lives.
    """

    def __init__(self, num_envs: int, max_steps: int, feature_shape: tuple[int, int, int], label: str, gamma: float,
                 device):
        check_choice("label", label, EPISODE_LABELS)
        self.label, self.gamma = label, gamma
        self.maps = torch.zeros((max_steps, num_envs) + tuple(feature_shape), dtype=torch.float16, device=device)
        self.rewards = torch.zeros((max_steps, num_envs), device=device)
        self.t = torch.zeros(num_envs, dtype=torch.long)
        self.episode = torch.arange(num_envs)
        self.next_episode = num_envs

    def add(self, fmap: Tensor, reward: Tensor, done: Tensor, success: Tensor) -> list[tuple[Tensor, Tensor, int]]:
        """Append one step of every env; return the episodes that ended with it.

        Args:
            fmap: (N, C, h, w) maps of the observations the policy acted on.
            reward: (N,) rewards of that step.
            done: (N,) bool, the episode ended with this step (terminated or truncated).
            success: (N,) bool, whether the episode that ended succeeded at least once (read where ``done``).
        Returns:
            [(maps (L, C, h, w), labels (L,), episode id)] for every finished episode of L steps (views of the
            storage: use them before the next ``add``).
        """
        finished = []
        envs = torch.arange(len(self.t))
        steps = self.t.clamp_max(len(self.maps) - 1)  # an episode never outlives max_steps; clamp for safety
        self.maps[steps, envs] = fmap.to(self.maps)
        self.rewards[steps, envs] = reward.to(self.rewards)
        self.t += 1
        done, success = done.cpu(), success.cpu()
        for i in torch.nonzero(done).flatten().tolist():
            length = int(self.t[i])
            rewards = self.rewards[:length, i]
            if self.label == "return_to_go":
                labels = discount_cumsum(rewards, self.gamma)
            elif self.label == "episode_return":
                labels = rewards.sum().expand(length)
            else:
                labels = torch.full((length,), float(success[i]), device=rewards.device)
            finished.append((self.maps[:length, i], labels, int(self.episode[i])))
            self.t[i] = 0
            self.episode[i] = self.next_episode
            self.next_episode += 1
        return finished

    def restart(self) -> None:
        """Forget the running episodes (e.g. a resumed ManiSkill run starts fresh episodes)."""
        for i in torch.nonzero(self.t).flatten().tolist():
            self.episode[i] = self.next_episode
            self.next_episode += 1
        self.t.zero_()

    def state_dict(self) -> dict:
        """Copies of the steps the running episodes filled so far, and the counters (for checkpoints)."""
        filled = int(self.t.max())
        return {"maps": self.maps[:filled].to("cpu", copy=True), "rewards": self.rewards[:filled].to("cpu", copy=True),
                "t": self.t.clone(), "episode": self.episode.clone(), "next_episode": self.next_episode}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        filled = state["maps"].shape[0]
        self.maps[:filled] = state["maps"].to(self.maps)
        self.rewards[:filled] = state["rewards"].to(self.rewards)
        self.t.copy_(state["t"])
        self.episode.copy_(state["episode"])
        self.next_episode = int(state["next_episode"])
