"""The errors gazelab raises on purpose, so that callers (the ``gazelab`` command) can tell them from bugs.

* :class:`GazelabError`: a bad value given to gazelab (a config field, a run directory, a checkpoint file).
  The CLI prints its message as one line and exits with status 2; any other exception keeps its traceback.
* :class:`TrainingDiverged`: a loss or a parameter became nan/inf. The trainer stopped before writing the bad
  weights; the run directory keeps its last good checkpoint. The CLI prints one line and exits with status 1.
"""

from __future__ import annotations

__all__ = ["GazelabError", "TrainingDiverged"]


class GazelabError(ValueError):
    """A value given to gazelab is not allowed; the message names it and what is allowed instead."""


class TrainingDiverged(RuntimeError):
    """A training quantity (loss or parameter) became non-finite; the message names it and the iteration."""
