"""One ``make_env`` for every environment gazelab trains on.

Two families share one batched interface (ManiSkill3's ``ManiSkillVectorEnv(record_metrics=True)``: torch
tensors, same-step auto-reset, ``final_observation`` / ``final_info`` when an episode ends):

* built-in tabletop tasks (``gazelab/...-v0``): pure PyTorch, batched, 64x64 top-down images, thousands of steps
  per second on a laptop CPU; clean and cluttered variants (``gazelab.envs.tabletop``, ``gazelab.envs.clutter``);
* ManiSkill3 tasks (``PushCube-v1`` ...): the real simulator, GPU (``physx_cuda``) when CUDA is available, else
  CPU with Vulkan rendering through Mesa's lavapipe (``gazelab.envs.maniskill``). ManiSkill is imported only
  when one of its ids is made.

>>> from gazelab.envs import make_env, list_envs
>>> env = make_env("gazelab/Reach-v0", num_envs=8, seed=0)
>>> obs, info = env.reset()
>>> obs["rgb"].shape, obs["state"].shape
(torch.Size([8, 64, 64, 3]), torch.Size([8, 4]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from gazelab.envs.clutter import CLUTTER_LADDER, CLUTTER_NAMES
from gazelab.envs.tabletop import TabletopEnv, TaskSpec

__all__ = ["make_env", "list_envs", "describe_env", "registry", "EnvEntry", "CLUTTER_NAMES", "CLUTTER_LADDER",
           "default_device"]


@dataclass(frozen=True)
class EnvEntry:
    """A registered environment id."""

    env_id: str
    """The id passed to ``make_env``."""
    family: str
    """'builtin' (pure torch) or 'maniskill' (ManiSkill3 simulator)."""
    description: str
    """One line for listings."""
    factory: Callable
    """factory(env_id, num_envs, seed, device, image_size, **kwargs) -> batched env."""
    defaults: dict = field(default_factory=dict)
    """Default keyword arguments of this id (e.g. its clutter level)."""
    allowed_kwargs: tuple[str, ...] = ()
    """Extra keyword arguments ``make_env`` accepts for this id."""


def default_device() -> torch.device:
    """``cuda`` when available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _builtin(task: TaskSpec) -> Callable:
    def factory(env_id, num_envs, seed, device, image_size, **kwargs):
        return TabletopEnv(env_id, task, num_envs, seed, device=device, image_size=image_size or 64, **kwargs)
    return factory


def _maniskill(env_id, num_envs, seed, device, image_size, **kwargs):
    from gazelab.envs.maniskill import make_maniskill_env  # lazy: never pay for SAPIEN on the built-in tasks

    return make_maniskill_env(env_id, num_envs, seed, device=device, image_size=image_size or 128, **kwargs)


REACH = TaskSpec("reach", goal_distance=(0.3, 0.6))
REACH_FAR = TaskSpec("reach", goal_distance=(1.2, 1.8))
PUSH = TaskSpec("push", goal_distance=(0.35, 0.6))
_BUILTIN_KWARGS = ("clutter",)
_MANISKILL_KWARGS = ("include_state", "partial_reset", "control_mode", "reward_mode", "max_episode_steps")

_ENTRIES = [
    EnvEntry("gazelab/Reach-v0", "builtin", "move the gripper (blue) onto a goal (green) spawned 0.3-0.6 away",
             _builtin(REACH), {"clutter": "none"}, _BUILTIN_KWARGS),
    EnvEntry("gazelab/ReachFar-v0", "builtin",
             "reach a goal spawned 1.2-1.8 away: two far-apart regions matter (single-Gaussian limit)",
             _builtin(REACH_FAR), {"clutter": "none"}, _BUILTIN_KWARGS),
    EnvEntry("gazelab/Push-v0", "builtin", "push the block (red) onto a goal spawned near it",
             _builtin(PUSH), {"clutter": "none"}, _BUILTIN_KWARGS),
    EnvEntry("gazelab/ReachClutter-v0", "builtin", "Reach-v0 with moving distractors and texture (default medium)",
             _builtin(REACH), {"clutter": "medium"}, _BUILTIN_KWARGS),
    EnvEntry("gazelab/ReachFarClutter-v0", "builtin", "ReachFar-v0 with clutter (default medium)",
             _builtin(REACH_FAR), {"clutter": "medium"}, _BUILTIN_KWARGS),
    EnvEntry("gazelab/PushClutter-v0", "builtin", "Push-v0 with moving distractors and texture (default medium)",
             _builtin(PUSH), {"clutter": "medium"}, _BUILTIN_KWARGS),
    EnvEntry("PushCube-v1", "maniskill", "ManiSkill3: push a cube onto a red/white target", _maniskill,
             {}, _MANISKILL_KWARGS),
    EnvEntry("PickCube-v1", "maniskill", "ManiSkill3: pick a cube and lift it to a goal position", _maniskill,
             {}, _MANISKILL_KWARGS),
    EnvEntry("PushT-v1", "maniskill", "ManiSkill3: push a T-shaped block into a T-shaped goal pose", _maniskill,
             {}, _MANISKILL_KWARGS),
    EnvEntry("PokeCube-v1", "maniskill", "ManiSkill3: use a peg to poke a cube onto a goal", _maniskill,
             {}, _MANISKILL_KWARGS),
    EnvEntry("gazelab/PushCubeClutter-v1", "maniskill",
             "PushCube-v1 plus random visual-only distractor primitives (default medium)", _maniskill,
             {"clutter": "medium"}, _MANISKILL_KWARGS + ("clutter",)),
]
registry: dict[str, EnvEntry] = {e.env_id: e for e in _ENTRIES}


def list_envs(family: str | None = None) -> list[str]:
    """Registered ids, optionally only one family ('builtin' or 'maniskill')."""
    if family not in (None, "builtin", "maniskill"):
        raise ValueError(f"family={family!r}; use None, 'builtin' or 'maniskill'")
    return [e.env_id for e in _ENTRIES if family is None or e.family == family]


def make_env(env_id: str, num_envs: int = 1, seed: int | None = None, *, device=None, image_size: int | None = None,
             **kwargs):
    """Make a batched environment.

    Args:
        env_id: a registered id (see ``list_envs()``).
        num_envs: number of parallel envs N (>= 1).
        seed: seed of the first reset / the env's generators (None = random).
        device: torch device of the returned tensors; default ``cuda`` if available else ``cpu``.
        image_size: camera side in pixels (built-in default 64; ManiSkill default 128).
        **kwargs: per-id options: built-in ``clutter`` ('none'|'mild'|'medium'|'heavy' or 0..3, or 'lookalike');
            ManiSkill
            ``include_state`` (True), ``partial_reset`` (True), ``control_mode`` ('pd_joint_delta_pos'),
            ``reward_mode`` ('normalized_dense'), ``max_episode_steps`` (the task's), and ``clutter`` for
            gazelab/PushCubeClutter-v1.
    Returns:
        A vector env with ``reset``/``step``/``close`` and ``num_envs``, ``device``, ``env_id``, ``sim_backend``
        ('torch' built-in, 'physx_cuda' / 'physx_cpu' ManiSkill), ``max_episode_steps``,
        ``single_observation_space``, ``single_action_space``. Observations are dicts with ``rgb`` (N, H, W, 3)
        uint8 and ``state`` (N, S) float32 tensors.
    """
    if env_id not in registry:
        raise ValueError(f"env_id={env_id!r} is unknown; known ids: {', '.join(list_envs())}")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r}; must be an int >= 1")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16):
        raise ValueError(f"image_size={image_size!r}; must be an int >= 16 (or None for the default)")
    entry = registry[env_id]
    unknown = sorted(set(kwargs) - set(entry.allowed_kwargs))
    if unknown:
        raise ValueError(f"{env_id} got unknown keyword arguments {unknown}; allowed: {list(entry.allowed_kwargs)}")
    device = default_device() if device is None else torch.device(device)
    return entry.factory(env_id, num_envs, seed, device, image_size, **{**entry.defaults, **kwargs})


def describe_env(env) -> str:
    """One line saying where an env runs, e.g. ``device: cuda (NVIDIA H100), ManiSkill sim backend: physx_cuda,
    256 envs`` or ``device: cpu, built-in torch env, 32 envs``: a GPU owner sees at once whether the GPU is used."""
    device = env.device
    where = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
    sim = "built-in torch env" if env.sim_backend == "torch" else f"ManiSkill sim backend: {env.sim_backend}"
    return f"device: {where}, {sim}, {env.num_envs} env{'' if env.num_envs == 1 else 's'}"
