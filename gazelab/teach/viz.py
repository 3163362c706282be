"""Plots and frame drawing: learning curves, attention overlays and the gaze ellipse.

Plain functions: figures come back as ``matplotlib.figure.Figure`` (nothing is shown or saved here), frames as
``numpy`` uint8 arrays (H, W, 3). Notebooks call them directly or inside an ``ipywidgets.interact``.

The frame drawing (:func:`draw_gaze`, :func:`upscale`, :func:`gaze_ellipse`, :func:`gaze_to_image`) is
:mod:`gazelab.method.drawing`'s, re-exported here for the notebooks: the trainers' videos draw with it too, and
they may not import this module. Drawing happens in image coordinates (the image spans [-1, 1], x = column, y =
row); an agent's gaze is in feature-map coordinates: convert it with :func:`gaze_to_image` before drawing it.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure  # figures without pyplot: no global state, no double display in notebooks

from gazelab.core.checks import check_int
from gazelab.core.errors import GazelabError
from gazelab.method.drawing import as_numpy, draw_gaze, gaze_ellipse, gaze_to_image, upscale

__all__ = [
    "METHOD_COLOURS",
    "label_colours",
    "gaze_ellipse",
    "draw_gaze",
    "upscale",
    "plot_learning_curves",
    "plot_frame_swap",
    "plot_attention",
    "curve_on_grid",
    "plot_fovea",
    "plot_triplet",
    "plot_gaze_timeline",
    "plot_triplet_landscape",
    "plot_embeddings_2d",
    "gaze_to_image",
    "plot_series",
    "plot_variants",
    "plot_fovea_per_seed",
    "plot_success_and_gaze",
    "plot_hand_fovea",
    "plot_placements",
    "plot_transfer",
]

METHOD_COLOURS: dict[str, str] = {"none": "tab:blue", "gaze+contrastive": "tab:orange", "oracle": "tab:green",
                                  "gaze": "tab:red", "patch": "tab:purple"}
"""The colour of each method of ``gazelab.rl.config.METHODS`` in every figure that draws methods, so that a method
keeps its colour from one panel and one notebook to the next."""
OTHER_COLOURS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
"""The colours of labels that are not a method's name, in order of appearance: never a method's colour."""


def label_colours(labels: Iterable[str]) -> dict[str, str]:
    """label -> colour: a method's name gets :data:`METHOD_COLOURS`' colour, any other label the next of
    :data:`OTHER_COLOURS` (cycling when there are more labels than colours)."""
    colours: dict[str, str] = {}
    others = itertools.cycle(OTHER_COLOURS)
    for label in labels:
        if label not in colours:
            colours[label] = METHOD_COLOURS[label] if label in METHOD_COLOURS else next(others)
    return colours


def curve_on_grid(history: Sequence[Mapping[str, float]], key: str, grid: np.ndarray,
                  x: str = "global_step") -> np.ndarray:
    """Values of ``key`` in one run's history, linearly interpolated onto ``grid``; NaN outside the logged range."""
    xs = np.array([row[x] for row in history if key in row], dtype=float)
    ys = np.array([row[key] for row in history if key in row], dtype=float)
    if not len(xs):
        return np.full(len(grid), np.nan)
    return np.interp(grid, xs, ys, left=np.nan, right=np.nan)


def plot_learning_curves(runs: Mapping[str, Sequence[Sequence[Mapping[str, float]]]],
                         key: str = "eval/success_once", x: str = "global_step", *, title: str | None = None,
                         ax=None, num_points: int = 200, colours: Mapping[str, str] | None = None) -> Figure:
    """Learning curves: one line per method, mean over seeds with a min-max band (linear between logged points).

    Args:
        runs: {label: [history of seed 0, history of seed 1, ...]}, each history a list of dicts
            (``TrainResult.history`` or rows of ``history.jsonl``).
        key: scalar to plot (e.g. 'eval/success_once', 'charts/return', 'gaze/sigma_x').
        x: x axis column ('global_step' or 'time').
        title: axes title; ax: draw into this axes instead of a new figure.
        colours: {label: colour} (default: :func:`label_colours` of ``runs``' labels; a method keeps its colour).
    """
    colours = label_colours(runs) if colours is None else colours
    if ax is None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for label, histories in runs.items():
        histories = [h for h in histories if any(key in row for row in h)]
        if not histories:
            continue
        end = max(row[x] for h in histories for row in h if key in row)
        grid = np.linspace(0, end, num_points)
        curves = np.stack([curve_on_grid(h, key, grid, x) for h in histories])
        with warnings.catch_warnings():  # grid points before the first evaluation are NaN for every seed
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(curves, 0), np.nanmin(curves, 0), np.nanmax(curves, 0)
        ax.plot(grid, mean, color=colours[label],
                label=f"{label} (n={len(histories)})" if len(histories) > 1 else label)
        if len(histories) > 1:
            ax.fill_between(grid, low, high, color=colours[label], alpha=0.2)
    ax.set_xlabel("environment steps" if x == "global_step" else x)
    ax.set_ylabel(key)
    if "success" in key:
        ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig


def plot_attention(frames: Iterable[np.ndarray], titles: Iterable[str] | None = None, *, cols: int = 4) -> Figure:
    """A grid of (already drawn) frames, e.g. from :func:`draw_gaze`, with optional titles."""
    frames = list(frames)
    titles = list(titles) if titles is not None else [""] * len(frames)
    rows = max(1, -(-len(frames) // cols))
    fig = Figure(figsize=(2.5 * cols, 2.5 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame, title in zip(axes.flat, frames, titles):
        ax.imshow(frame)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _show_image(ax, image, title: str, **kwargs) -> None:
    ax.imshow(image, **kwargs)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_fovea(frame, weights, weighted, mu, sigma, rho, *, fmap=None, weighted_fmap=None,
               scale: int = 4) -> Figure:
    """The Gaussian fovea on one frame: frame with the gaze ellipses, weight map, weighted image (and maps).

    Args:
        frame: (H, W, 3) uint8 image.
        weights: (H, W) weights in [0, 1] at image resolution (e.g. ``gaussian_map`` with height=H, width=W).
        weighted: (H, W, 3) uint8, the frame multiplied by ``weights``.
        mu, sigma, rho: the gaze, (2,), (2,), scalar (drawn as 1- and 2-sigma ellipses on the frame).
        fmap, weighted_fmap: optional (C, h, w) encoder map before/after the gaze; shown as channel means
            (same colour scale, so the dimming is visible).
        scale: pixel repetition of the frame panel (sharper ellipses on small frames).
    """
    panels = 3 if fmap is None else 5
    fig = Figure(figsize=(2.6 * panels, 2.9))
    axes = fig.subplots(1, panels)
    _show_image(axes[0], draw_gaze(frame, mu, sigma, rho, scale=scale), "frame + gaze (1, 2 sigma)")
    _show_image(axes[1], as_numpy(weights), "weight map", cmap="magma", vmin=0, vmax=1)
    _show_image(axes[2], as_numpy(weighted), "weighted image")
    if fmap is not None:
        before, after = as_numpy(fmap).mean(0), as_numpy(weighted_fmap).mean(0)
        top = float(before.max()) or 1.0
        _show_image(axes[3], before, f"encoder map {before.shape[0]}x{before.shape[1]}\n(channel mean)",
                    cmap="viridis", vmin=0, vmax=top)
        _show_image(axes[4], after, "gazed map\n(channel mean)", cmap="viridis", vmin=0, vmax=top)
    mu, sigma = as_numpy(mu), as_numpy(sigma)
    fig.suptitle(f"mu=({float(mu[0]):+.2f}, {float(mu[1]):+.2f})  sigma=({float(sigma[0]):.2f}, "
                 f"{float(sigma[1]):.2f})  rho={float(as_numpy(rho)):+.2f}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_triplet(frames, returns, titles: Sequence[str] = ("anchor", "positive", "negative"), *,
                 suptitle: str | None = None) -> Figure:
    """Anchor, positive and negative frames side by side, each titled with its return.

    Args:
        frames: three (H, W, 3) uint8 frames (or a (3, H, W, 3) array); returns: three numbers.
    """
    frames, returns = list(frames), [float(r) for r in as_numpy(returns).reshape(-1)]
    if len(frames) != len(titles) or len(returns) != len(titles):
        raise GazelabError(f"frames and returns must hold {len(titles)} items each, got {len(frames)} and {len(returns)}")
    fig = Figure(figsize=(2.6 * len(frames), 2.9))
    for ax, frame, ret, title in zip(fig.subplots(1, len(frames)), frames, returns, titles):
        _show_image(ax, as_numpy(frame), f"{title}\nreturn {ret:.3f}")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gaze_timeline(frames, mu, sigma, rho, step: int, titles: Sequence[str] | None = None, *,
                       scale: int = 4, x: Sequence[float] | None = None, x_label: str = "step") -> Figure:
    """One step of a gaze sequence: the frame with its gaze, and mu / sigma over all steps with a marker at ``step``.

    Args:
        frames: (T, H, W, 3) uint8; mu: (T, 2); sigma: (T, 2); rho: (T,).
        step: the index of the recording shown, 0 <= step < T.
        titles: optional T titles (e.g. "update 40"), shown above the frame.
        x: optional (T,) positions of the recordings on the curves' axis (e.g. the update each was recorded at;
            default: 0 .. T-1), named by ``x_label``.
    """
    mu, sigma, rho = as_numpy(mu), as_numpy(sigma), as_numpy(rho)
    steps = len(mu)
    check_int("step", step, 0, steps - 1)
    fig = Figure(figsize=(8.5, 3.2))
    ax_frame, ax_curve = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    title = titles[step] if titles is not None else f"step {step}"
    _show_image(ax_frame, draw_gaze(as_numpy(frames[step]), mu[step], sigma[step], rho[step], scale=scale), title)
    t = np.arange(steps) if x is None else np.asarray(as_numpy(x), dtype=float).reshape(-1)
    if len(t) != steps:
        raise GazelabError(f"x must hold T={steps} positions, got {len(t)}")
    for values, label, style in ((mu[:, 0], "mu_x", "-"), (mu[:, 1], "mu_y", "-"), (sigma[:, 0], "sigma_x", "--"),
                                 (sigma[:, 1], "sigma_y", "--"), (rho, "rho", ":")):
        ax_curve.plot(t, values, style, label=label)
    ax_curve.axvline(t[step], color="k", alpha=0.4)
    ax_curve.set_xlabel(x_label)
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(fontsize=8, ncol=3, loc="upper right")
    fig.tight_layout()
    return fig


def plot_triplet_landscape(anchor, positive, negative, margin: float = 0.2, *, extent: float = 2.0,
                           resolution: int = 101) -> Figure:
    """Triplet hinge ``max(0, d(a, p) - d(a, n) + margin)`` for every anchor position of a 2-D plane.

    Two panels, Euclidean ``d = |x - y|`` and cosine ``d = 1 - cos(x, y)``, with the positive (green), the negative
    (red) and the given anchor (black star) marked; the white line is where the hinge becomes zero. Titles give the
    loss at the given anchor.

    Args:
        anchor, positive, negative: (2,) points; margin: >= 0; extent: the plane shown is [-extent, extent]^2.
    """
    import torch

    from gazelab.method.contrastive import cosine_distance

    a, p, n = (np.asarray(as_numpy(v), dtype=np.float64).reshape(2) for v in (anchor, positive, negative))
    axis = np.linspace(-extent, extent, resolution)
    grid = np.concatenate([np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2), a[None]])  # anchors; last = a
    g = torch.from_numpy(grid)
    dist = {
        "Euclidean": lambda q: np.linalg.norm(grid - q, axis=1),
        "cosine (1 - cos)": lambda q: cosine_distance(g, torch.from_numpy(q).expand_as(g)).numpy(),
    }
    fig = Figure(figsize=(9, 4))
    for ax, (name, d) in zip(fig.subplots(1, 2), dist.items()):
        hinge = np.maximum(0.0, d(p) - d(n) + margin)
        plane = hinge[:-1].reshape(resolution, resolution)
        image = ax.imshow(plane, origin="lower", extent=(-extent, extent, -extent, extent), cmap="magma")
        if plane.min() == 0 < plane.max():
            ax.contour(axis, axis, plane, levels=[1e-9], colors="white", linewidths=1)
        ax.scatter(*p, c="tab:green", s=60, label="positive", edgecolors="w")
        ax.scatter(*n, c="tab:red", s=60, label="negative", edgecolors="w")
        ax.scatter(*a, c="k", s=90, marker="*", label="anchor", edgecolors="w")
        ax.set_title(f"{name}, margin {margin:.2f}\nloss at the anchor: {hinge[-1]:.3f}", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_embeddings_2d(points, classes, *, title: str = "", ax=None) -> Figure:
    """2-D embeddings (N, 2) coloured by outcome class (N,) (e.g. high vs low return), with the unit circle.

    The unit circle helps to read cosine distance, which only sees the direction of a point.
    """
    points, classes = np.asarray(as_numpy(points), dtype=float), np.asarray(as_numpy(classes))
    if points.ndim != 2 or points.shape[1] != 2 or len(classes) != len(points):
        raise GazelabError(f"points must be (N, 2) and classes (N,), got {points.shape} and {classes.shape}")
    if ax is None:
        fig = Figure(figsize=(4, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    t = np.linspace(0, 2 * np.pi, 100)
    ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
    for value, colour in zip(np.unique(classes), ("tab:red", "tab:green", "tab:blue", "tab:orange")):
        sel = classes == value
        ax.scatter(points[sel, 0], points[sel, 1], c=colour, s=25, label=f"class {value}")
    ax.axhline(0, color="0.9", lw=0.5)
    ax.axvline(0, color="0.9", lw=0.5)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def plot_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str, ylabel: str,
                title: str | None = None, logx: bool = False, ax=None) -> Figure:
    """Simple line plot with markers: ``series`` = {label: (xs, ys)}, one line each (e.g. triplets vs sparsity), in
    :func:`label_colours`' colours."""
    colours = label_colours(series)
    if ax is None:
        fig = Figure(figsize=(5.5, 3.6))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for label, (xs, ys) in series.items():
        ax.plot(as_numpy(xs), as_numpy(ys), "o-", color=colours[label], label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_fovea_per_seed(rows: Sequence[Mapping], labels: Sequence[str], *, target: float | None = 0.7,
                        title: str | None = None) -> Figure:
    """Where each seed's gaze ended: one dot per seed of ``rows`` (:func:`gazelab.experiments.sweep.variant_rows`, their
    ``gaze_per_seed``), at its final fovea-to-prize distance divided by a centred fovea's (1 = no better than the
    centre; below: nearer the prize), its size the spread of the fovea's centre across frames (mu std: a parked
    fovea is a small dot). ``target``: a dashed line (e.g. issue 20's 0.7). Rows without a gaze are refused."""
    if len(labels) != len(rows):
        raise GazelabError(f"labels must name every row: got {len(labels)} labels for {len(rows)} rows")
    missing = [label for row, label in zip(rows, labels) if not any("prize_distance" in g for g in row["gaze_per_seed"])]
    if missing or not rows:
        raise GazelabError(f"rows without a gaze to plot: {missing or 'none given'}")
    fig = Figure(figsize=(8, 0.5 * len(rows) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        colour = METHOD_COLOURS.get(row.get("method"), "0.3")
        seeds = [g for g in row["gaze_per_seed"] if "prize_distance" in g]
        ratios = np.array([g["prize_distance"] / g["centre_distance"] for g in seeds])
        spread = np.array([g["mu_std"] for g in seeds])
        jitter = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        ax.scatter(ratios, yi + jitter, s=20 + 400 * spread, color=colour, alpha=0.7, edgecolor="k", linewidth=0.5)
    ax.axvline(1.0, color="0.5", lw=1, label="a centred fovea")
    if target is not None:
        ax.axvline(target, color="0.3", lw=1, ls="--", label=f"{target:g} x the centred fovea's distance")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("final fovea -> prize / centred fovea -> prize, per seed (dot size: mu std)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_variants(rows: Sequence[Mapping], labels: Sequence[str], *, threshold: float = 0.5,
                  title: str | None = None) -> Figure:
    """Sweep results side by side (rows of :func:`gazelab.experiments.sweep.variant_rows`, one label each, top to bottom).

    Left: steps to ``threshold`` success, mean bar with the std as error bar and one dot per seed (hollow dots: the
    seed never reached it and counts at its budget). Right, for rows with a gaze: the fovea's final distance to the
    prize (image units) next to a centred fovea's, the question "did the gaze find the prize?". A row's bars and
    dots have its method's colour (:data:`METHOD_COLOURS`; dark grey for a row without a known ``method``).
    """
    if len(labels) != len(rows):
        raise GazelabError(f"labels must name every row: got {len(labels)} labels for {len(rows)} rows")
    if not rows:
        raise GazelabError("rows is empty: no sweep matched (check the tag patterns and the results directory)")
    fig = Figure(figsize=(11, 0.45 * len(rows) + 1.4))
    steps_ax, gaze_ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        colour = METHOD_COLOURS.get(row.get("method"), "0.3")
        steps_ax.barh(yi, row["steps_to_threshold_mean"], xerr=row["steps_to_threshold_std"], color=colour,
                      alpha=0.35, capsize=3)
        for steps in row.get("steps_per_seed", []):
            censored = steps is None
            steps_ax.plot(row["budget"] if censored else steps, yi, "o", color=colour,
                          mfc="none" if censored else colour, ms=4)
        if "prize_distance" in row:
            gaze_ax.barh(yi + 0.18, row["prize_distance"], height=0.36, color=colour,
                         label="learned fovea (the method's colour)")
        if "centre_distance" in row:
            gaze_ax.barh(yi - 0.18, row["centre_distance"], height=0.36, color="0.7", label="centred fovea")
    steps_ax.set_yticks(y, labels, fontsize=8)
    steps_ax.set_xlabel(f"env steps to {threshold:g} success (dots: seeds)")
    gaze_ax.set_xlabel("fovea -> prize, final eval (image units)")
    handles, names = gaze_ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    if unique:
        gaze_ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")
    for ax in (steps_ax, gaze_ax):
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_success_and_gaze(runs: Mapping[str, Sequence[Sequence[Mapping[str, float]]]], *,
                          title: str = "") -> Figure:
    """Runs of several methods, two panels: evaluation success vs env steps (mean, min-max over seeds), and for the
    runs whose evaluations log a gaze (``eval/prize_distance``) the fovea's distance to the prize vs env steps, with
    a dashed line at the mean distance of a fovea fixed at the centre over the same evaluations (image units).

    ``runs``: {label: [history rows of each seed]}, e.g. from :func:`gazelab.experiments.sweep.histories`. A label
    has the same colour in both panels (:func:`label_colours`)."""
    fig = Figure(figsize=(11, 3.6))
    success_ax, gaze_ax = fig.subplots(1, 2)
    colours = label_colours(runs)
    plot_learning_curves(runs, "eval/success_once", ax=success_ax, title=f"eval success{title}", colours=colours)
    gazed = {label: histories for label, histories in runs.items()
             if any("eval/prize_distance" in row for history in histories for row in history)}
    plot_learning_curves(gazed, "eval/prize_distance", ax=gaze_ax, title="fovea to goal (image units)",
                         colours=colours)
    centred = [row["eval/centre_distance"] for histories in gazed.values() for history in histories
               for row in history if "eval/centre_distance" in row]
    if centred:
        gaze_ax.axhline(float(np.mean(centred)), color="grey", ls="--", lw=1, label="a centred fovea")
        gaze_ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _to_pixels(xy, size: int) -> np.ndarray:
    """Image coordinates (..., 2) -> pixel coordinates (column, row) of a ``size``-pixel square image."""
    return (np.asarray(as_numpy(xy), dtype=float) + 1) * (size - 1) / 2


def plot_hand_fovea(frame, mu, sigma: float, numbers, *, goal=None, goals=None, map_extent=None,
                    margin: float = 0.2, scale: int = 4) -> Figure:
    """A hand-placed fovea and what the mined triplets say about it (the figure of notebook 5's explorer).

    Left: the frame with the fovea (1- and 2-sigma circles, the rest dimmed), the recorded goals as dots and the square
    the feature map's cells cover. Right: the four numbers of :class:`gazelab.teach.landscape.FoveaNumbers` as bars,
    each with its reference: the margin for the triplet loss (what views that cannot tell positive from negative
    score), a coin flip for the separated share, chance for the weight on the goal.

    Args:
        frame: (H, W, 3) uint8 (square); mu: (2,) and sigma (a number): the fovea, image units.
        numbers: a :class:`~gazelab.teach.landscape.FoveaNumbers` (anything with its attributes).
        goal: optional (2,) this frame's goal (image units), drawn as a ring.
        goals: optional (G, 2) goal positions (image units) drawn as dots (e.g. one per recorded episode).
        map_extent: optional (2,) half-sides of the square the map's cell centres cover (FineNatureCNN at 64 px:
            0.571; ``encoder.map_geometry()[0]``).
        margin: the triplet loss's margin.
    """
    from gazelab.method.attention import gaussian_map
    import torch

    frame = as_numpy(frame).astype(np.uint8)
    size = frame.shape[0]
    mu = np.asarray(as_numpy(mu), dtype=float).reshape(2)
    weights = gaussian_map(torch.tensor(mu, dtype=torch.float32)[None], torch.full((1, 2), float(sigma)),
                           torch.zeros(1), frame.shape[0], frame.shape[1])[0]
    fig = Figure(figsize=(10, 4.2))
    ax_frame, ax_bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    drawn = draw_gaze(frame, mu, np.full(2, float(sigma)), 0.0, weights=weights.numpy(), scale=scale, dim=0.6)
    _show_image(ax_frame, drawn, f"fovea mu=({mu[0]:+.2f}, {mu[1]:+.2f}), sigma={float(sigma):.2f} (image units)")
    pixels = size * scale
    if goals is not None:
        g = _to_pixels(goals, pixels).reshape(-1, 2)
        ax_frame.scatter(g[:, 0], g[:, 1], s=9, c="tab:green", edgecolors="white", linewidths=0.4,
                         label="recorded goals")
    if goal is not None:
        gx, gy = _to_pixels(goal, pixels).reshape(2)
        ax_frame.scatter([gx], [gy], s=160, facecolors="none", edgecolors="red", linewidths=1.5,
                         label="this frame's goal")
    if map_extent is not None:
        (x0, y0), (x1, y1) = _to_pixels(-np.asarray(map_extent, float), pixels), _to_pixels(map_extent, pixels)
        ax_frame.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], "--", color="tab:cyan", lw=0.8,
                      label="map's cell centres")
    if goal is not None or goals is not None or map_extent is not None:
        ax_frame.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    rows = [("triplet loss", numbers.triplet_loss, margin, f"margin {margin:.2f}"),
            ("separated: d(a,p) < d(a,n)", numbers.separated, 0.5, "coin flip 0.5"),
            ("weight on the goal", numbers.goal_weight, numbers.goal_weight_chance,
             f"chance {numbers.goal_weight_chance:.2f}"),
            ("positives from own episode", numbers.positive_same_episode, None, "")]
    y = np.arange(len(rows))[::-1]
    colours = ("tab:purple", "tab:orange", "tab:green", "tab:blue")
    for yi, (name, value, ref, ref_name), colour in zip(y, rows, colours):
        ax_bars.barh(yi, value, color=colour, alpha=0.75)
        ax_bars.text(value + 0.01, yi, f"{value:.3f}" if name == "triplet loss" else f"{value:.2f}",
                     va="center", fontsize=9)
        if ref is not None:
            ax_bars.plot([ref, ref], [yi - 0.4, yi + 0.4], color="k", lw=1.5)
            ax_bars.text(ref, yi + 0.42, ref_name, fontsize=7, ha="center")
    ax_bars.set_yticks(y, [r[0] for r in rows], fontsize=9)
    ax_bars.set_xlim(0, 1.1)
    ax_bars.grid(axis="x", alpha=0.3)
    ax_bars.set_title(f"{numbers.triplets} mined triplets; neighbours: {numbers.neighbours}, compared: "
                      f"{numbers.fovea}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_placements(table: Mapping[str, Mapping[str, object]], *, margin: float = 0.2,
                    title: str | None = None) -> Figure:
    """The numbers of :class:`gazelab.teach.landscape.FoveaNumbers` for placed foveas, as grouped bars.

    ``table``: {setting: {placement: FoveaNumbers}}, e.g. {"any, anchor": {"goal@0.25": ..., "centre@0.6": ...}}: one
    group of bars per placement, one bar per setting (in order). Three panels: the share of triplets separated
    (a coin flip 0.5 dashed), the triplet loss (the margin dashed) and the weight on the goal (chance dashed); the
    share of positives from the anchor's own episode, which the placement does not change, is in the legend.
    """
    settings = list(table)
    if not settings:
        raise GazelabError("table is empty: no setting to plot")
    placements = list(table[settings[0]])
    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 3)
    width = 0.8 / len(settings)
    x = np.arange(len(placements))
    colours = dict(zip(settings, OTHER_COLOURS[1:] + OTHER_COLOURS[:1]))
    panels = (("separated", "share separated: d(a,p) < d(a,n)"), ("triplet_loss", "triplet loss"),
              ("goal_weight", "weight on the goal"))
    for ax, (attr, name) in zip(axes, panels):
        for i, setting in enumerate(settings):
            values = [getattr(table[setting][p], attr) for p in placements]
            own = getattr(table[setting][placements[0]], "positive_same_episode")
            ax.bar(x + (i - (len(settings) - 1) / 2) * width, values, width, color=colours[setting],
                   label=f"{setting} (positives from own episode {own:.2f})")
        if attr == "separated":
            ax.axhline(0.5, color="k", ls="--", lw=1)
            ax.set_ylim(0, 1)
        elif attr == "triplet_loss":
            ax.axhline(margin, color="k", ls="--", lw=1)
        else:
            chance = np.mean([getattr(table[s][p], "goal_weight_chance") for s in settings for p in placements])
            ax.axhline(chance, color="k", ls="--", lw=1)
            ax.text(len(placements) - 0.5, chance, f"chance {chance:.2f}", fontsize=7, ha="right", va="bottom")
        ax.set_xticks(x, [str(p).replace("@", "\nsigma ") for p in placements], fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=min(len(settings), 2), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.05 * -(-len(settings) // 2), 1, 1))
    return fig


def plot_transfer(result: Mapping) -> Figure:
    """Policies evaluated on clutter they never saw (``benchmarks/generalisation.py``'s JSON): success per level
    (IQM over seeds with its 95% interval, a dot per seed) and, for the methods with a gaze, the fovea's distance to
    the prize (dashed: a fovea fixed at the centre). The trained level is the first, marked "(trained)"."""
    levels = list(result["levels"])
    entries = list(result["methods"].values())
    colours = label_colours(e["label"] for e in entries)
    gazes = [e for e in entries if "prize_distance" in e]
    fig = Figure(figsize=(12 if gazes else 7, 3.8))
    axes = fig.subplots(1, 2 if gazes else 1, squeeze=False)
    x = np.arange(len(levels))
    panels = [(axes[0, 0], entries, "success", "success (deterministic policy)")]
    if gazes:
        panels.append((axes[0, 1], gazes, "prize_distance", "fovea -> prize (image units)"))
    for ax, group, key, ylabel in panels:
        width = 0.8 / len(group)
        for i, entry in enumerate(group):
            offset = x - 0.4 + width * (i + 0.5)
            summary = entry[f"{key}_summary"]
            low, mid, high = (np.array([summary[level]["iqm"][j] for level in levels]) for j in range(3))
            ax.errorbar(offset, mid, yerr=[mid - low, high - mid], fmt="o", ms=6, capsize=3,
                        color=colours[entry["label"]], label=entry["label"])
            for j, level in enumerate(levels):
                values = entry[key][level]
                ax.scatter(np.full(len(values), offset[j]) + width * 0.25, values, s=9, alpha=0.5,
                           color=colours[entry["label"]])
        if key == "prize_distance":
            ax.axhline(np.mean([e["centre_distance"] for e in group]), ls="--", color="0.5", lw=1,
                       label="fovea fixed at the centre")
        ax.set_xticks(x, [levels[0] + "\n(trained)"] + levels[1:], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"trained on {levels[0]}, evaluated on clutter never seen ({result['episodes']} episodes per seed "
                 f"and level)", fontsize=10)
    axes[0, 0].legend(fontsize=8, ncol=len(entries), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


FRAME_LABELS = {"true": "its own frames", "other_episodes": "frames of\nother episodes", "grey": "grey frames"}


def plot_frame_swap(result: Mapping) -> Figure:
    """Final policies played on their own frames, on frames of other episodes and on grey frames
    (``benchmarks/frame_swap.py``'s JSON): success per method (IQM over seeds with its 95% interval, a dot per seed),
    and a random policy's success on the same episodes (dashed). A policy that reads the goal from the pixels falls to
    the dashed line once the frames are not its own."""
    entries = list(result["methods"].values())
    frames = list(entries[0]["success"])
    colours = label_colours(e["label"] for e in entries)
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    x, width = np.arange(len(frames)), 0.8 / len(entries)
    for i, entry in enumerate(entries):
        offset = x - 0.4 + width * (i + 0.5)
        low, mid, high = (np.array([entry["iqm"][f][j] for f in frames]) for j in range(3))
        ax.errorbar(offset, mid, yerr=[mid - low, high - mid], fmt="o", ms=6, capsize=3,
                    color=colours[entry["label"]], label=entry["label"])
        for j, f in enumerate(frames):
            values = entry["success"][f]
            ax.scatter(np.full(len(values), offset[j]) + width * 0.25, values, s=9, alpha=0.5,
                       color=colours[entry["label"]])
    ax.axhline(result["random_policy"], ls="--", color="0.5", lw=1, label="random actions")
    ax.set_xticks(x, [FRAME_LABELS.get(f, f) for f in frames], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success (deterministic policy)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"what the policy reads from the pixels ({result['episodes']} episodes per seed)", fontsize=10)
    ax.legend(fontsize=8, ncol=len(entries) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    fig.tight_layout()
    return fig
