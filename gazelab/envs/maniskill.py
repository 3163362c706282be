"""ManiSkill3 tasks behind gazelab's batched env interface.

GPU (CUDA available and ``device`` is cuda): exactly the ManiSkill3 PPO-from-pixels baseline set-up
(examples/baselines/ppo/ppo_rgb.py): ``gym.make(..., obs_mode="rgb", sim_backend="physx_cuda")`` with N parallel
sub-scenes, ``FlattenRGBDObservationWrapper(rgb=True, depth=False, state=include_state)``, then
``ManiSkillVectorEnv(ignore_terminations=not partial_reset, record_metrics=True)``.

CPU: ``physx_cpu`` simulates one scene per process. One env uses the same wrappers as the GPU path; several run
in subprocesses through gymnasium's ``AsyncVectorEnv`` (same-step autoreset) with ManiSkill's ``CPUGymWrapper``,
and ``CPUVectorEnv`` converts the numpy results back to ManiSkillVectorEnv's torch layout. Rendering on CPU goes
through Mesa lavapipe (see ``gazelab.envs.vulkan``): ~30 steps/s per process, ~7 s to create an env.

``mani_skill`` is imported inside the functions here, after ``ensure_vulkan`` has set up the Vulkan driver.

Note: ``state`` is whatever ManiSkill puts in the rgb-mode state vector: robot proprioception plus task extras
(e.g. PickCube-v1 includes its goal position, which is invisible in the image).
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from gazelab.envs.clutter import clutter_level
from gazelab.envs.vulkan import ensure_vulkan
from gazelab.core.errors import GazelabError

CLUTTER_ID = "gazelab/PushCubeClutter-v1"


def _import_maniskill(env_id: str) -> str:
    """Set up Vulkan, import ManiSkill (registering its envs) and return the id ManiSkill knows the env by."""
    ensure_vulkan()
    import mani_skill.envs  # noqa: F401  (registers the ManiSkill tasks)

    if env_id == CLUTTER_ID:
        from gazelab.envs.maniskill_clutter import MANISKILL_ID

        return MANISKILL_ID
    return env_id


def _gym_make(env_id: str, num_envs: int, sim_backend: str, env_kwargs: dict, include_state: bool):
    """gym.make + FlattenRGBDObservationWrapper, as in ManiSkill's ppo_rgb baseline."""
    from mani_skill.utils.wrappers.flatten import FlattenRGBDObservationWrapper

    env = gym.make(_import_maniskill(env_id), num_envs=num_envs, obs_mode="rgb", render_mode="rgb_array",
                   sim_backend=sim_backend, **env_kwargs)
    return FlattenRGBDObservationWrapper(env, rgb=True, depth=False, state=include_state)


def _make_cpu_worker_env(env_id: str, env_kwargs: dict, include_state: bool, ignore_terminations: bool):
    """One physx_cpu env for an AsyncVectorEnv worker process (module-level so it pickles)."""
    from mani_skill.utils.wrappers.gymnasium import CPUGymWrapper

    env = _gym_make(env_id, 1, "physx_cpu", env_kwargs, include_state)
    return CPUGymWrapper(env, ignore_terminations=ignore_terminations, record_metrics=True)


class ManiSkillEnv:
    """gazelab interface around a ManiSkillVectorEnv (GPU, or CPU with one env).

    Adds ``env_id``, ``sim_backend`` ('physx_cuda' or 'physx_cpu'), ``max_episode_steps`` and the make-time seed
    (used by the first ``reset()`` without one).
    """

    def __init__(self, env_id: str, vec_env, max_episode_steps: int, seed: int | None, sim_backend: str):
        self.env_id = env_id
        self.sim_backend = sim_backend
        self.vec_env = vec_env
        self.num_envs = vec_env.num_envs
        self.device = torch.device(vec_env.device)
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = vec_env.single_observation_space
        self.single_action_space = vec_env.single_action_space
        self.observation_space = vec_env.observation_space
        self.action_space = vec_env.action_space
        self._seed = seed

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """(obs, info); the first call without ``seed`` uses the seed given to ``make_env``."""
        seed, self._seed = (self._seed if seed is None else seed), None
        return self.vec_env.reset(seed=seed, options=options)

    def step(self, action: Tensor):
        """ManiSkillVectorEnv.step: (obs, reward (N,), terminated (N,), truncated (N,), info)."""
        return self.vec_env.step(torch.as_tensor(action, dtype=torch.float32, device=self.device))

    def close(self) -> None:
        self.vec_env.close()


class CPUVectorEnv:
    """Several physx_cpu ManiSkill envs in subprocesses, with ManiSkillVectorEnv's torch interface.

    gymnasium's AsyncVectorEnv (same-step autoreset) returns numpy arrays with a ``_key`` mask next to every info
    key, and puts the pre-reset observation and info of finished envs under ``final_obs`` / ``final_info``. This
    class gives ManiSkillVectorEnv's layout instead (tests/test_envs_maniskill.py compares the two): torch tensors,
    no masks, step counters (``elapsed_steps``, ``episode_len``) as int32, ``reconfigure`` one bool;
    ``final_observation`` / ``final_info`` / ``_final_info`` / ``_final_observation`` / ``_elapsed_steps`` when an
    episode ends, and then, as after ManiSkill's partial reset, no per-step ``episode`` metrics at the top level.
    """

    sim_backend = "physx_cpu"

    def __init__(self, env_id: str, num_envs: int, seed: int | None, env_kwargs: dict, include_state: bool,
                 ignore_terminations: bool, max_episode_steps: int):
        fn = functools.partial(_make_cpu_worker_env, env_id, env_kwargs, include_state, ignore_terminations)
        # forkserver: workers start from a clean interpreter (forking a parent that imported SAPIEN hangs). As with
        # any spawn-style start, a script that makes this env needs an `if __name__ == "__main__":` guard;
        # notebooks need none.
        self.vec_env = gym.vector.AsyncVectorEnv([fn] * num_envs, context="forkserver",
                                                 autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.env_id = env_id
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.vec_env.single_observation_space
        self.single_action_space = self.vec_env.single_action_space
        self.observation_space = self.vec_env.observation_space
        self.action_space = self.vec_env.action_space
        self._seed = seed

    @staticmethod
    def _obs(obs: dict) -> dict[str, Tensor]:
        return {k: torch.from_numpy(np.asarray(v)) for k, v in obs.items()}

    @classmethod
    def _info(cls, info: dict) -> dict:
        """An AsyncVectorEnv info (N-arrays with ``_key`` masks, nested dicts) in ManiSkillVectorEnv's layout."""
        out = {}
        for key, value in info.items():
            if key.startswith("_") or key in ("final_obs", "final_info"):
                continue
            if isinstance(value, dict):
                out[key] = cls._info(value)
            elif key == "reconfigure":  # ManiSkill reconfigures the whole batch: one flag
                out[key] = bool(np.asarray(value).any())
            else:
                tensor = torch.from_numpy(np.asarray(value))
                out[key] = tensor.int() if tensor.dtype == torch.int64 else tensor  # ManiSkill counts steps in int32
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """(obs, info); env i is seeded with seed + i. The first call without ``seed`` uses make_env's seed."""
        seed, self._seed = (self._seed if seed is None else seed), None
        obs, info = self.vec_env.reset(seed=seed, options=options)
        return self._obs(obs), self._info(info)

    def step(self, action: Tensor):
        """Same outputs as ManiSkillVectorEnv.step, as CPU torch tensors."""
        action = torch.as_tensor(action, dtype=torch.float32).cpu().numpy()
        obs, reward, terminated, truncated, info = self.vec_env.step(action)
        obs = self._obs(obs)
        out = self._info(info)
        done = np.logical_or(terminated, truncated)
        if done.any():
            # ManiSkillVectorEnv then returns the info of its partial reset, which has no per-step episode metrics.
            out.pop("episode", None)
            # final_obs is an object array holding the pre-reset obs dict of each finished env (None elsewhere).
            final_obs = {k: v.clone() for k, v in obs.items()}
            for i in np.flatnonzero(done):
                for k, v in info["final_obs"][i].items():
                    final_obs[k][i] = torch.from_numpy(np.asarray(v))
            mask = torch.from_numpy(done)
            out.update(final_observation=final_obs, final_info=self._info(info["final_info"]), _final_info=mask,
                       _final_observation=mask, _elapsed_steps=mask)
        return (obs, torch.from_numpy(np.asarray(reward, dtype=np.float32)),
                torch.from_numpy(np.asarray(terminated, dtype=bool)),
                torch.from_numpy(np.asarray(truncated, dtype=bool)), out)

    def close(self) -> None:
        self.vec_env.close()


def make_maniskill_env(env_id: str, num_envs: int = 1, seed: int | None = None, *, device: torch.device,
                       image_size: int = 128, include_state: bool = True, partial_reset: bool = True,
                       control_mode: str = "pd_joint_delta_pos", reward_mode: str = "normalized_dense",
                       clutter: str | int | None = None, max_episode_steps: int | None = None):
    """Make a ManiSkill3 env with gazelab's batched interface (see the module docstring).

    Args:
        env_id: a ManiSkill id (PushCube-v1, ...) or ``gazelab/PushCubeClutter-v1``.
        num_envs: parallel envs (GPU: sub-scenes; CPU: processes).
        seed: seed of the first reset.
        device: cuda -> physx_cuda; cpu -> physx_cpu.
        image_size: camera width = height (ManiSkill default 128; 64 renders a bit faster).
        include_state: add the flattened ``state`` vector to the observation.
        partial_reset: reset envs as soon as they finish (else ignore terminations; reset on time limit).
        control_mode, reward_mode: passed to gym.make (ppo_rgb defaults).
        clutter: clutter level for ``gazelab/PushCubeClutter-v1`` only.
        max_episode_steps: time limit (None = the task's, e.g. 50 for PushCube-v1).
    """
    env_kwargs = dict(control_mode=control_mode, reward_mode=reward_mode,
                      sensor_configs=dict(width=image_size, height=image_size))
    if max_episode_steps is not None:
        env_kwargs["max_episode_steps"] = max_episode_steps
    if env_id == CLUTTER_ID:
        env_kwargs["clutter"] = clutter_level("medium" if clutter is None else clutter)
    elif clutter is not None:
        raise GazelabError(f"clutter={clutter!r} is only accepted by {CLUTTER_ID}, not {env_id}")
    _import_maniskill(env_id)  # Vulkan set-up comes before any mani_skill import below
    use_gpu = device.type == "cuda"
    if use_gpu or num_envs == 1:
        from mani_skill.utils import gym_utils
        from mani_skill.vector.wrappers.gymnasium import ManiSkillVectorEnv

        backend = "physx_cuda" if use_gpu else "physx_cpu"
        env = _gym_make(env_id, num_envs, backend, env_kwargs, include_state)
        vec = ManiSkillVectorEnv(env, num_envs, ignore_terminations=not partial_reset, record_metrics=True)
        return ManiSkillEnv(env_id, vec, gym_utils.find_max_episode_steps_value(vec._env), seed, backend)
    from mani_skill.utils.registration import REGISTERED_ENVS

    max_steps = max_episode_steps or REGISTERED_ENVS[_import_maniskill(env_id)].max_episode_steps
    return CPUVectorEnv(env_id, num_envs, seed, env_kwargs, include_state, not partial_reset, max_steps)
