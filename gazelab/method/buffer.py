"""ContrastiveBuffer: a circular store of detached feature maps, their returns and their k-NN keys.

The contrastive step needs many (feature map, return) pairs to find visually similar states with different
outcomes. Storing the *detached* encoder output (not images) means the step never runs or changes the CNN,
and only the small gaze head is trained on it.

Keys. The k-NN search runs on a reduced view of each map, a *key*: a fixed Gaussian random projection of the
flattened map to ``key_dim`` (default 64) numbers, then L2-normalised.

* Random projections approximately preserve distances (Johnson-Lindenstrauss), so the neighbours found in
  64-d are, up to a small distortion, the neighbours of the full C*h*w-d maps, and FAISS searches 64-d keys
  several times faster than the raw maps (e.g. 64*9*9 = 5184-d).
* Unit length makes the L2 search rank neighbours by cosine similarity, the same geometry as the triplet loss
  (1 - cos), and ignores the overall scale of the activations.
* A stored map never changes, so its key is computed once, in ``add``; the projection is seeded and fixed for
  the buffer's life, so keys of old and new entries are comparable.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gazelab.core.checks import check_choice, check_int, check_tensor
from gazelab.core.errors import GazelabError

__all__ = ["ContrastiveBuffer"]


class ContrastiveBuffer:
    """Preallocated circular buffer; once full, each ``add`` overwrites the oldest entries.

    Args:
        feature_shape: (C, h, w) of one feature map.
        capacity: maximum number of entries (default 100_000, the paper's default).
        dtype: storage dtype of the maps, ``torch.float16`` (default; half the memory: 100k x 32x10x10 maps (the fine
            encoder at 64 px) take 0.64 GB) or ``torch.float32``. Keys and returns are always float32.
        key_dim: dimension of the k-NN keys (default 64).
        device: where the tensors live (default ``"cpu"``); ``add`` moves incoming tensors here.
        seed: seed of the random projection that makes the keys.

    Attributes:
        features: (capacity, C, h, w) stored maps; rows ``[0, len(self))`` are valid.
        returns: (capacity,) float32 returns.
        keys: (capacity, key_dim) float32 unit-length keys.
        episodes: (capacity,) int64 episode id of each entry (mining can skip an anchor's own episode); entries
            added without ids get a fresh id each, i.e. no two share an episode.
        times: (capacity,) int64 step of each entry within its episode (0 when not given).
    """

    DTYPES = (torch.float16, torch.float32)

    def __init__(
        self,
        feature_shape: tuple[int, int, int],
        capacity: int = 100_000,
        *,
        dtype: torch.dtype = torch.float16,
        key_dim: int = 64,
        device="cpu",
        seed: int = 0,
    ):
        feature_shape = tuple(feature_shape) if isinstance(feature_shape, (tuple, list, torch.Size)) else feature_shape
        if not isinstance(feature_shape, tuple) or len(feature_shape) != 3 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in feature_shape):
            raise GazelabError(f"feature_shape must be (C, h, w) of ints >= 1, got {feature_shape!r}")
        check_int("capacity", capacity, 1)
        check_choice("dtype", dtype, self.DTYPES)
        check_int("key_dim", key_dim, 1)
        self.feature_shape = feature_shape
        self.capacity = capacity
        self.dtype = dtype
        self.key_dim = key_dim
        self.device = torch.device(device)
        flat_dim = feature_shape[0] * feature_shape[1] * feature_shape[2]
        generator = torch.Generator().manual_seed(seed)
        # Entries N(0, 1/key_dim): E|P^T x|^2 = |x|^2. The scale is irrelevant after normalising, but keeps
        # the projected values in a comfortable float range.
        self.projection = (torch.randn(flat_dim, key_dim, generator=generator) / key_dim**0.5).to(self.device)
        self.features = torch.zeros((capacity, *feature_shape), dtype=dtype, device=self.device)
        self.returns = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.keys = torch.zeros(capacity, key_dim, dtype=torch.float32, device=self.device)
        self.episodes = torch.zeros(capacity, dtype=torch.int64, device=self.device)
        self.times = torch.zeros(capacity, dtype=torch.int64, device=self.device)
        self._next = 0  # row the next entry goes to
        self._size = 0
        self._unlabelled = 0  # negative ids handed to entries added without episode ids (never clash with real ids)

    def __len__(self) -> int:
        """Number of valid entries (at most ``capacity``)."""
        return self._size

    def make_keys(self, features: Tensor) -> Tensor:
        """Keys of feature maps (B, C, h, w) -> (B, key_dim): random projection, then unit length."""
        flat = features.reshape(features.shape[0], -1).to(device=self.device, dtype=torch.float32)
        return torch.nn.functional.normalize(flat @ self.projection, dim=1)

    def add(self, features: Tensor, returns: Tensor, episodes: Tensor | None = None,
            times: Tensor | None = None) -> None:
        """Store a batch: features (B, C, h, w) (any device/dtype; detached), returns (B,) and optionally the
        episode id (B,) (ints >= 0) and the step within the episode (B,) of each entry.

        Writes at the current position and wraps around; if B > capacity only the last ``capacity`` are kept.
        """
        check_tensor("features", features, (None, *self.feature_shape),
                     f"(B, {', '.join(map(str, self.feature_shape))})")
        returns = check_tensor("returns", torch.as_tensor(returns), (features.shape[0],),
                               f"({features.shape[0]},) like features")
        if episodes is None:
            episodes = -1 - self._unlabelled - torch.arange(features.shape[0])
            self._unlabelled += features.shape[0]
        episodes = check_tensor("episodes", torch.as_tensor(episodes), (features.shape[0],), f"({features.shape[0]},)")
        if episodes.is_floating_point():
            raise GazelabError(f"episodes must be None or an integer tensor, got {episodes.dtype}")
        features = features.detach()[-self.capacity :]
        returns = returns.detach()[-self.capacity :].to(device=self.device, dtype=torch.float32)
        episodes = episodes[-self.capacity :].to(device=self.device, dtype=torch.int64)
        times = torch.zeros_like(episodes) if times is None else torch.as_tensor(times)[-self.capacity :].to(episodes)
        if not torch.isfinite(returns).all():
            raise GazelabError("returns must be finite, got NaN or inf")
        if not torch.isfinite(features).all():
            raise GazelabError("features must be finite, got NaN or inf")
        keys = self.make_keys(features)  # from the incoming maps, before rounding to the storage dtype
        rows = (self._next + torch.arange(features.shape[0], device=self.device)) % self.capacity
        self.features[rows] = features.to(device=self.device, dtype=self.dtype)
        self.returns[rows] = returns
        self.keys[rows] = keys
        self.episodes[rows] = episodes
        self.times[rows] = times
        self._next = (self._next + features.shape[0]) % self.capacity
        self._size = min(self._size + features.shape[0], self.capacity)

    def filled(self) -> tuple[Tensor, Tensor, Tensor]:
        """Views of the valid part: features (N, C, h, w), returns (N,), keys (N, key_dim) with N = len(self).

        Rows fill from 0 and only wrap once the buffer is full, so the valid rows are always ``[0, N)``.
        """
        n = self._size
        return self.features[:n], self.returns[:n], self.keys[:n]

    def state_dict(self) -> dict:
        """The valid rows (features, returns, keys, episodes, cloned) and the write position, for checkpoints."""
        features, returns, keys = self.filled()
        return {"features": features.clone(), "returns": returns.clone(), "keys": keys.clone(),
                "episodes": self.episodes[: len(self)].clone(), "times": self.times[: len(self)].clone(),
                "next": self._next, "unlabelled": self._unlabelled}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into a buffer of the same feature shape and key_dim (capacity >= its rows)."""
        n = state["returns"].shape[0]
        if tuple(state["features"].shape[1:]) != self.feature_shape or n > self.capacity:
            raise GazelabError(
                f"state must hold at most capacity={self.capacity} maps of shape {self.feature_shape}, "
                f"got features of shape {tuple(state['features'].shape)}"
            )
        if tuple(state["keys"].shape) != (n, self.key_dim):
            raise GazelabError(f"state keys must have shape ({n}, {self.key_dim}), got {tuple(state['keys'].shape)}")
        self.features[:n] = state["features"].to(self.features)
        self.returns[:n] = state["returns"].to(self.returns)
        self.keys[:n] = state["keys"].to(self.keys)
        self.episodes[:n] = state["episodes"].to(self.episodes)
        self.times[:n] = state["times"].to(self.times)
        self._size, self._next = n, int(state["next"]) % self.capacity
        self._unlabelled = int(state["unlabelled"])

    def clear(self) -> None:
        """Forget every entry (storage stays allocated; the key projection stays the same)."""
        self._next = 0
        self._size = 0

    def __repr__(self) -> str:
        return (
            f"ContrastiveBuffer(feature_shape={self.feature_shape}, len={len(self)}, capacity={self.capacity}, "
            f"dtype={self.dtype}, key_dim={self.key_dim}, device={self.device})"
        )
