"""The algorithm registry: one place that knows which trainers exist and how to rebuild a saved run's policy.

Everything that works for "PPO or SAC" (the ``gazelab`` command, evaluation of saved runs, sweeps, benchmarks)
looks the algorithm up here instead of writing its own ``if algo == "ppo"``::

    algo = algorithm("sac")
    result = algo.train(algo.config_cls(env_id="gazelab/Reach-v0"))
    policy, config, checkpoint = load_policy(result.run_dir)        # policy.act(obs) -> (action, attention)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gazelab.rl import ppo, sac
from gazelab.rl.checkpoint import EnvSpaces, load_checkpoint
from gazelab.core.checks import check_choice
from gazelab.rl.config import TrainConfig, config_from_dict, resolve_device
from gazelab.rl.run import TrainResult

__all__ = ["Algorithm", "ALGORITHMS", "algorithm", "load_policy"]


@dataclass(frozen=True)
class Algorithm:
    """A trainer and what is needed around it."""

    name: str
    """'ppo' or 'sac': the ``gazelab train`` subcommand, the runs/<name>/ directory, the checkpoints' ``algo``."""
    summary: str
    """One line for listings and ``--help``."""
    config_cls: type[TrainConfig]
    """Its config dataclass (the command line's flags)."""
    train: Callable[[TrainConfig], TrainResult]
    """The trainer."""
    build_policy: Callable[..., torch.nn.Module]
    """``build_policy(config, spaces)``: the network that acts (``.act(obs) -> (action, attention)``)."""
    policy_key: str
    """Where a checkpoint holds that network's state dict."""


ALGORITHMS: dict[str, Algorithm] = {
    "ppo": Algorithm("ppo", "train PPO from pixels (ManiSkill3 ppo_rgb) with optional gaze + contrastive update",
                     ppo.PPOConfig, ppo.train_ppo, ppo.build_agent, "agent"),
    "sac": Algorithm("sac", "train SAC from pixels (ManiSkill3 sac_rgbd) with optional gaze + contrastive update",
                     sac.SACConfig, sac.train_sac, sac.build_agent, "actor"),
}


def algorithm(name: str) -> Algorithm:
    """The registered algorithm ``name`` (GazelabError listing the known ones otherwise)."""
    return ALGORITHMS[check_choice("algo", name, tuple(ALGORITHMS))]


def load_policy(run_or_checkpoint, device: str = "auto"):
    """Rebuild the trained policy of a run -> (policy with ``.act``, config, checkpoint).

    The config is rebuilt from the checkpoint (so it is validated again); the policy is in eval mode on ``device``.
    No env is made: the network sizes come from the spaces saved in the checkpoint. The checkpoint is
    memory-mapped (``load_checkpoint(..., mmap=True)``), so what the policy does not need (a saved replay or
    contrastive buffer) is never read from disk unless the caller touches it in the returned checkpoint.
    """
    ckpt = load_checkpoint(run_or_checkpoint, mmap=True)
    algo = algorithm(ckpt["algo"])
    config = config_from_dict(algo.config_cls, ckpt["config"], resume=None, device=device)
    policy = algo.build_policy(config, EnvSpaces.from_state_dict(ckpt["spaces"]))
    policy.load_state_dict(ckpt[algo.policy_key])
    return policy.to(resolve_device(device)).eval(), config, ckpt
