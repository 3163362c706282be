"""The fields both trainers share (:class:`TrainConfig`), the methods the paper compares, and the device rules.

:class:`gazelab.rl.ppo.PPOConfig` and :class:`gazelab.rl.sac.SACConfig` extend :class:`TrainConfig` with their algorithm's
fields. Every field is a plain dataclass field with a docstring, so ``tyro`` turns it into a ``--flag`` of
``gazelab train ppo`` / ``sac`` (CleanRL's style), and its constraint is declared once, next to it
(:mod:`gazelab.core.checks`): a bad value stops with one message naming the field, the value and what is allowed.

Fields typed :data:`PerTask` have a default that depends on the task (and, for a few, on the machine): left at
None, they are filled in when the config is built, from the algorithm's ``TASK_DEFAULTS`` (ManiSkill's per-task
settings; CPU-sized ones for the built-in tasks) and the environment registry. A built config holds only
numbers, so ``gazelab train ppo --env-id PushCube-v1 --help`` shows the numbers that run would use.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Optional, TypeVar

import torch
import tyro

from gazelab.method.attention import KEYPOINT_SCALE, AttentionKind, GazeHead
from gazelab.rl.augment import Augment
from gazelab.rl.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from gazelab.core.checks import AtLeast, Interval, check_fields
from gazelab.method.contrastive import ContrastiveConfig
from gazelab.envs import IMAGE_SIZES, is_builtin, registry
from gazelab.envs.clutter import ClutterName
from gazelab.core.errors import GazelabError
from gazelab.method.plugin import ContrastivePlugin

__all__ = ["TrainConfig", "PerTask", "METHODS", "RUN_CONTROL_FIELDS", "resolve_device", "check_device",
           "config_from_dict", "saved_config"]

T = TypeVar("T")
C = TypeVar("C", bound="TrainConfig")
PerTask = Annotated[Optional[T], tyro.conf.DisallowNone]
"""A field whose default depends on the task: None (the default) is replaced by the task's value when the config
is built; the command line shows that value and does not take None."""

# Fields that steer how a run is executed, not what it computes: they may differ when a run is resumed.
RUN_CONTROL_FIELDS = ("total_timesteps", "resume", "progress", "eval_freq", "checkpoint_every", "keep_checkpoints",
                      "torch_threads", "track", "wandb_project_name", "wandb_entity", "wandb_group", "capture_video",
                      "capture_video_every")

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
    """GazelabError unless ``device`` is ``"auto"`` or a cpu/cuda device this machine has (checked before any work:
    a CUDA device on a CPU-only torch would otherwise fail after the run directory was created)."""
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    allowed = ["auto", "cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(cuda_count)] if cuda_count else [])
    allowed_text = ", ".join(map(repr, allowed))
    if device == "auto":
        return
    try:
        kind = torch.device(device)
    except RuntimeError:
        raise GazelabError(f"device={device!r} is not a torch device; allowed: {allowed_text}") from None
    if kind.type == "cuda" and not cuda_count:
        raise GazelabError(f"device={device!r} needs CUDA, which this torch ({torch.__version__}) does not see; "
                           f"allowed: {allowed_text}")
    if kind.type not in ("cpu", "cuda") or (kind.type == "cuda" and (kind.index or 0) >= cuda_count):
        raise GazelabError(f"device={device!r} is not available here; allowed: {allowed_text}")


TRAINERS_OWN = {"labels": "default_labels", "lr": "default_contrastive_lr"}
"""The contrastive settings whose default (None) each trainer fills in, and the class attribute it takes it from:
a run's value of these depends on the algorithm, not only on what was asked."""


@dataclass
class TrainConfig:
    """Fields shared by :class:`gazelab.rl.ppo.PPOConfig` and :class:`gazelab.rl.sac.SACConfig`."""

    algo: ClassVar[str]
    """The algorithm the config is for ('ppo', 'sac'): the run directory's parent and the checkpoints' tag."""
    default_labels: ClassVar[str]
    """The contrastive label ``resolve`` fills in when ``contrastive_config.labels`` is None (PPO: its 'gae'
    returns; SAC: the episodes' 'return_to_go')."""
    default_contrastive_lr: ClassVar[float]
    """The gaze's contrastive learning rate ``resolve`` fills in when ``contrastive_config.lr`` is None."""

    env_id: str = "gazelab/Reach-v0"
    """the id of the environment (`gazelab envs` lists them)"""
    seed: Annotated[int, Interval(0, 2**32 - 1)] = 1
    """seed of the experiment (python, numpy, torch and the environments; numpy's global seed takes 0..2**32-1)"""
    total_timesteps: PerTask[Annotated[int, AtLeast(1)]] = None
    """total timesteps of the experiments"""
    num_envs: PerTask[Annotated[int, AtLeast(1)]] = None
    """the number of parallel environments"""
    device: str = "auto"
    """torch device: 'auto' (cuda if available, else cpu), 'cpu', 'cuda', ...; ManiSkill simulates on the GPU on cuda"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    torch_threads: PerTask[Annotated[int, AtLeast(1)]] = None
    """torch CPU threads (by default torch's own setting on this machine, usually the number of cores)"""
    include_state: bool = True
    """whether to feed the proprioceptive state vector to the networks next to the image"""
    image_size: PerTask[Annotated[int, Interval(36, IMAGE_SIZES[1])]] = None
    """camera side in pixels (the environment's: 64 built-in, 128 ManiSkill; at most 512: a rollout holds num_envs x num_steps images)"""  # noqa: E501
    clutter: PerTask[ClutterName] = None
    """clutter level of a built-in task or gazelab/PushCubeClutter-v1 (the id's; other ManiSkill ids have none)"""
    reward_mode: Literal["normalized_dense", "sparse"] = "normalized_dense"
    """the environment's reward: 'normalized_dense' (shaped, in [0, 1]) or 'sparse' (1 on success, else 0: few triplets, the paper's open question 1)"""  # noqa: E501

    encoder: Literal["auto", "nature", "fine"] = "auto"
    """CNN: 'nature' (ManiSkill's: 4x4 map at 64 px), 'fine' (10x10 map at 64 px); auto: fine built-in, else nature"""
    attention: AttentionKind = "none"
    """attention on the CNN map: 'none' (the baseline), 'patch' (a weight per cell), 'gaze' (Gaussian fovea), 'oracle' (diagnostic: a fovea fixed on the true decisive object; built-in tasks only)"""  # noqa: E501
    oracle_sigma: Annotated[float, Interval(0, low_open=True)] = 0.25
    """spread of the oracle fovea in image units (the image spans 2; 0.25 covers the goal and its surroundings)"""
    oracle_foveae: Literal[1, 2] = 1
    """oracle foveae: 1 on the decisive object (prize), 2 on the two objects the return depends on (prize_parts:
    goal and gripper for reach, block and goal for push): the bound of what a second fovea could buy"""
    gaze_rl_grad: Annotated[float, Interval(0, 1)] = 1.0
    """scale of the RL gradients into the attention head: 1 = unchanged, 0 = none (only the contrastive step trains).
    Values in between weaken RL's pull far less than they seem to: the trainers' Adam divides each parameter's
    gradient by its running scale (PPO at 0.1 found the goal at 8.7k steps, at 1 at 9.2k; docs/evidence.md)"""
    gaze_head: GazeHead = "keypoint"
    """gaze head: 'keypoint' (soft-argmax centre over the map's cells: the fovea follows the goal frame by frame, PPO reaches 0.5 success ~2x sooner than with 'mlp'; README Evidence) or 'mlp' (pooled map -> MLP -> mu, sigma, rho)"""  # noqa: E501
    gaze_sigma_max: Annotated[float, Interval(0, low_open=True)] = 0.8
    """largest sigma of the gaze (feature-map units: the map's cell centres span [-1, 1])"""
    gaze_keypoint_scale: Annotated[float, Interval(0, low_open=True)] = KEYPOINT_SCALE
    """inverse temperature of the keypoint head's soft-argmax (gazelab.method.attention.KEYPOINT_SCALE): larger
    values let the centre reach the best-scoring cell sooner instead of a mean pulled toward the map's middle"""
    gaze_foveae: Annotated[int, AtLeast(1)] = 1
    """Gaussians of the gaze (the paper's open question 2): 1, or K >= 2 foveae whose weights are their mixture map,
    per cell the largest (gazelab.method.attention.GaussianGaze); the fovea-to-goal metric then reads the nearest"""
    gaze_centre_input: bool = False
    """feed the fovea's centre mu (2 numbers, feature-map units) to the actor and critic beside the image features:
    the keypoint as an input (deep spatial autoencoders); needs attention 'gaze' or 'oracle' (gazelab.rl.networks)"""
    augment: Augment = "none"
    """image augmentation in the updates: 'shift' = DrQ-v2's random shift (pad, then crop back at a random offset) of every image an update samples (PPO: each minibatch; SAC: obs and next obs); the policy acts on true frames (gazelab.rl.augment)"""  # noqa: E501
    augment_pad: Annotated[int, AtLeast(1)] = 4
    """the largest shift in pixels of augment='shift' and of CURL's two views (DrQ-v2: 4 at 84 px)"""
    curl_coef: Annotated[float, AtLeast(0)] = 0.0
    """CURL's instance-contrastive step on the CNN after each gradient step (PPO: each minibatch; SAC: each critic step; 0 = off; gazelab.rl.curl): its Adam's learning rate is curl_coef x the rate that trains the CNN (PPO's learning_rate, SAC's q_lr; a weight on the loss would be undone by Adam's normalisation)"""  # noqa: E501
    curl_dim: Annotated[int, AtLeast(1)] = 50
    """with curl_coef > 0: width of CURL's projected code (CURL: 50)"""
    curl_tau: Annotated[float, Interval(0, 1, low_open=True)] = 0.05
    """with curl_coef > 0: momentum of CURL's key encoder (CURL: 0.05)"""
    contrastive: bool = False
    """return-guided contrastive update of the attention head (needs attention 'gaze' or 'patch')"""
    contrastive_config: Annotated[ContrastiveConfig, tyro.conf.arg(name="contrastive")] = dataclasses.field(
        default_factory=ContrastiveConfig)
    """every setting of the contrastive update (``--contrastive.k 32``, ``--contrastive.labels success``, ...; see
    gazelab.method.contrastive.ContrastiveConfig)"""

    eval_freq: PerTask[Annotated[int, AtLeast(0)]] = None
    """evaluate the deterministic policy every this many iterations (0 = never)"""
    num_eval_envs: Annotated[int, AtLeast(1)] = 16
    """the number of parallel evaluation environments"""
    num_eval_episodes: Annotated[int, AtLeast(1)] = 16
    """episodes per evaluation (each eval env plays whole episodes, the first one of each counts)"""
    checkpoint_every: PerTask[Annotated[int, AtLeast(0)]] = None
    """write run_dir/checkpoint.pt every this many iterations (0 = only at start, end and stop signals)"""
    keep_checkpoints: Annotated[int, AtLeast(0)] = 2
    """also keep the newest this many of those periodic checkpoints as ckpt_<global_step>.pt (0 = none)"""
    checkpoint_buffer: bool = False
    """save the contrastive buffer in checkpoints (exact resume; 100k 32x10x10 maps = 0.64 GB); False: resume empty"""
    run_dir: Optional[str] = None
    """where logs, history.jsonl and checkpoints go (None = runs/<algo>/<env>__<method>__s<seed>__<time>)"""
    resume: Optional[str] = None
    """run directory or checkpoint to continue with its saved config (`--resume R --help` shows it)"""
    progress: bool = True
    """show a tqdm progress bar"""
    track: bool = False
    """also log to Weights & Biases (TensorBoard logs every run): pip install "gazelab[track]"; without internet set WANDB_MODE=offline and later `wandb sync <run_dir>/wandb/offline-run-*` (docs/tracking.md)"""  # noqa: E501
    wandb_project_name: str = "gazelab"
    """the wandb project (with track)"""
    wandb_entity: Optional[str] = None
    """the wandb team or user (None: your default entity)"""
    wandb_group: Optional[str] = None
    """the wandb group: the dashboard aggregates a group's runs, e.g. over seeds (a sweep sets <task>/<method>)"""
    capture_video: bool = False
    """film the first episode of each evaluation with the attention drawn: run_dir/videos/, TensorBoard and wandb"""
    capture_video_every: Annotated[int, AtLeast(1)] = 1
    """with capture_video, film every this many evaluations (from the first) and the last"""

    # ------------------------------------------------------------------------------------------ building
    def __post_init__(self):
        """Check each field's type and constraint (a bad value raises :class:`GazelabError` naming it). Nothing else:
        per-task defaults, the device and a resumed run are :meth:`resolve`'s work."""
        check_fields(self)

    def resolve(self: C) -> C:
        """The config a run uses: a copy with the per-task defaults filled in (the :data:`PerTask` fields left at
        None, and ``encoder="auto"``), after checking the environment id, the device, the fields together and,
        with ``resume``, that the run can continue. The CLI (for ``--help``) and :class:`gazelab.rl.run.Run` call
        it; a resolved config resolves to itself."""
        is_builtin(self.env_id)  # an unknown id stops here, listing the known ones
        check_device(self.device)  # before the defaults: the device chooses some of them (ManiSkill num_envs)
        filled = {name: value for name, value in self.task_defaults().items() if getattr(self, name) is None}
        if self.encoder == "auto":
            filled["encoder"] = "fine" if is_builtin(self.env_id) else "nature"
        filled["contrastive_config"] = self.trainers_contrastive_config()
        config = dataclasses.replace(self, **filled)
        config.validate()
        return config

    def trainers_contrastive_config(self) -> ContrastiveConfig:
        """``contrastive_config`` with the fields left at None that this trainer fills in (:data:`TRAINERS_OWN`:
        the label and the learning rate) set to its own defaults; the other fields as they are."""
        missing = {name: getattr(self, default) for name, default in TRAINERS_OWN.items()
                   if getattr(self.contrastive_config, name) is None}
        return dataclasses.replace(self.contrastive_config, **missing)

    def task_defaults(self) -> dict[str, Any]:
        """The values :data:`PerTask` fields take when left at None: the environment's camera and clutter and this
        machine's torch threads; PPOConfig and SACConfig add their algorithm's ``TASK_DEFAULTS``."""
        entry = registry[self.env_id]
        return {"image_size": entry.image_size, "clutter": entry.defaults.get("clutter"),
                "torch_threads": torch.get_num_threads()}

    def validate(self) -> None:
        """Checks that involve several fields (each field's own constraint is declared with it)."""
        if self.contrastive and self.attention not in ("gaze", "patch"):
            raise GazelabError(f"contrastive=True needs attention='gaze' or 'patch' (there is no head to train with "
                               f"attention={self.attention!r})")
        if self.contrastive_config.shuffle_scope != "batch" and not self.contrastive_config.shuffle_labels:
            raise GazelabError(f"contrastive.shuffle_scope={self.contrastive_config.shuffle_scope!r} needs "
                               "contrastive.shuffle_labels=True (the scope of a shuffle that is off changes nothing)")
        if self.contrastive and self.contrastive_config.encoder_lr > 0 and self.algo != "ppo":
            raise GazelabError(f"contrastive.encoder_lr={self.contrastive_config.encoder_lr:g} trains the CNN on the "
                               f"rollout's frames, which only PPO hands over; {self.algo} trains the head only "
                               "(contrastive.encoder_lr=0)")
        if self.attention == "gaze" and self.gaze_head != "keypoint" and self.gaze_keypoint_scale != KEYPOINT_SCALE:
            raise GazelabError(f"gaze_keypoint_scale={self.gaze_keypoint_scale:g} sets the keypoint head's "
                               f"soft-argmax; gaze_head={self.gaze_head!r} has none (use gaze_head='keypoint')")
        if self.gaze_foveae != 1 and self.attention != "gaze":
            raise GazelabError(f"gaze_foveae={self.gaze_foveae} sets the learned gaze's foveae, and "
                               f"attention={self.attention!r} has none (use attention='gaze'; the oracle's are "
                               "oracle_foveae)")
        if self.gaze_foveae != 1 and self.gaze_centre_input:
            raise GazelabError(f"gaze_centre_input=True feeds one fovea's centre to the heads, and gaze_foveae="
                               f"{self.gaze_foveae} has several (use gaze_foveae=1)")
        if self.gaze_centre_input and self.attention not in ("gaze", "oracle"):
            raise GazelabError(f"gaze_centre_input=True needs a fovea with a centre (attention 'gaze' or 'oracle'), "
                               f"got attention={self.attention!r}")
        if self.oracle_foveae != 1 and self.attention != "oracle":
            raise GazelabError(f"oracle_foveae={self.oracle_foveae} needs attention='oracle', got "
                               f"attention={self.attention!r}")
        if self.attention == "oracle" and not is_builtin(self.env_id):
            raise GazelabError(f"attention='oracle' needs the true object positions of a built-in task "
                               f"(gazelab/...-v0); {self.env_id} has none")
        if self.clutter is not None and "clutter" not in registry[self.env_id].allowed_kwargs:
            raise GazelabError(f"clutter={self.clutter!r}: {self.env_id} has no clutter levels; the built-in tasks and "
                               "gazelab/PushCubeClutter-v1 do")
        if self.track and importlib.util.find_spec("wandb") is None:
            raise GazelabError('track=True logs to Weights & Biases, which is not installed: pip install '
                               '"gazelab[track]" (or train without track: TensorBoard logs every run)')
        if self.capture_video and self.eval_freq == 0:
            raise GazelabError("capture_video=True films evaluation episodes, and eval_freq=0 never evaluates; give "
                               "eval_freq >= 1")
        if self.resume is not None:
            check_resume(self)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps (all envs together) of one training iteration (PPO: batch_size; SAC: training_freq)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ what it builds
    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``make_env`` beyond id/num_envs/seed."""
        return {"image_size": self.image_size, "reward_mode": self.reward_mode,
                **({"clutter": self.clutter} if self.clutter is not None else {})}

    def attention_options(self) -> dict[str, Any]:
        """Keyword arguments of the attention module (see :class:`gazelab.rl.networks.ImageBranch`)."""
        if self.attention == "gaze":
            return {"head": self.gaze_head, "sigma_max": self.gaze_sigma_max,
                    "keypoint_scale": self.gaze_keypoint_scale, "foveae": self.gaze_foveae}
        if self.attention == "oracle":
            return {"sigma": self.oracle_sigma, "foveae": self.oracle_foveae}
        return {}

    def contrastive_plugin(self, image, max_episode_steps: int, device: torch.device,
                           rollout_steps: Optional[int] = None) -> Optional[ContrastivePlugin]:
        """The contrastive plug-in this config asks for (None without ``contrastive``) for an agent's
        :class:`~gazelab.rl.networks.ImageBranch` ``image``. ``rollout_steps``: PPO's num_steps (label "gae")."""
        if not self.contrastive:
            return None
        return ContrastivePlugin(
            image.attention, image.feature_shape, config=self.contrastive_config, num_envs=self.num_envs,
            max_episode_steps=max_episode_steps, gamma=self.gamma, steps_per_iteration=self.steps_per_iteration,
            rollout_steps=rollout_steps, device=device, seed=self.seed, save_buffer=self.checkpoint_buffer,
            encoder=image.cnn if self.contrastive_config.encoder_lr > 0 else None)

    def method_name(self) -> str:
        """Short name of the method, e.g. 'none', 'gaze', 'gaze+contrastive', 'gaze-rlfree+contrastive',
        'none+shift', 'oracle-2foveae', 'gaze-2foveae', 'gaze+curl', 'gaze-centre+contrastive'."""
        foveae = {"oracle": self.oracle_foveae, "gaze": self.gaze_foveae}.get(self.attention, 1)
        name = self.attention + (f"-{foveae}foveae" if foveae != 1 else "")
        if self.attention in ("gaze", "patch") and self.gaze_rl_grad != 1.0:
            name += "-rlfree" if self.gaze_rl_grad == 0 else f"-rl{self.gaze_rl_grad:g}"
        if self.gaze_centre_input:
            name += "-centre"
        return (name + ("+contrastive" if self.contrastive else "") + ("" if self.augment == "none" else f"+{self.augment}")
                + ("+curl" if self.curl_coef > 0 else ""))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what checkpoints and config.json store)."""
        return dataclasses.asdict(self)


LEGACY_CONTRASTIVE_FIELDS = {**{f"contrastive_{name}": name for name in (
    "buffer_size", "every", "k", "margin", "threshold", "lr", "fovea", "rule", "neighbours", "min_time_gap", "keys",
    "steps", "labels")}, "contrastive_anchors": "num_anchors", "spread_weight": "spread_weight",
    "spread_target": "spread_target"}
"""Flat fields of configs saved before 2026-12-02 (config.json, checkpoints) -> their ContrastiveConfig names."""


def config_from_dict(config_cls: type[TrainConfig], values: dict[str, Any], **overrides) -> TrainConfig:
    """A config of ``config_cls`` from a dict such as a checkpoint's ``config`` or :meth:`TrainConfig.to_dict`
    (keys that are not its fields are ignored), with ``overrides`` applied. Contrastive settings may come nested
    (``contrastive_config``), dotted as on the command line (``"contrastive.k"``, what sweeps use) or as the flat
    fields of configs saved before 2026-12-02 (``contrastive_k``)."""
    values = dict(values)
    nested = dict(values.pop("contrastive_config", None) or {})
    nested.update({LEGACY_CONTRASTIVE_FIELDS[k]: values.pop(k) for k in list(values) if k in LEGACY_CONTRASTIVE_FIELDS})
    nested.update({k.split(".", 1)[1]: values.pop(k) for k in list(values) if k.startswith("contrastive.")})
    if isinstance(values.get("gaze_rl_grad"), bool):  # a switch before it became a scale
        values["gaze_rl_grad"] = float(values["gaze_rl_grad"])
    names = {f.name for f in dataclasses.fields(config_cls)}
    config = {k: v for k, v in values.items() if k in names}
    contrastive_names = {f.name for f in dataclasses.fields(ContrastiveConfig)}
    default = config_cls().contrastive_config
    config["contrastive_config"] = dataclasses.replace(
        default, **{k: v for k, v in nested.items() if k in contrastive_names})
    return config_cls(**{**config, **overrides})


def _flag(name: str) -> str:
    """The command-line spelling of a field: a switch (a bool field) has both of tyro's forms."""
    flag = "--" + name.replace("_", "-")
    return f"{flag}/--no-{flag[2:]}" if isinstance(getattr(TrainConfig, name, None), bool) else flag


def check_resume(config: TrainConfig) -> None:
    """GazelabError unless ``config`` can continue the run ``config.resume``: a checkpoint of this gazelab's format and
    of the same algorithm, the same config as saved except the run-control fields (total_timesteps, progress, ...),
    and a budget that leaves at least one iteration."""
    checkpoint = load_checkpoint(config.resume, mmap=True)
    if checkpoint["format"] != CHECKPOINT_FORMAT:
        raise GazelabError(f"resume={config.resume!r} was written by an older gazelab (checkpoint format "
                           f"{checkpoint['format']}): its policy still loads (gazelab eval), but it cannot be "
                           "resumed; start a new run")
    if checkpoint["algo"] != config.algo:
        raise GazelabError(f"resume={config.resume!r} is a {checkpoint['algo']} run, not {config.algo}")
    step, per_iteration = checkpoint["global_step"], config.steps_per_iteration
    if config.total_timesteps < step + per_iteration:
        raise GazelabError(f"total_timesteps={config.total_timesteps} leaves nothing to train: the run is at step "
                           f"{step} and one iteration takes {per_iteration} steps; give total_timesteps >= "
                           f"{step + per_iteration} to continue it")
    # The saved config as this gazelab reads it: fields added since it was written take their defaults.
    saved = config_from_dict(type(config), checkpoint["config"]).to_dict()
    for name, value in config.to_dict().items():
        if name not in RUN_CONTROL_FIELDS + ("run_dir",) and saved.get(name) != value:
            changeable = [n for n in RUN_CONTROL_FIELDS if n != "resume"]
            raise GazelabError(
                f"a resumed run keeps its saved config: {name} was {saved.get(name)!r} (given {value!r}); a resume "
                f"may change only {', '.join(changeable)} ({', '.join(map(_flag, changeable))}); "
                "gazelab.rl.config.saved_config(...) starts from the saved config")


def saved_config(config_cls: type[TrainConfig], run_or_checkpoint, **overrides) -> TrainConfig:
    """The config a run was started with (read from its checkpoint) with ``resume`` set and ``overrides``
    applied, e.g. ``saved_config(PPOConfig, "runs/ppo/x", total_timesteps=200_000)``."""
    saved = load_checkpoint(run_or_checkpoint, mmap=True)["config"]
    return config_from_dict(config_cls, saved, **{"resume": str(run_or_checkpoint), **overrides})
