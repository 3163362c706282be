"""A training run behind one object: what the PPO and SAC trainers share that is not the algorithm.

A trainer (:mod:`gazelab.rl.ppo`, :mod:`gazelab.rl.sac`) reads top to bottom; the plumbing is :class:`Run`::

    with Run(config) as run:                              # seeds, run directory, TensorBoard, history, Ctrl-C
        envs = run.attach(make_env(...))                  # printed, closed with the run, spaces saved
        agent, optimizer = ...
        run.track(agent=agent, optimizer=optimizer, ...)  # what a checkpoint holds: one list, saved and restored
        for iteration in ...:
            ...the algorithm...
            run.log_iteration(global_step, iteration, scalars)
            if run.end_iteration(global_step, iteration, last):   # checkpoint when due; True on Ctrl-C / SIGTERM
                break
    return run.result()

Scalars (TensorBoard tags = keys of every ``history`` row; ``global_step`` = environment steps so far):

=================================== ====================================================================================
tag                                 meaning
=================================== ====================================================================================
charts/return                       mean undiscounted return of the training episodes that ended this iteration
charts/success_once                 fraction of those episodes that reached success at least once
charts/episode_len                  their mean length (steps)
charts/SPS                          environment steps per second (this process, rollout + update + contrastive)
charts/learning_rate                PPO learning rate (after annealing, if on)
eval/return                         deterministic policy, mean return over ``num_eval_episodes`` fresh episodes
eval/success_once                   ... fraction successful
eval/episode_len                    ... mean length
eval/reward                         ... mean reward per step (return / length; with dense rewards in [0, 1] a
                                    steadier measure of "gets close" than success, which an agent hovering just off
                                    the goal misses)
losses/policy                       PPO clipped surrogate loss (last minibatch)
losses/value                        PPO value loss (last minibatch)
losses/entropy                      PPO mean policy entropy (last minibatch)
losses/approx_kl                    PPO approximate KL old -> new (last minibatch; the early stop compares it to
                                    target_kl)
losses/clipfrac                     PPO fraction of ratios outside [1 - clip, 1 + clip]
losses/explained_variance           PPO 1 - Var(returns - values) / Var(returns) of the rollout
losses/qf                           SAC mean of the two critics' MSE losses (last gradient step)
losses/qf_values                    SAC mean Q(s, a) of the batch
losses/actor                        SAC actor loss
losses/alpha                        SAC temperature loss (autotune only)
alpha                               SAC entropy temperature
gaze/mu_x, gaze/mu_y                mean gaze centre over this iteration's observations, feature-map coordinates
                                    (x = column, y = row; the map's cell centres span [-1, 1], which covers only the
                                    middle of the image: -0.57..0.57 for FineNatureCNN at 64 px;
                                    ``cnn.map_to_image`` converts)
gaze/sigma_x, gaze/sigma_y          mean gaze spread, feature-map units
gaze/mu_std                         spread of the gaze centre across the iteration's frames, image units (0 = one fixed
                                    gaze for every image; a gaze that follows a moving object must move)
gaze/prize_distance                 gaze-on-prize (built-in tasks): fovea centre to the decisive object, image units
gaze/centre_distance                ... the same for a fovea fixed at the map centre (a gaze that ignores the image)
gaze/prize_mass                     share of the attention weight on the cells near the decisive object (every kind)
gaze/prize_mass_chance              ... that share under uniform weights (what attention 'none' scores)
contrastive/triplets                triplets mined by the last contrastive update (0 = no-op: warm-up or one
                                    outcome class)
contrastive/triplet_loss            its triplet loss (cosine distance, before the step)
contrastive/spread_loss             its spread loss (log sigma vs target)
contrastive/pos_distance            mean cosine distance anchor-positive of its gazed maps
contrastive/neg_distance            mean cosine distance anchor-negative of its gazed maps
contrastive/positive_same_episode   share of its positives from the anchor's own episode
contrastive/negative_same_episode   ... of its negatives (below the positives' share: the triplets also tell
                                    episodes apart, whatever the labels say of single states)
contrastive/buffer_size             entries in the contrastive buffer
=================================== ====================================================================================

``gaze/mu*``/``gaze/sigma*``/``gaze/prize_distance`` appear only with a fovea (``gaze``, ``oracle``), the other
``gaze/*`` with every attention kind on the built-in tasks (:mod:`gazelab.rl.prize`; ``eval/*`` repeats them over
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
    run.lock                  held (``flock``) by the process training there, whose pid it holds: a second run into
                              the same directory stops at once instead of interleaving history.jsonl
    eval/                     what ``gazelab eval`` writes (eval.json, episode.gif / .mp4)
    videos/step_<N>.gif/.mp4  with ``capture_video``: the first episode of the evaluation at step N, its attention
                              drawn as ``gazelab eval`` draws it (also in TensorBoard and wandb as ``videos/eval``)
    wandb/                    with ``track``: the wandb run's files (offline-run-* to ``wandb sync``;
                              :mod:`gazelab.rl.tracking`); config.json saves its id under "wandb_id"

Checkpoints (:mod:`gazelab.rl.checkpoint`) are written atomically (``ckpt_*.pt`` are hard links to what
``checkpoint.pt`` held then, so they cost no extra disk; ``final.pt`` is a copy, so that a finished run never has
a single file whose damage loses it, and a damaged checkpoint's error names the others that still load; the
temporary file of a write that a killed process cut off is removed at the next start). Besides what the trainer
tracks (the networks, the optimizers, the contrastive plug-in, the built-in environments' state, the loop's own
variables; ManiSkill envs restart their episodes on resume) they hold the RNG states of python/numpy/torch, the
step counters, the history and the env spaces (so a policy is rebuilt without an env). With
``checkpoint_buffer=True`` they also hold the filled part of the contrastive buffer and, with SAC's
``checkpoint_replay=True``, the filled part of its replay buffer: resuming a built-in-task run then continues it
exactly as if it had never stopped. Without them (the defaults: a full 100k buffer of 32x10x10 fp16 maps is 0.64 GB
per checkpoint, a full built-in SAC replay 1.2 GB) a resumed run refills empty buffers; everything else is still
restored exactly.

A loss or parameter that turns nan/inf stops the run before anything is evaluated or saved
(:class:`gazelab.core.errors.TrainingDiverged`, naming the quantity and the iteration): ``checkpoint.pt`` stays the last
good one. A write that fails (full disk, read-only directory) stops it with one GazelabError line naming the file
and the reason, and saying which checkpoint is intact to continue from.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from torch import Tensor
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from gazelab.rl.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    FINAL_CHECKPOINT_NAME,
    EnvSpaces,
    checkpoint_path,
    copy_atomic,
    link_or_copy,
    load_checkpoint,
    remove_stale_temp_files,
    rng_state,
    save_atomic,
    set_rng_state,
    write_atomic,
    writing,
)
from gazelab.rl.config import TrainConfig, resolve_device
from gazelab.rl.tracking import VIDEO_TAG, Tracker, new_run_id
from gazelab.envs import describe_env
from gazelab.core.errors import GazelabError, TrainingDiverged

if TYPE_CHECKING:
    from gazelab.rl.video import EpisodeFilm

__all__ = ["Run", "LoopState", "TrainResult", "RECORD_NAME", "LOCK_NAME"]

RECORD_NAME = "config.json"
LOCK_NAME = "run.lock"

# Scalars that are nan by definition in some iterations, not because training diverged: explained variance is
# nan when every return of the batch is the same.
MAY_BE_NAN = ("losses/explained_variance",)

# Ctrl-C, and what `timeout`, `kill` and job schedulers (SLURM, Kubernetes) send before they kill a process.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


class LoopState(types.SimpleNamespace):
    """A training loop's own variables (tensors, dicts of tensors, numbers) as attributes, so that
    :meth:`Run.track` can checkpoint them with everything else, e.g. ``LoopState(next_obs=obs, next_done=done)``.

    A restored tensor goes back to the device of the value it replaces.
    """

    def state_dict(self) -> dict[str, Any]:
        return {name: _map_tensors(value, lambda t: t.to("cpu", copy=True)) for name, value in vars(self).items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            current = _first_tensor(getattr(self, name, None))
            setattr(self, name, value if current is None else _map_tensors(value, lambda t: t.to(current.device)))


def _map_tensors(value, fn):
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _first_tensor(value) -> Optional[Tensor]:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, dict):
        return next((t for t in map(_first_tensor, value.values()) if t is not None), None)
    return None


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
    """Everything around the algorithm for one training run (see the module docstring).

    With ``config.resume`` set (the config checked that it can continue that run: same algorithm and config, budget
    left), loads the checkpoint and continues the run directory, its history and its TensorBoard log; :meth:`track`
    then restores the trainer's state from it. Otherwise a new run directory is created. Either way the run holds
    the directory's lock until it is closed (GazelabError naming the holder's pid if another run holds it) and
    removes the temporary files a killed run left there.

    Use it as a context manager: inside, the first Ctrl-C or SIGTERM sets ``stop.requested`` (the trainer finishes its
    iteration, checkpoints and returns); leaving it closes the attached envs, the writer and the progress bar, however
    the run ends.

    Args:
        config: the trainer's config (a :class:`~gazelab.rl.config.TrainConfig` subclass; its ``algo`` names the
            directory runs/<algo>/ and tags the checkpoints).

    Attributes:
        device: torch device of the run.
        run_dir: Path of the run directory (created).
        history: list of dicts, one per logged iteration.
        resumed: True when continuing a checkpoint.
        start_step, start_iteration: the counters the run starts from (0, or the checkpoint's).
        stop: ``stop.requested`` turns True on Ctrl-C or SIGTERM.
    """

    def __init__(self, config: TrainConfig):
        self.config = config = config.resolve()
        self.algo = config.algo
        self._checkpoint = load_checkpoint(config.resume) if config.resume else None
        self.resumed = self._checkpoint is not None
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

        if self.resumed:
            self.run_dir = checkpoint_path(config.resume).parent
            self.history = list(self._checkpoint["history"])
            self.start_step, self.start_iteration = self._checkpoint["global_step"], self._checkpoint["iteration"]
        else:
            self.run_dir = Path(config.run_dir) if config.run_dir else self._default_run_dir()
            self.history = []
            self.start_step = self.start_iteration = 0
        with writing(self.run_dir):
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_run_dir(self.run_dir)  # before anything in it is read or written
        try:
            self._open(config)
        except BaseException:
            self._lock.close()
            raise

    def _open(self, config: TrainConfig) -> None:
        """The rest of ``__init__``, once the run holds its directory."""
        if not self.resumed and (self.run_dir / CHECKPOINT_NAME).exists():
            raise GazelabError(f"run_dir={str(self.run_dir)!r} already holds a run; continue it with "
                               "resume=<run_dir> or choose another run_dir")
        for path in remove_stale_temp_files(self.run_dir):
            tqdm.write(f"removed {path}: the temporary file of a write cut off by a killed process")
        self.checkpoint_file = self.run_dir / CHECKPOINT_NAME
        self._saved_step: Optional[int] = self.start_step if self.resumed else None
        self._write_record()
        # purge_step drops TensorBoard events that the interrupted run logged after its checkpoint.
        self.writer = SummaryWriter(str(self.run_dir), purge_step=self.start_step + 1 if self.resumed else None)
        if not self.resumed:
            self.writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
                f"|{k}|{v}|" for k, v in config.to_dict().items()))
        history = self.run_dir / "history.jsonl"
        with self._saying_what_is_kept(), writing(history), open(history, "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in self.history)  # rewritten: drops rows after the checkpoint
        self.tracker = Tracker(config, self.run_dir, self._wandb_id, self._name()) if config.track else None
        self.pbar = tqdm(total=config.total_timesteps, initial=self.start_step, unit="step", dynamic_ncols=True,
                         disable=not config.progress, desc=f"{self.algo} {config.method_name()}")
        self.episodes: dict[str, list[Tensor]] = {"return": [], "success_once": [], "episode_len": []}
        self.time_offset = self.history[-1]["time"] if self.history else 0.0
        self.start_time = time.time()
        self.stop = _StopFlag()
        self.spaces: Optional[EnvSpaces] = None
        self._tracked: dict[str, Any] = {}
        self._to_close: list = []
        self._signals: dict = {}

    def _write_record(self) -> None:
        """Write config.json; a resumed run keeps the records of the earlier starts under ``earlier`` (GazelabError,
        before anything is written, when the file there is not a record: rewriting it would lose them)."""
        path = self.run_dir / RECORD_NAME
        record = run_record(self.config, self.algo, self.device, self.start_step)
        previous: dict[str, Any] = {}
        if self.resumed and path.exists():
            keep = "it records the earlier starts of this run, which a resume keeps; repair it, or move it away to " \
                   "resume without them"
            try:
                previous = json.loads(path.read_text())
            except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
                raise GazelabError(f"{path} is not valid JSON ({str(e)[:100]}): {keep}") from None
            if not isinstance(previous, dict):
                raise GazelabError(f"{path} is not a run record (a JSON object): {keep}")
            record["earlier"] = previous.pop("earlier", []) + [previous]
        if self.config.track:  # the wandb run of the earlier starts, if one tracked; a resume continues it
            starts = [previous, *reversed(record.get("earlier", []))]
            record["wandb_id"] = next((r["wandb_id"] for r in starts if "wandb_id" in r), None) or new_run_id()
        self._wandb_id = record.get("wandb_id")
        with self._saying_what_is_kept():
            write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))

    @contextlib.contextmanager
    def _saying_what_is_kept(self):
        """A write that fails (a GazelabError from :func:`~gazelab.rl.checkpoint.writing`: full disk, read-only
        directory) also says what is safe: the last checkpoint written, and how to continue from it."""
        try:
            yield
        except GazelabError as e:
            kept = (f"{self.checkpoint_file} (step {self._saved_step}) is intact: continue with "
                    f"resume={self.run_dir} once fixed" if self._saved_step is not None else
                    "the run stopped before its first checkpoint")
            raise GazelabError(f"{e}; {kept}") from e.__cause__

    def _name(self) -> str:
        """``<env>__<method>__s<seed>``: the default run directory's name without its time, the wandb run's name."""
        cfg = self.config
        return f"{cfg.env_id.replace('/', '-')}__{cfg.method_name()}__s{cfg.seed}"

    def _default_run_dir(self) -> Path:
        return Path("runs") / self.algo / f"{self._name()}__{time.strftime('%Y%m%d-%H%M%S')}"

    # ------------------------------------------------------------------------------------------ the run's extent
    def __enter__(self) -> Run:
        # Signals reach Python's main thread only; elsewhere (a worker thread) Ctrl-C keeps its default behaviour.
        if threading.current_thread() is threading.main_thread():
            self._signals = {signum: signal.signal(signum, self.stop) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._signals.items():
            signal.signal(signum, handler)
        for env in self._to_close:
            env.close()
        self.close()

    def attach(self, env, *, evaluation: bool = False):
        """Close ``env`` when the run ends; the training envs (``evaluation=False``) are also announced (device,
        simulator, count) and their spaces go into every checkpoint. Returns ``env``."""
        self._to_close.append(env)
        if not evaluation:
            tqdm.write(describe_env(env))  # tqdm.write: keeps the progress bar intact
            self.spaces = EnvSpaces.of(env)
        return env

    def track(self, **state) -> None:
        """Name what a checkpoint holds: objects with ``state_dict()`` / ``load_state_dict()`` (networks,
        optimizers, the contrastive plug-in, a built-in env, a :class:`LoopState`, ...; None = nothing to save, and an
        object without ``state_dict``, a ManiSkill env, is saved as None: its simulator state is not captured).

        Call it once everything is built, just before the loop. A new run writes its first checkpoint here (step 0:
        a good one to keep should the run diverge early); a resumed run loads every object from its checkpoint here,
        then the RNG states, so the loop continues exactly where the checkpoint stopped.
        """
        self._tracked = state
        if self.resumed:
            for name, obj in state.items():
                if obj is not None and self._checkpoint[name] is not None:
                    obj.load_state_dict(self._checkpoint[name])
            set_rng_state(self._checkpoint["rng"])
        else:
            self.save(self.start_step, self.start_iteration)
        self.start_time = time.time()  # SPS and time count the loop, not making the envs (seconds for ManiSkill)

    # ------------------------------------------------------------------------------------------ logging
    def record_episodes(self, info: dict) -> None:
        """Collect the metrics of the episodes that ended in this step (ManiSkill ``final_info`` convention)."""
        if "final_info" not in info:
            return
        mask = info["_final_info"]
        for key in self.episodes:
            self.episodes[key].append(info["final_info"]["episode"][key][mask].float().cpu())

    def log_iteration(self, global_step: int, iteration: int, scalars: dict[str, float],
                      video: Optional[EpisodeFilm] = None) -> dict[str, float]:
        """Write one history row (TensorBoard + history + jsonl, and wandb with ``track``): the episode metrics
        collected since the last call, ``charts/SPS`` and ``scalars``; with ``video`` (a film of
        :meth:`video_film` that an evaluation filled) also the video (:meth:`_write_video`); update the progress
        bar. Returns the row."""
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
        video_file = self._write_video(global_step, video) if video is not None else None
        if self.tracker is not None:
            self.tracker.log(len(self.history), row, video_file)
        self.history.append(row)
        history = self.run_dir / "history.jsonl"
        with self._saying_what_is_kept(), writing(history), open(history, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.pbar.n = global_step
        success = row.get("eval/success_once", self._last("charts/success_once"))
        postfix = {"SPS": f"{row['charts/SPS']:.0f}"}
        if success is not None:
            postfix["success"] = f"{success:.2f}"
        self.pbar.set_postfix(postfix, refresh=False)
        self.pbar.refresh()
        return row

    def video_film(self, last: bool, encoder) -> Optional[EpisodeFilm]:
        """With ``capture_video``, an empty film for the evaluation about to run when a video is due (every
        ``capture_video_every``-th evaluation from the first, and the ``last``), else None. ``encoder``: the agent's
        CNN, which places the fovea on the frames."""
        done = sum("eval/return" in row for row in self.history)  # evaluations so far, resumed runs' included
        if not self.config.capture_video or not (done % self.config.capture_video_every == 0 or last):
            return None
        # Imported here, not at the top: it draws with PIL, and the trainers import no plotting unless they film.
        from gazelab.rl.video import EpisodeFilm

        return EpisodeFilm(encoder=encoder)

    def _write_video(self, global_step: int, film: EpisodeFilm) -> Path:
        """Write ``videos/step_<global_step>.gif`` (and ``.mp4``) and log the GIF to TensorBoard as an animated
        image, which is what ``SummaryWriter.add_video`` writes (it needs moviepy to encode the GIF; imageio does it
        here). Returns the file wandb gets: the MP4 when there is one (smaller), else the GIF."""
        from gazelab.rl.video import write_video  # here, not at the top: PIL, as in video_film

        with self._saying_what_is_kept(), writing(self.run_dir / "videos"):
            paths = write_video(film.frames, self.run_dir / "videos" / f"step_{global_step}")
        height, width, channels = film.frames[0].shape
        image = Summary.Image(height=height, width=width, colorspace=channels,
                              encoded_image_string=paths[0].read_bytes())
        self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=VIDEO_TAG, image=image)]),
                                                   global_step)
        return paths[-1]

    def note(self, message: str) -> None:
        """Print one line for the user (above the progress bar, which it does not break)."""
        tqdm.write(message)

    def _last(self, key: str) -> Optional[float]:
        return next((row[key] for row in reversed(self.history) if key in row), None)

    # ------------------------------------------------------------------------------------------ cadence
    @staticmethod
    def due(iteration: int, every: int) -> bool:
        """True every ``every`` iterations (never for 0, nor at iteration 0: the start)."""
        return every > 0 and iteration > 0 and iteration % every == 0

    def eval_due(self, iteration: int, last: bool) -> bool:
        """Whether to evaluate after ``iteration``: every ``eval_freq`` iterations and after the ``last`` (never with
        ``eval_freq=0``)."""
        return self.config.eval_freq > 0 and (self.due(iteration, self.config.eval_freq) or last)

    def end_iteration(self, global_step: int, iteration: int, last: bool) -> bool:
        """Checkpoint when due (every ``checkpoint_every`` iterations, after the ``last``, or on a stop signal); True
        when a stop signal asks the loop to end."""
        if self.due(iteration, self.config.checkpoint_every) or last or self.stop.requested:
            self.save(global_step, iteration, last)
        return self.stop.requested

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
            # The usual cause, named with the run's values; the one cause known for sure, a one-sample PPO minibatch,
            # is refused before any run (PPOConfig.validate).
            rates = ", ".join(f"{name}={value:g}" for name, value in self.config.to_dict().items()
                              if (name == "learning_rate" or name.endswith("_lr")) and isinstance(value, float)
                              and (self.config.contrastive or not name.startswith("contrastive")))
            raise TrainingDiverged(
                f"{bad} at iteration {iteration}: training diverged; stopped without saving these weights: the last "
                f"good checkpoint is {self.checkpoint_file} (step {last}); a learning rate too high is the usual "
                f"cause ({rates})")

    # ------------------------------------------------------------------------------------------ checkpoints
    def save(self, global_step: int, iteration: int, last: bool = False) -> Path:
        """Atomically write the tracked state plus config, spaces, counters, RNG states and history to
        run_dir/checkpoint.pt; keep it as ``ckpt_<global_step>.pt`` too (a hard link) when ``iteration`` is due for a
        periodic checkpoint (dropping all but the newest ``keep_checkpoints``) and as ``final.pt`` (a copy) when it
        is the ``last``."""
        state = {name: obj.state_dict() if hasattr(obj, "state_dict") else None for name, obj in self._tracked.items()}
        with self._saying_what_is_kept():
            save_atomic({"format": CHECKPOINT_FORMAT, "algo": self.algo, "config": self.config.to_dict(),
                         "spaces": self.spaces.state_dict(), "global_step": global_step, "iteration": iteration,
                         "rng": rng_state(), "history": self.history, **state}, self.checkpoint_file)
            self._saved_step = global_step
            if self.config.keep_checkpoints and self.due(iteration, self.config.checkpoint_every):
                link_or_copy(self.checkpoint_file, self.run_dir / f"ckpt_{global_step}.pt")
                periodic = sorted(self.run_dir.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
                for old in periodic[:-self.config.keep_checkpoints]:
                    with writing(old):
                        old.unlink()
            if last:
                copy_atomic(self.checkpoint_file, self.run_dir / FINAL_CHECKPOINT_NAME)
        return self.checkpoint_file

    def close(self) -> None:
        """Close the TensorBoard writer, the wandb run and the progress bar, and free the run directory (again:
        no-op)."""
        self.writer.close()
        if self.tracker is not None:
            self.tracker.finish()
            self.tracker = None
        self.pbar.close()
        self._lock.close()

    def result(self) -> TrainResult:
        """Close the writer and the bar; the TrainResult of this run."""
        self.close()
        final: dict[str, float] = {}
        for row in self.history:
            final.update(row)
        return TrainResult(self.run_dir, self.history, final, self.checkpoint_file, self.stop.requested)


def _lock_run_dir(run_dir: Path):
    """Hold ``run_dir/run.lock`` and return it (open): an exclusive ``flock``, which the system releases when the
    file closes (the run's end, or its process's death, even by kill -9), with this process's pid written in it.
    GazelabError naming the holder's pid when another run holds it: two runs there would interleave history.jsonl
    and overwrite each other's checkpoints."""
    path = run_dir / LOCK_NAME
    with writing(path):
        lock = open(path, "a+")  # not "w": the holder's pid stays readable until it is replaced
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise GazelabError(f"run_dir={str(run_dir)!r} is in use by another training (pid {holder}); wait for it "
                               "to end or choose another run_dir") from None
        with writing(path):
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n")
            lock.flush()
    except BaseException:
        lock.close()
        raise
    return lock


# ---------------------------------------------------------------------------------------------- config.json
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
