"""Tests of the viz helpers added for the course notebooks 5-9."""

import numpy as np
import pytest
import torch

from gazelab.teach import viz
from gazelab.method.encoders import make_encoder


@pytest.mark.parametrize("kind,size", [("fine", 64), ("nature", 128), ("nature", 64)])
def test_gaze_to_image_matches_receptive_field_centres(kind, size):
    encoder = make_encoder(kind, size)
    h, w = encoder.map_size
    # A 1x1 "image" patch at a pixel: the map cell whose receptive field is centred there responds; here we check
    # the geometry directly: first and last cell centres of an all-ones input's receptive fields.
    start, jump = 0.0, 1
    for _, kernel, stride in encoder.LAYERS:
        start, jump = start + (kernel - 1) / 2 * jump, jump * stride
    first, last = start, start + jump * (w - 1)
    mu_img, sigma_img = viz.gaze_to_image(np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]), np.ones((3, 2)), encoder)
    to_img = lambda p: -1 + 2 * p / (size - 1)  # noqa: E731
    np.testing.assert_allclose(mu_img[0], [to_img(first)] * 2)
    np.testing.assert_allclose(mu_img[1], [to_img(last)] * 2)
    np.testing.assert_allclose(mu_img[2], [to_img((first + last) / 2)] * 2)  # map centre -> middle cell's centre
    assert np.all(sigma_img < 1) and np.all(sigma_img > 0)  # the map covers only the middle of the image
    np.testing.assert_allclose(sigma_img[0], mu_img[1] - mu_img[2])  # sigma scales by the same factor as mu


def test_gaze_to_image_finds_the_cell_that_sees_a_bright_pixel():
    torch.manual_seed(0)
    encoder = make_encoder("fine", 64)
    image = torch.zeros(1, 64, 64, 3)
    image[0, 40, 20] = 1.0  # row 40, column 20
    image.requires_grad_(True)
    fmap = encoder(image)
    # cells whose receptive field contains the pixel: gradient of their sum w.r.t. the pixel is non-zero
    h, w = encoder.map_size
    ys = torch.linspace(-1, 1, h)
    xs = torch.linspace(-1, 1, w)
    mu_img, _ = viz.gaze_to_image(np.stack(np.meshgrid(xs.numpy(), ys.numpy()), -1).reshape(-1, 2),
                                  np.ones((h * w, 2)), encoder)
    pixel = (np.array([20, 40]) / 63) * 2 - 1
    nearest = np.argmin(np.linalg.norm(mu_img - pixel, axis=1))
    row, col = divmod(int(nearest), w)
    grad = torch.autograd.grad(fmap[0, :, row, col].sum(), image)[0]
    assert grad[0, 40, 20].abs().sum() > 0  # the nearest centre's cell does see that pixel


def test_plot_series_draws_one_line_per_label():
    fig = viz.plot_series({"a": ([1, 2, 3], [3, 2, 1]), "b": (np.arange(3), np.ones(3))}, xlabel="x", ylabel="y",
                          title="t", logx=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3, 2, 1])


def _row(steps, budget=1000, gaze=True):
    row = {"steps_to_threshold_mean": float(np.mean([budget if s is None else s for s in steps])),
           "steps_to_threshold_std": 0.0, "steps_per_seed": steps, "budget": budget}
    if gaze:
        row.update(prize_distance=0.2, centre_distance=0.6)
    return row


def test_plot_variants_marks_censored_seeds_at_the_budget_and_names_every_row():
    rows = [_row([100, 300]), _row([500, None], gaze=False)]
    fig = viz.plot_variants(rows, ["gazed", "baseline"])
    steps_ax, gaze_ax = fig.axes
    assert [t.get_text() for t in steps_ax.get_yticklabels()] == ["gazed", "baseline"]  # top to bottom
    dots = {(line.get_xdata()[0], line.get_markerfacecolor() == "none") for line in steps_ax.lines
            if line.get_marker() == "o"}
    assert dots == {(100, False), (300, False), (500, False), (1000, True)}  # the censored seed: hollow, at 1000
    assert len(gaze_ax.patches) == 2  # learned + centred fovea, only for the row with a gaze


def test_plot_fovea_per_seed_puts_a_dot_per_seed_at_its_ratio_to_the_centred_fovea():
    seeds = [{"prize_distance": 0.3, "centre_distance": 0.6, "mu_std": 0.3},
             {"prize_distance": 0.6, "centre_distance": 0.5, "mu_std": 0.05}]
    fig = viz.plot_fovea_per_seed([{"method": "gaze+contrastive", "gaze_per_seed": seeds}], ["late glimpse"])
    (ax,) = fig.axes
    (dots,) = ax.collections
    np.testing.assert_allclose(sorted(dots.get_offsets()[:, 0]), [0.5, 1.2])
    assert dots.get_sizes()[0] > dots.get_sizes()[1]  # the fovea that moves more draws the larger dot
    assert [t.get_text() for t in ax.get_yticklabels()] == ["late glimpse"]
    with pytest.raises(Exception, match="rows without a gaze to plot: \\['cnn'\\]"):
        viz.plot_fovea_per_seed([{"method": "none", "gaze_per_seed": [{}]}], ["cnn"])


def test_plot_variants_refuses_labels_that_do_not_match_the_rows():
    with pytest.raises(Exception, match="2 labels for 1 rows"):
        viz.plot_variants([_row([1])], ["a", "b"])


def test_plot_success_and_gaze_draws_the_gaze_panel_only_for_gazed_runs_with_the_centred_reference():
    gazed = [[{"global_step": s, "eval/success_once": 0.5, "eval/prize_distance": 0.2, "eval/centre_distance": c}
              for s, c in ((100, 0.5), (200, 0.7))]]
    plain = [[{"global_step": s, "eval/success_once": 0.1, "eval/centre_distance": 0.9} for s in (100, 200)]]
    fig = viz.plot_success_and_gaze({"gaze": gazed, "none": plain})
    success_ax, gaze_ax = fig.axes
    assert len(success_ax.lines) == 2
    curves = [line for line in gaze_ax.lines if line.get_linestyle() != "--"]
    (reference,) = [line for line in gaze_ax.lines if line.get_linestyle() == "--"]
    assert [line.get_label() for line in curves] == ["gaze"]  # the run without a gaze has no curve there
    assert reference.get_ydata()[0] == pytest.approx(0.6)  # the gazed runs' centred distances only, not 0.9


def test_every_method_has_one_colour_of_its_own():
    from gazelab.rl.config import METHODS
    assert set(viz.METHOD_COLOURS) == set(METHODS)
    assert len(set(viz.METHOD_COLOURS.values())) == len(METHODS)
    assert not set(viz.OTHER_COLOURS) & set(viz.METHOD_COLOURS.values())


def test_a_method_has_the_same_colour_in_every_plotting_function():
    from matplotlib.colors import to_rgba
    history = [{"global_step": s, "eval/success_once": 0.5, "eval/prize_distance": 0.2, "eval/centre_distance": 0.6}
               for s in (100, 200)]
    plain = [{"global_step": s, "eval/success_once": 0.1} for s in (100, 200)]
    # oracle listed first here, third there; the gaze panel of plot_success_and_gaze holds no "none" curve
    curves = viz.plot_learning_curves({"oracle": [history], "none": [plain]})
    success_ax, gaze_ax = viz.plot_success_and_gaze({"none": [plain], "label": [plain], "oracle": [history]}).axes
    series = viz.plot_series({"a label": ([1, 2], [1, 2]), "oracle": ([1, 2], [2, 1])}, xlabel="x", ylabel="y")
    variants = viz.plot_variants([{**_row([100]), "method": "oracle"}], ["oracle"])
    colour = {to_rgba(line.get_color()) for ax in (curves.axes[0], success_ax, gaze_ax, series.axes[0])
              for line in ax.lines if line.get_label().startswith("oracle")}
    colour |= {to_rgba(bar.get_facecolor(), 1.0) for bar in variants.axes[1].patches[:1]}
    assert colour == {to_rgba(viz.METHOD_COLOURS["oracle"])}
    none = {to_rgba(line.get_color()) for ax in (curves.axes[0], success_ax) for line in ax.lines
            if line.get_label() == "none"}
    assert none == {to_rgba(viz.METHOD_COLOURS["none"])}
    (other,) = [line for line in success_ax.lines if line.get_label() == "label"]
    assert other.get_color() not in viz.METHOD_COLOURS.values()  # any other label: a colour no method has


def test_plot_frame_swap_draws_each_methods_success_per_frames_over_the_random_floor():
    frames = ["true", "other_episodes", "grey"]

    def entry(label, success):
        return {"label": label, "runs": ["s1", "s2"], "success": dict(zip(frames, success)),
                "iqm": {f: (min(s), float(np.mean(s)), max(s)) for f, s in zip(frames, success)}}

    result = {"episodes": 64, "random_policy": 0.11, "methods": {
        "t/gaze": entry("gaze", [[0.7, 0.8], [0.2, 0.1], [0.1, 0.1]]),
        "t/oracle": entry("oracle", [[0.9, 0.9], [0.8, 0.9], [0.7, 0.8]])}}
    (ax,) = viz.plot_frame_swap(result).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["its own frames", "frames of\nother episodes", "grey frames"]
    (oracle,) = [bars for bars in ax.containers if bars.get_label() == "oracle"]
    np.testing.assert_allclose(oracle.lines[0].get_ydata(), [0.9, 0.85, 0.75])
    (floor,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert floor.get_ydata()[0] == pytest.approx(0.11)


def test_plot_transfer_draws_success_for_all_and_the_fovea_only_for_gazes():
    levels = ["mild", "mild-table"]

    def entry(label, success, distance=None):
        out = {"label": label, "success": {lv: s for lv, s in zip(levels, success)},
               "success_summary": {lv: {"iqm": (min(s), float(np.mean(s)), max(s))} for lv, s in zip(levels, success)}}
        if distance is not None:
            out |= {"prize_distance": {lv: d for lv, d in zip(levels, distance)}, "centre_distance": 0.6,
                    "prize_distance_summary": {lv: {"iqm": (min(d), float(np.mean(d)), max(d))}
                                               for lv, d in zip(levels, distance)}}
        return out

    result = {"levels": levels, "episodes": 100, "methods": {
        "a/none": entry("none", [[0.8, 0.9], [0.5, 0.7]]),
        "a/gaze+contrastive": entry("gaze+contrastive", [[0.9, 0.9], [0.8, 0.9]], [[0.2, 0.3], [0.25, 0.35]])}}
    fig = viz.plot_transfer(result)
    success_ax, fovea_ax = fig.axes
    assert [t.get_text() for t in success_ax.get_xticklabels()] == ["mild\n(trained)", "mild-table"]
    assert [t.get_text() for t in success_ax.get_legend().get_texts()] == ["none", "gaze+contrastive"]
    (none_bars,) = [bars for bars in success_ax.containers if bars.get_label() == "none"]
    np.testing.assert_allclose(none_bars.lines[0].get_ydata(), [0.85, 0.6])  # the IQM points
    assert len(success_ax.collections) >= 4  # a dot per seed for each method and level
    assert [bars.get_label() for bars in fovea_ax.containers] == ["gaze+contrastive"]  # no fovea without a gaze
    (reference,) = [line for line in fovea_ax.lines if line.get_linestyle() == "--"]
    assert reference.get_ydata()[0] == pytest.approx(0.6)
