"""Batched sprite rasteriser for the built-in tasks: discs and squares, one scatter per shape for the whole batch.

Each shape is a *sprite*: the list of pixel offsets it covers around its centre. Painting ``L`` shapes into ``N``
images is one scatter of packed colours per shape, back to front (painter's order). Cost grows with the number of
covered pixels, not with ``H * W * L`` as a dense mask would. ``layer_map`` answers "which shape is on top
where" (for measuring how much of the image the clutter covers).

Coordinates: positions live in the square [-1, 1]^2 with x = column (left -> right) and y = row (top -> bottom);
pixel centres sit at ``linspace(-1, 1, size)``, the convention of ``gazelab.method.attention``.
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
        # Shapes are drawn on a canvas with a margin of `pad` pixels on every side, so no offset of a shape whose
        # centre is clamped to [-reach - 1, size + reach] ever leaves the canvas: no per-pixel bounds test, and a
        # shape whose centre lies further out stays in the margin, i.e. invisible, as it should.
        self.reach = max(int(t.abs().max()) for t in tables)
        self.pad = 2 * self.reach + 1
        self.side = size + 2 * self.pad
        p = max(len(t) for t in tables)
        # Every sprite as P flat offsets on the canvas; shorter sprites repeat their first offset (the same pixel
        # written twice with the same colour changes nothing).
        flat = torch.zeros(len(tables), p, dtype=torch.long)
        for i, t in enumerate(tables):
            offsets = t[:, 1] * self.side + t[:, 0]
            flat[i] = torch.cat([offsets, offsets[:1].expand(p - len(t))])
        self.flat_offsets = flat.to(device)

    def to_pixels(self, pos: Tensor) -> Tensor:
        """(..., 2) positions in [-1, 1] -> (..., 2) integer (col, row) of the nearest pixel centre."""
        return torch.round((pos + 1) * (0.5 * (self.size - 1))).long()

    def _canvas_index(self, centers: Tensor, sprite_ids: Tensor) -> Tensor:
        """(N, L, P) row-major index into each image's padded canvas (side x side) of every pixel of every shape."""
        px = self.to_pixels(centers).clamp(-self.reach - 1, self.size + self.reach) + self.pad  # (N, L, 2)
        return (px[..., 1] * self.side + px[..., 0])[..., None] + self.flat_offsets[sprite_ids]

    def _crop(self, canvas: Tensor) -> Tensor:
        """(N, side*side) canvas -> (N, H, W) view of the image inside the margin."""
        p = self.pad
        return canvas.view(-1, self.side, self.side)[:, p : p + self.size, p : p + self.size]

    def layer_map(self, centers: Tensor, sprite_ids: Tensor) -> Tensor:
        """Layer index per pixel (which shape is on top where).

        Args:
            centers: (N, L, 2) float shape centres in [-1, 1] (may lie partly or fully outside the image).
            sprite_ids: (N, L) long index into the sprite list.
        Returns:
            (N, H*W) uint8: 0 where no shape covers the pixel, else 1 + the index of the topmost shape.
        """
        n, num_layers = sprite_ids.shape
        index = self._canvas_index(centers, sprite_ids)  # (N, L, P)
        layer = torch.arange(1, num_layers + 1, device=self.device, dtype=torch.uint8)
        out = torch.zeros(n, self.side * self.side, dtype=torch.uint8, device=self.device)
        out.scatter_reduce_(1, index.view(n, -1), layer.view(1, -1, 1).expand_as(index).reshape(n, -1), reduce="amax")
        return self._crop(out).reshape(n, -1)

    def draw(self, centers: Tensor, sprite_ids: Tensor, palette: Tensor, background: Tensor | None = None) -> Tensor:
        """Paint L shapes over a background, back to front.

        Args:
            centers: (N, L, 2) float shape centres in [-1, 1] (may lie partly or fully outside the image);
                sprite_ids: (N, L) long index into the sprite list.
            palette: (N, L+1) int32 packed colours (see ``pack``); entry 0 is the plain background, entry l+1
                the colour of shape l.
            background: optional (N, H*W) int32 packed texture (replaces entry 0).
        Returns:
            (N, H, W, 3) uint8 image; where shapes overlap the later one (higher l) wins.
        """
        # One scatter of N*P packed colours per layer, in painter's order: the work grows with the covered pixels
        # (a few thousand per layer) instead of a per-pixel layer map over all N*H*W pixels. Colours travel as
        # one int32 per pixel (RGBA bytes).
        n, num_layers = sprite_ids.shape
        index = self._canvas_index(centers, sprite_ids)  # (N, L, P)
        canvas = palette[:, :1].expand(n, self.side * self.side).clone()
        if background is not None:
            self._crop(canvas).copy_(background.view(n, self.size, self.size))
        for layer in range(num_layers):
            canvas.scatter_(1, index[:, layer], palette[:, layer + 1, None].expand(-1, index.shape[2]))
        return unpack(self._crop(canvas))


def pack(rgb: Tensor) -> Tensor:
    """(..., 3) uint8 colours -> (...) int32 words holding the bytes R, G, B, 0."""
    rgba = torch.cat([rgb, torch.zeros_like(rgb[..., :1])], -1).contiguous()
    return rgba.view(torch.int32).squeeze(-1)


def unpack(words: Tensor) -> Tensor:
    """(...) int32 words from ``pack`` (any strides, last one 1) -> (..., 3) uint8 contiguous colours."""
    rgba = words.unsqueeze(-1).view(torch.uint8)
    out = torch.empty(rgba.shape[:-1] + (3,), dtype=torch.uint8, device=rgba.device)
    for channel in range(3):  # three plain strided copies: ~2x faster on CPU than one copy with a 3-byte inner loop
        out[..., channel] = rgba[..., channel]
    return out
