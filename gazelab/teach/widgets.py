"""ipywidgets front-ends for the notebooks: the fovea explorer, the triplet browser, the gaze timeline and the
hand-placed fovea against the mined triplets.

Each function first displays a static figure (a :mod:`gazelab.teach.viz` function), so an executed notebook reads well on
GitHub, then returns a :class:`FigureSliders` whose sliders redraw the same figure in JupyterLab. Leave the
returned widget as the last expression of a cell to show it. Without a frontend (nbmake, pytest) everything
still runs: the sliders are plain objects, and setting ``widget.sliders[name].value`` redraws.

After every redraw ``widget.result`` holds what was drawn (e.g. a :class:`FoveaView`) and ``widget.figure`` the
figure, so tests and curious students can look at the numbers behind the picture.

Why not ``ipywidgets.interactive``: it draws into an ``Output`` widget, and headless executors (nbclient, hence
nbmake) imitate a frontend for Output widgets by sending comm messages on the shell channel while they wait for
the cell's reply on it; on a busy machine that wait sometimes never wakes up (jupyter/nbclient#312) and CI hung
until its timeout. :class:`FigureSliders` shows the figure as a PNG ``ipywidgets.Image`` instead: no Output widget.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable

import ipywidgets
import numpy as np
import torch
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from gazelab.teach import viz
from gazelab.teach.landscape import TripletLandscape
from gazelab.method.attention import gaussian_map
from gazelab.core.errors import GazelabError

__all__ = ["FigureSliders", "FoveaView", "fovea_view", "fovea_explorer", "triplet_browser", "gaze_timeline",
           "hand_fovea_explorer"]

_SLIDER = dict(continuous_update=False, readout_format=".2f")


def _float_slider(value: float, low: float, high: float, description: str) -> "ipywidgets.FloatSlider":
    """The course's float slider: steps of 0.02, redrawn on release (not while dragging: a redraw takes a moment)."""
    return ipywidgets.FloatSlider(value=float(value), min=low, max=high, step=0.02, description=description, **_SLIDER)


def png_bytes(fig: Figure) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


class FigureSliders(ipywidgets.VBox):
    """Sliders above a figure that each slider change redraws (shown as a PNG image).

    Args:
        draw: called with one keyword argument per slider (its current value); returns a matplotlib
            ``Figure``, or a tuple ``(Figure, result)`` to keep something next to the picture in ``.result``.
        sliders: name -> slider widget (e.g. ``ipywidgets.FloatSlider``); the names are ``draw``'s arguments and
            label the sliders that have no description.

    Attributes:
        sliders: the slider widgets by name; setting ``.value`` redraws (also without a frontend).
        figure, result: what the last call of ``draw`` returned (``result`` is None if it returned a figure only).
    """

    def __init__(self, draw: Callable[..., Any], **sliders: ipywidgets.ValueWidget):
        if not sliders:
            raise GazelabError("FigureSliders needs at least one slider")
        self._draw = draw
        self.sliders = sliders
        self.image = ipywidgets.Image(format="png")
        self.figure: Figure | None = None
        self.result: Any = None
        super().__init__([*sliders.values(), self.image])
        for name, slider in sliders.items():
            slider.description = slider.description or name
            slider.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, change=None) -> None:
        out = self._draw(**{name: slider.value for name, slider in self.sliders.items()})
        self.figure, self.result = out if isinstance(out, tuple) else (out, None)
        self.image.value = png_bytes(self.figure)


def _frame_array(frame, name: str = "frame") -> np.ndarray:
    array = frame.detach().cpu().numpy() if isinstance(frame, Tensor) else np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise GazelabError(f"{name} must be an (H, W, 3) uint8 image, got shape {array.shape} dtype {array.dtype}")
    return array


@dataclass
class FoveaView:
    """One gaze applied to one frame (and optionally to its encoder map)."""

    weights: np.ndarray
    """(H, W) Gaussian weights at image resolution: the gaze as it falls on the pixels."""
    weighted: np.ndarray
    """(H, W, 3) uint8: the frame times ``weights``."""
    image_mu: np.ndarray
    """(2,) the gaze centre in image coordinates (equal to the given mu without an encoder)."""
    image_sigma: np.ndarray
    """(2,) the gaze spread in image coordinates (equal to the given sigma without an encoder)."""
    fmap: np.ndarray | None = None
    """(C, h, w) encoder feature map of the frame, or None without an encoder."""
    fmap_weights: np.ndarray | None = None
    """(h, w) ``gaussian_map(mu, sigma, rho, h, w)[0]``: what the agent really multiplies, or None."""
    weighted_fmap: np.ndarray | None = None
    """(C, h, w) ``fmap * fmap_weights``, or None."""


def fovea_view(frame, mu, sigma, rho, *, encoder=None) -> FoveaView:
    """Apply one gaze to a frame (H, W, 3) uint8 and, with an encoder, to the frame's feature map.

    mu: (mu_x, mu_y) in [-1, 1]; sigma: (sigma_x, sigma_y) > 0; rho in (-1, 1) (see gazelab.method.attention).
    Without an encoder the gaze is in image coordinates. With one (a :mod:`gazelab.method.encoders` encoder) it is in
    *feature-map* coordinates, as the agent's gaze is: it weights the map directly, and is converted with
    :func:`gazelab.teach.viz.gaze_to_image` for the pixels (the map's cells only cover the middle of the image, so
    map mu_x = 1 lands well inside the right border).
    """
    frame = _frame_array(frame)
    mu_t = torch.as_tensor(mu, dtype=torch.float32).reshape(1, 2)
    sigma_t = torch.as_tensor(sigma, dtype=torch.float32).reshape(1, 2)
    rho_t = torch.as_tensor(rho, dtype=torch.float32).reshape(1)
    image_mu, image_sigma = mu_t[0].numpy(), sigma_t[0].numpy()
    fmap = cell_weights = None
    if encoder is not None:
        with torch.no_grad():
            fmap = encoder(torch.from_numpy(frame)[None])[0].float().cpu()
        cell_weights = gaussian_map(mu_t, sigma_t, rho_t, fmap.shape[1], fmap.shape[2])[0]
        image_mu, image_sigma = viz.gaze_to_image(image_mu, image_sigma, encoder)
    # rho is unchanged: the conversion scales both axes by the same factor
    weights = gaussian_map(torch.as_tensor(image_mu, dtype=torch.float32).reshape(1, 2),
                           torch.as_tensor(image_sigma, dtype=torch.float32).reshape(1, 2), rho_t,
                           frame.shape[0], frame.shape[1])[0].numpy()
    view = FoveaView(weights, (frame * weights[..., None]).astype(np.uint8), np.asarray(image_mu, np.float32),
                     np.asarray(image_sigma, np.float32))
    if fmap is not None:
        view.fmap = fmap.numpy()
        view.fmap_weights = cell_weights.numpy()
        view.weighted_fmap = view.fmap * view.fmap_weights[None]
    return view


def _fovea_figure(frame, view: FoveaView, rho):
    return viz.plot_fovea(frame, view.weights, view.weighted, view.image_mu, view.image_sigma, rho,
                          fmap=view.fmap, weighted_fmap=view.weighted_fmap)


def fovea_explorer(frame, *, mu=(0.0, 0.0), sigma=(0.4, 0.4), rho: float = 0.0, encoder=None,
                   show_static: bool = True) -> FigureSliders:
    """Sliders for mu_x, mu_y, sigma_x, sigma_y, rho over one frame: weight map, weighted image (and map).

    Args:
        frame: (H, W, 3) uint8 image (numpy or tensor).
        mu, sigma, rho: the initial gaze (also the static figure).
        encoder: optional :mod:`gazelab.method.encoders` encoder, e.g. ``FineNatureCNN(64)``. Then the sliders are in
            feature-map coordinates (like the agent's gaze): the gaze weights the encoder's map (channel means
            shown) and is drawn on the frame converted to image coordinates (see :func:`fovea_view`).
        show_static: display the static figure of the initial gaze first.

    Returns:
        The widget; ``.result`` is the :class:`FoveaView` of the current slider values.
    """
    frame = _frame_array(frame)
    if show_static:
        display(_fovea_figure(frame, fovea_view(frame, mu, sigma, rho, encoder=encoder), rho))

    def draw(mu_x, mu_y, sigma_x, sigma_y, rho):
        view = fovea_view(frame, (mu_x, mu_y), (sigma_x, sigma_y), rho, encoder=encoder)
        return _fovea_figure(frame, view, rho), view

    return FigureSliders(
        draw,
        mu_x=_float_slider(mu[0], -1.0, 1.0, "mu_x"),
        mu_y=_float_slider(mu[1], -1.0, 1.0, "mu_y"),
        sigma_x=_float_slider(sigma[0], 0.05, 2.0, "sigma_x"),
        sigma_y=_float_slider(sigma[1], 0.05, 2.0, "sigma_y"),
        rho=_float_slider(rho, -0.9, 0.9, "rho"),
    )


def triplet_browser(frames, returns, anchor_idx, positive_idx, negative_idx, *,
                    show_static: bool = True) -> FigureSliders:
    """A slider over mined triplets showing the anchor, positive and negative frames with their returns.

    Args:
        frames: (N, H, W, 3) uint8 frames, indexed like the buffer the triplets were mined from.
        returns: (N,) returns; anchor_idx, positive_idx, negative_idx: (T,) indices into frames (T >= 1).

    Returns:
        The widget; ``.result`` is the (anchor, positive, negative) index triple shown.
    """
    idx = [torch.as_tensor(i).long().reshape(-1) for i in (anchor_idx, positive_idx, negative_idx)]
    count = len(idx[0])
    if count == 0 or any(len(i) != count for i in idx):
        raise GazelabError(f"anchor_idx, positive_idx, negative_idx must be non-empty and of equal length, got "
                         f"{[len(i) for i in idx]}")
    returns = torch.as_tensor(returns).float().reshape(-1)

    def figure(triplet: int):
        triple = tuple(int(i[triplet]) for i in idx)
        fig = viz.plot_triplet([_frame_array(frames[j], "frames[i]") for j in triple], returns[list(triple)],
                               suptitle=f"triplet {triplet} / {count}: buffer rows {triple}")
        return fig, triple

    if show_static:
        display(figure(0)[0])

    return FigureSliders(figure, triplet=ipywidgets.IntSlider(0, 0, count - 1, description="triplet",
                                                               continuous_update=False))


def gaze_timeline(frames, mu, sigma, rho, titles=None, *, x=None, x_label: str = "step",
                  show_static: bool = True) -> FigureSliders:
    """A slider over the recordings of a gaze (the steps of an episode, or snapshots taken during training) showing
    the gaze on the frame and its parameter curves.

    Args:
        frames: (T, H, W, 3) uint8, or one (H, W, 3) frame used for every recording (e.g. the gaze on a fixed frame
            as training goes on).
        mu: (T, 2); sigma: (T, 2); rho: (T,) (numpy or tensors).
        titles: optional T strings shown above the frame (e.g. "update 40").
        x: optional (T,) positions of the recordings on the curves' axis, e.g. the training update at which each
            was taken (default 0 .. T-1: episode steps), named by ``x_label`` (e.g. "contrastive update").
        show_static: display the figure of the last recording first.

    Returns:
        The widget (its slider runs over the recordings, 0 .. T-1); ``.result`` is the recording shown.
    """
    to_np = lambda x: x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)  # noqa: E731
    mu, sigma, rho = to_np(mu).reshape(-1, 2), to_np(sigma).reshape(-1, 2), to_np(rho).reshape(-1)
    steps = len(mu)
    if steps == 0 or len(sigma) != steps or len(rho) != steps:
        raise GazelabError(f"mu, sigma, rho must hold the same number T >= 1 of steps, got {len(mu)}, {len(sigma)}, "
                         f"{len(rho)}")
    frames = to_np(frames)
    if frames.ndim == 3:
        frames = np.broadcast_to(_frame_array(frames)[None], (steps, *frames.shape))
    if frames.ndim != 4 or len(frames) != steps:
        raise GazelabError(f"frames must be (T={steps}, H, W, 3) or one (H, W, 3) frame, got shape {frames.shape}")
    if titles is not None and len(titles) != steps:
        raise GazelabError(f"titles must hold T={steps} strings, got {len(titles)}")
    if show_static:
        display(viz.plot_gaze_timeline(frames, mu, sigma, rho, steps - 1, titles, x=x, x_label=x_label))

    def draw(step):
        return viz.plot_gaze_timeline(frames, mu, sigma, rho, step, titles, x=x, x_label=x_label), step

    # the slider picks a recording: an episode step by default, else the index of a snapshot (its x is in the title)
    return FigureSliders(draw, step=ipywidgets.IntSlider(steps - 1, 0, steps - 1,
                                                         description="step" if x is None else "recording",
                                                         continuous_update=False))


def hand_fovea_explorer(landscape: TripletLandscape, *, frame: int = 0, mu=(0.0, 0.0), sigma: float = 0.3,
                        neighbours: str = "any", fovea: str = "anchor", show_static: bool = True) -> FigureSliders:
    """Move the fovea by hand and read what the mined triplets say about it.

    Sliders for the fovea's centre ``mu_x``, ``mu_y`` and spread ``sigma`` (image units: the image spans [-1, 1];
    converted to the map with the encoder's geometry), toggles for where the neighbours come from (``any`` state or
    ``other_episodes`` only) and how a triplet is compared (``anchor``: the anchor's fovea on all three maps;
    ``glimpse``: what each member's fovea sees). The same fovea is placed on every frame
    (:meth:`gazelab.teach.landscape.TripletLandscape.at`); the figure (:func:`gazelab.teach.viz.plot_hand_fovea`)
    shows it on one recorded frame with the recorded goals, and the four numbers: triplet loss, share separated,
    weight on the goal against chance, share of positives from the anchor's own episode.

    Args:
        landscape: a :class:`~gazelab.teach.landscape.TripletLandscape` whose recording keeps its frames (``rgb``).
        frame: the recorded frame drawn.
        mu, sigma, neighbours, fovea: the initial settings (also the static figure).
        show_static: display the static figure of the initial settings first.

    Returns:
        The widget; ``.result`` is the :class:`~gazelab.teach.landscape.FoveaNumbers` of the current settings.
    """
    rec = landscape.recording
    if rec.rgb is None:
        raise GazelabError("the landscape's recording has no frames to draw: record it with keep_rgb=True")
    image = _frame_array(rec.rgb[frame], "recording.rgb[frame]")
    goals = torch.unique(rec.prize, dim=0).numpy()  # the goal stays put within an episode: about one per episode
    extent = landscape.encoder.map_geometry()[0].numpy()

    def draw(mu_x, mu_y, sigma, neighbours, compared):
        numbers = landscape.at((mu_x, mu_y), sigma, neighbours=neighbours, fovea=compared)
        return viz.plot_hand_fovea(image, (mu_x, mu_y), sigma, numbers, goal=rec.prize[frame].numpy(), goals=goals,
                                   map_extent=extent, margin=landscape.margin), numbers

    if show_static:
        display(draw(mu[0], mu[1], sigma, neighbours, fovea)[0])
    return FigureSliders(
        draw,
        mu_x=_float_slider(mu[0], -1.0, 1.0, "mu_x"),
        mu_y=_float_slider(mu[1], -1.0, 1.0, "mu_y"),
        sigma=_float_slider(sigma, 0.05, 1.0, "sigma"),
        neighbours=ipywidgets.ToggleButtons(options=["any", "other_episodes"], value=neighbours,
                                            description="neighbours"),
        compared=ipywidgets.ToggleButtons(options=["anchor", "glimpse"], value=fovea, description="compared"),
    )
