"""One ``make_env`` for every environment gazelab trains on.

Two families share one batched interface (ManiSkill3's ``ManiSkillVectorEnv(record_metrics=True)``: torch
tensors, same-step auto-reset, ``final_observation`` / ``final_info`` when an episode ends):

* built-in tabletop tasks (``gazelab/...-v0``): pure PyTorch, batched, 64x64 top-down images, thousands of steps
  per second on a laptop CPU; clean and cluttered variants (``gazelab.envs.tabletop``, ``gazelab.envs.clutter``).
  Importing this package registers them with gymnasium, so ``gym.make("gazelab/Reach-v0", num_envs=8)`` makes the
  same batched env, as ``gym.make`` does for ManiSkill ids; :class:`~gazelab.envs.single.SingleEnv` is the one-env
  gymnasium view;
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
from typing import Optional

import gymnasium as gym
import torch

from gazelab.core.checks import check_choice, check_int
from gazelab.envs.clutter import CLUTTER_LADDER, CLUTTER_NAMES, TRANSFER_LEVELS
from gazelab.envs.single import SingleEnv
from gazelab.envs.tabletop import IMAGE_SIZES, TaskSpec
from gazelab.core.errors import GazelabError

__all__ = ["make_env", "list_envs", "describe_env", "is_builtin", "registry", "EnvEntry", "SingleEnv",
           "CLUTTER_NAMES", "CLUTTER_LADDER", "TRANSFER_LEVELS", "default_device", "IMAGE_SIZES"]


@dataclass(frozen=True)
class EnvEntry:
    """A registered environment id."""

    env_id: str
    """The id passed to ``make_env`` (and, for built-in tasks, to ``gym.make``)."""
    family: str
    """'builtin' (pure torch) or 'maniskill' (ManiSkill3 simulator)."""
    description: str
    """One line for listings."""
    task: Optional[TaskSpec] = None
    """What a built-in id simulates (None for ManiSkill ids)."""
    defaults: dict = field(default_factory=dict)
    """Default keyword arguments of this id (e.g. its clutter level)."""
    allowed_kwargs: tuple[str, ...] = ()
    """Extra keyword arguments ``make_env`` accepts for this id."""

    @property
    def image_size(self) -> int:
        """Default camera side in pixels: 64 built-in, 128 ManiSkill (its default camera)."""
        return 64 if self.family == "builtin" else 128


def default_device() -> torch.device:
    """``cuda`` when available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


REACH = TaskSpec("reach", goal_distance=(0.3, 0.6))
REACH_FAR = TaskSpec("reach", goal_distance=(1.2, 1.8))
PUSH = TaskSpec("push", goal_distance=(0.35, 0.6))
REACH_LAMP = TaskSpec("reach", goal_distance=(0.3, 0.6), lamp_switch=0.1)
_BUILTIN_KWARGS = ("clutter", "reward_mode")
_MANISKILL_KWARGS = ("include_state", "partial_reset", "control_mode", "reward_mode", "max_episode_steps")


def _builtin(env_id: str, description: str, task: TaskSpec, clutter: str) -> EnvEntry:
    return EnvEntry(env_id, "builtin", description, task, {"clutter": clutter}, _BUILTIN_KWARGS)


def _maniskill(env_id: str, description: str, **defaults) -> EnvEntry:
    return EnvEntry(env_id, "maniskill", description, None, defaults,
                    _MANISKILL_KWARGS + tuple(name for name in defaults if name not in _MANISKILL_KWARGS))


_ENTRIES = [
    _builtin("gazelab/Reach-v0", "move the gripper (blue) onto a goal (green) spawned 0.3-0.6 away", REACH, "none"),
    _builtin("gazelab/ReachFar-v0", "reach a goal spawned 1.2-1.8 away: two far-apart regions matter "
             "(single-Gaussian limit)", REACH_FAR, "none"),
    _builtin("gazelab/Push-v0", "push the block (red) onto a goal spawned near it", PUSH, "none"),
    _builtin("gazelab/ReachClutter-v0", "Reach-v0 with moving distractors and texture (default mild: the evidence "
             "task)", REACH, "mild"),
    _builtin("gazelab/ReachFarClutter-v0", "ReachFar-v0 with clutter (default medium)", REACH_FAR, "medium"),
    _builtin("gazelab/ReachLampClutter-v0", "ReachClutter-v0 whose goal lamp switches on and off at random, rewards 1/4 "
             "while dark: look-alike frames with different returns differ on the goal (the paper's premise holds)",
             REACH_LAMP, "mild"),
    _builtin("gazelab/PushClutter-v0", "Push-v0 with moving distractors and texture (default medium)", PUSH, "medium"),
    _maniskill("PushCube-v1", "ManiSkill3: push a cube onto a red/white target"),
    _maniskill("PickCube-v1", "ManiSkill3: pick a cube and lift it to a goal position"),
    _maniskill("PushT-v1", "ManiSkill3: push a T-shaped block into a T-shaped goal pose"),
    _maniskill("PokeCube-v1", "ManiSkill3: use a peg to poke a cube onto a goal"),
    _maniskill("gazelab/PushCubeClutter-v1", "PushCube-v1 plus random visual-only distractor primitives (default "
               "medium)", clutter="medium"),
]
registry: dict[str, EnvEntry] = {e.env_id: e for e in _ENTRIES}

for _entry in _ENTRIES:
    if _entry.family == "builtin":
        # The env checks its own inputs and ends its own episodes: gym.make returns it unwrapped, like make_env.
        gym.register(_entry.env_id, entry_point="gazelab.envs.tabletop:TabletopEnv",
                     kwargs={"task": _entry.task, **_entry.defaults}, disable_env_checker=True, order_enforce=False)


def list_envs(family: str | None = None) -> list[str]:
    """Registered ids, optionally only one family ('builtin' or 'maniskill')."""
    check_choice("family", family, (None, "builtin", "maniskill"))
    return [e.env_id for e in _ENTRIES if family is None or e.family == family]


def _entry(env_id: str) -> EnvEntry:
    if env_id not in registry:
        raise GazelabError(f"env_id={env_id!r} is unknown; known ids: {', '.join(list_envs())}")
    return registry[env_id]


def is_builtin(env_id: str) -> bool:
    """True for the pure-torch built-in tasks, False for ManiSkill ids (GazelabError for unknown ids)."""
    return _entry(env_id).family == "builtin"


def make_env(env_id: str, num_envs: int = 1, seed: int | None = None, *, device=None, image_size: int | None = None,
             **kwargs):
    """Make a batched environment.

    Args:
        env_id: a registered id (see ``list_envs()``).
        num_envs: number of parallel envs N (>= 1).
        seed: seed of the first reset / the env's generators (None = random).
        device: torch device of the returned tensors; default ``cuda`` if available else ``cpu``.
        image_size: camera side in pixels, in :data:`IMAGE_SIZES` (built-in default 64; ManiSkill default 128).
        **kwargs: per-id options: built-in ``clutter`` ('none'|'mild'|'medium'|'heavy' or 0..3, or 'lookalike') and
            ``reward_mode`` ('normalized_dense' or 'sparse');
            ManiSkill ``include_state`` (True), ``partial_reset`` (True), ``control_mode`` ('pd_joint_delta_pos'),
            ``reward_mode`` ('normalized_dense'), ``max_episode_steps`` (the task's), and ``clutter`` for
            gazelab/PushCubeClutter-v1.
    Returns:
        A batched env with ``reset``/``step``/``close`` and ``num_envs``, ``device``, ``env_id``, ``sim_backend``
        ('torch' built-in, 'physx_cuda' / 'physx_cpu' ManiSkill), ``max_episode_steps``, ``observation_space`` /
        ``action_space`` (batched) and ``single_observation_space`` / ``single_action_space``. Observations are
        dicts with ``rgb`` (N, H, W, 3) uint8 and ``state`` (N, S) float32 tensors.
    """
    entry = _entry(env_id)
    check_int("num_envs", num_envs, 1)
    if image_size is not None:
        check_int("image_size", image_size, *IMAGE_SIZES)
    unknown = sorted(set(kwargs) - set(entry.allowed_kwargs))
    if unknown:
        raise GazelabError(f"{env_id} got unknown keyword arguments {unknown}; allowed: {list(entry.allowed_kwargs)}")
    device = default_device() if device is None else torch.device(device)
    options = {**entry.defaults, **kwargs}
    if entry.family == "builtin":
        return gym.make(env_id, num_envs=num_envs, seed=seed, device=device, image_size=image_size or entry.image_size,
                        **options)
    from gazelab.envs.maniskill import make_maniskill_env  # lazy: never pay for SAPIEN on the built-in tasks

    return make_maniskill_env(env_id, num_envs, seed, device=device, image_size=image_size or entry.image_size,
                              **options)


def describe_env(env) -> str:
    """One line saying where an env runs, e.g. ``device: cuda (NVIDIA H100), ManiSkill sim backend: physx_cuda,
    256 envs`` or ``device: cpu, built-in torch env, 32 envs``: a GPU owner sees at once whether the GPU is used."""
    device = env.device
    where = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
    sim = "built-in torch env" if env.sim_backend == "torch" else f"ManiSkill sim backend: {env.sim_backend}"
    return f"device: {where}, {sim}, {env.num_envs} env{'' if env.num_envs == 1 else 's'}"
