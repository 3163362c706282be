"""Spatial attention over a CNN feature map: the Gaussian gaze, patch attention and the identity.

Every attention module maps a feature map ``fmap`` of shape (B, C, h, w) to an :class:`AttentionOutput` whose
``features = fmap * weights[:, None]`` keep the input's shape, so the actor/critic heads behind it do not
change when the attention kind changes.

Coordinates: a gaze lives on the **feature map** (docs/design.md, "Coordinates"):

* ``x`` is the column (left -> right), ``y`` is the row (top -> bottom);
* the map spans [-1, 1] on both axes: the centres of its ``w`` columns are ``linspace(-1, 1, w)`` and the
  centres of its ``h`` rows are ``linspace(-1, 1, h)``, so a gaze is independent of the map resolution;
* the map covers only the middle of the image (unpadded convolutions): the CNN's ``map_to_image`` /
  ``image_to_map`` convert (:mod:`gazelab.method.encoders`; FineNatureCNN at 64 px: map -1..1 = image -0.57..0.57, so a
  sigma of 0.3 on the map is 0.17 on the image);
* a gaze is ``mu = (mu_x, mu_y)``, ``sigma = (sigma_x, sigma_y)`` and a correlation ``rho``; its covariance is
  ``S = [[sigma_x^2, rho sigma_x sigma_y], [rho sigma_x sigma_y, sigma_y^2]]`` (the paper's sigma_xy is
  ``rho * sigma_x * sigma_y``; |rho| < 1 keeps S positive definite) and its map is
  ``exp(-1/2 d^T S^-1 d)`` with ``d = cell - mu``: 1 at ``mu``, falling off with the Mahalanobis distance.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazelab.core.checks import check_choice, check_int, check_number, check_tensor
from gazelab.core.errors import GazelabError

__all__ = [
    "AttentionOutput",
    "gaussian_map",
    "mixture_map",
    "gaze_parameters",
    "soft_argmax",
    "PRIZE_RADIUS",
    "weight_near",
    "GaussianGaze",
    "PatchAttention",
    "NoAttention",
    "OracleGaze",
    "AttentionKind",
    "ATTENTION_KINDS",
    "GazeHead",
    "make_attention",
]


@dataclass
class AttentionOutput:
    """What every attention module returns."""

    features: Tensor
    """(B, C, h, w): the input feature map multiplied element-wise by ``weights``."""
    weights: Tensor
    """(B, h, w) in [0, 1]: the attention weight of each feature-map cell."""
    mu: Tensor | None = None
    """(B, 2) gaze centre (x = column, y = row) in feature-map coordinates ([-1, 1]); None without a fovea."""
    sigma: Tensor | None = None
    """(B, 2) gaze spread (sigma_x, sigma_y) > 0 in feature-map units (the map spans [-1, 1]); or None."""
    rho: Tensor | None = None
    """(B,) correlation of the gaze in (-1, 1) (tilt of the ellipse); or None."""
    foveae: tuple[Tensor, Tensor, Tensor] | None = None
    """A mixture of K >= 2 foveae: every fovea's (mu (B, K, 2), sigma (B, K, 2), rho (B, K)); ``mu``, ``sigma`` and
    ``rho`` above are then the first fovea's. None for a single fovea (or none)."""


def _gaussian_map(mu: Tensor, sigma: Tensor, rho: Tensor, height: int, width: int) -> Tensor:
    """:func:`gaussian_map` without the input checks (the gaze head guarantees valid parameters)."""
    xs = torch.linspace(-1.0, 1.0, width, dtype=mu.dtype, device=mu.device)
    ys = torch.linspace(-1.0, 1.0, height, dtype=mu.dtype, device=mu.device)
    # Standardised offsets u = dx / sigma_x (B,1,w) and v = dy / sigma_y (B,h,1); broadcasting gives (B,h,w).
    u = (xs[None, None, :] - mu[:, 0, None, None]) / sigma[:, 0, None, None]
    v = (ys[None, :, None] - mu[:, 1, None, None]) / sigma[:, 1, None, None]
    r = rho[:, None, None]
    # d^T S^-1 d in closed form for the 2x2 covariance: (u^2 - 2 rho u v + v^2) / (1 - rho^2).
    quad = (u.square() - 2.0 * r * u * v + v.square()) / (1.0 - r.square())
    return torch.exp(-0.5 * quad)


def gaussian_map(mu: Tensor, sigma: Tensor, rho: Tensor, height: int, width: int) -> Tensor:
    """Gaussian attention map ``exp(-1/2 d^T S^-1 d)`` on an ``height x width`` grid of cell centres (the cells of a
    feature map, or the pixels of an image: the grid spans [-1, 1] either way).

    Args:
        mu: (B, 2) centre (x = column, y = row); the grid spans [-1, 1] (values outside are allowed).
        sigma: (B, 2) standard deviations (sigma_x, sigma_y) > 0, in the same normalized units.
        rho: (B,) correlation in (-1, 1); ``rho > 0`` tilts the ellipse along the (+x, +y) diagonal
            (towards the bottom-right, since y grows downwards).
        height: number of rows h >= 1 (row centres ``linspace(-1, 1, h)``).
        width: number of columns w >= 1 (column centres ``linspace(-1, 1, w)``).

    Returns:
        (B, height, width) weights in (0, 1], equal to 1 where a cell centre coincides with ``mu``.
    """
    check_int("height", height, 1)
    check_int("width", width, 1)
    check_tensor("mu", mu, (None, 2), "(B, 2)")
    batch = mu.shape[0]
    check_tensor("sigma", sigma, (batch, 2), f"({batch}, 2) like mu")
    check_tensor("rho", rho, (batch,), f"({batch},) like mu")
    if not torch.isfinite(mu).all():
        raise GazelabError(f"mu must be finite, got {mu.tolist() if mu.numel() <= 8 else 'non-finite values'}")
    if not (sigma > 0).all() or not torch.isfinite(sigma).all():
        raise GazelabError(f"sigma must be finite and > 0, got min {sigma.min().item() if sigma.numel() else None}")
    if not (rho.abs() < 1).all():
        raise GazelabError(f"rho must lie in (-1, 1), got max |rho| = {rho.abs().max().item()}")
    return _gaussian_map(mu, sigma.to(mu.dtype), rho.to(mu.dtype), height, width)


def mixture_map(mu: Tensor, sigma: Tensor, rho: Tensor, height: int, width: int) -> Tensor:
    """A gaze of K Gaussians (the paper's open question 2; exercise 9.1): at each cell, the largest of the K weights.

    mu (B, K, 2), sigma (B, K, 2), rho (B, K) -> (B, height, width) in [0, 1], equal to 1 at every centre that lies
    on a cell, and to :func:`gaussian_map` for K = 1. The maximum keeps every fovea's peak at 1 and the map within
    [0, 1] (a sum could exceed 1, a normalised mixture would dim every fovea as K grows); its gradient reaches, at
    each cell, the fovea that covers it most.
    """
    check_tensor("rho", rho, (None, None), "(B, K)")
    b, k = rho.shape
    check_tensor("mu", mu, (b, k, 2), f"({b}, {k}, 2) like rho")
    check_tensor("sigma", sigma, (b, k, 2), f"({b}, {k}, 2) like rho")
    maps = gaussian_map(mu.reshape(b * k, 2), sigma.reshape(b * k, 2), rho.reshape(b * k), height, width)
    return maps.view(b, k, height, width).amax(dim=1)


def _mixture_map(mu: Tensor, sigma: Tensor, rho: Tensor, height: int, width: int) -> Tensor:
    """:func:`mixture_map` without the input checks (the gaze heads and the oracle guarantee valid parameters)."""
    b, k = rho.shape
    maps = _gaussian_map(mu.reshape(b * k, 2), sigma.reshape(b * k, 2), rho.reshape(b * k), height, width)
    if k == 1:  # every forward pass of a one-fovea gaze: no maximum to take
        return maps
    return maps.view(b, k, height, width).amax(dim=1)


def gaze_parameters(raw: Tensor, sigma_floor: float, sigma_max: float, rho_max: float
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """The gaze head's squashing: five free numbers per image -> a valid gaze (see :class:`GaussianGaze`).

    ``raw`` (B, 5) = ``(a_x, a_y, b_x, b_y, c)`` -> ``mu = tanh(a)`` (B, 2) in (-1, 1), ``sigma = sigma_floor +
    (sigma_max - sigma_floor) * sigmoid(b)`` (B, 2) in (sigma_floor, sigma_max) and ``rho = rho_max * tanh(c)`` (B,)
    in (-rho_max, rho_max).
    """
    sigma = sigma_floor + (sigma_max - sigma_floor) * torch.sigmoid(raw[:, 2:4])
    return torch.tanh(raw[:, 0:2]), sigma, rho_max * torch.tanh(raw[:, 4])


def soft_argmax(scores: Tensor) -> Tensor:
    """The keypoint head's centre: the expected cell position under ``p = softmax(scores)`` over the h*w cells.

    ``scores`` (B, h, w) -> ``mu = sum_cells p * cell`` (B, 2) = (x, y) on the grid of cell centres of
    :func:`gaussian_map` (columns ``linspace(-1, 1, w)``, rows ``linspace(-1, 1, h)``), so mu stays inside the map.
    Equal scores give the centre of the map; one score far above the others gives that cell's centre.
    """
    b, h, w = scores.shape
    p = torch.softmax(scores.flatten(1), dim=1).view(b, h, w)
    xs = torch.linspace(-1.0, 1.0, w, dtype=scores.dtype, device=scores.device)
    ys = torch.linspace(-1.0, 1.0, h, dtype=scores.dtype, device=scores.device)
    return torch.stack([(p.sum(1) * xs).sum(1), (p.sum(2) * ys).sum(1)], dim=1)  # column and row marginals


PRIZE_RADIUS = 0.25
"""Cells whose centre lies within this distance (image units) of the prize count as "on the prize": the goal is
drawn with radius 0.13 and FineNatureCNN's cells are 0.127 apart at 64 px, so this covers the object's cells."""


def weight_near(weights: Tensor, points: Tensor, cells: Tensor, radius: float = PRIZE_RADIUS) -> tuple[Tensor, Tensor]:
    """The share of each map's attention weight on the cells near a point, and that share for uniform weights.

    ``sum_near w / sum_all w`` per map, where "near" = the cells whose centre lies within ``radius`` (image units) of
    the point; the second value is the share of such cells (what uniform weights score: chance). The gaze-on-prize
    metric (``gazelab.rl.prize``: ``prize_mass``) and the hand-placed fovea of ``gazelab.teach.landscape`` both read
    it with the env's privileged ``prize`` as the point.

    Args:
        weights: (B, h, w) attention weights >= 0.
        points: (B, 2) image coordinates (x = column, y = row; the image spans [-1, 1]).
        cells: (h * w, 2) image coordinates of the map's cells, row-major (an encoder's ``cell_centres()``).
        radius: > 0, image units.

    Returns:
        (share (B,), chance (B,)).
    """
    points = points.to(weights.device, torch.float32)
    near = (torch.cdist(points, cells.to(points)) < radius).float()  # (B, h*w)
    flat = weights.detach().flatten(1).float()
    return (flat * near).sum(1) / flat.sum(1).clamp_min(1e-12), near.mean(1)


def _check_fmap(fmap, in_channels: int) -> None:
    check_tensor("fmap", fmap, (None, in_channels, None, None), f"(B, {in_channels}, h, w)")


GazeHead = Literal["mlp", "keypoint"]
"""The gaze heads of :class:`GaussianGaze` (see its docstring)."""

KEYPOINT_SCALE = 10.0
"""Default inverse temperature of the keypoint head's soft-argmax (``GaussianGaze(keypoint_scale=...)``). From
zero-initialised scores, Adam moves each weight by about its learning rate per step; unscaled, the scores would sharpen
10x slower than the MLP head moves (measured on synthetic maps: after 300 steps at lr 3e-4 the centre had not left the
middle)."""


class GaussianGaze(nn.Module):
    """Foveal attention: a small head predicts one 2-D Gaussian per image and weights the feature map with it.

    Head: ``adaptive_avg_pool(fmap) -> (C, pool, pool)`` -> flatten -> Linear -> ReLU -> Linear -> 5 numbers
    ``(a_x, a_y, b_x, b_y, c)`` mapped to

    * ``mu = tanh(a)`` in (-1, 1) (the feature map),
    * ``sigma = sigma_floor + (sigma_max - sigma_floor) * sigmoid(b)`` in (sigma_floor, sigma_max),
    * ``rho = rho_max * tanh(c)`` in (-rho_max, rho_max) (|rho| < 1 keeps the covariance positive definite).

    Pooling to a small grid (rather than a global average) keeps *where* things are, so the gaze can follow an
    object; the flattened map would also work but makes the head as large as the actor's projection.

    ``head="keypoint"`` replaces the pooled MLP's centre by a spatial soft-argmax (a keypoint detector): a 1x1
    convolution scores every cell, ``p = softmax(scores)`` over the h*w cells, and ``mu = sum_cells p * cell``
    (:func:`soft_argmax`).
    sigma and rho then come from a linear layer on the globally pooled map. The centre can only sit where the
    detector fires, so the head cannot encode a class in its position without seeing something there (the
    pooled MLP can: it may read the outcome from its input and move by class), and it follows a moving object by
    construction. It starts uniform (zero scores): mu = (0, 0), like the MLP head.

    Why a ceiling (a softplus, the first design, has none): in PPO on the cluttered reach task the RL gradients grew
    sigma to ~3, a flat map over the whole feature map, i.e. no attention at all, and the spread loss (weight 0.1)
    did not hold it back. ``sigma_max`` bounds how much of the map one fovea can cover; it also makes the single-Gaussian
    limit (two far-apart regions, ``ReachFar``) a visible one.

    The last layer starts with small weights and a bias that gives ``mu = (0, 0)``, ``sigma = init_sigma`` and
    ``rho = 0``: a centred, broad gaze that keeps most of the map visible until learning says where to look.

    Args:
        in_channels: C of the feature map.
        hidden: width of the hidden layer (default 64).
        pool: side of the pooled grid the head sees (default 4, i.e. 4x4 cells).
        sigma_floor: smallest possible sigma (default 0.05, in feature-map units, where the map spans 2; about a
            fifth of a cell of an 8x8 map). It keeps S^-1 finite; the spread loss is what keeps the fovea from
            collapsing.
        sigma_max: largest possible sigma (default 0.8: a cell two sigma from the centre of the fovea, 1.6 units
            away, still gets weight exp(-2) ~ 0.14, so a centred fovea sees the whole map, faded at the rim).
        init_sigma: sigma of the initial gaze (default: 0.6 or, under a lower cap, 0.75 * sigma_max; at 0.6 a
            cell one unit from the centre, e.g. the middle of an edge, starts at weight exp(-1/2 / 0.36) ~ 0.25).
        rho_max: bound on |rho| (default 0.9).
        init_scale: std of the last layer's initial weights (default 0.01), so gazes start almost identical.
        head: "mlp" (pooled grid -> MLP -> all five numbers) or "keypoint" (soft-argmax centre, see above).
        keypoint_scale: inverse temperature of the keypoint head's soft-argmax (default :data:`KEYPOINT_SCALE`): the
            larger, the sooner a cell that scores above the rest takes the centre to itself instead of to a mean
            pulled toward the middle of the map.
        foveae: K >= 1, the number of Gaussians (default 1; the paper's open question 2). With K >= 2 the head
            predicts K gazes (the keypoint head: K score maps, each with its own soft-argmax, and K shapes) and the
            weights are their :func:`mixture_map` (per cell the largest); ``forward`` returns every fovea in
            ``AttentionOutput.foveae``. The K score maps then start from small random weights (std ``init_scale``),
            not zeros: identical foveae would get identical gradients and never part.
    """

    HEADS = typing.get_args(GazeHead)

    def __init__(
        self,
        in_channels: int,
        *,
        head: str = "mlp",
        hidden: int = 64,
        pool: int = 4,
        sigma_floor: float = 0.05,
        sigma_max: float = 0.8,
        init_sigma: float | None = None,
        rho_max: float = 0.9,
        init_scale: float = 0.01,
        keypoint_scale: float = KEYPOINT_SCALE,
        foveae: int = 1,
    ):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        check_int("hidden", hidden, 1)
        self.pool = check_int("pool", pool, 1)
        check_number("sigma_floor", sigma_floor, 0, low_open=True)
        check_number("sigma_max", sigma_max, sigma_floor, low_open=True)
        if init_sigma is None:
            init_sigma = min(0.6, sigma_floor + 0.75 * (sigma_max - sigma_floor))
        check_number("init_sigma", init_sigma, sigma_floor, sigma_max, low_open=True, high_open=True)
        check_number("rho_max", rho_max, 0, 1, low_open=True, high_open=True)
        check_number("init_scale", init_scale, 0)
        check_choice("head", head, self.HEADS)
        self.keypoint_scale = check_number("keypoint_scale", keypoint_scale, 0, low_open=True)
        self.foveae = check_int("foveae", foveae, 1)
        self.head_kind = head
        self.sigma_floor = float(sigma_floor)
        self.sigma_max = float(sigma_max)
        self.rho_max = float(rho_max)
        # logit((init_sigma - floor) / (max - floor)): the bias that gives sigma = init_sigma.
        fraction = (init_sigma - sigma_floor) / (sigma_max - sigma_floor)
        sigma_bias = math.log(fraction / (1.0 - fraction))
        k = self.foveae
        if head == "mlp":
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(in_channels * pool * pool, hidden),
                nn.ReLU(),
                nn.Linear(hidden, 5 * k),  # (a_x, a_y, b_x, b_y, c) per fovea
            )
            last, bias = self.head[-1], [0.0, 0.0, sigma_bias, sigma_bias, 0.0] * k
        else:
            self.keypoint = nn.Conv2d(in_channels, k, kernel_size=1)  # one score per cell and fovea
            if k == 1:
                nn.init.zeros_(self.keypoint.weight)
            else:
                nn.init.normal_(self.keypoint.weight, std=init_scale)
            nn.init.zeros_(self.keypoint.bias)
            self.shape = nn.Linear(in_channels, 3 * k)  # sigma_x, sigma_y, rho per fovea from the globally pooled map
            last, bias = self.shape, [sigma_bias, sigma_bias, 0.0] * k
        nn.init.normal_(last.weight, std=init_scale)
        with torch.no_grad():
            last.bias.copy_(torch.tensor(bias))

    def components(self, fmap: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Every fovea's parameters for a feature map (B, C, h, w): mu (B, K, 2), sigma (B, K, 2), rho (B, K)."""
        _check_fmap(fmap, self.in_channels)
        b, k = fmap.shape[0], self.foveae
        if self.head_kind == "mlp":
            mu, sigma, rho = self.squash(self.head(F.adaptive_avg_pool2d(fmap, self.pool)).reshape(b * k, 5))
        else:
            scores = self.keypoint_scale * self.keypoint(fmap)  # (B, K, h, w)
            mu = soft_argmax(scores.flatten(0, 1))  # expected cell position of each fovea, (B * K, 2)
            shape = self.shape(fmap.mean(dim=(2, 3))).reshape(b * k, 3)
            _, sigma, rho = self.squash(F.pad(shape, (2, 0)))  # (0, 0, b_x, b_y, c)
        return mu.view(b, k, 2), sigma.view(b, k, 2), rho.view(b, k)

    def params(self, fmap: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """A single fovea's parameters for a feature map (B, C, h, w): mu (B, 2), sigma (B, 2), rho (B,) (a mixture
        of K >= 2 foveae has :meth:`components`)."""
        if self.foveae != 1:
            raise GazelabError(f"params() is the parameters of one fovea; this gaze has foveae={self.foveae}: use "
                               "components() for all of them")
        mu, sigma, rho = self.components(fmap)
        return mu[:, 0], sigma[:, 0], rho[:, 0]

    def squash(self, raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The head's five outputs (B, 5) -> mu, sigma, rho within this gaze's bounds (:func:`gaze_parameters`)."""
        return gaze_parameters(raw, self.sigma_floor, self.sigma_max, self.rho_max)

    def forward(self, fmap: Tensor) -> AttentionOutput:
        """fmap (B, C, h, w) -> AttentionOutput with weights = gaussian_map(mu, sigma, rho, h, w) (K foveae: their
        mixture_map, and every fovea in ``foveae``)."""
        mu, sigma, rho = self.components(fmap)
        weights = _mixture_map(mu, sigma, rho, fmap.shape[2], fmap.shape[3]).to(fmap.dtype)
        return AttentionOutput(fmap * weights[:, None], weights, mu[:, 0], sigma[:, 0], rho[:, 0],
                               foveae=(mu, sigma, rho) if self.foveae > 1 else None)


class PatchAttention(nn.Module):
    """Unconstrained attention (ablation): one weight per feature-map cell, predicted by a 1x1 convolution.

    Normalizations:

    * ``"sigmoid"`` (default): each cell independently, ``w = sigmoid(logit)`` in (0, 1);
    * ``"softmax"``: a softmax over the h*w cells, rescaled by its maximum so the strongest cell has weight 1
      (a plain softmax would shrink every weight by ~1/(h w) and with it the features the heads see).

    The convolution starts at zero, so every cell starts with the same weight (0.5 for sigmoid, 1 for softmax):
    no initial preference for any location.

    Args:
        in_channels: C of the feature map.
        normalization: ``"sigmoid"`` or ``"softmax"``.
    """

    NORMALIZATIONS = ("sigmoid", "softmax")

    def __init__(self, in_channels: int, *, normalization: str = "sigmoid"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        check_choice("normalization", normalization, self.NORMALIZATIONS)
        self.normalization = normalization
        self.logits = nn.Conv2d(in_channels, 1, kernel_size=1)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, fmap: Tensor) -> AttentionOutput:
        """fmap (B, C, h, w) -> AttentionOutput with per-cell weights (B, h, w) in [0, 1]; mu/sigma/rho None."""
        _check_fmap(fmap, self.in_channels)
        logits = self.logits(fmap)[:, 0]  # (B, h, w)
        if self.normalization == "sigmoid":
            weights = torch.sigmoid(logits)
        else:
            # softmax / max(softmax) = exp(l - max l): the same thing, computed without the tiny normaliser.
            flat = logits.flatten(1)
            weights = torch.exp(flat - flat.max(dim=1, keepdim=True).values).view_as(logits)
        return AttentionOutput(fmap * weights[:, None], weights)


class NoAttention(nn.Module):
    """The identity (baseline CNN): weights are all ones, features pass unchanged."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)

    def forward(self, fmap: Tensor) -> AttentionOutput:
        """fmap (B, C, h, w) -> AttentionOutput(features=fmap, weights=ones (B, h, w))."""
        _check_fmap(fmap, self.in_channels)
        weights = fmap.new_ones(fmap.shape[0], fmap.shape[2], fmap.shape[3])
        return AttentionOutput(fmap, weights)


class OracleGaze(nn.Module):
    """A diagnostic, not a method: a fixed-size Gaussian fovea centred on a target given from outside.

    The trainers give it the environment's privileged ``prize`` position (converted to feature-map coordinates),
    so it shows what a *perfect* fovea would buy: the upper bound that a learned gaze can approach. It has no
    parameters and nothing trains it.

    With ``foveae=2`` it places one fovea on each of the two objects the return depends on (the env's
    ``prize_parts``: goal and gripper for reach, block and goal for push) and keeps, per cell, the larger of the two
    weights (the mixture map of exercise 9.1): the bound of what a second fovea could buy.

    Args:
        in_channels: C of the feature map.
        sigma: spread of each fovea in feature-map units (both axes; rho = 0).
        foveae: 1 (on ``prize``) or 2 (on ``prize_parts``).
    """

    def __init__(self, in_channels: int, *, sigma: float = 0.44, foveae: int = 1):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        check_number("sigma", sigma, 0, low_open=True)
        self.sigma = float(sigma)
        self.foveae = check_choice("foveae", foveae, (1, 2))
        self.target_key = "prize" if foveae == 1 else "prize_parts"
        """The privileged observation the trainers hand to :meth:`forward` (in map coordinates)."""

    def forward(self, fmap: Tensor, target: Tensor | None = None) -> AttentionOutput:
        """fmap (B, C, h, w), target in map coordinates: (B, 2) with one fovea, (B, 2, 2) with two ->
        AttentionOutput (like the gaze; its mu/sigma/rho are the first fovea's)."""
        _check_fmap(fmap, self.in_channels)
        b = fmap.shape[0]
        shape = (b, 2) if self.foveae == 1 else (b, 2, 2)
        check_tensor("target", target, shape, f"{shape} (the oracle fovea needs the env's privileged "
                     f"'{self.target_key}' observation, which only built-in tasks have)")
        centres = target.to(fmap.dtype).reshape(b, self.foveae, 2)
        sigma = torch.full_like(centres, self.sigma)
        rho = centres.new_zeros(b, self.foveae)
        weights = _mixture_map(centres, sigma, rho, fmap.shape[2], fmap.shape[3])
        return AttentionOutput(fmap * weights[:, None], weights, centres[:, 0], sigma[:, 0], rho[:, 0],
                               foveae=(centres, sigma, rho) if self.foveae > 1 else None)


AttentionKind = Literal["none", "patch", "gaze", "oracle"]
ATTENTION_KINDS = typing.get_args(AttentionKind)
_ATTENTION_CLASSES = {"none": NoAttention, "patch": PatchAttention, "gaze": GaussianGaze, "oracle": OracleGaze}


def make_attention(kind: str, in_channels: int, **kwargs) -> nn.Module:
    """Build an attention module by name: ``"none"`` | ``"patch"`` | ``"gaze"`` | ``"oracle"``; kwargs go to its
    constructor."""
    return _ATTENTION_CLASSES[check_choice("kind", kind, ATTENTION_KINDS)](in_channels, **kwargs)
