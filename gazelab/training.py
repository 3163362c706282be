"""Run plumbing shared by the PPO and SAC trainers: config fields, run directory, logging, checkpoints, resume.

The algorithms live in :mod:`gazelab.ppo` and :mod:`gazelab.sac` (one function each); everything they have in
common that is *not* the algorithm is here, once:

* :class:`TrainConfig`: the fields both trainers share (environment, attention, contrastive, run control);
* :class:`Run`: seeding, run directory, TensorBoard writer, in-memory history + ``history.jsonl``, a
  ``tqdm.auto`` progress bar, episode metrics, atomic checkpoints and a Ctrl-C / SIGTERM that stops cleanly;
* :func:`rng_state` / :func:`set_rng_state`, :func:`env_state` / :func:`set_env_state` (with
  :meth:`ContrastiveBuffer.state_dict`): what a checkpoint needs for an exact resume.

Scalars (TensorBoard tags = keys of every ``history`` row; ``global_step`` = environment steps so far):

=========================== ====================================================================================
tag                         meaning
=========================== ====================================================================================
charts/return               mean undiscounted return of the training episodes that ended this iteration
charts/success_once         fraction of those episodes that reached success at least once
charts/episode_len          their mean length (steps)
charts/SPS                  environment steps per second (this process, rollout + update + contrastive)
charts/learning_rate        PPO learning rate (after annealing, if on)
eval/return                 deterministic policy, mean return over ``num_eval_episodes`` fresh episodes
eval/success_once           ... fraction successful
eval/episode_len            ... mean length
eval/reward                 ... mean reward per step (return / length; with dense rewards in [0, 1] a steadier
                            measure of "gets close" than success, which an agent hovering just off the goal misses)
losses/policy               PPO clipped surrogate loss (last minibatch)
losses/value                PPO value loss (last minibatch)
losses/entropy              PPO mean policy entropy (last minibatch)
losses/approx_kl            PPO approximate KL old -> new (last minibatch; the early stop compares it to target_kl)
losses/clipfrac             PPO fraction of ratios outside [1 - clip, 1 + clip]
losses/explained_variance   PPO 1 - Var(returns - values) / Var(returns) of the rollout
losses/qf                   SAC mean of the two critics' MSE losses (last gradient step)
losses/qf_values            SAC mean Q(s, a) of the batch
losses/actor                SAC actor loss
losses/alpha                SAC temperature loss (autotune only)
alpha                       SAC entropy temperature
gaze/mu_x, gaze/mu_y        mean gaze centre over this iteration's observations, feature-map coordinates (x =
                            column, y = row; the map's cells span [-1, 1], which covers only the middle of the
                            image: -0.57..0.57 for FineNatureCNN at 64 px)
gaze/sigma_x, gaze/sigma_y  mean gaze spread, feature-map units
gaze/mu_std                 spread of the gaze centre across the iteration's frames, image units (0 = one fixed
                            gaze for every image; a gaze that follows a moving object must move)
gaze/prize_distance         gaze-on-prize (built-in tasks): fovea centre to the decisive object, image units
gaze/centre_distance        ... the same for a fovea fixed at the map centre (a gaze that ignores the image)
gaze/prize_mass             share of the attention weight on the cells near the decisive object (every kind)
gaze/prize_mass_chance      ... that share under uniform weights (what attention 'none' scores)
contrastive/triplets        triplets mined by the last contrastive update (0 = no-op: warm-up or one outcome class)
contrastive/triplet_loss    its triplet loss (cosine distance, before the step)
contrastive/spread_loss     its spread loss (log sigma vs target)
contrastive/buffer_size     entries in the contrastive buffer
=========================== ====================================================================================

``gaze/mu*``/``gaze/sigma*``/``gaze/prize_distance`` appear only with a fovea (``gaze``, ``oracle``), the other
``gaze/*`` with every attention kind on the built-in tasks (:mod:`gazelab.prize`; ``eval/*`` repeats them over
the evaluation episodes), ``contrastive/*`` only with ``contrastive=True``, ``charts/*``
episode metrics only in iterations where an episode ended.

A run directory holds (default: ``runs/<algo>/<env>__<method>__s<seed>__<time>``)::

    config.json               the resolved config (per-task defaults filled in, the device used), the versions of
                              python, gazelab, torch, gymnasium, numpy, mani_skill, faiss and tyro, the git commit of
                              gazelab's checkout (null outside one), the command line, start time and step; a resume
                              rewrites it and keeps the earlier starts' records under "earlier"
    events.out.tfevents.*     TensorBoard scalars (the table above) and the hyper-parameters
    history.jsonl             the same scalars, one JSON row per logged iteration
    checkpoint.pt             the latest checkpoint, what resume and eval read: written at the start (step 0), every
                              ``checkpoint_every`` iterations, at the end and on Ctrl-C / SIGTERM
    ckpt_<global_step>.pt     the periodic ones, the newest ``keep_checkpoints`` (default 2; 0 = none) kept
    final.pt                  the checkpoint of the budget's last iteration (absent while a run is unfinished)
    eval/                     what ``gazelab eval`` writes (eval.json, episode.gif / .mp4)

Checkpoints are plain dicts of tensors and Python values, written to a temporary file and moved into place with
``os.replace`` (a crash never leaves a half-written checkpoint; ``ckpt_*.pt`` and ``final.pt`` are hard links to
what ``checkpoint.pt`` held then, so they cost no extra disk), and load with ``torch.load(path,
weights_only=True)``. They hold the model, the optimizers (RL and contrastive), the RNG states of
python/numpy/torch, the environments' state (built-in tasks; ManiSkill envs restart their episodes on resume), the
step counters, the history, the env spaces (so a policy is rebuilt without an env) and, with
``checkpoint_buffer=True``, the filled part of the contrastive buffer and, with SAC's ``checkpoint_replay=True``,
the filled part of its replay buffer: resuming a built-in-task run then continues it exactly as if it had never
stopped. Without them (the defaults: a full 100k buffer of 32x10x10 fp16 maps is 0.64 GB per checkpoint, a full
built-in SAC replay 1.2 GB) a resumed run refills empty buffers; everything else is still restored exactly.

A loss or parameter that turns nan/inf stops the run before anything is evaluated or saved
(:class:`gazelab.errors.TrainingDiverged`, naming the quantity and the iteration): ``checkpoint.pt`` stays the last
good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from gazelab.attention import ATTENTION_KINDS, AttentionOutput
from gazelab.contrastive import ContrastiveConfig
from gazelab.errors import GazelabError, TrainingDiverged
from gazelab.labels import LABELS
from gazelab.plugin import ContrastivePlugin

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Run",
    "launch",
    "METHODS",
    "CHECKPOINT_NAME",
    "load_checkpoint",
    "checkpoint_path",
    "rng_state",
    "set_rng_state",
    "env_state",
    "set_env_state",
    "resolve_device",
    "check_device",
    "default_encoder",
    "is_builtin",
    "check_int",
    "saved_config",
    "make_plugin",
    "EnvSpaces",
]

CHECKPOINT_NAME = "checkpoint.pt"
FINAL_CHECKPOINT_NAME = "final.pt"
RECORD_NAME = "config.json"
CHECKPOINT_FORMAT = 1

# Scalars that are nan by definition in some iterations, not because training diverged: explained variance is
# nan when every return of the batch is the same.
MAY_BE_NAN = ("losses/explained_variance",)

# Fields that steer how a run is executed, not what it computes: they may differ when a run is resumed.
RUN_CONTROL_FIELDS = ("total_timesteps", "resume", "progress", "eval_freq", "checkpoint_every", "keep_checkpoints",
                      "torch_threads")


METHODS: dict[str, dict[str, Any]] = {
    "none": dict(attention="none"),
    "patch": dict(attention="patch"),
    "gaze": dict(attention="gaze"),
    "gaze+contrastive": dict(attention="gaze", contrastive=True),
    "oracle": dict(attention="oracle"),
}
"""The paper's comparison: config overrides of the CNN baseline, the unconstrained-attention ablation, the Gaussian
gaze trained by RL gradients only, and the gaze with the return-guided contrastive step; plus the diagnostic upper
bound, a fovea fixed on the true decisive object (built-in tasks only)."""


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; anything else -> ``torch.device(device)``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_device(device: str) -> None:
    """ValueError unless ``device`` is ``"auto"`` or a cpu/cuda device this machine has (checked before any work:
    a CUDA device on a CPU-only torch would otherwise fail after the run directory was created)."""
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    allowed = ["auto", "cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(cuda_count)] if cuda_count else [])
    allowed_text = ", ".join(map(repr, allowed))
    if device == "auto":
        return
    try:
        kind = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a torch device; allowed: {allowed_text}") from None
    if kind.type == "cuda" and not cuda_count:
        raise ValueError(f"device={device!r} needs CUDA, which this torch ({torch.__version__}) does not see; "
                         f"allowed: {allowed_text}")
    if kind.type not in ("cpu", "cuda") or (kind.type == "cuda" and (kind.index or 0) >= cuda_count):
        raise ValueError(f"device={device!r} is not available here; allowed: {allowed_text}")


def is_builtin(env_id: str) -> bool:
    """True for the pure-torch built-in tasks, False for ManiSkill ids."""
    from gazelab.envs import registry

    return registry[env_id].family == "builtin"


def default_encoder(env_id: str) -> str:
    """``"fine"`` for the built-in 64x64 tasks (NatureCNN would give a 4x4 map there, too coarse for a fovea);
    ``"nature"`` for ManiSkill's 128x128 images (12x12 map), as in the ManiSkill3 baseline."""
    return "fine" if is_builtin(env_id) else "nature"


def check_int(name: str, value, minimum: int) -> None:
    """ValueError naming ``name`` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass
class TrainConfig:
    """Fields shared by :class:`gazelab.ppo.PPOConfig` and :class:`gazelab.sac.SACConfig`.

    Fields left at ``None`` take the per-task default of the algorithm (see ``TASK_DEFAULTS`` in its module).
    """

    env_id: str = "gazelab/Reach-v0"
    """the id of the environment (see ``gazelab.envs.list_envs()``)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch and the environments)"""
    total_timesteps: Optional[int] = None
    """total timesteps of the experiments (None = per-task default)"""
    num_envs: Optional[int] = None
    """the number of parallel environments (None = per-task default)"""
    device: str = "auto"
    """torch device: 'auto' (cuda if available, else cpu), 'cpu', 'cuda', ...; ManiSkill simulates on the GPU on cuda"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    torch_threads: Optional[int] = None
    """torch CPU threads (None = torch's default, usually the number of cores)"""
    include_state: bool = True
    """whether to feed the proprioceptive state vector to the networks next to the image"""
    image_size: Optional[int] = None
    """camera side in pixels (None = the environment's default: 64 built-in, 128 ManiSkill)"""
    clutter: Optional[str] = None
    """clutter level of a built-in / cluttered task ('none', 'mild', 'medium', 'heavy'); None = the id's default"""

    encoder: Literal["auto", "nature", "fine"] = "auto"
    """CNN: 'nature' (ManiSkill's; 4x4 map at 64 px), 'fine' (10x10 map at 64 px); auto: fine built-in, nature ManiSkill"""
    attention: Literal["none", "patch", "gaze", "oracle"] = "none"
    """attention on the CNN map: 'none' (the baseline, unchanged), 'patch' (a weight per cell), 'gaze' (Gaussian
    fovea), 'oracle' (diagnostic: a fovea fixed on the true decisive object; built-in tasks only)"""
    oracle_sigma: float = 0.25
    """spread of the oracle fovea in image units (the image spans 2; 0.25 covers the goal and its surroundings)"""
    gaze_rl_grad: float = 1.0
    """scale of the RL gradients into the attention head: 1 = unchanged, 0 = none (only the contrastive loss trains it)"""
    gaze_head: Literal["mlp", "keypoint"] = "mlp"
    """gaze head: 'mlp' (pooled map -> MLP -> mu, sigma, rho) or 'keypoint' (soft-argmax centre over the map's cells)"""
    gaze_sigma_max: float = 0.8
    """largest sigma of the gaze (feature-map units; the map spans 2)"""
    contrastive: bool = False
    """return-guided contrastive update of the attention head (needs attention 'gaze' or 'patch')"""
    contrastive_buffer_size: int = 100_000
    """contrastive buffer capacity (detached maps + returns); 0 = only data since the last update (PPO: the batch)"""
    contrastive_every: int = 1
    """run the contrastive update every this many iterations (a stride > 1 trades signal for speed)"""
    contrastive_k: int = 16
    """neighbours per anchor searched for a positive and a negative"""
    contrastive_anchors: int = 512
    """anchors sampled per contrastive update (each gives at most one triplet)"""
    contrastive_margin: float = 0.2
    """triplet margin on the cosine distance (which lies in [0, 2])"""
    contrastive_threshold: Optional[float] = None
    """return threshold between the two outcome classes (None = the buffer's median)"""
    contrastive_lr: float = 3e-4
    """learning rate of the contrastive optimizer (Adam over the attention head only)"""
    spread_weight: float = 0.1
    """weight of the spread loss (log sigma towards spread_target) in the contrastive update"""
    spread_target: float = 0.3
    """sigma the spread loss pulls towards (feature-map units, the map spans [-1, 1])"""
    contrastive_fovea: Literal["anchor", "own"] = "anchor"
    """whose fovea weights a triplet's maps: 'anchor' (one eye on all three) or 'own' (each its own gaze)"""
    contrastive_rule: Literal["same_class", "higher_return"] = "same_class"
    """positive = the neighbour of the anchor's outcome class, or always the higher-return one (the paper's)"""
    contrastive_neighbours: Literal["any", "same_episode", "other_episodes"] = "any"
    """where an anchor's neighbours may come from: any state, its own episode only, or other episodes only"""
    contrastive_min_time_gap: int = 0
    """skip neighbours of the anchor's own episode fewer than this many steps away (0 = off)"""
    contrastive_keys: Literal["map", "gazed"] = "map"
    """what 'look alike' means for mining: keys of the whole stored map, or of the map under the current gaze"""
    contrastive_steps: int = 1
    """contrastive Adam steps per update (each on freshly mined triplets)"""
    contrastive_labels: Literal["gae", "return_to_go", "episode_return", "success"] = "return_to_go"
    """the outcome a state is labelled with (gazelab.labels): PPO's 'gae' returns, the episode's discounted
    'return_to_go', its 'episode_return' or its 'success'"""

    eval_freq: Optional[int] = None
    """evaluate the deterministic policy every this many iterations (0 = never; None = per-task default)"""
    num_eval_envs: int = 16
    """the number of parallel evaluation environments"""
    num_eval_episodes: int = 16
    """episodes per evaluation (each eval env plays whole episodes, the first one of each counts)"""
    checkpoint_every: Optional[int] = None
    """write run_dir/checkpoint.pt every this many iterations (0 = only at start, end and stop signals; None = per-task)"""
    keep_checkpoints: int = 2
    """also keep the newest this many of those periodic checkpoints as ckpt_<global_step>.pt (0 = none)"""
    checkpoint_buffer: bool = False
    """save the contrastive buffer in checkpoints (exact resume, but 100k 32x10x10 maps = 0.64 GB); False: resume empty"""
    run_dir: Optional[str] = None
    """where logs, history.jsonl and checkpoints go (None = runs/<algo>/<env>__<method>__s<seed>__<time>)"""
    resume: Optional[str] = None
    """run directory or checkpoint to continue with its saved config (`--resume R --help` lists what may change)"""
    progress: bool = True
    """show a tqdm progress bar"""

    # ------------------------------------------------------------------------------------------ validation
    def _task_defaults(self) -> dict[str, Any]:
        """Per-task defaults of the algorithm for the fields left at None (overridden by PPOConfig/SACConfig)."""
        return {}

    def __post_init__(self):
        """Fill the per-task defaults and validate: a bad field raises :class:`GazelabError` (a ValueError),
        also when the check that failed lives in a module the config delegates to (contrastive, clutter)."""
        from gazelab.envs import list_envs  # here, not at import: envs may pull optional packages lazily

        try:
            check_device(self.device)  # before the defaults: the device chooses some of them (ManiSkill num_envs)
            if self.env_id not in list_envs():
                raise ValueError(f"env_id={self.env_id!r} is unknown; known ids: {', '.join(list_envs())}")
            for name, value in self._task_defaults().items():
                if getattr(self, name) is None:
                    setattr(self, name, value)
            if self.encoder == "auto":
                self.encoder = default_encoder(self.env_id)
            self.validate()
        except ValueError as e:
            raise GazelabError(str(e)) from None

    def validate(self) -> None:
        """Raise one ValueError naming the first bad field (called by ``__post_init__``, before any work)."""
        choices = {"attention": ATTENTION_KINDS, "encoder": ("nature", "fine")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; use one of {allowed}")
        check_int("seed", self.seed, 0)
        check_int("total_timesteps", self.total_timesteps, 1)
        check_int("num_envs", self.num_envs, 1)
        if self.torch_threads is not None:
            check_int("torch_threads", self.torch_threads, 1)
        if self.image_size is not None:
            check_int("image_size", self.image_size, 36)
        check_device(self.device)
        if self.contrastive and self.attention not in ("gaze", "patch"):
            raise ValueError(f"contrastive=True needs attention='gaze' or 'patch' (there is no head to train with "
                             f"attention={self.attention!r})")
        if self.attention == "oracle" and not is_builtin(self.env_id):
            raise ValueError(f"attention='oracle' needs the true object positions of a built-in task (gazelab/...-v0); "
                             f"{self.env_id} has none")
        for name in ("oracle_sigma", "gaze_sigma_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.contrastive_labels not in LABELS:
            raise ValueError(f"contrastive_labels={self.contrastive_labels!r} is not allowed; use one of {LABELS}")
        if not 0.0 <= self.gaze_rl_grad <= 1.0:
            raise ValueError(f"gaze_rl_grad must lie in [0, 1] (1 = RL gradients unchanged, 0 = none), got "
                             f"{self.gaze_rl_grad!r}")
        check_int("contrastive_buffer_size", self.contrastive_buffer_size, 0)
        for name in ("contrastive_every", "num_eval_envs", "num_eval_episodes"):
            check_int(name, getattr(self, name), 1)
        for name in ("eval_freq", "checkpoint_every", "keep_checkpoints"):
            check_int(name, getattr(self, name), 0)
        self.contrastive_config()  # its own checks: k, anchors, margin, lr, spread
        if self.clutter is not None and not self.env_id.startswith("gazelab/"):
            raise ValueError(f"clutter={self.clutter!r} is only accepted by gazelab/ ids, not {self.env_id}")
        if self.clutter is not None:
            from gazelab.envs.clutter import clutter_level

            clutter_level(self.clutter)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps (all envs together) of one training iteration (PPO: batch_size; SAC: training_freq)."""
        raise NotImplementedError

    def contrastive_config(self) -> ContrastiveConfig:
        """The core library's ContrastiveConfig built from the ``contrastive_*`` / ``spread_*`` fields."""
        return ContrastiveConfig(
            num_anchors=self.contrastive_anchors, k=self.contrastive_k, margin=self.contrastive_margin,
            spread_weight=self.spread_weight, spread_target=self.spread_target, lr=self.contrastive_lr,
            threshold=self.contrastive_threshold, fovea=self.contrastive_fovea, rule=self.contrastive_rule,
            neighbours=self.contrastive_neighbours, min_time_gap=self.contrastive_min_time_gap,
            keys=self.contrastive_keys, steps=self.contrastive_steps, seed=self.seed,
        )

    def attention_options(self) -> dict[str, Any]:
        """Keyword arguments of the attention module (see :class:`gazelab.agent.ImageEncoder`)."""
        if self.attention == "gaze":
            return {"head": self.gaze_head, "sigma_max": self.gaze_sigma_max}
        if self.attention == "oracle":
            return {"sigma": self.oracle_sigma}
        return {}

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``make_env`` beyond id/num_envs/seed."""
        kwargs: dict[str, Any] = {"image_size": self.image_size}
        if self.clutter is not None:
            kwargs["clutter"] = self.clutter
        return kwargs

    def method_name(self) -> str:
        """Short name of the method, e.g. 'none', 'gaze', 'gaze+contrastive', 'gaze-rlfree+contrastive'."""
        name = self.attention
        if self.attention in ("gaze", "patch") and self.gaze_rl_grad != 1.0:
            name += "-rlfree" if self.gaze_rl_grad == 0 else f"-rl{self.gaze_rl_grad:g}"
        return name + ("+contrastive" if self.contrastive else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what checkpoints store)."""
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What a trainer returns."""

    run_dir: Path
    """Directory with history.jsonl, TensorBoard events and checkpoint.pt."""
    history: list[dict[str, float]]
    """One dict per iteration: global_step, iteration, time and the scalars of the table in this module."""
    final: dict[str, float]
    """The last value of each scalar (and global_step)."""
    checkpoint: Path
    """Path of the last checkpoint."""
    interrupted: bool = False
    """True if Ctrl-C or SIGTERM stopped the run early (a checkpoint was written first)."""


@dataclass(frozen=True)
class EnvSpaces:
    """The spaces of one environment: all that ``build_agent`` needs to size a policy.

    An env has both attributes too, so ``build_agent(config, env)`` works; checkpoints store
    :meth:`state_dict` so that a policy is rebuilt without making an env (on a GPU machine, a CPU-physics
    ManiSkill env made only to read its spaces would keep SAPIEN from creating the GPU one afterwards).
    """

    single_observation_space: gym.spaces.Dict
    """``rgb`` Box (H, W, 3) uint8, and ``state`` Box (S,) float32 when the env has one."""
    single_action_space: gym.spaces.Box
    """Box (A,) float32 with its bounds."""

    @classmethod
    def of(cls, env) -> EnvSpaces:
        """The spaces of ``env`` (anything with ``single_observation_space`` and ``single_action_space``)."""
        return cls(env.single_observation_space, env.single_action_space)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and strings only (loads with ``weights_only=True``): {observation: {key: box}, action: box}."""
        return {"observation": {k: _box_state(box) for k, box in self.single_observation_space.spaces.items()},
                "action": _box_state(self.single_action_space)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> EnvSpaces:
        """Rebuild what :meth:`state_dict` returned."""
        observation = gym.spaces.Dict({k: _box(box) for k, box in state["observation"].items()})
        return cls(observation, _box(state["action"]))


def _box_state(box: gym.spaces.Box) -> dict[str, Any]:
    return {"low": torch.from_numpy(np.asarray(box.low)), "high": torch.from_numpy(np.asarray(box.high)),
            "dtype": np.dtype(box.dtype).name}


def _box(state: dict[str, Any]) -> gym.spaces.Box:
    return gym.spaces.Box(state["low"].numpy(), state["high"].numpy(), dtype=np.dtype(state["dtype"]))


# ---------------------------------------------------------------------------------------------- checkpoints
def checkpoint_path(run_or_checkpoint: str | os.PathLike) -> Path:
    """A run directory -> its checkpoint.pt; a file path is returned unchanged. ValueError if it does not exist."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise GazelabError(f"no checkpoint at {str(run_or_checkpoint)!r} (expected a run directory holding "
                           f"{CHECKPOINT_NAME} or a checkpoint file)")
    return path


def load_checkpoint(run_or_checkpoint: str | os.PathLike, map_location="cpu", *, mmap: bool = False) -> dict:
    """Load a checkpoint (run directory or file) with ``weights_only=True``.

    ``mmap=True`` maps the file instead of reading it: a tensor's bytes are read when it is first used, so a
    caller that needs only the policy never reads a saved replay buffer. GazelabError naming the file when it
    is not a gazelab checkpoint (truncated, corrupt, another format).
    """
    path = checkpoint_path(run_or_checkpoint)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 -- RuntimeError, UnpicklingError, EOFError, KeyError...: all mean "bad file"
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}" if str(e) else type(e).__name__
        raise GazelabError(f"{path} is not a gazelab checkpoint: it is truncated or corrupt ({reason})") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise GazelabError(f"{path} is not a gazelab checkpoint: a torch file without gazelab's 'format' key")
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise GazelabError(f"{path} has checkpoint format {ckpt['format']!r}; this gazelab reads format "
                           f"{CHECKPOINT_FORMAT}")
    return ckpt


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` a temporary file in the same directory, then os.replace it onto ``path``: readers see the old
    or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save ``obj`` to ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s bytes atomically: a hard link (no extra disk; ``source`` is later replaced,
    not rewritten, so the link keeps today's bytes), or a copy where the file system has no hard links."""
    def link(tmp: Path) -> None:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    write_atomic(target, link)


def _git_commit(package_dir: Path) -> Optional[str]:
    """HEAD of the git checkout that ``package_dir`` is the top-level package of (None if it is not in one, e.g.
    installed in site-packages, which may itself sit inside some other repository)."""
    try:
        out = subprocess.run(["git", "-C", str(package_dir), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != package_dir.resolve().parent:
        return None
    return lines[1]


def _version(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_record(config: TrainConfig, algo: str, device: torch.device, start_step: int) -> dict[str, Any]:
    """What ``config.json`` holds: the resolved config (per-task defaults filled in, the device used), the versions
    of python and the libraries, the git commit of gazelab's checkout, the command line, when and from which step."""
    import gazelab

    return {
        "algo": algo, "config": {**config.to_dict(), "device": str(device)}, "device": str(device),
        "versions": {"python": platform.python_version(), "gazelab": gazelab.__version__, "torch": torch.__version__,
                     **{name: _version(name) for name in ("gymnasium", "numpy", "mani_skill", "faiss-cpu", "tyro")}},
        "git_commit": _git_commit(Path(gazelab.__file__).parent), "command": list(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "start_step": start_step,
    }


def rng_state() -> dict:
    """RNG states of python, numpy and torch (CPU + CUDA) as tensors / plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _env_parts(env) -> list:
    """The objects holding a built-in env's state: the env and its clutter (None for ManiSkill envs)."""
    if not type(env).__module__.startswith("gazelab.envs.tabletop"):
        return []
    return [env, env.clutter]


def env_state(env) -> Optional[dict]:
    """Snapshot of an environment's full state, or None if it cannot be captured (ManiSkill).

    Uses ``env.state_dict()`` when the env provides one; for the built-in tabletop envs, every tensor, generator
    and number attribute of the env and its clutter (positions, step counters, episode returns, generators).
    """
    if hasattr(env, "state_dict"):
        return env.state_dict()
    parts = _env_parts(env)
    if not parts:
        return None
    snapshot = []
    for part in parts:
        values = {}
        for name, value in vars(part).items():
            if isinstance(value, torch.Generator):
                values[name] = ("generator", value.get_state())
            elif isinstance(value, Tensor):
                values[name] = ("tensor", value.clone())
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values[name] = ("number", value)
        snapshot.append(values)
    return {"parts": snapshot}


def set_env_state(env, state: Optional[dict]) -> bool:
    """Restore :func:`env_state`; returns False (env untouched) when ``state`` is None."""
    if state is None:
        return False
    if hasattr(env, "load_state_dict"):
        env.load_state_dict(state)
        return True
    for part, values in zip(_env_parts(env), state["parts"]):
        for name, (kind, value) in values.items():
            if kind == "generator":
                getattr(part, name).set_state(value)
            elif kind == "tensor":
                setattr(part, name, value.to(getattr(part, name).device))
            else:
                setattr(part, name, value)
    return True


def launch(config: TrainConfig, algo: str, train_loop) -> TrainResult:
    """Open a :class:`Run`, make the training and evaluation envs (printing where they run: device, simulator
    backend, env count), run ``train_loop(config, run, envs, eval_envs)`` and close the envs and the run however it
    ends (a stop signal or a divergence included). ``eval_envs`` is None when ``config.eval_freq == 0``; it uses
    seed + 1 so evaluation episodes differ from training ones."""
    from gazelab.envs import describe_env, make_env  # here, not at import: envs may pull optional packages lazily

    run = Run(config, algo)
    envs = eval_envs = None
    try:
        envs = make_env(config.env_id, config.num_envs, seed=config.seed, device=run.device, **config.env_kwargs())
        tqdm.write(describe_env(envs))  # tqdm.write: keeps the progress bar intact
        run.env_spaces = EnvSpaces.of(envs)
        if config.eval_freq > 0:
            eval_envs = make_env(config.env_id, config.num_eval_envs, seed=config.seed + 1, device=run.device,
                                 **config.env_kwargs())
        return train_loop(config, run, envs, eval_envs)
    finally:
        for env in (envs, eval_envs):
            if env is not None:
                env.close()
        run.close()


# ---------------------------------------------------------------------------------------------- the run
# Ctrl-C, and what `timeout`, `kill` and job schedulers (SLURM, Kubernetes) send before they kill a process.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopFlag:
    """The first stop signal asks the trainer to stop after the current iteration; a second one interrupts at once."""

    def __init__(self):
        self.requested = False

    def __call__(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: finishing this iteration, writing a checkpoint, then stopping "
              "(send it again to abort at once).")


class Run:
    """Everything around the algorithm for one training run.

    With ``config.resume`` set, loads the checkpoint (``self.checkpoint``; the trainer restores its own state
    from it), checks that ``config`` matches the saved one and continues the run directory, its history and its
    TensorBoard log. Otherwise ``self.checkpoint`` is None and a new run directory is created.

    Args:
        config: the trainer's config (a :class:`TrainConfig` subclass).
        algo: 'ppo' or 'sac' (directory name and checkpoint tag).

    Attributes:
        device: torch device of the run.
        run_dir: Path of the run directory (created).
        history: list of dicts, one per logged iteration.
        checkpoint: the loaded checkpoint when resuming, else None.
        env_spaces: the :class:`EnvSpaces` of the training envs (set by :func:`launch`; saved in checkpoints).
        stop: ``stop.requested`` turns True on Ctrl-C or SIGTERM inside :meth:`interruptible`.
    """

    def __init__(self, config: TrainConfig, algo: str):
        self.config = config
        self.algo = algo
        self.checkpoint = load_checkpoint(config.resume) if config.resume else None
        if self.checkpoint is not None:
            check_resume_config(config, algo, self.checkpoint)
        if config.torch_threads is not None:
            torch.set_num_threads(config.torch_threads)
        # Adam's second moments and tiny gradients reach denormal floats, which x86 CPUs process ~100x slower:
        # measured 8x slower PPO iterations on 2 cores. Flushing them to zero changes nothing that matters.
        torch.set_flush_denormal(True)
        # TRY NOT TO MODIFY: seeding (as in CleanRL / ManiSkill); a resumed run restores the saved RNG states.
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
        torch.backends.cudnn.deterministic = config.torch_deterministic
        self.device = resolve_device(config.device)

        if self.checkpoint is not None:
            self.run_dir = checkpoint_path(config.resume).parent
            self.history = list(self.checkpoint["history"])
            self.start_step = self.checkpoint["global_step"]
        else:
            self.run_dir = Path(config.run_dir) if config.run_dir else self._default_run_dir()
            if (self.run_dir / CHECKPOINT_NAME).exists():
                raise GazelabError(f"run_dir={str(self.run_dir)!r} already holds a run; continue it with "
                                   "resume=<run_dir> or choose another run_dir")
            self.history = []
            self.start_step = 0
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_file = self.run_dir / CHECKPOINT_NAME
        self._write_record()
        # purge_step drops TensorBoard events that the interrupted run logged after its checkpoint.
        self.writer = SummaryWriter(str(self.run_dir), purge_step=self.start_step + 1 if self.checkpoint else None)
        if self.checkpoint is None:
            self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
                f"|{k}|{v}|" for k, v in config.to_dict().items()))
        with open(self.run_dir / "history.jsonl", "w") as f:  # rewritten: drops rows after the checkpoint
            f.writelines(json.dumps(row) + "\n" for row in self.history)
        self.pbar = tqdm(total=config.total_timesteps, initial=self.start_step, unit="step", dynamic_ncols=True,
                         disable=not config.progress, desc=f"{algo} {config.method_name()}")
        self.episodes: dict[str, list[Tensor]] = {"return": [], "success_once": [], "episode_len": []}
        self.time_offset = self.history[-1]["time"] if self.history else 0.0
        self.start_time = time.time()
        self.stop = _StopFlag()
        self.env_spaces: Optional[EnvSpaces] = None

    def _write_record(self) -> None:
        """Write config.json; a resumed run keeps the records of the earlier starts under ``earlier``."""
        path = self.run_dir / RECORD_NAME
        record = run_record(self.config, self.algo, self.device, self.start_step)
        if self.checkpoint is not None and path.exists():
            previous = json.loads(path.read_text())
            record["earlier"] = previous.pop("earlier", []) + [previous]
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))

    def start_clock(self) -> None:
        """Start measuring ``charts/SPS`` and ``time`` here (trainers call it after making the envs, which can take
        seconds for ManiSkill)."""
        self.start_time = time.time()

    def _default_run_dir(self) -> Path:
        cfg = self.config
        name = f"{cfg.env_id.replace('/', '-')}__{cfg.method_name()}__s{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
        return Path("runs") / self.algo / name

    # ------------------------------------------------------------------------------------------ logging
    def record_episodes(self, info: dict) -> None:
        """Collect the metrics of the episodes that ended in this step (ManiSkill ``final_info`` convention)."""
        if "final_info" not in info:
            return
        mask = info["_final_info"]
        for key in self.episodes:
            self.episodes[key].append(info["final_info"]["episode"][key][mask].float().cpu())

    def log_iteration(self, global_step: int, iteration: int, scalars: dict[str, float]) -> dict[str, float]:
        """Write one history row (TensorBoard + history + jsonl): the episode metrics collected since the last
        call, ``charts/SPS`` and ``scalars``; update the progress bar. Returns the row."""
        row: dict[str, float] = {"global_step": global_step, "iteration": iteration}
        if self.episodes["return"]:
            for key, values in self.episodes.items():
                row[f"charts/{key}"] = torch.cat(values).mean().item()
                values.clear()
        elapsed = time.time() - self.start_time
        row["charts/SPS"] = (global_step - self.start_step) / max(elapsed, 1e-9)
        row.update({k: float(v) for k, v in scalars.items()})
        row["time"] = self.time_offset + elapsed
        for key, value in row.items():
            if key not in ("global_step", "iteration", "time"):
                self.writer.add_scalar(key, value, global_step)
        self.history.append(row)
        with open(self.run_dir / "history.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self.pbar.n = global_step
        success = row.get("eval/success_once", self.last("charts/success_once"))
        postfix = {"SPS": f"{row['charts/SPS']:.0f}"}
        if success is not None:
            postfix["success"] = f"{success:.2f}"
        self.pbar.set_postfix(postfix, refresh=False)
        self.pbar.refresh()
        return row

    def note(self, message: str) -> None:
        """Print one line for the user (above the progress bar, which it does not break)."""
        tqdm.write(message)

    def last(self, key: str) -> Optional[float]:
        """The most recent logged value of ``key`` (None if never logged)."""
        return next((row[key] for row in reversed(self.history) if key in row), None)

    # ------------------------------------------------------------------------------------------ checkpoints
    def save(self, state: dict[str, Any], global_step: int, iteration: int, last: bool = False) -> Path:
        """Atomically write ``state`` plus config, spaces, counters, RNG states and history to run_dir/checkpoint.pt;
        keep it as ``ckpt_<global_step>.pt`` too when ``iteration`` is due for a periodic checkpoint (dropping all
        but the newest ``keep_checkpoints``) and as ``final.pt`` when it is the ``last`` of the budget."""
        state = {"format": CHECKPOINT_FORMAT, "algo": self.algo, "config": self.config.to_dict(),
                 "spaces": self.env_spaces.state_dict(), "global_step": global_step, "iteration": iteration,
                 "rng": rng_state(), "history": self.history, **state}
        save_atomic(state, self.checkpoint_file)
        if self.config.keep_checkpoints and self.due(iteration, self.config.checkpoint_every):
            _link_or_copy(self.checkpoint_file, self.run_dir / f"ckpt_{global_step}.pt")
            periodic = sorted(self.run_dir.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
            for old in periodic[:-self.config.keep_checkpoints]:
                old.unlink()
        if last:
            _link_or_copy(self.checkpoint_file, self.run_dir / FINAL_CHECKPOINT_NAME)
        return self.checkpoint_file

    def checkpoint_due(self, iteration: int, last: bool) -> bool:
        """Whether to save after ``iteration``: periodically (``checkpoint_every``), at the end, or on a stop."""
        return self.due(iteration, self.config.checkpoint_every) or last or self.stop.requested

    def due(self, iteration: int, every: int) -> bool:
        """True every ``every`` iterations (never for 0, nor at iteration 0: the start)."""
        return every > 0 and iteration > 0 and iteration % every == 0

    @contextlib.contextmanager
    def interruptible(self):
        """Within this block the first SIGINT (Ctrl-C) or SIGTERM sets ``self.stop.requested`` instead of ending
        the process (main thread only: Python delivers signals there)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self.stop) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def check_finite(self, iteration: int, scalars: dict[str, float], modules: dict[str, torch.nn.Module]) -> None:
        """Raise :class:`TrainingDiverged` naming the first non-finite scalar (except :data:`MAY_BE_NAN`) or parameter
        of ``modules`` (name -> module). Trainers call it after each update, before evaluating or saving, so a
        diverged run never writes its bad weights and its last checkpoint stays the last good one."""
        bad = next((f"{key} is {value}" for key, value in scalars.items()
                    if key not in MAY_BE_NAN and not np.isfinite(value)), None)
        if bad is None:
            params = [(f"{prefix}.{name}", p) for prefix, module in modules.items()
                      for name, p in module.named_parameters()]
            finite = torch.stack([p.detach().isfinite().all() for _, p in params]).tolist()  # one device sync
            bad = next((f"parameter {name} is {'nan' if p.isnan().any() else 'inf'}"
                        for (name, p), ok in zip(params, finite) if not ok), None)
        if bad is not None:
            last = load_checkpoint(self.checkpoint_file, mmap=True)["global_step"]
            raise TrainingDiverged(
                f"{bad} at iteration {iteration}: training diverged (a smaller learning rate usually helps); "
                f"stopped without saving these weights: the last good checkpoint is {self.checkpoint_file} "
                f"(step {last})")

    def close(self) -> None:
        """Close the TensorBoard writer and the progress bar (again: no-op)."""
        self.writer.close()
        self.pbar.close()

    def result(self) -> TrainResult:
        """Close the writer and the bar; the TrainResult of this run."""
        self.close()
        final: dict[str, float] = {}
        for row in self.history:
            final.update(row)
        return TrainResult(self.run_dir, self.history, final, self.checkpoint_file, self.stop.requested)


def check_resume_config(config: TrainConfig, algo: str, checkpoint: dict) -> None:
    """GazelabError if the checkpoint is of another algorithm, ``config`` differs from its saved config beyond
    the run-control fields (total_timesteps, progress, ...) or its budget leaves no iteration to run."""
    if checkpoint["algo"] != algo:
        raise GazelabError(f"resume={config.resume!r} is a {checkpoint['algo']} run, not {algo}")
    check_budget(config.total_timesteps, config.steps_per_iteration, checkpoint)
    saved, given = checkpoint["config"], config.to_dict()
    diff = [f"{k}: saved {saved.get(k)!r}, given {v!r}" for k, v in given.items()
            if k not in RUN_CONTROL_FIELDS + ("run_dir",) and saved.get(k) != v]
    if diff:
        raise GazelabError("resume: the config differs from the run's saved config (start from "
                           "gazelab.training.saved_config(...)): " + "; ".join(diff))


def check_budget(total_timesteps: int, steps_per_iteration: int, checkpoint: dict) -> None:
    """GazelabError naming both numbers unless ``total_timesteps`` leaves the resumed run at least one iteration."""
    step = checkpoint["global_step"]
    if total_timesteps < step + steps_per_iteration:
        raise GazelabError(f"total_timesteps={total_timesteps} leaves nothing to train: the run is at step {step} and "
                           f"one iteration takes {steps_per_iteration} steps; give total_timesteps >= "
                           f"{step + steps_per_iteration} to continue it")


def saved_config(config_cls, run_or_checkpoint, **overrides):
    """The config a run was started with (read from its checkpoint) with ``resume`` set and ``overrides``
    applied, e.g. ``saved_config(PPOConfig, "runs/ppo/x", total_timesteps=200_000)``."""
    ckpt = load_checkpoint(run_or_checkpoint, mmap=True)
    names = {f.name for f in dataclasses.fields(config_cls)}
    saved = config_cls(**{k: v for k, v in ckpt["config"].items() if k in names and k != "resume"},
                       resume=str(run_or_checkpoint))
    if "total_timesteps" in overrides:  # before validating the override, whose message could not name the step
        check_budget(overrides["total_timesteps"], saved.steps_per_iteration, ckpt)
    return dataclasses.replace(saved, **overrides)


# ---------------------------------------------------------------------------------------------- gaze plug-in
def make_plugin(config: TrainConfig, image_encoder, envs, device: torch.device,
                rollout_steps: Optional[int] = None) -> Optional[ContrastivePlugin]:
    """The contrastive plug-in a config asks for (None without ``contrastive``), for an agent's
    :class:`~gazelab.agent.ImageEncoder` and the training envs. ``rollout_steps``: PPO's num_steps (label "gae")."""
    if not config.contrastive:
        return None
    return ContrastivePlugin(
        image_encoder.attention, image_encoder.feature_shape, config=config.contrastive_config(),
        num_envs=config.num_envs, max_episode_steps=envs.max_episode_steps, label=config.contrastive_labels,
        gamma=config.gamma, buffer_size=config.contrastive_buffer_size, every=config.contrastive_every,
        steps_per_iteration=config.steps_per_iteration, rollout_steps=rollout_steps, device=device, seed=config.seed,
        save_buffer=config.checkpoint_buffer)
