"""Checkpoint files: what they hold, how they are written (never half) and read (lazily, weights only).

A checkpoint is a plain dict of tensors and Python values (``torch.load(path, weights_only=True)`` reads it)::

    format, algo, config, spaces, global_step, iteration, rng, history   written by gazelab.rl.run.Run for every run
    <name>: <state dict>                                                   what the trainer tracks (Run.track):
                                                                           networks, optimizers, plug-in, envs, ...

* :func:`save_atomic` / :func:`write_atomic`: a temporary file moved into place with ``os.replace``, so a crash
  never leaves a half-written file (a process killed mid-write leaves its temporary file, which
  :func:`remove_stale_temp_files` removes at the next start); :func:`link_or_copy` keeps the bytes under another
  name (a hard link: no disk), :func:`copy_atomic` as an independent copy. A write that fails (full disk, read-only
  directory) raises one :class:`~gazelab.core.errors.GazelabError` line naming the file and the system's reason.
* :func:`load_checkpoint`: a run directory or a file; memory-mapped on request (a caller that needs only the policy
  never reads a saved replay buffer); one GazelabError line for a damaged or foreign file, naming the run's other
  checkpoints that still load.
* :class:`EnvSpaces`: the spaces of the training envs, so a policy is rebuilt without making an env.
* :func:`rng_state` / :func:`set_rng_state`: python, numpy and torch generators, for an exact resume.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from gazelab.core.errors import GazelabError

__all__ = ["CHECKPOINT_NAME", "FINAL_CHECKPOINT_NAME", "CHECKPOINT_FORMAT", "checkpoint_path", "load_checkpoint",
           "write_atomic", "save_atomic", "link_or_copy", "copy_atomic", "writing", "remove_stale_temp_files",
           "EnvSpaces", "rng_state", "set_rng_state"]

CHECKPOINT_NAME = "checkpoint.pt"
FINAL_CHECKPOINT_NAME = "final.pt"
CHECKPOINT_FORMAT = 3
"""Format 3: the config's contrastive settings nested under ``contrastive_config`` (format 2 held them as flat
``contrastive_*`` fields; format 1, before gazelab.rl.run.Run.track, listed the tracked keys by hand). Older
checkpoints still load a policy (:func:`gazelab.rl.config.config_from_dict` reads their flat fields), and resuming
them is refused."""
READABLE_FORMATS = (1, 2, 3)


def checkpoint_path(run_or_checkpoint: str | os.PathLike) -> Path:
    """A run directory -> its checkpoint.pt; a file path is returned unchanged. GazelabError if it does not exist."""
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
        raise GazelabError(f"{path} is not a gazelab checkpoint: it is truncated or corrupt ({reason})"
                           f"{_other_good_checkpoints(path)}") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise GazelabError(f"{path} is not a gazelab checkpoint: a torch file without gazelab's 'format' key")
    if ckpt["format"] not in READABLE_FORMATS:
        raise GazelabError(f"{path} has checkpoint format {ckpt['format']!r}; this gazelab reads formats "
                           f"{', '.join(map(str, READABLE_FORMATS))}")
    return ckpt


def _other_good_checkpoints(damaged: Path) -> str:
    """What a load error adds: the other checkpoints of the damaged file's run directory that still load (newest
    first, with their step), so the message says which one to use instead; "" when there are none."""
    names = [CHECKPOINT_NAME, FINAL_CHECKPOINT_NAME] + sorted(p.name for p in damaged.parent.glob("ckpt_*.pt"))
    good = []
    for name in names:
        other = damaged.parent / name
        if name == damaged.name or not other.is_file():
            continue
        try:
            good.append((torch.load(other, weights_only=True, mmap=True)["global_step"], name))
        except Exception:  # noqa: BLE001 -- damaged too (a hard link of the same bytes) or not a checkpoint
            continue
    if not good:
        return ""
    good.sort(key=lambda step_name: (-step_name[0], step_name[1] != FINAL_CHECKPOINT_NAME))
    return ("; other checkpoints of this run that load: " + ", ".join(f"{name} (step {step})" for step, name in good)
            + ": pass one of those files instead")


def write_failure(path: Path, error: OSError) -> GazelabError:
    """The one line for an OSError met writing ``path`` (full disk, read-only or foreign directory): the file and the
    system's reason."""
    return GazelabError(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def writing(path: Path):
    """Inside, an OSError becomes :func:`write_failure`'s GazelabError about ``path``."""
    try:
        yield
    except OSError as e:
        raise write_failure(path, e) from e


_TEMP_FILE = re.compile(r"\..+\.\d+\.tmp")
"""The names of :func:`write_atomic`'s temporary files: ``.<name>.<pid>.tmp``."""


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` a temporary file in the same directory, then os.replace it onto ``path``: readers see the old
    or the new file, never half of one. An OSError (full disk, read-only directory) raises :func:`write_failure`'s
    GazelabError about ``path``, which keeps what it held before."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with writing(path):
            write(tmp)
            os.replace(tmp, path)
    except BaseException:
        # The first error is the one to report: removing the temporary file fails too where writing it did (a
        # read-only directory), and what stays is removed at the next start (remove_stale_temp_files).
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temporary files :func:`write_atomic` left in ``directory`` when its process died mid-write (kill -9,
    power loss); returns them. Call it only while no other process writes there (a run holds its directory's lock)."""
    stale = [p for p in Path(directory).iterdir() if _TEMP_FILE.fullmatch(p.name) and p.is_file()]
    for path in stale:
        with writing(path):
            path.unlink()
    return stale


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save ``obj`` to ``path`` atomically (:func:`write_atomic`), through a Python file, so that a full disk
    raises its OSError (ENOSPC): torch's own file writer says only ``unexpected pos ...``. The same tensors and
    values either way (only the zip's inner folder is named ``archive``, not after the temporary file)."""
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            try:
                torch.save(obj, f)
            except RuntimeError as e:
                # torch's zip writer, finishing the file after the failed write, raises 'unexpected pos ...' over it
                if isinstance(e.__context__, OSError):
                    raise e.__context__ from None
                raise
    write_atomic(path, save)


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s bytes atomically: a hard link (no extra disk; ``source`` is later replaced,
    not rewritten, so the link keeps today's bytes), or a copy where the file system has no hard links. Writing
    either file in place damages both: :func:`copy_atomic` makes an independent copy."""
    def link(tmp: Path) -> None:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    write_atomic(target, link)


def copy_atomic(source: Path, target: Path) -> None:
    """Make ``target`` an independent copy of ``source`` atomically (its own bytes on disk, unlike
    :func:`link_or_copy`)."""
    write_atomic(target, lambda tmp: shutil.copyfile(source, tmp))


@dataclass(frozen=True)
class EnvSpaces:
    """The spaces of one environment: all that a policy builder needs to size a policy.

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
