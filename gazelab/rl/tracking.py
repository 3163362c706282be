"""Weights & Biases next to TensorBoard (``track=True``, CleanRL's ``--track``): one dashboard across runs.

TensorBoard logs every run; with ``track`` a run also logs each history row (the same dict that goes to
``history.jsonl``, ``global_step`` as the charts' x-axis) and its captured videos to a wandb run, whose files live
under ``<run_dir>/wandb/``. Needs ``pip install "gazelab[track]"``.

Offline (classroom and cluster machines without internet): ``WANDB_MODE=offline`` writes
``<run_dir>/wandb/offline-run-*``, which ``wandb sync`` uploads later (docs/tracking.md).

The wandb step of a row is its index in ``history.jsonl``. A resumed run continues the wandb run whose id its run
record (``config.json``) saved, from its checkpoint's row: the rows the interrupted run logged after that checkpoint
carry the steps the resumed run logs again, and wandb ignores a step below the run's last one, so each step keeps one
row (on the built-in tasks, which resume exactly, the same row either way).
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import Any, Optional

from gazelab.core.errors import GazelabError

__all__ = ["Tracker", "VIDEO_TAG", "new_run_id"]

VIDEO_TAG = "videos/eval"
"""Where a captured evaluation episode goes, in TensorBoard (images) and wandb (a video)."""


def new_run_id() -> str:
    """A fresh wandb run id (8 base-36 digits, as ``wandb.init`` draws), saved in the run record so a resume
    continues it. Drawn with ``secrets``: the seeded ``random`` stays untouched, so tracking changes no run."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


class Tracker:
    """One wandb run for one training run.

    Args:
        config: the run's resolved config (its ``wandb_*`` fields; all of it becomes the wandb run's config).
        run_dir: the run directory: wandb writes under ``<run_dir>/wandb/``.
        run_id: the wandb run id (:func:`new_run_id`, or the one a resumed run saved).
        name: the run's name on the dashboard.
    """

    def __init__(self, config, run_dir: Path, run_id: str, name: str):
        import wandb

        self._wandb = wandb
        try:
            self.run = wandb.init(project=config.wandb_project_name, entity=config.wandb_entity,
                                  group=config.wandb_group, name=name, id=run_id, resume="allow", dir=str(run_dir),
                                  config={"algo": config.algo, **config.to_dict()})
        except wandb.errors.Error as e:  # online without a login (no API key, no terminal to ask for one)
            raise GazelabError(f"track=True: wandb did not start ({e}); log in once with `wandb login` (or set "
                               "WANDB_API_KEY), or train offline with WANDB_MODE=offline and upload later with "
                               f"`wandb sync {run_dir}/wandb/offline-run-*`") from None
        self.run.define_metric("global_step")
        self.run.define_metric("*", step_metric="global_step")  # charts over env steps, as TensorBoard's

    def log(self, step: int, row: dict[str, Any], video: Optional[Path] = None) -> None:
        """Log a history row as wandb step ``step`` (its index in history.jsonl), with a video file if given."""
        extra = {VIDEO_TAG: self._wandb.Video(str(video))} if video is not None else {}
        self.run.log({**row, **extra}, step=step)

    def finish(self) -> None:
        """End the wandb run (flushes its files)."""
        self.run.finish()
