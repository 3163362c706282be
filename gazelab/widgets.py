"""ipywidgets front-ends for the notebooks: the fovea explorer, the triplet browser and the gaze timeline.

Each function first displays a static figure (a :mod:`gazelab.viz` function), so an executed notebook reads well on
GitHub, then returns an ``ipywidgets.interactive`` whose sliders redraw the same figure in JupyterLab. Leave the
returned widget as the last expression of a cell to show it. Without a frontend (nbmake, pytest) everything
still runs: the sliders are plain objects, and setting ``widget.children[i].value`` calls the update.

After every update ``widget.result`` holds what was drawn (e.g. a :class:`FoveaView`), so tests and curious
students can look at the numbers behind the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets
import numpy as np
import torch
from IPython.display import display
from torch import Tensor

from gazelab import viz
from gazelab.attention import gaussian_map

__all__ = ["FoveaView", "fovea_view", "fovea_explorer", "triplet_browser", "gaze_timeline"]

_SLIDER = dict(continuous_update=False, readout_format=".2f")


def _frame_array(frame, name: str = "frame") -> np.ndarray:
    array = frame.detach().cpu().numpy() if isinstance(frame, Tensor) else np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 image, got shape {array.shape} dtype {array.dtype}")
    return array


@dataclass
class FoveaView:
    """One gaze applied to one frame (and optionally to its encoder map)."""

    weights: np.ndarray
    """(H, W) Gaussian weights at image resolution, ``gaussian_map(mu, sigma, rho, H, W)[0]``."""
    weighted: np.ndarray
    """(H, W, 3) uint8: the frame times ``weights``."""
    fmap: np.ndarray | None = None
    """(C, h, w) encoder feature map of the frame, or None without an encoder."""
    fmap_weights: np.ndarray | None = None
    """(h, w) the same gaze on the map's grid (what the agent really multiplies), or None."""
    weighted_fmap: np.ndarray | None = None
    """(C, h, w) ``fmap * fmap_weights``, or None."""


def fovea_view(frame, mu, sigma, rho, *, fmap: Tensor | None = None) -> FoveaView:
    """Apply one gaze to a frame (H, W, 3) uint8 and, if given, to its feature map ``fmap`` (C, h, w).

    mu: (mu_x, mu_y) in [-1, 1]; sigma: (sigma_x, sigma_y) > 0; rho in (-1, 1) (see gazelab.attention).
    """
    frame = _frame_array(frame)
    mu_t = torch.as_tensor(mu, dtype=torch.float32).reshape(1, 2)
    sigma_t = torch.as_tensor(sigma, dtype=torch.float32).reshape(1, 2)
    rho_t = torch.as_tensor(rho, dtype=torch.float32).reshape(1)
    weights = gaussian_map(mu_t, sigma_t, rho_t, frame.shape[0], frame.shape[1])[0].numpy()
    view = FoveaView(weights, (frame * weights[..., None]).astype(np.uint8))
    if fmap is not None:
        if fmap.ndim != 3:
            raise ValueError(f"fmap must have shape (C, h, w), got {tuple(fmap.shape)}")
        cell_weights = gaussian_map(mu_t, sigma_t, rho_t, fmap.shape[1], fmap.shape[2])[0]
        view.fmap = fmap.detach().float().cpu().numpy()
        view.fmap_weights = cell_weights.numpy()
        view.weighted_fmap = view.fmap * view.fmap_weights[None]
    return view


def _fovea_figure(frame, view: FoveaView, mu, sigma, rho):
    return viz.plot_fovea(frame, view.weights, view.weighted, mu, sigma, rho, fmap=view.fmap,
                          weighted_fmap=view.weighted_fmap)


def fovea_explorer(frame, *, mu=(0.0, 0.0), sigma=(0.4, 0.4), rho: float = 0.0, encoder=None,
                   show_static: bool = True) -> ipywidgets.interactive:
    """Sliders for mu_x, mu_y, sigma_x, sigma_y, rho over one frame: weight map, weighted image (and map).

    Args:
        frame: (H, W, 3) uint8 image (numpy or tensor).
        mu, sigma, rho: the initial gaze (also the static figure).
        encoder: optional module mapping (1, H, W, 3) uint8 to a feature map (1, C, h, w), e.g. a
            ``gazelab.encoders.FineNatureCNN``; then the gaze is also applied to its map (channel means shown).
        show_static: display the static figure of the initial gaze first.

    Returns:
        The interactive widget; ``.result`` is the :class:`FoveaView` of the current slider values.
    """
    frame = _frame_array(frame)
    fmap = None
    if encoder is not None:
        with torch.no_grad():
            fmap = encoder(torch.from_numpy(frame)[None])[0]
    if show_static:
        display(_fovea_figure(frame, fovea_view(frame, mu, sigma, rho, fmap=fmap), mu, sigma, rho))

    def update(mu_x, mu_y, sigma_x, sigma_y, rho):
        view = fovea_view(frame, (mu_x, mu_y), (sigma_x, sigma_y), rho, fmap=fmap)
        display(_fovea_figure(frame, view, (mu_x, mu_y), (sigma_x, sigma_y), rho))
        return view

    slider = lambda value, low, high, desc: ipywidgets.FloatSlider(  # noqa: E731
        value=float(value), min=low, max=high, step=0.02, description=desc, **_SLIDER)
    return ipywidgets.interactive(
        update,
        mu_x=slider(mu[0], -1.0, 1.0, "mu_x"),
        mu_y=slider(mu[1], -1.0, 1.0, "mu_y"),
        sigma_x=slider(sigma[0], 0.05, 2.0, "sigma_x"),
        sigma_y=slider(sigma[1], 0.05, 2.0, "sigma_y"),
        rho=slider(rho, -0.9, 0.9, "rho"),
    )


def triplet_browser(frames, returns, anchor_idx, positive_idx, negative_idx, *,
                    show_static: bool = True) -> ipywidgets.interactive:
    """A slider over mined triplets showing the anchor, positive and negative frames with their returns.

    Args:
        frames: (N, H, W, 3) uint8 frames, indexed like the buffer the triplets were mined from.
        returns: (N,) returns; anchor_idx, positive_idx, negative_idx: (T,) indices into frames (T >= 1).

    Returns:
        The interactive widget; ``.result`` is the (anchor, positive, negative) index triple shown.
    """
    idx = [torch.as_tensor(i).long().reshape(-1) for i in (anchor_idx, positive_idx, negative_idx)]
    count = len(idx[0])
    if count == 0 or any(len(i) != count for i in idx):
        raise ValueError(f"anchor_idx, positive_idx, negative_idx must be non-empty and of equal length, got "
                         f"{[len(i) for i in idx]}")
    returns = torch.as_tensor(returns).float().reshape(-1)

    def figure(t: int):
        triple = tuple(int(i[t]) for i in idx)
        fig = viz.plot_triplet([_frame_array(frames[j], "frames[i]") for j in triple], returns[list(triple)],
                               suptitle=f"triplet {t} / {count}: buffer rows {triple}")
        return fig, triple

    if show_static:
        display(figure(0)[0])

    def update(triplet):
        fig, triple = figure(triplet)
        display(fig)
        return triple

    return ipywidgets.interactive(update, triplet=ipywidgets.IntSlider(0, 0, count - 1, description="triplet",
                                                                        continuous_update=False))


def gaze_timeline(frames, mu, sigma, rho, titles=None, *, show_static: bool = True) -> ipywidgets.interactive:
    """A slider over steps (of an episode, or of training) showing the gaze on the frame and its parameter curves.

    Args:
        frames: (T, H, W, 3) uint8, or one (H, W, 3) frame used for every step (e.g. the gaze on a fixed frame
            as training goes on).
        mu: (T, 2); sigma: (T, 2); rho: (T,) (numpy or tensors).
        titles: optional T strings shown above the frame (e.g. "update 40").
        show_static: display the figure of the last step first.

    Returns:
        The interactive widget; ``.result`` is the step shown.
    """
    to_np = lambda x: x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)  # noqa: E731
    mu, sigma, rho = to_np(mu).reshape(-1, 2), to_np(sigma).reshape(-1, 2), to_np(rho).reshape(-1)
    steps = len(mu)
    if steps == 0 or len(sigma) != steps or len(rho) != steps:
        raise ValueError(f"mu, sigma, rho must hold the same number T >= 1 of steps, got {len(mu)}, {len(sigma)}, "
                         f"{len(rho)}")
    frames = to_np(frames)
    if frames.ndim == 3:
        frames = np.broadcast_to(_frame_array(frames)[None], (steps, *frames.shape))
    if frames.ndim != 4 or len(frames) != steps:
        raise ValueError(f"frames must be (T={steps}, H, W, 3) or one (H, W, 3) frame, got shape {frames.shape}")
    if titles is not None and len(titles) != steps:
        raise ValueError(f"titles must hold T={steps} strings, got {len(titles)}")
    if show_static:
        display(viz.plot_gaze_timeline(frames, mu, sigma, rho, steps - 1, titles))

    def update(step):
        display(viz.plot_gaze_timeline(frames, mu, sigma, rho, step, titles))
        return step

    return ipywidgets.interactive(update, step=ipywidgets.IntSlider(steps - 1, 0, steps - 1, description="step",
                                                                    continuous_update=False))
