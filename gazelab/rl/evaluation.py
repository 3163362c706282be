"""Whole episodes under ManiSkill3's vector-env conventions: how a finished episode is reported, and evaluation.

A batched env (``gazelab.envs``) that ends episodes in a step reports them in that step's ``info``:
``info["_final_info"]`` (N,) marks the envs whose episode ended, and ``info["final_info"]["episode"]`` holds its
metrics (``return``, ``success_once``, ``episode_len``, ``reward`` = return / length), as ManiSkill's
``record_metrics=True`` does.

* :func:`episode_success`: per env, whether the episode that just ended succeeded (the contrastive labels use it);
* :func:`evaluate_policy`: the deterministic policy's metrics over N whole episodes (the trainers' ``eval/*``).

A *policy* is any callable ``policy(obs) -> (action (N, A), AttentionOutput)``: ``PPOAgent.act`` and
``SACActor.act`` are (deterministic: the Gaussian mean, squashed for SAC).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from gazelab.method.attention import AttentionOutput
from gazelab.core.checks import check_int
from gazelab.rl.prize import GazeTracker

__all__ = ["Policy", "EPISODE_KEYS", "episode_success", "evaluate_policy", "random_actions"]

Policy = Callable[[dict], tuple[Tensor, AttentionOutput]]
EPISODE_KEYS = ("return", "success_once", "episode_len", "reward")
"""Per-episode metrics of ManiSkill's ``record_metrics`` (``reward`` = return / length, the mean reward per step)."""


def episode_success(infos: dict, num_envs: int) -> Tensor:
    """(N,) bool: for the envs whose episode ended in this step, whether it reached success at least once; False
    elsewhere."""
    if "final_info" not in infos:
        return torch.zeros(num_envs, dtype=torch.bool)
    return (infos["_final_info"] & infos["final_info"]["episode"]["success_once"].bool()).cpu()


def random_actions(env, generator: torch.Generator) -> Policy:
    """A policy of uniform random actions in ``env``'s action box, one per env, drawn from ``generator`` (the floor a
    trained policy is compared with); it returns no attention."""
    space = env.single_action_space
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    return lambda obs: (low + torch.rand(env.num_envs, *space.shape, generator=generator) * (high - low), None)


@torch.no_grad()
def evaluate_policy(policy: Policy, env, num_episodes: int, cnn=None, film=None) -> dict[str, float]:
    """Mean ``return``, ``success_once``, ``episode_len`` and ``reward`` (per step) over ``num_episodes`` episodes.

    Rounds of: reset every env, step until each has finished one episode, keep each env's first episode
    (later ones would start mid-round and be cut short). So the built-in tasks' early termination on success,
    and ManiSkill's partial resets, never bias the count towards short episodes.

    With ``cnn`` (the policy's encoder) the gaze and gaze-on-prize means over every frame the policy saw are added
    (``mu_std``, ``prize_distance``, ... of :class:`gazelab.rl.prize.GazeTracker`).

    With ``film`` (a :class:`gazelab.rl.video.EpisodeFilm`) its env's first episode is filmed as it is played: the
    video costs the drawing and one policy call on the final frame, and changes no episode and no random number.
    """
    check_int("num_episodes", num_episodes, 1)
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
            if film is not None:
                film.add(obs, att)
            obs, _, _, _, info = env.step(action)
            if film is not None:
                film.end(info, policy)
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
