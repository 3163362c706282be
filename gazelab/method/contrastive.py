"""Return-guided contrastive learning of the gaze: triplet mining, losses and the update step.

Idea (Gaze on the Prize): if two states *look* alike but lead to different returns, whatever tells them apart
is what matters for the task. So we

1. find, for an anchor state, visually similar states in a :class:`~gazelab.method.buffer.ContrastiveBuffer`
   (k nearest neighbours of its key, with FAISS),
2. take a neighbour with the same outcome class as the *positive* and one with the other class as the
   *negative*,
3. apply the gaze to all three feature maps and ask, with a triplet loss on cosine distance, that the gazed
   anchor be closer to the positive than to the negative by a margin. The only way the gaze can do that on
   near-identical maps is to look where they differ in a return-relevant way.

A spread loss on log sigma keeps the fovea from collapsing onto a point or growing over the whole feature map (a
gaze of several foveae: every fovea's sigma; the triplet loss sees their mixture map like any weights).
Only the gaze head's parameters are updated; the stored maps are detached.
"""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

import faiss
import numpy as np
import torch
from torch import Tensor, nn

from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.labels import Label
from gazelab.core.checks import AtLeast, Interval, check_choice, check_fields, check_int, check_number, check_tensor
from gazelab.core.errors import GazelabError

__all__ = [
    "cosine_distance",
    "triplet_loss",
    "spread_loss",
    "glimpse",
    "triplet_views",
    "knn_excluding_self",
    "mine_triplets",
    "POSITIVE_RULES",
    "FOVEA_MODES",
    "STANDALONE_LR",
    "ContrastiveConfig",
    "ContrastiveStats",
    "ContrastiveLearner",
]


def _check_triplet_inputs(anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        if not isinstance(t, Tensor) or t.ndim < 1:
            raise GazelabError(f"{name} must be a tensor of shape (N, ...), got {type(t).__name__}")
    if not anchor.shape == positive.shape == negative.shape:
        raise GazelabError(
            "anchor, positive and negative must have the same shape, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
        )


def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """1 - cos(a_i, b_i) per row, for (N, ...) inputs flattened to (N, D) -> (N,) in [0, 2]."""
    return 1.0 - nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=1e-8)


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 0.2) -> Tensor:
    """Triplet loss on cosine distance: ``mean_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin)``.

    ``d(x, y) = 1 - cos(x, y)`` on the flattened inputs, so only the *direction* of a gazed map counts (a gaze
    cannot win by scaling everything down). d lies in [0, 2]; the default margin 0.2 asks the negative to be
    10% of that range further away than the positive.

    Args:
        anchor, positive, negative: (N, ...) tensors of the same shape (e.g. gazed maps (N, C, h, w)).
        margin: >= 0.

    Returns:
        Scalar; 0 (still differentiable) when N = 0.
    """
    _check_triplet_inputs(anchor, positive, negative)
    check_number("margin", margin, 0)
    if anchor.shape[0] == 0:
        return anchor.sum() * 0.0
    hinge = cosine_distance(anchor, positive) - cosine_distance(anchor, negative) + margin
    return torch.relu(hinge).mean()


def spread_loss(sigma: Tensor, target: float = 0.3) -> Tensor:
    """Spread regulariser ``mean((log sigma - log target)^2)`` over every sigma (B, 2) -> scalar.

    Why log-space: the penalty depends only on the *ratio* sigma / target, so it is scale-free (the same for a
    fovea of 0.1 as of 1.0 relative to its target) and symmetric in halving vs doubling (log 1/2 = -log 2),
    while a plain (sigma - target)^2 would barely resist a collapse towards 0 and punish growth harder than
    shrinkage. Default target 0.3 (feature-map units, the map spans 2): about one feature-map cell on each side
    of the centre of a 10x10 map fall within one sigma.
    """
    check_tensor("sigma", sigma, (None, 2), "(B, 2)")
    check_number("target", target, 0, low_open=True)
    if sigma.shape[0] == 0:
        return sigma.sum() * 0.0
    if not (sigma > 0).all():
        raise GazelabError(f"sigma must be > 0, got min {sigma.min().item()}")
    return (torch.log(sigma) - float(np.log(target))).square().mean()


def _outcome_classes(returns: Tensor, threshold: float | None) -> Tensor:
    """Boolean (N,) 'high return' class.

    With an explicit threshold: ``return > threshold``. Default (None): split at the median; returns *equal* to
    the median go to whichever side gives the more balanced split (``r > median`` or ``r >= median``), so e.g.
    binary returns with 70% successes still split into successes vs failures. If all returns are equal there
    is a single class and no triplet can be formed.
    """
    if threshold is not None:
        return returns > threshold
    median = returns.median()
    above, at_or_above = returns > median, returns >= median
    n = returns.numel()
    balance = lambda c: min(int(c.sum()), n - int(c.sum()))  # noqa: E731 -- size of the smaller class
    return above if balance(above) >= balance(at_or_above) else at_or_above


def glimpse(features: Tensor, weights: Tensor) -> Tensor:
    """What a fovea sees: the weighted mean feature vector ``sum_hw(w f) / sum_hw(w)``.

    features: (N, C, h, w) gazed maps ``fmap * weights[:, None]``; weights: (N, h, w) -> (N, C). The positions of
    the cells are summed out, so two foveas at different places that see the same features give the same glimpse.
    """
    return features.sum((2, 3)) / weights.sum((1, 2)).clamp_min(1e-8)[:, None]


def triplet_views(fovea: str, maps: tuple[Tensor, Tensor, Tensor], weights: tuple[Tensor, Tensor, Tensor]
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """What the triplet loss compares for one fovea mode (:attr:`ContrastiveConfig.fovea`).

    maps: (anchor, positive, negative) feature maps, each (T, C, h, w); weights: the fovea of each, (T, h, w)
    ("anchor" reads only the first). Returns three (T, ...) tensors: "anchor" and "own" the gazed maps
    ``fmap * w`` (T, C, h, w), under the anchor's fovea or each under its own; "glimpse" each member's
    :func:`glimpse` (T, C), centred on the mean glimpse of the 3T members.
    """
    check_choice("fovea", fovea, FOVEA_MODES)
    if fovea == "anchor":
        return tuple(m * weights[0][:, None] for m in maps)
    gazed = tuple(m * w[:, None] for m, w in zip(maps, weights))
    if fovea == "own":
        return gazed
    seen = torch.cat([glimpse(g, w) for g, w in zip(gazed, weights)])
    # Centred on the batch's mean glimpse: post-ReLU glimpses share a large common part, and the cosine of
    # uncentred ones barely changes wherever the fovea goes (synthetic test: the loss stuck at the margin).
    seen = seen - seen.mean(0, keepdim=True).detach()
    return tuple(seen.split(maps[0].shape[0]))


def knn_excluding_self(keys: np.ndarray, anchors: np.ndarray, k: int, num_threads: int) -> np.ndarray:
    """Exact k nearest neighbours (L2) of ``keys[anchors]`` among all keys, the anchor itself left out -> (A, k).

    keys: (N, D) float32 C-contiguous array; anchors: (A,) int indices into keys. The search ``mine_triplets``
    runs (exposed for benchmarks that inspect the neighbours themselves).
    """
    index = faiss.IndexFlatL2(keys.shape[1])
    index.add(keys)
    # Two FAISS settings, changed for this search only:
    # * FAISS uses a GEMM for flat distances only from `distance_compute_blas_threshold` queries on (128k by
    #   default in faiss 1.15), else a per-pair SIMD loop. For a few hundred queries against 100k keys the
    #   GEMM is ~5x faster (0.08 s vs 0.4 s on 2 cores), so lower the threshold.
    # * Threads: in one process FAISS's OpenMP calls can resolve to torch's OpenMP runtime, so setting FAISS's
    #   thread count may change torch's; save it and put it back.
    saved_threshold, saved_threads = faiss.cvar.distance_compute_blas_threshold, faiss.omp_get_max_threads()
    faiss.cvar.distance_compute_blas_threshold = 1
    faiss.omp_set_num_threads(num_threads)
    try:
        # k + 1 results: the anchor is (almost always) its own nearest neighbour; drop it wherever it appears,
        # else (an exact duplicate ranked first) drop the last result, leaving exactly k per row, nearest first.
        _, found = index.search(keys[anchors], k + 1)
    finally:
        faiss.cvar.distance_compute_blas_threshold = saved_threshold
        faiss.omp_set_num_threads(saved_threads)
    is_self = found == anchors[:, None]
    is_self[~is_self.any(axis=1), k] = True
    return found[~is_self].reshape(len(anchors), k)


PositiveRule = Literal["same_class", "higher_return"]
Neighbours = Literal["any", "same_episode", "other_episodes"]
KeyKind = Literal["map", "gazed"]
FoveaMode = Literal["anchor", "own", "glimpse"]
POSITIVE_RULES = typing.get_args(PositiveRule)
NEIGHBOURS = typing.get_args(Neighbours)
ShuffleScope = Literal["batch", "buffer"]
FOVEA_MODES = typing.get_args(FoveaMode)
STANDALONE_LR = 3e-4
"""The gaze's contrastive learning rate when ``ContrastiveConfig.lr`` is None and no trainer fills it in (PPO's too)."""


def mine_triplets(
    keys: Tensor,
    returns: Tensor,
    k: int = 16,
    *,
    num_anchors: int | None = None,
    threshold: float | None = None,
    rule: str = "same_class",
    episodes: Tensor | None = None,
    neighbours: str = "any",
    times: Tensor | None = None,
    min_time_gap: int = 0,
    generator: torch.Generator | None = None,
    num_threads: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mine (anchor, positive, negative) index triplets among visually similar states with different outcomes.

    1. Anchors: ``num_anchors`` indices drawn without replacement (all N if None).
    2. Neighbours: each anchor's k exact nearest neighbours in L2 over *all* keys (FAISS ``IndexFlatL2``),
       excluding the anchor itself and, with ``episodes``, every state of the anchor's episode
       (``neighbours="other_episodes"``) or every state outside it (``neighbours="same_episode"``); with ``times`` and
       ``min_time_gap``, also the states of its own episode fewer than ``min_time_gap`` steps away.
    3. Outcome classes: ``return > threshold`` vs the rest; default threshold the median of ``returns`` with
       ties sent to the side that balances the classes (see :func:`_outcome_classes`; all returns equal -> one
       class -> no triplets).
    4. ``rule="same_class"`` (ours): positive = the nearest neighbour of the anchor's class, negative = the nearest
       of the other class. ``rule="higher_return"`` (the paper's, as its reviews describe it): positive = the
       nearest *high-return* neighbour, negative = the nearest low-return one, whatever the anchor's class.
       Anchors with no neighbour of either kind are skipped.

    Why ``episodes``: the frames of one episode share their clutter and goal, so under whole-map keys an anchor's
    nearest neighbours are mostly its own episode's frames, while a neighbour of the other outcome class often
    comes from another episode. Such a triplet is solved by telling the episodes apart, which any part of the
    frame does (its clutter, its plaid): no pressure to look anywhere in particular. ``"same_episode"`` keeps the
    triplet inside one episode, where what changed the outcome is what moved relative to the goal;
    ``"other_episodes"`` compares look-alike states of different episodes. Why ``min_time_gap``: inside an episode
    the nearest same-class neighbour is usually the next frame, the other-class one further away in time, so moving
    clutter alone tells them apart; a gap keeps near-duplicate frames out.

    Args:
        keys: (N, D) float keys (e.g. ``ContrastiveBuffer.keys``), finite.
        returns: (N,) returns, finite.
        k: neighbours per anchor, 1 <= k < N.
        num_anchors: how many anchors to sample (>= 1), or None for all N.
        threshold: class boundary, or None for the median rule above.
        rule: "same_class" or "higher_return" (see 4.).
        episodes: (N,) integer episode ids, or None: neighbours from anywhere.
        neighbours: with ``episodes``: "any", "other_episodes" or "same_episode" (see 2.).
        times: (N,) integer step of each state within its episode (with ``min_time_gap``).
        min_time_gap: skip same-episode neighbours fewer than this many steps from the anchor (0 = off).
        generator: torch generator for the anchor sampling (reproducibility).
        num_threads: FAISS threads for the search; None (default) = ``torch.get_num_threads()``, so one
            setting governs both (on a machine shared with other busy processes, 1 thread is much faster for
            both: OpenMP threads that wait for a busy core stall each other).

    Returns:
        anchor_idx, positive_idx, negative_idx: LongTensors (T,) on ``keys.device``, T <= number of anchors.
    """
    check_tensor("keys", keys, (None, None), "(N, D)")
    n = keys.shape[0]
    check_tensor("returns", returns, (n,), f"({n},) like keys")
    check_int("k", k, 1, n - 1)
    if num_anchors is not None:
        check_int("num_anchors", num_anchors, 1)
    check_choice("rule", rule, POSITIVE_RULES)
    check_choice("neighbours", neighbours, NEIGHBOURS)
    check_int("min_time_gap", min_time_gap, 0)
    if (neighbours != "any" or min_time_gap) and episodes is None:
        raise GazelabError(f"neighbours={neighbours!r} and min_time_gap={min_time_gap} need episodes (episode ids)")
    if min_time_gap:
        check_tensor("times", times, (n,), f"({n},) like keys (min_time_gap={min_time_gap} needs them)")
    if episodes is not None:
        check_tensor("episodes", episodes, (n,), f"({n},) like keys")
    if not torch.isfinite(keys).all():
        raise GazelabError("keys must be finite, got NaN or inf")
    if not torch.isfinite(returns).all():
        raise GazelabError("returns must be finite, got NaN or inf")
    num_threads = check_int("num_threads", torch.get_num_threads() if num_threads is None else num_threads, 1)
    if threshold is not None:
        check_number("threshold", threshold)

    device = keys.device
    high = _outcome_classes(returns.detach().float().cpu(), threshold).numpy()
    if num_anchors is None or num_anchors >= n:
        anchors = np.arange(n)
    else:
        anchors = torch.randperm(n, generator=generator)[:num_anchors].numpy()
    keys_np = np.ascontiguousarray(keys.detach().float().cpu().numpy())
    if neighbours == "any" and not min_time_gap:
        found = knn_excluding_self(keys_np, anchors, k, num_threads)  # (A, k), nearest first
        usable = np.ones(found.shape, dtype=bool)
    else:
        # Search deeper, then keep each row's first k neighbours of the wanted kind (fewer if the depth runs out).
        depth = min(n - 1, 4 * k + 64)
        found = knn_excluding_self(keys_np, anchors, depth, num_threads)
        episode = episodes.detach().cpu().numpy()
        same_episode = episode[found] == episode[anchors][:, None]
        wanted = (np.ones(found.shape, dtype=bool) if neighbours == "any"
                  else same_episode == (neighbours == "same_episode"))
        if min_time_gap:
            time = times.detach().cpu().numpy()
            wanted &= ~(same_episode & (np.abs(time[found] - time[anchors][:, None]) < min_time_gap))
        usable = wanted & (np.cumsum(wanted, axis=1) <= k)

    if rule == "same_class":
        wanted_pos = high[found] == high[anchors][:, None]  # (A, K)
    else:
        wanted_pos = high[found]
    pos_ok, neg_ok = wanted_pos & usable, ~wanted_pos & usable
    valid = pos_ok.any(axis=1) & neg_ok.any(axis=1)
    rows = np.arange(len(anchors))
    # argmax of a boolean row = the first True = the nearest neighbour with that property.
    positive = found[rows, pos_ok.argmax(axis=1)]
    negative = found[rows, neg_ok.argmax(axis=1)]
    as_long = lambda a: torch.from_numpy(np.ascontiguousarray(a[valid], dtype=np.int64)).to(device)  # noqa: E731
    return as_long(anchors), as_long(positive), as_long(negative)


@dataclass
class ContrastiveConfig:
    """Every setting of the contrastive gaze update, in one place: what the buffer keeps, how states are labelled,
    how triplets are mined, the losses and the optimizer (defaults: ours; the reasons are in docs/design.md).

    The trainers' configs nest it (``PPOConfig().contrastive_config``; on the command line ``--contrastive.k 32``);
    :class:`ContrastiveLearner` reads the mining and loss fields, :class:`gazelab.method.plugin.ContrastivePlugin`
    the buffer, cadence and label fields.
    """

    buffer_size: Annotated[int, AtLeast(0)] = 100_000
    """Buffer capacity (detached maps + labels); 0 = only data since the last update (PPO: the batch)."""
    every: Annotated[int, AtLeast(1)] = 1
    """Run the update every this many trainer iterations (a stride > 1 trades signal for speed)."""
    labels: Optional[Label] = None
    """The outcome a state is labelled with (:mod:`gazelab.method.labels`): the episode's discounted
    'return_to_go', its step 'reward', its 'episode_return' or its 'success'; PPO also its 'gae' returns or its critic's 'value'. None = the trainer's own
    (filled in by ``TrainConfig.resolve``: PPO 'gae', SAC 'return_to_go'); a plug-in built directly needs one."""
    num_anchors: Annotated[int, AtLeast(1)] = 512
    """Anchors sampled per update; each gives at most one triplet."""
    k: Annotated[int, AtLeast(1)] = 16
    """Neighbours per anchor searched for a positive and a negative. Small k: only truly similar states are
    compared (sharper signal, fewer triplets); large k: more triplets from less similar pairs."""
    margin: Annotated[float, AtLeast(0)] = 0.2
    """Triplet margin on the cosine distance (range [0, 2])."""
    spread_weight: Annotated[float, AtLeast(0)] = 0.1
    """Weight of the spread loss (log sigma towards spread_target) relative to the triplet loss."""
    spread_target: Annotated[float, Interval(0, low_open=True)] = 0.3
    """sigma the spread loss pulls towards (feature-map units: the map's cell centres span [-1, 1])."""
    lr: Annotated[Optional[float], Interval(0, low_open=True)] = None
    """Adam learning rate of the gaze head for this update (its own optimizer, separate from the RL one). None = the
    trainer's own (filled in by ``TrainConfig.resolve``: PPO 3e-4, SAC 0.01); a learner built directly uses
    ``STANDALONE_LR`` (3e-4)."""
    min_buffer: Annotated[int, AtLeast(0)] = 256
    """Warm-up: with fewer stored states the update is a no-op (neighbours among few states are not similar)."""
    threshold: Optional[float] = None
    """Outcome-class boundary on the label; None = the buffer's median (see ``mine_triplets``)."""
    fovea: FoveaMode = "anchor"
    """Whose fovea weights the three maps of a triplet. "anchor" (default): the anchor's gaze is applied to anchor,
    positive and negative alike ("one eye per triplet"), so the only way to separate positive from negative is to
    look where they differ. "own": each map under its own gaze; then the head can separate the classes by
    *moving* (reading the outcome from its input and placing the fovea by class) instead of looking, a shortcut
    measured on synthetic maps (tests/test_contrastive.py). "glimpse": each member under its own gaze, compared by
    what its fovea *sees*, the glimpse ``sum(w f) / sum(w)`` (C,): where a member looks no longer enters the
    comparison, only the features found there (the shortcut needs position in the compared vector; see
    :func:`glimpse`), centred on the triplets' mean glimpse. Across episodes (``neighbours="other_episodes"``) this compares each state's own prize region
    instead of reading the other states at the anchor's goal position."""
    rule: PositiveRule = "same_class"
    """Which neighbour is the positive: "same_class" (the anchor's outcome class) or "higher_return" (the paper's:
    always the high-return neighbour); see ``mine_triplets``."""
    neighbours: Neighbours = "any"
    """Where an anchor's neighbours may come from: "any" state, only its "same_episode" or only "other_episodes"
    (episode ids from the buffer; see ``mine_triplets``)."""
    min_time_gap: Annotated[int, AtLeast(0)] = 0
    """Skip neighbours of the anchor's own episode fewer than this many steps away (0 = off)."""
    keys: KeyKind = "map"
    """What "look alike" means for mining: "map" (the buffer's keys: a random projection of the whole detached
    map, fixed when stored) or "gazed" (the same projection of the map under the *current* gaze, recomputed each
    step for a random pool of ``key_pool`` rows: neighbours that look alike where the gaze looks, whatever the
    clutter elsewhere)."""
    key_pool: Annotated[int, AtLeast(2)] = 8192
    """Rows mined per step with ``keys="gazed"`` (their keys are recomputed each step)."""
    steps: Annotated[int, AtLeast(1)] = 1
    """Contrastive Adam steps per update, each on freshly mined triplets."""
    stop_at_env_step: Annotated[int, AtLeast(0)] = 0
    """The last env step (all envs together) at which the update runs; after it the plug-in neither stores nor
    trains, and the gaze learns from RL alone (0 = it runs to the end). A burst: the step puts the eye on the goal
    early, then stops moving the head whose features the policy reads."""
    shuffle_labels: bool = False
    """The control that breaks the paper's premise on purpose: each batch of labelled states (a PPO rollout, or an
    episode) is stored with its labels permuted among its states (``shuffle_scope``), fixed for as long as they stay
    in the buffer. The label distribution is kept; its relation to what each image shows is gone, except, with an
    episode as the batch, what an episode's labels say about the whole episode (``shuffle_scope="buffer"`` removes
    that too). A gaze that still moves onto the goal is drawn there by something else than the returns."""
    shuffle_scope: ShuffleScope = "batch"
    """With ``shuffle_labels``, among which states the labels move. "batch": among the states stored together (PPO:
    the whole rollout; SAC: one episode, so each episode keeps its own labels, only their order changes, and how
    high an episode's labels are still tells a successful episode from a failed one). "buffer": each stored state
    takes the label of a random state already in the buffer (the first batch: permuted among its states), which
    breaks that tie between an episode and its labels too. Another scope than "batch" needs ``shuffle_labels``."""
    encoder_lr: Annotated[float, AtLeast(0)] = 0.0
    """0 (the paper's): the step trains the gaze head only, on the buffer's detached maps. > 0: its loss also trains
    the CNN, with an Adam of its own at this rate, on maps recomputed from the frames of the states it compares
    (a signal that reaches the encoder: a perfect one of that kind is worth 4x here, one of the head alone 1.9x;
    docs/evidence.md). The trainer must hand the plug-in those frames: PPO with an on-policy buffer
    (``buffer_size=0``, ``every=1``, a rollout label 'gae' or 'value')."""
    faiss_threads: Annotated[Optional[int], AtLeast(1)] = None
    """Threads of the FAISS k-NN search; None = torch's thread count (see ``mine_triplets``)."""

    def __post_init__(self):
        check_fields(self)


@dataclass
class ContrastiveStats:
    """What one update did, for logging (all 0 when the update was a no-op, ``triplets == 0``)."""

    triplets: int = 0
    """Number of triplets mined (0 = no-op: buffer below warm-up or no two outcome classes among neighbours)."""
    triplet_loss: float = 0.0
    """Mean hinge over the triplets, before the step."""
    spread_loss: float = 0.0
    """Spread loss over the sigmas of the gazed maps, before the step."""
    pos_distance: float = 0.0
    """Mean cosine distance anchor-positive of the gazed maps."""
    neg_distance: float = 0.0
    """Mean cosine distance anchor-negative of the gazed maps."""
    positive_same_episode: float = 0.0
    """Share of the positives from the anchor's own episode."""
    negative_same_episode: float = 0.0
    """Share of the negatives from the anchor's own episode. Below ``positive_same_episode``, the triplets also
    teach the gaze to tell the anchor's episode from others (positive: its own, negative: another's), whatever
    the labels say of single states."""


class ContrastiveLearner:
    """Owns an Adam over the gaze's parameters and runs the contrastive update on a buffer.

    ``update`` does not read or modify ``.grad`` of any parameter (it computes gradients with
    ``torch.autograd.grad``), so it can run between the RL trainer's backward and step without interfering, and
    it never changes parameters outside ``gaze`` (and, with ``config.encoder_lr > 0``, the ``encoder``).

    Args:
        gaze: the attention module to train (a :class:`~gazelab.method.attention.GaussianGaze`; a ``PatchAttention``
            also works, without the spread loss). Must have parameters.
        config: :class:`ContrastiveConfig` (its mining, loss and optimizer fields).
        seed: seed of the anchor sampling.
        encoder: the CNN that made the stored maps; needed with ``config.encoder_lr > 0``, when ``update`` is given
            the frames of the buffer's rows and trains the encoder through maps recomputed from them.
    """

    def __init__(self, gaze: nn.Module, config: ContrastiveConfig | None = None, seed: int = 0,
                 encoder: nn.Module | None = None):
        self.gaze = gaze
        self.config = config if config is not None else ContrastiveConfig()
        self.params = [p for p in gaze.parameters() if p.requires_grad]
        if not self.params:
            raise GazelabError(f"gaze must have trainable parameters, got {type(gaze).__name__} with none")
        self.optimizer = torch.optim.Adam(self.params, lr=STANDALONE_LR if self.config.lr is None else self.config.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.encoder = encoder if self.config.encoder_lr > 0 else None
        if self.config.encoder_lr > 0 and encoder is None:
            raise GazelabError(f"encoder_lr={self.config.encoder_lr:g} trains the encoder, and encoder=None gives none")
        self.encoder_optimizer = torch.optim.Adam(encoder.parameters(), lr=self.config.encoder_lr) \
            if self.encoder is not None else None

    def update(self, buffer: ContrastiveBuffer, frames: Tensor | None = None) -> ContrastiveStats:
        """``config.steps`` contrastive steps (mine -> gaze -> losses -> Adam step on the gaze); stats of the last.

        ``frames`` (N, ...): the observations whose maps fill the buffer's rows ``[0, N)`` in order; with
        ``encoder_lr > 0`` the compared maps are recomputed from them by the encoder, which the step then trains too.
        """
        if self.encoder is not None:
            if frames is None or frames.shape[0] != len(buffer):
                raise GazelabError(f"encoder_lr={self.config.encoder_lr:g} needs the frames of the buffer's "
                                   f"{len(buffer)} rows, got {None if frames is None else frames.shape[0]}")
        stats = ContrastiveStats()
        for _ in range(self.config.steps):
            stats = self._step(buffer, frames)
            if stats.triplets == 0:
                break
        return stats

    def _gazed_triplets(self, maps_a: Tensor, maps_p: Tensor, maps_n: Tensor):
        """The compared (anchor, positive, negative) views (:func:`triplet_views`) and the AttentionOutput whose
        sigma the spread loss sees."""
        if self.config.fovea == "anchor":
            out = self.gaze(maps_a)  # one eye per triplet: the anchor's weights on all three maps
            weights = (out.weights,) * 3
        else:
            out = self.gaze(torch.cat([maps_a, maps_p, maps_n]))
            weights = out.weights.split(maps_a.shape[0])
        return (*triplet_views(self.config.fovea, (maps_a, maps_p, maps_n), weights), out)

    def _step(self, buffer: ContrastiveBuffer, frames: Tensor | None = None) -> ContrastiveStats:
        cfg = self.config
        n = len(buffer)
        if n < max(cfg.min_buffer, cfg.k + 1):
            return ContrastiveStats()
        features, returns, keys = buffer.filled()
        rows = torch.arange(n, device=keys.device)
        if cfg.keys == "gazed":  # look-alike under the current gaze: keys of the gazed maps of a pool of rows
            rows = torch.randperm(n, generator=self.generator)[: cfg.key_pool].to(keys.device)
            with torch.no_grad():
                maps = features[rows].to(device=self.params[0].device, dtype=torch.float32)
                keys = torch.cat([buffer.make_keys(self.gaze(chunk).features) for chunk in maps.split(2048)])
        anchor, positive, negative = (rows[i] for i in mine_triplets(
            keys if cfg.keys == "gazed" else keys[rows],
            returns[rows],
            min(cfg.k, len(rows) - 1),
            num_anchors=cfg.num_anchors,
            threshold=cfg.threshold,
            rule=cfg.rule,
            episodes=buffer.episodes[rows],
            neighbours=cfg.neighbours,
            times=buffer.times[rows],
            min_time_gap=cfg.min_time_gap,
            generator=self.generator,
            num_threads=cfg.faiss_threads,
        ))
        t = anchor.numel()
        if t == 0:
            return ContrastiveStats()

        device = self.params[0].device
        if self.encoder is not None:  # maps recomputed from the rows' frames, so the loss reaches the encoder
            as_float = lambda idx: self.encoder(frames[idx.to(frames.device)].to(device))  # noqa: E731
            trained = [*self.params, *self.encoder.parameters()]
        else:
            as_float = lambda idx: features[idx].to(device=device, dtype=torch.float32)  # noqa: E731
            trained = self.params
        with torch.enable_grad():  # also when the trainer calls us inside torch.no_grad()
            gazed_a, gazed_p, gazed_n, out = self._gazed_triplets(as_float(anchor), as_float(positive), as_float(negative))
            tl = triplet_loss(gazed_a, gazed_p, gazed_n, cfg.margin)
            sigma = out.sigma if out.foveae is None else out.foveae[1].flatten(0, 1)  # every fovea's, (B * K, 2)
            sl = spread_loss(sigma, cfg.spread_target) if sigma is not None else tl.new_zeros(())
            total = tl + cfg.spread_weight * sl
            grads = torch.autograd.grad(total, trained, allow_unused=True)
        saved = [p.grad for p in trained]  # whatever the RL trainer accumulated stays untouched
        for p, g in zip(trained, grads):
            p.grad = g
        self.optimizer.step()
        if self.encoder_optimizer is not None:
            self.encoder_optimizer.step()
        for p, g in zip(trained, saved):
            p.grad = g

        with torch.no_grad():
            return ContrastiveStats(
                triplets=t,
                triplet_loss=tl.item(),
                spread_loss=sl.item(),
                pos_distance=cosine_distance(gazed_a, gazed_p).mean().item(),
                neg_distance=cosine_distance(gazed_a, gazed_n).mean().item(),
                positive_same_episode=(buffer.episodes[positive] == buffer.episodes[anchor]).float().mean().item(),
                negative_same_episode=(buffer.episodes[negative] == buffer.episodes[anchor]).float().mean().item(),
            )

    def state_dict(self) -> dict:
        """Optimizer and sampling state (the gaze's own weights are saved with the model).

        A deep copy: ``Optimizer.state_dict()`` alone returns references that later steps update in place.
        """
        return copy.deepcopy({"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                              **({"encoder_optimizer": self.encoder_optimizer.state_dict()}
                                 if self.encoder_optimizer is not None else {})})

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.encoder_optimizer is not None:
            self.encoder_optimizer.load_state_dict(state["encoder_optimizer"])
        self.generator.set_state(state["generator"])
