"""Batched sprite rasteriser for the built-in tasks: discs and squares painted with one scatter, no Python loops.

Each shape is a *sprite*: the list of pixel offsets it covers around its centre. Painting ``L`` shapes into ``N``
images means scattering the layer number of every covered pixel with ``amax``, so the shape with the highest
layer number wins where shapes overlap (painter's order without a loop). A palette lookup then turns the layer
map into colours. Cost grows with the number of covered pixels, not with ``H * W * L`` as a dense mask would.

Coordinates: positions live in the square [-1, 1]^2 with x = column (left -> right) and y = row (top -> bottom);
pixel centres sit at ``linspace(-1, 1, size)``, the convention of ``gazelab.attention``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DISC = 0
SQUARE = 1


def sprite_offsets(kind: int, radius: float, size: int) -> Tensor:
    """Pixel offsets (P, 2) as (d_col, d_row) covered by a disc or square of ``radius`` (in [-1,1] units)."""
    r_px = radius * (size - 1) / 2
    reach = max(int(math.floor(r_px)), 0)
    d = torch.arange(-reach, reach + 1)
    dc, dr = torch.meshgrid(d, d, indexing="xy")
    offsets = torch.stack([dc.flatten(), dr.flatten()], dim=1)
    if kind == DISC:
        keep = (offsets.float() ** 2).sum(1) <= (r_px + 0.3) ** 2  # 0.3 px slack: no one-pixel spikes
        offsets = offsets[keep]
    return offsets


class SpriteRasterizer:
    """Paints batches of sprites into layer maps and colour images.

    Args:
        sprites: list of (kind, radius) pairs, kind in {DISC, SQUARE}, radius in [-1, 1] units. A shape picks
            its sprite by index into this list.
        size: image height = width in pixels.
        device: torch device of every tensor it makes.
    """

    def __init__(self, sprites: list[tuple[int, float]], size: int, device: torch.device):
        self.size = size
        self.device = device
        tables = [sprite_offsets(kind, radius, size) for kind, radius in sprites]
        p = max(len(t) for t in tables)
        # Pad every sprite to P offsets; padded entries are marked invalid and land in a dump pixel.
        self.offsets = torch.zeros(len(tables), p, 2, dtype=torch.long)
        self.valid = torch.zeros(len(tables), p, dtype=torch.bool)
        for i, t in enumerate(tables):
            self.offsets[i, : len(t)] = t
            self.valid[i, : len(t)] = True
        self.offsets = self.offsets.to(device)
        self.valid = self.valid.to(device)

    def to_pixels(self, pos: Tensor) -> Tensor:
        """(..., 2) positions in [-1, 1] -> (..., 2) integer (col, row) of the nearest pixel centre."""
        return torch.round((pos + 1) * (0.5 * (self.size - 1))).long()

    def layer_map(self, centers: Tensor, sprite_ids: Tensor) -> Tensor:
        """Layer index per pixel.

        Args:
            centers: (N, L, 2) float shape centres in [-1, 1] (may lie partly or fully outside the image).
            sprite_ids: (N, L) long index into the sprite list.
        Returns:
            (N, H*W) uint8: 0 where no shape covers the pixel, else 1 + the index of the topmost shape.
        """
        n, num_layers = sprite_ids.shape
        hw = self.size * self.size
        px = self.to_pixels(centers)  # (N, L, 2)
        offs = self.offsets[sprite_ids]  # (N, L, P, 2)
        col = px[..., 0, None] + offs[..., 0]
        row = px[..., 1, None] + offs[..., 1]
        inside = self.valid[sprite_ids] & (col >= 0) & (col < self.size) & (row >= 0) & (row < self.size)
        flat = torch.where(inside, row * self.size + col, hw)  # dump pixel hw for invisible offsets
        flat = flat + torch.arange(n, device=self.device).view(n, 1, 1) * (hw + 1)
        layer = torch.arange(1, num_layers + 1, device=self.device, dtype=torch.uint8)
        values = layer.view(1, num_layers, 1).expand_as(flat)
        out = torch.zeros(n * (hw + 1), dtype=torch.uint8, device=self.device)
        out.scatter_reduce_(0, flat.reshape(-1), values.reshape(-1), reduce="amax")
        return out.view(n, hw + 1)[:, :hw]

    def paint(self, layers: Tensor, palette: Tensor, background: Tensor | None = None) -> Tensor:
        """Colour a layer map.

        Args:
            layers: (N, H*W) uint8 from ``layer_map``.
            palette: (N, L+1) int32 packed colours (see ``pack``); entry 0 is the plain background, entry l+1
                the colour of shape l.
            background: optional (N, H*W) int32 packed texture shown where no shape is (replaces entry 0).
        Returns:
            (N, H, W, 3) uint8 image.
        """
        # Colours travel as one int32 per pixel (RGBA bytes): one gather and one where over N*H*W words
        # instead of three times as many bytes.
        img = torch.gather(palette, 1, layers.long())
        if background is not None:
            img = torch.where(layers == 0, background, img)
        return unpack(img).view(-1, self.size, self.size, 3)


def pack(rgb: Tensor) -> Tensor:
    """(..., 3) uint8 colours -> (...) int32 words holding the bytes R, G, B, 0."""
    rgba = torch.cat([rgb, torch.zeros_like(rgb[..., :1])], -1).contiguous()
    return rgba.view(torch.int32).squeeze(-1)


def unpack(words: Tensor) -> Tensor:
    """(...) int32 words from ``pack`` -> (..., 3) uint8 contiguous colours."""
    return words.unsqueeze(-1).view(torch.uint8)[..., :3].contiguous()
