"""CNN encoders that turn RGB observations into the feature map the attention works on.

Both encoders return the *map* (B, C, h, w), not a vector: the attention weights its cells, and the agent then
flattens it and applies ManiSkill's ``Linear(C*h*w, 256) + ReLU`` projection.

* :class:`NatureCNN` is the conv stack of ManiSkill3's ``ppo_rgb`` baseline (Mnih et al., 2015). At 128x128 it
  gives a 12x12 map, but at 64x64 only 4x4, too coarse for a fovea to pick anything out.
* :class:`FineNatureCNN` halves NatureCNN's channels (16/32/32) and uses stride 1 in its second layer: a 10x10 map
  at 64x64 for about NatureCNN's training cost (forward + backward of 256 images on 2 idle CPU cores: 31 ms vs
  34 ms). Receptive field of a cell: 28 pixels (NatureCNN: 36). It is meant for 64x64 images; at 128x128 its 26x26
  map makes the agent's projection large, and NatureCNN's 12x12 map is already fine enough.
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from torch import Tensor, nn

from gazelab.core.checks import check_choice, check_int, check_tensor

__all__ = ["NatureCNN", "FineNatureCNN", "EncoderKind", "ENCODER_KINDS", "make_encoder"]


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


class _ConvEncoder(nn.Module):
    """Three Conv+ReLU layers (no padding) on NHWC images; subclasses give the layer spec."""

    # (out_channels, kernel, stride) per layer.
    LAYERS: tuple[tuple[int, int, int], ...] = ()

    def __init__(self, image_size: int = 128, in_channels: int = 3):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int(f"image_size of {type(self).__name__}", image_size, self.min_image_size())
        layers, channels, size = [], in_channels, image_size
        for out, kernel, stride in self.LAYERS:
            layers += [nn.Conv2d(channels, out, kernel_size=kernel, stride=stride), nn.ReLU()]
            channels, size = out, _conv_out(size, kernel, stride)
        self.net = nn.Sequential(*layers)
        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels: int = channels
        self.map_size: tuple[int, int] = (size, size)

    @classmethod
    def min_image_size(cls) -> int:
        """Smallest square input whose feature map is at least 1x1."""
        size = 1
        for _, kernel, stride in reversed(cls.LAYERS):
            size = (size - 1) * stride + kernel
        return size

    # ------------------------------------------------------------------ where the map's cells look in the image
    def map_geometry(self) -> tuple[Tensor, Tensor]:
        """(scale (2,), offset (2,)) float64 tensors with ``image_xy = map_xy * scale + offset`` (x = column, y = row).

        The map's cell centres span [-1, 1] (the convention of :mod:`gazelab.method.attention`), but with unpadded
        convolutions the centre of the first cell's receptive field lies ``start = sum_l (k_l - 1) / 2 * jump_l``
        pixels from the image border (``jump_l`` = product of the strides before layer l) and cells are ``jump`` =
        product of all strides apart. So the map covers only the middle of the image: FineNatureCNN at 64 px
        centres its 10 cells on pixels 13.5 ... 49.5, i.e. image coordinates -0.57 ... 0.57 (scale 0.571, offset
        0); NatureCNN at 128 px drops the last 4 pixel rows and columns (offset -0.03).
        """
        start, jump = 0.0, 1
        for _, kernel, stride in self.LAYERS:
            start += (kernel - 1) / 2 * jump
            jump *= stride
        h, w = self.map_size
        scale = torch.tensor([jump * (w - 1), jump * (h - 1)], dtype=torch.float64) / (self.image_size - 1)
        offset = -1 + 2 * start / (self.image_size - 1) + scale  # image coordinate of map coordinate 0
        return scale, offset

    def map_to_image(self, xy: Tensor) -> Tensor:
        """Points (..., 2) in feature-map coordinates -> image coordinates (both span [-1, 1] on their own grid)."""
        scale, offset = (t.to(xy) for t in self.map_geometry())
        return xy * scale + offset

    def image_to_map(self, xy: Tensor) -> Tensor:
        """Points (..., 2) in image coordinates -> feature-map coordinates (the inverse of :meth:`map_to_image`)."""
        scale, offset = (t.to(xy) for t in self.map_geometry())
        return (xy - offset) / scale

    def cell_centres(self) -> Tensor:
        """(h * w, 2) image coordinates (x, y) of the feature-map cells, row-major like ``fmap.flatten(2)``."""
        h, w = self.map_size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        return self.map_to_image(torch.stack([xs.flatten(), ys.flatten()], 1))

    def forward(self, rgb: Tensor) -> Tensor:
        """rgb (B, H, W, C) uint8 in [0, 255] (or float already in [0, 1]) -> feature map (B, out_channels, h, w).

        Divides uint8 input by 255 and moves channels first, like ManiSkill's ``ppo_rgb`` agent.
        """
        expected = (self.image_size, self.image_size, self.in_channels)
        check_tensor("rgb", rgb, (None, *expected), f"(B, {', '.join(map(str, expected))})")
        x = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
        return self.net(x.permute(0, 3, 1, 2))


class NatureCNN(_ConvEncoder):
    """ManiSkill3 ``ppo_rgb`` NatureCNN conv stack: 32@8x8/4, 64@4x4/2, 64@3x3/1, ReLU after each.

    Map size: 4x4 at 64x64 input, 12x12 at 128x128. ``out_channels = 64``, ``map_size = (h, w)``.
    """

    LAYERS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))


class FineNatureCNN(_ConvEncoder):
    """A slimmer NatureCNN with a finer map: 16@8x8/4, 32@4x4/1, 32@3x3/1, ReLU after each.

    Map size: 10x10 at 64x64 input, 26x26 at 128x128. ``out_channels = 32``, ``map_size = (h, w)``.

    Why: a fovea on NatureCNN's 4x4 map at 64 px can only pick one of 16 coarse cells; stride 1 in the last two
    layers gives a 10x10 map. Why slim: on 2 CPU cores PPO's update (8 epochs x 8 minibatches) is almost all
    encoder backward passes; with 32/32/64 channels a 128-image forward+backward took 69 ms (2 threads, on a busy
    machine, 2026-11-25), with 16/32/32 it takes 30 ms, and PPO on the built-in tasks runs about twice as many
    steps per second.
    """

    LAYERS = ((16, 8, 4), (32, 4, 1), (32, 3, 1))


EncoderKind = Literal["nature", "fine"]
ENCODER_KINDS = typing.get_args(EncoderKind)
_ENCODER_CLASSES = {"nature": NatureCNN, "fine": FineNatureCNN}


def make_encoder(kind: str, image_size: int, in_channels: int = 3) -> nn.Module:
    """Build an encoder by name: ``"nature"`` (:class:`NatureCNN`) or ``"fine"`` (:class:`FineNatureCNN`)."""
    return _ENCODER_CLASSES[check_choice("kind", kind, ENCODER_KINDS)](image_size=image_size, in_channels=in_channels)
