"""The return-guided contrastive step as a plug-in of an RL trainer (PPO or SAC, unchanged otherwise).

A trainer hands the plug-in what it sees anyway, one environment step at a time, and calls ``update`` once per
iteration::

    plugin.observe(fmap, reward, done, success)       # after every env step: maps of the observations acted on
    plugin.end_rollout(returns)                       # PPO with label "gae": label the rollout's maps
    scalars = plugin.update(iteration)                # the contrastive step(s) on the buffer, when due

PPO and SAC make the same calls; only the labeller differs (:mod:`gazelab.method.labels`): PPO's ``gae`` label
arrives with ``end_rollout``, an episode label as each episode ends (``end_rollout`` then stores nothing). PPO makes
its end-of-iteration calls through :func:`ppo_hook` (``train_ppo``'s ``contrastive_hook``, a seam for
experiments that change what happens after PPO's update). Inside: the labelled maps are stored detached with their episode ids in a
:class:`~gazelab.method.buffer.ContrastiveBuffer`, and a :class:`~gazelab.method.contrastive.ContrastiveLearner`
trains the attention head on triplets mined from the buffer. Nothing else of the agent changes.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from gazelab.core.errors import GazelabError
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import ContrastiveConfig, ContrastiveLearner, ContrastiveStats
from gazelab.method.labels import RolloutLabeller, make_labeller

__all__ = ["ContrastivePlugin", "ppo_hook"]


class ContrastivePlugin:
    """Labeller, buffer, learner and cadence of the contrastive gaze update.

    Args:
        attention: the attention module to train (the agent's gaze).
        feature_shape: (C, h, w) of the maps it weights.
        config: every contrastive setting (:class:`~gazelab.method.contrastive.ContrastiveConfig`): the label, the
            buffer's size, the cadence and the learner's.
        num_envs: N, the trainer's parallel envs.
        max_episode_steps: the episode time limit (sizes the per-episode storage).
        gamma: discount of the ``return_to_go`` label.
        steps_per_iteration: env steps (all envs) per trainer iteration (sizes the on-policy buffer).
        rollout_steps: PPO's num_steps (labels ``"gae"`` and ``"value"`` only).
        device: where buffer and storage live.
        seed: seed of the buffer's key projection and the learner's anchor sampling.
        save_buffer: include the buffer's rows in :meth:`state_dict` (exact resume, large).
        encoder: the CNN that makes the maps, trained by the step with ``config.encoder_lr > 0``; the trainer then
            hands over each rollout's frames with :meth:`see_rollout` before :meth:`update`.
    """

    def __init__(self, attention: nn.Module, feature_shape: tuple[int, int, int], *, config: ContrastiveConfig,
                 num_envs: int, max_episode_steps: int, gamma: float, steps_per_iteration: int,
                 rollout_steps: Optional[int] = None, device="cpu", seed: int = 0, save_buffer: bool = False,
                 encoder: Optional[nn.Module] = None):
        self.labeller = make_labeller(config.labels, num_envs, max_episode_steps, feature_shape, gamma, device,
                                      rollout_steps)
        self.every = config.every
        self.on_policy = config.buffer_size == 0
        buffer_size = config.buffer_size
        if self.on_policy:  # everything that can arrive between two updates: the iterations' steps + open episodes
            open_episodes = 0 if isinstance(self.labeller, RolloutLabeller) else num_envs * max_episode_steps
            buffer_size = (steps_per_iteration + open_episodes) * config.every
        self.buffer = ContrastiveBuffer(feature_shape, buffer_size, device=device, seed=seed)
        rollout_frames = self.on_policy and config.every == 1 and isinstance(self.labeller, RolloutLabeller)
        if config.encoder_lr > 0 and not rollout_frames:
            raise GazelabError(f"contrastive.encoder_lr={config.encoder_lr:g} recomputes the maps from the rollout's "
                               f"frames: it needs buffer_size=0 (got {config.buffer_size}), every=1 (got "
                               f"{config.every}) and a rollout label 'gae' or 'value' (got {config.labels!r})")
        self.learner = ContrastiveLearner(attention, config, seed=seed, encoder=encoder)
        self.frames: Optional[Tensor] = None
        self.save_buffer = save_buffer
        self.shuffle = torch.Generator().manual_seed(seed + 1) if config.shuffle_labels else None
        self.shuffle_scope = config.shuffle_scope
        self.steps_per_iteration = steps_per_iteration
        self.stop_at_env_step = config.stop_at_env_step
        self.stopped = False

    def _store(self, rows) -> None:
        if self.stopped:  # nothing stored is ever trained on again
            return
        for maps, labels, episodes, times in rows:
            if self.shuffle is not None and self.shuffle_scope == "buffer" and len(self.buffer):
                _, stored, _ = self.buffer.filled()  # the control's wider scope: labels of random stored states
                labels = stored[torch.randint(len(stored), (len(labels),), generator=self.shuffle).to(stored.device)]
            elif self.shuffle is not None:  # the control: labels permuted among the states stored together
                labels = labels[torch.randperm(len(labels), generator=self.shuffle).to(labels.device)]
            self.buffer.add(maps, labels, episodes, times)

    def observe(self, fmap: Tensor, reward: Tensor, done: Tensor, success: Tensor) -> None:
        """One env step: fmap (N, C, h, w) of the observations acted on, reward (N,), done (N,) bool (the episode
        ended with this step), success (N,) bool (did the ended episode succeed; read where done)."""
        if not self.stopped:
            self._store(self.labeller.observe(fmap, reward, done, success))

    def end_rollout(self, returns: Tensor, values: Optional[Tensor] = None) -> None:
        """Labels ``gae``/``value``: store the rollout's maps with PPO's returns (T, N) (advantages + values) or its
        ``values`` (T, N); episode labels stored their rows as the episodes ended."""
        self._store(self.labeller.end_rollout(returns, values))

    def see_rollout(self, frames: Tensor) -> None:
        """With ``encoder_lr > 0``: the rollout's observations (T * N, ...) in the order of its maps (step-major), which
        the next :meth:`update` recomputes the maps from."""
        self.frames = frames

    def update(self, iteration: int) -> dict[str, float]:
        """Run the contrastive update if this iteration is due; its ``contrastive/*`` scalars (else empty)."""
        if self.stop_at_env_step and iteration * self.steps_per_iteration > self.stop_at_env_step:
            if not self.stopped:
                self.stopped = True
                self.buffer.clear()  # its memory is of no further use
            return {}
        if iteration % self.every:
            return {}
        frames = self.frames if self.learner.encoder is not None else None
        scalars = self.scalars(self.learner.update(self.buffer, frames))
        self.frames = None
        if self.on_policy:
            self.buffer.clear()
        return scalars

    def scalars(self, stats: ContrastiveStats) -> dict[str, float]:
        """The ``contrastive/*`` scalars of an update that returned ``stats`` (with the buffer's size now)."""
        return {"contrastive/triplets": stats.triplets, "contrastive/triplet_loss": stats.triplet_loss,
                "contrastive/spread_loss": stats.spread_loss, "contrastive/buffer_size": len(self.buffer),
                "contrastive/pos_distance": stats.pos_distance, "contrastive/neg_distance": stats.neg_distance,
                "contrastive/positive_same_episode": stats.positive_same_episode,
                "contrastive/negative_same_episode": stats.negative_same_episode}

    def restart_episodes(self) -> None:
        """Forget the running episodes (a resumed ManiSkill run restarts its episodes): new ids, step counts 0."""
        self.labeller.restart()

    def state_dict(self) -> dict:
        """Learner state, the running episodes, (if ``save_buffer``) the buffer's filled rows and the label shuffle's
        generator (``shuffle_labels``)."""
        return {"learner": self.learner.state_dict(), "episodes": self.labeller.state_dict(),
                "buffer": self.buffer.state_dict() if self.save_buffer else None,
                "shuffle": self.shuffle.get_state() if self.shuffle is not None else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.learner.load_state_dict(state["learner"])
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.labeller.load_state_dict(state["episodes"])
        if self.shuffle is not None and state.get("shuffle") is not None:
            self.shuffle.set_state(state["shuffle"])


def ppo_hook(plugin: ContrastivePlugin, advantages: Tensor, values: Tensor, iteration: int) -> dict[str, float]:
    """A PPO iteration's end-of-iteration call into its plug-in, after PPO's own update; returns the scalars to log.

    The rollout's maps go into the buffer labelled with PPO's value targets ``advantages + values`` (T, N) (label
    ``"gae"``) or its ``values`` (label ``"value"``; episode labels were stored as their episodes ended), then the
    contrastive update runs if due.
    """
    plugin.end_rollout(advantages + values, values)
    return plugin.update(iteration)
