"""Image augmentation in the RL updates: DrQ-v2's random shift, the stronger CNN baseline the paper's reviewers
asked for (does the gaze's gain survive against an augmented CNN?).

``random_shift`` pads each image by ``pad`` pixels (edge pixels repeated, as DrQ-v2's ``RandomShiftsAug``) and crops
it back at a random integer offset, a different one per image: the scene moves by up to ``pad`` pixels in x and y.
Only the updates see shifted images (PPO: each minibatch, RAD-style; SAC: the sampled observations and next
observations, each with its own shifts, as DrQ); the policy acts on and is evaluated on the true frames, and the
contrastive buffer stores the maps of the frames acted on.

The privileged ``prize`` (the oracle fovea's target, in image coordinates) moves with the picture, so the oracle
keeps looking at its object in a shifted image.
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor

from gazelab.core.checks import check_choice, check_int, check_tensor

__all__ = ["Augment", "AUGMENTS", "random_shift", "augment_obs"]

Augment = Literal["none", "shift"]
AUGMENTS = typing.get_args(Augment)


def random_shift(rgb: Tensor, pad: int, prize: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Shift every image of ``rgb`` (B, H, W, 3) uint8 by its own random integer offset in [-pad, pad] (x and y,
    edge pixels repeated) -> (shifted (B, H, W, 3), ``prize`` (B, ..., 2) points moved with their image, or None).

    Draws 2B integers from torch's global generator (a run's checkpoint saves its state: a resumed run shifts
    the same way). ``pad=0`` returns the inputs unchanged.
    """
    shifted, moved = _shift(rgb, pad, {} if prize is None else {"prize": prize})
    return shifted, moved.get("prize")


def _shift(rgb: Tensor, pad: int, points: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """:func:`random_shift` of the images, with every tensor of points (B, ..., 2) in ``points`` moved by its
    image's offset (one draw for all of them)."""
    check_tensor("rgb", rgb, (None, None, None, 3), "(B, H, W, 3)")
    check_int("pad", pad, 0)
    if pad == 0:
        return rgb, points
    b, h, w, _ = rgb.shape
    padded = torch.nn.functional.pad(rgb.permute(0, 3, 1, 2).float(), (pad, pad, pad, pad), mode="replicate")
    padded = padded.to(rgb.dtype).permute(0, 2, 3, 1)  # (B, H+2p, W+2p, 3)
    offset = torch.randint(0, 2 * pad + 1, (b, 2), device=rgb.device)  # (x, y) corner of the crop in the padded image
    rows = offset[:, 1, None] + torch.arange(h, device=rgb.device)  # (B, H)
    cols = offset[:, 0, None] + torch.arange(w, device=rgb.device)  # (B, W)
    shifted = padded[torch.arange(b, device=rgb.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    moved = {}
    for name, xy in points.items():
        # Output pixel c shows input pixel c + offset - pad: the content moves by pad - offset pixels, and one pixel
        # is 2 / (side - 1) image units (pixel centres at linspace(-1, 1, side)).
        step = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], device=xy.device)
        delta = (pad - offset.to(xy.device, xy.dtype)) * step  # (B, 2)
        moved[name] = xy + delta.view(b, *[1] * (xy.dim() - 2), 2)
    return shifted, moved


PRIVILEGED_POINTS = ("prize", "prize_parts")
"""The built-in tasks' privileged image coordinates (the oracle's targets): they move with an augmented image."""


def augment_obs(obs: dict[str, Tensor], augment: str, pad: int) -> dict[str, Tensor]:
    """``obs`` with its images augmented by ``augment`` ('none': unchanged; 'shift': :func:`random_shift` by ``pad``)
    and its privileged points (``prize``, ``prize_parts``) moved with them; the other keys (state) as they were."""
    check_choice("augment", augment, AUGMENTS)
    if augment == "none":
        return obs
    rgb, moved = _shift(obs["rgb"], pad, {k: obs[k] for k in PRIVILEGED_POINTS if k in obs})
    return {**obs, "rgb": rgb, **moved}
