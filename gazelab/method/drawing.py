"""The fovea drawn on a frame: the gaze ellipse, the weight map's shading, and the map -> image conversion that puts
a gaze where it looks.

Below the trainers and the notebooks alike: the videos a run captures during training (:mod:`gazelab.rl.video`) and
the notebooks' figures (:mod:`gazelab.teach.viz`, which re-exports these) draw with the same functions.

Drawing happens in image coordinates: the image spans [-1, 1] on both axes, x = column, y = row (downwards); the
centre of pixel column i of a W-wide image is at x = -1 + 2 i / (W - 1). An agent's gaze is in feature-map
coordinates (:mod:`gazelab.method.attention`): convert it with :func:`gaze_to_image` before drawing it on a frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GAZE_COLOUR", "as_numpy", "gaze_ellipse", "upscale", "draw_gaze", "gaze_to_image"]

GAZE_COLOUR = (255, 230, 0)


def as_numpy(x) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def gaze_ellipse(mu, sigma, rho, width: int, height: int, n_std: float = 1.0, num: int = 64) -> np.ndarray:
    """Pixel coordinates (num, 2) as (column, row) of the ``n_std`` contour of the gaze Gaussian.

    Args:
        mu: (2,) centre (x, y) in image coordinates ([-1, 1]); sigma: (2,) spreads; rho: correlation in (-1, 1).
        width, height: image size in pixels (the drawn image, any scale).
    """
    mu, sigma, rho = as_numpy(mu).astype(float), as_numpy(sigma).astype(float), float(as_numpy(rho))
    cov = np.array([[sigma[0] ** 2, rho * sigma[0] * sigma[1]], [rho * sigma[0] * sigma[1], sigma[1] ** 2]])
    chol = np.linalg.cholesky(cov)  # x = mu + L u maps the unit circle onto the 1-sigma contour
    t = np.linspace(0, 2 * np.pi, num)
    pts = mu[None] + n_std * (np.stack([np.cos(t), np.sin(t)], 1) @ chol.T)
    return np.stack([(pts[:, 0] + 1) * (width - 1) / 2, (pts[:, 1] + 1) * (height - 1) / 2], 1)


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, 3) -> (H*scale, W*scale, 3) by pixel repetition (keeps the crisp pixels of small frames)."""
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def draw_gaze(frame, mu=None, sigma=None, rho=None, *, weights=None, scale: int = 4, dim: float = 0.45,
              colour: tuple[int, int, int] = GAZE_COLOUR) -> np.ndarray:
    """Frame (H, W, 3) uint8 -> upscaled copy with the attention drawn on it.

    * ``weights`` (h, w) in [0, 1] (any attention): pixels are darkened where the weight is low,
      ``pixel * (1 - dim + dim * weight)`` with the map upsampled (bilinear) to the frame.
    * ``mu``, ``sigma``, ``rho`` (gaze): the 1- and 2-sigma ellipses and a cross at the centre; (K, 2), (K, 2),
      (K,) for a gaze of K foveae: each one's.

    Returns:
        (H*scale, W*scale, 3) uint8.
    """
    frame = upscale(as_numpy(frame).astype(np.uint8), scale)
    height, width = frame.shape[:2]
    if weights is not None:
        w = Image.fromarray((np.clip(as_numpy(weights), 0, 1) * 255).astype(np.uint8)).resize((width, height),
                                                                                              Image.BILINEAR)
        shade = 1 - dim + dim * (np.asarray(w, dtype=np.float32)[..., None] / 255)
        frame = (frame * shade).astype(np.uint8)
    if mu is None:
        return frame
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    mu, sigma, rho = as_numpy(mu), as_numpy(sigma), as_numpy(rho)
    arm = max(2, scale)
    for m, s, r in zip(mu.reshape(-1, 2), sigma.reshape(-1, 2), rho.reshape(-1)):
        for n_std, line in ((1.0, 2), (2.0, 1)):
            pts = gaze_ellipse(m, s, r, width, height, n_std)
            draw.line([tuple(p) for p in pts], fill=colour, width=line)
        cx, cy = gaze_ellipse(m, np.full(2, 1e-6), 0.0, width, height, 0.0, 1)[0]
        draw.line([(cx - arm, cy), (cx + arm, cy)], fill=colour, width=1)
        draw.line([(cx, cy - arm), (cx, cy + arm)], fill=colour, width=1)
    return np.asarray(image)


def gaze_to_image(mu, sigma, encoder) -> tuple[np.ndarray, np.ndarray]:
    """A gaze in feature-map coordinates -> the same gaze in image coordinates, for drawing it on the frame.

    The map covers only the middle of the image (see :meth:`gazelab.method.encoders.FineNatureCNN.map_geometry`):
    ``mu_img = mu * scale + offset`` and ``sigma_img = sigma * scale``.

    Args:
        mu: (..., 2) centres and sigma: (..., 2) spreads in map coordinates (numpy or tensors).
        encoder: a :mod:`gazelab.method.encoders` encoder.

    Returns:
        (mu_img, sigma_img) numpy arrays of the input shapes, in image coordinates.
    """
    scale, offset = (t.numpy().astype(float) for t in encoder.map_geometry())
    return as_numpy(mu) * scale + offset, as_numpy(sigma) * scale
