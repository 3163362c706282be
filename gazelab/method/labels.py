"""Return labels: what counts as "the outcome" of a state when the contrastive step splits neighbours by return.

======================= =================================================================================
label                   the number a state's feature map is stored with
======================= =================================================================================
``gae``                 PPO's own return targets, advantages + values (per step; the critic bootstraps the
                        rest of the episode). PPO only: it needs the rollout's values.
``value``               the critic's value V(s) of the state, detached (PPO only: the rollout's values). A
                        function of the observation, unlike a noisy policy's return: two look-alike states of
                        different episodes get labels that differ only where the critic sees a difference.
``return_to_go``        discounted return-to-go of the finished episode, ``G_t = r_t + gamma G_{t+1}``, no
                        bootstrap: what actually happened after this state.
``reward``              the step's own reward r_t (the return-to-go with gamma 0). With a dense reward shaped on
                        the state (the built-in tasks and ManiSkill's ``normalized_dense``: a function of the
                        gripper-goal distance) it is a function of what the image shows, which a longer return
                        of a noisy policy is not; with episodes that end on success, the return-to-go even
                        falls next to the goal (one last step of reward 1) while r_t rises.
``episode_return``      the episode's undiscounted return, the same for all of its states (the paper's label).
``success``             1 if the episode reached success at least once, else 0, for all of its states.
======================= =================================================================================

Per-step labels (``gae``, ``value``, ``return_to_go``, ``reward``) differ between the frames of one episode; per-episode labels do not,
so with them two frames of the same episode are never a positive/negative pair by outcome.

Two labellers, one interface (what :class:`gazelab.method.plugin.ContrastivePlugin` feeds, one env step at a time):
:class:`EpisodeLabeller` holds each env's maps and rewards until its episode ends and then hands them over
labelled (the return-to-go is :func:`gazelab.method.returns.discount_cumsum`); :class:`RolloutLabeller` holds a
PPO rollout's maps and hands them over labelled with PPO's returns when the rollout ends. Both return rows to store
as ``(maps, labels, episode ids, steps within the episode)``.
"""

from __future__ import annotations

import typing
from typing import Literal, Optional

import torch
from torch import Tensor

from gazelab.core.checks import check_choice
from gazelab.core.errors import GazelabError
from gazelab.method.returns import discount_cumsum

__all__ = ["Label", "LABELS", "ROLLOUT_LABELS", "EPISODE_LABELS", "EpisodeLabeller", "RolloutLabeller", "make_labeller"]

Label = Literal["gae", "value", "return_to_go", "reward", "episode_return", "success"]
LABELS = typing.get_args(Label)
ROLLOUT_LABELS = LABELS[:2]
"""The labels a :class:`RolloutLabeller` takes from PPO's rollout (its return targets and its values)."""
EPISODE_LABELS = LABELS[2:]
"""The labels an :class:`EpisodeLabeller` computes from finished episodes."""
Rows = tuple[Tensor, Tensor, Tensor, Tensor]
"""Labelled rows to store: maps (L, C, h, w), labels (L,), episode ids (L,), steps within the episode (L,)."""


def make_labeller(label: str, num_envs: int, max_steps: int, feature_shape: tuple[int, int, int], gamma: float,
                  device, rollout_steps: Optional[int] = None):
    """The labeller of ``label``: a :class:`RolloutLabeller` for ``"gae"`` and ``"value"`` (needs PPO's
    ``rollout_steps``), else an :class:`EpisodeLabeller`."""
    check_choice("label", label, LABELS)
    if label in EPISODE_LABELS:
        return EpisodeLabeller(num_envs, max_steps, feature_shape, label, gamma, device)
    if rollout_steps is None:
        raise GazelabError(f"label {label!r} comes from PPO's rollout; this trainer has none (use an episode label: "
                           f"{', '.join(map(repr, EPISODE_LABELS))})")
    return RolloutLabeller(num_envs, rollout_steps, feature_shape, device, label)


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

    def observe(self, fmap: Tensor, reward: Tensor, done: Tensor, success: Tensor) -> list[Rows]:
        """Append one step of every env; return the rows of the episodes that ended with it.

        Args:
            fmap: (N, C, h, w) maps of the observations the policy acted on.
            reward: (N,) rewards of that step.
            done: (N,) bool, the episode ended with this step (terminated or truncated).
            success: (N,) bool, whether the episode that ended succeeded at least once (read where ``done``).
        Returns:
            [(maps (L, C, h, w), labels (L,), episode ids (L,), steps 0..L-1)] for every finished episode of L
            steps (the maps are views of the storage: store them before the next ``observe``).
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
            elif self.label == "reward":
                labels = rewards.clone()
            elif self.label == "episode_return":
                labels = rewards.sum().expand(length)
            else:
                labels = torch.full((length,), float(success[i]), device=rewards.device)
            finished.append((self.maps[:length, i], labels, torch.full((length,), int(self.episode[i])),
                             torch.arange(length)))
            self.t[i] = 0
            self.episode[i] = self.next_episode
            self.next_episode += 1
        return finished

    def end_rollout(self, returns: Tensor, values: Optional[Tensor] = None) -> list[Rows]:
        """Nothing to hand over at the end of a rollout: episodes are labelled when they end."""
        return []

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


class RolloutLabeller:
    """A PPO rollout's maps, labelled when the rollout ends with PPO's return targets (advantages + values, label
    ``"gae"``) or its critic's values (label ``"value"``).

    Storage: maps (T, N, C, h, w) float16 for the rollout's T steps, each with the id of its env's running episode
    and its step within that episode (ids grow by one per started episode, as in :class:`EpisodeLabeller`).

    Args:
        num_envs: N.
        rollout_steps: T, PPO's num_steps.
        feature_shape: (C, h, w) of one map.
        device: where the maps live.
        label: one of :data:`ROLLOUT_LABELS`.
    """

    def __init__(self, num_envs: int, rollout_steps: int, feature_shape: tuple[int, int, int], device,
                 label: str = "gae"):
        self.label = check_choice("label", label, ROLLOUT_LABELS)
        self.maps = torch.zeros((rollout_steps, num_envs) + tuple(feature_shape), dtype=torch.float16, device=device)
        self.episodes = torch.zeros((rollout_steps, num_envs), dtype=torch.int64)
        self.times = torch.zeros((rollout_steps, num_envs), dtype=torch.int64)
        self.episode = torch.arange(num_envs)  # id of each env's running episode
        self.t = torch.zeros(num_envs, dtype=torch.int64)  # steps of each env's running episode so far
        self.next_episode = num_envs
        self.step = 0

    def observe(self, fmap: Tensor, reward: Tensor, done: Tensor, success: Tensor) -> list[Rows]:
        """Keep one step's maps (N, C, h, w) with their episode ids and steps; ``done`` (N,) starts new episodes.
        Nothing is labelled before :meth:`end_rollout`, so this returns no rows."""
        self.maps[self.step] = fmap
        self.episodes[self.step] = self.episode
        self.times[self.step] = self.t
        self.step += 1
        self.t += 1
        ended = torch.nonzero(done.cpu()).flatten()
        self.t[ended] = 0
        self.episode[ended] = self.next_episode + torch.arange(len(ended))
        self.next_episode += len(ended)
        return []

    def end_rollout(self, returns: Tensor, values: Optional[Tensor] = None) -> list[Rows]:
        """The rollout's rows labelled with PPO's returns (T, N) (advantages + values) or, with label ``"value"``,
        its ``values`` (T, N); the storage starts over."""
        if self.label == "value":
            if values is None:
                raise GazelabError("label 'value' needs the rollout's values: call end_rollout(returns, values)")
            returns = values
        rows = (self.maps[: self.step].flatten(0, 1), returns[: self.step].flatten(),
                self.episodes[: self.step].flatten(), self.times[: self.step].flatten())
        self.step = 0
        return [rows]

    def restart(self) -> None:
        """Forget the running episodes (a resumed ManiSkill run restarts its episodes): new ids, step counts 0."""
        self.episode = self.next_episode + torch.arange(len(self.episode))
        self.next_episode += len(self.episode)
        self.t.zero_()

    def state_dict(self) -> dict:
        """The running episodes' counters (a checkpoint is written between rollouts: no maps are pending)."""
        return {"episode": self.episode.clone(), "next_episode": self.next_episode, "t": self.t.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.episode.copy_(state["episode"])
        self.next_episode = int(state["next_episode"])
        self.t.copy_(state["t"])
