"""The return-guided contrastive step as a plug-in of an RL trainer (PPO or SAC, unchanged otherwise).

A trainer hands the plug-in what it sees anyway, one environment step at a time, and calls ``update`` once per
iteration::

    plugin.observe(fmap, reward, done, success)       # after every env step: maps of the observations acted on
    plugin.end_rollout(returns)                       # PPO with label "gae": label the rollout's maps
    scalars = plugin.update(iteration)                # the contrastive step(s) on the buffer, when due

PPO makes its two end-of-iteration calls through :func:`ppo_hook` (``train_ppo``'s ``contrastive_hook``, which
notebook 6 replaces by the student's).

Inside: the maps are labelled (:mod:`gazelab.method.labels`), stored detached with their episode ids in a
:class:`~gazelab.method.buffer.ContrastiveBuffer`, and a :class:`~gazelab.method.contrastive.ContrastiveLearner` trains the
attention head on triplets mined from the buffer. Nothing else of the agent changes.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from gazelab.method.buffer import ContrastiveBuffer
from gazelab.core.checks import check_choice
from gazelab.method.contrastive import ContrastiveConfig, ContrastiveLearner, ContrastiveStats
from gazelab.core.errors import GazelabError
from gazelab.method.labels import LABELS, EpisodeLabeller

__all__ = ["ContrastivePlugin", "ppo_hook"]


class ContrastivePlugin:
    """Labels, buffer, learner and cadence of the contrastive gaze update.

    Args:
        attention: the attention module to train (the agent's gaze).
        feature_shape: (C, h, w) of the maps it weights.
        config: the learner's :class:`~gazelab.method.contrastive.ContrastiveConfig`.
        num_envs: N, the trainer's parallel envs.
        max_episode_steps: the episode time limit (sizes the per-episode storage).
        label: one of :data:`gazelab.method.labels.LABELS`; ``"gae"`` needs ``rollout_steps`` and :meth:`end_rollout`.
        gamma: discount of the ``return_to_go`` label.
        buffer_size: buffer capacity; 0 = on-policy: only what arrived since the last update (then cleared).
        every: update every this many iterations.
        steps_per_iteration: env steps (all envs) per trainer iteration (sizes the on-policy buffer).
        rollout_steps: PPO's num_steps (label ``"gae"`` only).
        device: where buffer and storage live.
        seed: seed of the buffer's key projection.
        save_buffer: include the buffer's rows in :meth:`state_dict` (exact resume, large).
    """

    def __init__(self, attention: nn.Module, feature_shape: tuple[int, int, int], *, config: ContrastiveConfig,
                 num_envs: int, max_episode_steps: int, label: str, gamma: float, buffer_size: int, every: int,
                 steps_per_iteration: int, rollout_steps: Optional[int] = None, device="cpu", seed: int = 0,
                 save_buffer: bool = False):
        check_choice("label", label, LABELS)
        if label == "gae" and rollout_steps is None:
            raise GazelabError("label 'gae' uses PPO's rollout returns; this trainer has none (use an episode label: "
                             "'return_to_go', 'episode_return' or 'success')")
        self.label, self.every = label, every
        self.on_policy = buffer_size == 0
        if self.on_policy:  # everything that can arrive between two updates: the iterations' steps + open episodes
            buffer_size = (steps_per_iteration + (0 if label == "gae" else num_envs * max_episode_steps)) * every
        self.buffer = ContrastiveBuffer(feature_shape, buffer_size, device=device, seed=seed)
        self.learner = ContrastiveLearner(attention, config)
        self.save_buffer = save_buffer
        if label == "gae":
            self.rollout_maps = torch.zeros((rollout_steps, num_envs) + tuple(feature_shape), dtype=torch.float16,
                                            device=device)
            self.rollout_episodes = torch.zeros((rollout_steps, num_envs), dtype=torch.int64)
            self.rollout_times = torch.zeros((rollout_steps, num_envs), dtype=torch.int64)
            self.episode = torch.arange(num_envs)  # id of each env's running episode
            self.t = torch.zeros(num_envs, dtype=torch.int64)  # steps of each env's running episode so far
            self.next_episode = num_envs
            self.step = 0
        else:
            self.labeller = EpisodeLabeller(num_envs, max_episode_steps, feature_shape, label, gamma, device)

    def observe(self, fmap: Tensor, reward: Tensor, done: Tensor, success: Tensor) -> None:
        """One env step: fmap (N, C, h, w) of the observations acted on, reward (N,), done (N,) bool (the episode
        ended with this step), success (N,) bool (did the ended episode succeed; read where done)."""
        if self.label == "gae":
            self.rollout_maps[self.step] = fmap
            self.rollout_episodes[self.step] = self.episode
            self.rollout_times[self.step] = self.t
            self.step += 1
            self.t += 1
            ended = torch.nonzero(done.cpu()).flatten()
            self.t[ended] = 0
            self.episode[ended] = self.next_episode + torch.arange(len(ended))
            self.next_episode += len(ended)
            return
        for maps, labels, episode in self.labeller.add(fmap, reward, done, success):
            self.buffer.add(maps, labels, torch.full((len(labels),), episode), torch.arange(len(labels)))

    def end_rollout(self, returns: Tensor) -> None:
        """Label ``gae``: store the rollout's maps with PPO's returns (T, N) (advantages + values)."""
        if self.label != "gae":
            return
        self.buffer.add(self.rollout_maps[: self.step].flatten(0, 1), returns[: self.step].flatten(),
                        self.rollout_episodes[: self.step].flatten(), self.rollout_times[: self.step].flatten())
        self.step = 0

    def update(self, iteration: int) -> dict[str, float]:
        """Run the contrastive update if this iteration is due; its ``contrastive/*`` scalars (else empty)."""
        if iteration % self.every:
            return {}
        scalars = self.scalars(self.learner.update(self.buffer))
        if self.on_policy:
            self.buffer.clear()
        return scalars

    def scalars(self, stats: ContrastiveStats) -> dict[str, float]:
        """The ``contrastive/*`` scalars of an update that returned ``stats`` (with the buffer's size now)."""
        return {"contrastive/triplets": stats.triplets, "contrastive/triplet_loss": stats.triplet_loss,
                "contrastive/spread_loss": stats.spread_loss, "contrastive/buffer_size": len(self.buffer),
                "contrastive/pos_distance": stats.pos_distance, "contrastive/neg_distance": stats.neg_distance}

    def restart_episodes(self) -> None:
        """Forget the running episodes (a resumed ManiSkill run restarts its episodes): new ids, step counts 0."""
        if self.label != "gae":
            self.labeller.restart()
            return
        self.episode = self.next_episode + torch.arange(len(self.episode))
        self.next_episode += len(self.episode)
        self.t.zero_()

    def state_dict(self) -> dict:
        """Learner state, the running episodes and (if ``save_buffer``) the buffer's filled rows."""
        state = {"learner": self.learner.state_dict(), "buffer": self.buffer.state_dict() if self.save_buffer else None}
        if self.label == "gae":
            state["episodes"] = {"episode": self.episode.clone(), "next_episode": self.next_episode, "t": self.t.clone()}
        else:
            state["episodes"] = self.labeller.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.learner.load_state_dict(state["learner"])
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        if self.label == "gae":
            self.episode.copy_(state["episodes"]["episode"])
            self.next_episode = int(state["episodes"]["next_episode"])
            self.t.copy_(state["episodes"]["t"])
        else:
            self.labeller.load_state_dict(state["episodes"])


def ppo_hook(plugin: ContrastivePlugin, advantages: Tensor, values: Tensor, iteration: int) -> dict[str, float]:
    """A PPO iteration's end-of-iteration call into its plug-in, after PPO's own update; returns the scalars to log.

    The rollout's maps go into the buffer labelled with PPO's value targets ``advantages + values`` (T, N) (label
    ``"gae"``; other labels were stored as their episodes ended), then the contrastive update runs if due.
    """
    plugin.end_rollout(advantages + values)
    return plugin.update(iteration)
