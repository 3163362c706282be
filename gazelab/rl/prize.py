"""Gaze on the prize: does the attention look where the return is decided?

A diagnostic, not part of the method. The built-in tasks expose a privileged observation ``prize`` (N, 2): the
image coordinates of what decides the return (reach: the goal; push: the block-goal midpoint). Comparing the
attention with it tells *why* a run won or lost, not only whether:

* ``prize_distance``: distance from the fovea's centre (mapped from the feature map to the image) to the prize,
  in image units (the image spans 2); with several foveae, the nearest one's. Only for attention with a centre
  (gaze, oracle).
* ``foveae_gap``: with several foveae, the distance between the first two centres (image units): ~0 means they
  sit on one spot, a mixture that acts as one Gaussian.
* ``centre_distance``: the same for a fovea fixed at the map's centre: what a gaze that ignores the image scores.
  A learned gaze that finds the prize beats it; one that parks does not.
* ``prize_mass``: the share of the attention weight on the cells within ``PRIZE_RADIUS`` of the prize,
  ``sum_near w / sum_all w``. Defined for every attention kind (for ``none`` it is the share of such cells).
* ``prize_mass_chance``: that share for uniform weights (what ``none`` scores), the reference for ``prize_mass``.
* ``mu_std``: (from :class:`GazeTracker`) the spread of the fovea's centre across frames, image units: ~0 means
  the same gaze for every image; a gaze that follows a moving prize must move. With several foveae, of the one
  nearest the prize in each frame (without a prize, of the first).

:func:`teacher_loss` turns the prize into a training signal, for one diagnostic run only (``PPOConfig.gaze_teacher``):
a perfect teacher for the gaze head, the bound of what any signal that shapes only the head could buy.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from gazelab.method.attention import PRIZE_RADIUS, AttentionOutput, weight_near

__all__ = ["PRIZE_RADIUS", "gaze_on_prize", "teacher_loss", "GazeTracker"]


def teacher_loss(gaze, fmap: Tensor, prize: Tensor, cnn, *, detach: bool = True) -> Tensor:
    """Mean squared distance (feature-map units) from the gaze's centre on *detached* maps to the prize.

    ``gaze``: a :class:`~gazelab.method.attention.GaussianGaze`; ``fmap`` (B, C, h, w); ``prize`` (B, 2) in image
    coordinates, mapped to the feature map by ``cnn.image_to_map`` and clamped into [-1, 1], where a centre can be
    (a goal beyond the outermost cell centre is taught the nearest reachable point). The maps are detached, so only
    the head learns from it, as it does from the contrastive step: the CNN is left to RL. ``detach=False`` lets the
    loss reach the CNN that made ``fmap`` too (a teacher of the encoder as well).
    """
    mu = gaze.params(fmap.detach() if detach else fmap)[0]
    target = cnn.image_to_map(prize.float()).to(mu.dtype).clamp(-1.0, 1.0)
    return ((mu - target) ** 2).sum(1).mean()


def gaze_on_prize(att: AttentionOutput, prize: Tensor, cnn) -> dict[str, Tensor]:
    """Per-frame gaze-on-prize values (see the module docstring).

    Args:
        att: attention output of B frames (weights (B, h, w); mu (B, 2) in map coordinates or None).
        prize: (B, 2) image coordinates of the prize.
        cnn: the encoder whose map the attention weighted (gives the cells' image coordinates).

    Returns:
        {"prize_mass", "prize_mass_chance", "centre_distance"} and, with a gaze centre, "prize_distance" and
        "mu_image" ((B, 2) the centre in image coordinates; with several foveae the one nearest the prize, and
        "foveae_gap"): (B,) tensors.
    """
    prize = prize.to(att.weights.device, torch.float32)
    mass, chance = weight_near(att.weights, prize, cnn.cell_centres(), PRIZE_RADIUS)
    out = {
        "prize_mass": mass,
        "prize_mass_chance": chance,
        "centre_distance": (prize - cnn.map_to_image(prize.new_zeros(2))).norm(dim=1),
    }
    if att.foveae is not None:
        centres = cnn.map_to_image(att.foveae[0].detach().float())  # (B, K, 2)
        distances = (centres - prize[:, None]).norm(dim=2)
        out["prize_distance"], nearest = distances.min(dim=1)
        out["mu_image"] = centres[torch.arange(len(centres), device=centres.device), nearest]
        out["foveae_gap"] = (centres[:, 0] - centres[:, 1]).norm(dim=1)
    elif att.mu is not None:
        mu_image = cnn.map_to_image(att.mu.detach().float())
        out["prize_distance"] = (mu_image - prize).norm(dim=1)
        out["mu_image"] = mu_image
    return out


class GazeTracker:
    """Running means of the gaze and of the gaze-on-prize metric over many batches of frames -> scalars.

    ``add`` accumulates a batch; ``scalars`` returns the means since the last call (names without a prefix:
    ``mu_x``, ``mu_y``, ``sigma_x``, ``sigma_y`` in map units, ``mu_std`` and the metric in image units) and resets.
    Attention without a centre (none, patch) contributes only ``prize_mass``/``prize_mass_chance``; frames without
    a prize (ManiSkill) only the gaze parameters.
    """

    def __init__(self, cnn):
        self.cnn = cnn
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._mu_image: list[Tensor] = []

    def _add(self, name: str, values: Tensor) -> None:
        total = values.detach().float().sum(0)
        self._sums[name] = self._sums[name] + total if name in self._sums else total
        self._counts[name] = self._counts.get(name, 0) + values.shape[0]

    def add(self, att: AttentionOutput, prize: Optional[Tensor] = None) -> None:
        """Accumulate a batch of B frames (``prize`` (B, 2) image coordinates, or None).

        Called every rollout step: everything stays on the attention's device (no host sync until ``scalars``)."""
        values = gaze_on_prize(att, prize, self.cnn) if prize is not None else {}
        if att.mu is not None:
            self._add("mu", att.mu)
            self._add("sigma", att.sigma)
            mu_image = values.pop("mu_image", None)
            self._mu_image.append(mu_image if mu_image is not None else self.cnn.map_to_image(att.mu.detach().float()))
        for name, value in values.items():
            self._add(name, value)

    def scalars(self) -> dict[str, float]:
        """The means since the last call (empty if nothing was added), and reset."""
        out: dict[str, float] = {}
        for name, total in self._sums.items():
            mean = total / self._counts[name]
            if name in ("mu", "sigma"):
                out[f"{name}_x"], out[f"{name}_y"] = mean.tolist()
            else:
                out[name] = mean.item()
        if self._mu_image:
            out["mu_std"] = torch.cat(self._mu_image).std(dim=0).mean().item() if sum(
                len(m) for m in self._mu_image) > 1 else 0.0
        self._sums, self._counts, self._mu_image = {}, {}, []
        return out
