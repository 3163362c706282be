"""The notebook widgets and the figures behind them: built headless, and the sliders really redraw."""

import ipywidgets
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gazelab.teach import viz, widgets
from gazelab.method.attention import gaussian_map
from gazelab.method.encoders import FineNatureCNN


def _pixels(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


@pytest.fixture
def shown(monkeypatch):
    """Everything the widgets pass to IPython's display, in order."""
    seen = []
    monkeypatch.setattr(widgets, "display", seen.append)
    return seen


@pytest.fixture
def frame():
    return torch.randint(0, 256, (64, 64, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy()


def _sliders(widget):
    """The sliders a student sees, by their label."""
    return {child.description: child for child in widget.children if hasattr(child, "description")}


def test_figure_sliders_redraw_the_png_on_every_change():
    calls = []

    def draw(a, b):
        calls.append((a, b))
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [a, b])
        return fig, a + b

    widget = widgets.FigureSliders(draw, a=ipywidgets.FloatSlider(0.0), b=ipywidgets.IntSlider(1))
    assert calls == [(0.0, 1)] and widget.result == 1.0
    first = widget.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    _sliders(widget)["b"].value = 3
    assert calls[-1] == (0.0, 3) and widget.result == 3.0 and widget.image.value != first
    assert not any(isinstance(child, ipywidgets.Output) for child in widget.children)
    with pytest.raises(ValueError, match="slider"):
        widgets.FigureSliders(draw)


def test_fovea_view_weights_are_the_library_gaussian_map(frame):
    view = widgets.fovea_view(frame, (0.3, -0.2), (0.25, 0.5), 0.4)
    expected = gaussian_map(torch.tensor([[0.3, -0.2]]), torch.tensor([[0.25, 0.5]]), torch.tensor([0.4]), 64, 64)[0]
    np.testing.assert_allclose(view.weights, expected.numpy(), atol=1e-6)
    np.testing.assert_array_equal(view.weighted, (frame * view.weights[..., None]).astype(np.uint8))


def test_fovea_explorer_shows_static_figure_then_sliders_redraw_with_the_new_gaze(frame, shown):
    widget = widgets.fovea_explorer(frame, mu=(0.0, 0.0), sigma=(0.4, 0.4), rho=0.0)
    assert isinstance(shown[0], Figure)  # the static figure comes first
    sliders = _sliders(widget)
    assert set(sliders) >= {"mu_x", "mu_y", "sigma_x", "sigma_y", "rho"}
    before, before_png = widget.result, widget.image.value
    sliders["mu_x"].value = 0.6
    sliders["sigma_y"].value = 0.2
    sliders["rho"].value = -0.5
    after = widget.result
    expected = gaussian_map(torch.tensor([[0.6, 0.0]]), torch.tensor([[0.4, 0.2]]), torch.tensor([-0.5]), 64, 64)[0]
    np.testing.assert_allclose(after.weights, expected.numpy(), atol=1e-6)
    assert not np.allclose(before.weights, after.weights)
    assert widget.image.value != before_png  # the redrawn figure changed


def test_fovea_explorer_applies_the_gaze_to_the_encoder_map(frame, shown):
    encoder = FineNatureCNN(image_size=64)
    widget = widgets.fovea_explorer(frame, mu=(-0.5, 0.5), sigma=(0.3, 0.3), encoder=encoder)
    view = widget.result
    assert view.fmap.shape == (encoder.out_channels, 10, 10)
    with torch.no_grad():
        fmap = encoder(torch.from_numpy(frame)[None])[0].numpy()
    cell = gaussian_map(torch.tensor([[-0.5, 0.5]]), torch.tensor([[0.3, 0.3]]), torch.zeros(1), 10, 10)[0].numpy()
    np.testing.assert_allclose(view.weighted_fmap, fmap * cell[None], atol=1e-5)
    assert len(shown[0].axes) == 5 and len(widget.figure.axes) == 5  # frame, weights, weighted, map before/after


def test_fovea_explorer_with_an_encoder_draws_the_map_gaze_where_it_falls_on_the_image(frame, shown):
    """Slider values are map coordinates; on the pixels the fovea sits where the map cell's receptive field is."""
    encoder = FineNatureCNN(image_size=64)
    view = widgets.fovea_explorer(frame, mu=(-1.0, 1.0), sigma=(0.2, 0.2), encoder=encoder).result
    mu_img, sigma_img = viz.gaze_to_image(np.array([-1.0, 1.0]), np.array([0.2, 0.2]), encoder)
    np.testing.assert_allclose(view.image_mu, mu_img, atol=1e-6)
    np.testing.assert_allclose(view.image_sigma, sigma_img, atol=1e-6)
    # map cell (row 9, col 0) is centred on pixel (49.5, 13.5): the image peak is there, not at the corner
    row, col = np.unravel_index(view.weights.argmax(), view.weights.shape)
    assert abs(row - 49.5) <= 1 and abs(col - 13.5) <= 1
    assert view.fmap_weights[9, 0] == view.fmap_weights.max()


def test_triplet_browser_steps_through_triplets(shown):
    frames = np.stack([np.full((16, 16, 3), 20 * i, np.uint8) for i in range(6)])
    returns = torch.arange(6.0)
    widget = widgets.triplet_browser(frames, returns, [0, 3], [1, 4], [2, 5])
    assert isinstance(shown[0], Figure) and widget.result == (0, 1, 2)
    first = _pixels(widget.figure)
    _sliders(widget)["triplet"].value = 1
    assert widget.result == (3, 4, 5)
    assert not np.array_equal(first, _pixels(widget.figure))
    assert "return 4.000" in widget.figure.axes[1].get_title()
    with pytest.raises(ValueError, match="equal length"):
        widgets.triplet_browser(frames, returns, [0, 1], [1], [2])


def test_gaze_timeline_accepts_one_frame_and_redraws_per_step(frame, shown):
    steps = 5
    mu = torch.linspace(-0.8, 0.8, steps)[:, None].repeat(1, 2)
    sigma = torch.full((steps, 2), 0.3)
    rho = torch.zeros(steps)
    widget = widgets.gaze_timeline(frame, mu, sigma, rho, titles=[f"update {i}" for i in range(steps)])
    assert widget.result == steps - 1 and shown[0].axes[0].get_title() == "update 4"
    last = _pixels(widget.figure)
    _sliders(widget)["step"].value = 0
    assert widget.result == 0 and widget.figure.axes[0].get_title() == "update 0"
    assert not np.array_equal(last, _pixels(widget.figure))
    with pytest.raises(ValueError, match="same number"):
        widgets.gaze_timeline(frame, mu, sigma, rho[:3])


def test_plot_gaze_timeline_rejects_a_step_out_of_range(frame):
    with pytest.raises(ValueError, match="step"):
        viz.plot_gaze_timeline(frame[None], np.zeros((1, 2)), np.full((1, 2), 0.3), np.zeros(1), step=1)


def test_plot_triplet_needs_three_frames_and_returns(frame):
    with pytest.raises(ValueError, match="3 items"):
        viz.plot_triplet([frame, frame], [0.0, 1.0])


def test_gaze_timeline_of_training_snapshots_labels_them_by_update_not_by_index(frame, shown):
    updates = [0, 5, 10, 15]
    mu, sigma, rho = torch.zeros(4, 2), torch.full((4, 2), 0.3), torch.zeros(4)
    widget = widgets.gaze_timeline(frame, mu, sigma, rho, titles=[f"update {u}" for u in updates], x=updates,
                                   x_label="contrastive update")
    curve = widget.figure.axes[1]
    assert curve.get_xlabel() == "contrastive update" and max(curve.lines[0].get_xdata()) == 15
    assert "recording" in _sliders(widget) and "step" not in _sliders(widget)
    with pytest.raises(ValueError, match="positions"):
        viz.plot_gaze_timeline(frame[None].repeat(4, 0), mu, sigma, rho, step=0, x=[0, 1])


def test_hand_fovea_explorer_renders_headless_and_redraws_the_numbers(shown):
    from gazelab.teach.landscape import Recording, TripletLandscape

    g = torch.Generator().manual_seed(0)
    n = 60
    episodes = torch.arange(n) // 6
    maps = (torch.rand(10, 32, 10, 10, generator=g)[episodes] + 0.3 * torch.rand(n, 32, 10, 10, generator=g)).half()
    goals = (torch.rand(10, 2, generator=g) - 0.5)[episodes]
    frames = torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8)
    rec = Recording(maps, torch.rand(n, generator=g), episodes, goals, torch.rand(n, 2, generator=g) - 0.5, frames)
    scape = TripletLandscape(rec, FineNatureCNN(64), k=8, num_anchors=None)
    widget = widgets.hand_fovea_explorer(scape, frame=3)
    assert isinstance(shown[0], Figure)  # the static figure comes first
    sliders = _sliders(widget)
    assert set(sliders) == {"mu_x", "mu_y", "sigma", "neighbours", "compared"}
    assert widget.result == scape.at((0.0, 0.0), 0.3)
    before_png = widget.image.value
    sliders["neighbours"].value = "other_episodes"
    assert widget.result.neighbours == "other_episodes" and widget.result.positive_same_episode == 0.0
    sliders["compared"].value = "glimpse"
    sliders["mu_x"].value, sliders["mu_y"].value, sliders["sigma"].value = 0.4, -0.2, 0.2
    expected = scape.at((0.4, -0.2), 0.2, neighbours="other_episodes", fovea="glimpse")
    assert widget.result.triplet_loss == pytest.approx(expected.triplet_loss)
    assert widget.result.goal_weight == pytest.approx(expected.goal_weight)
    assert widget.image.value != before_png
    assert not any(isinstance(child, ipywidgets.Output) for child in widget.children)
    without_frames = TripletLandscape(Recording(maps, rec.labels, episodes, goals, rec.gripper), FineNatureCNN(64), k=8)
    with pytest.raises(ValueError, match="keep_rgb"):
        widgets.hand_fovea_explorer(without_frames)


def test_plot_placements_groups_settings_by_placement():
    from gazelab.teach.landscape import FoveaNumbers

    numbers = lambda sep: FoveaNumbers(10, 0.2, sep, 0.3, 0.08, 0.9)  # noqa: E731
    fig = viz.plot_placements({"any, anchor": {"goal@0.25": numbers(0.6), "centre@0.6": numbers(0.5)},
                               "other, glimpse": {"goal@0.25": numbers(0.7), "centre@0.6": numbers(0.4)}})
    separated = fig.axes[0]
    heights = sorted(round(p.get_height(), 2) for p in separated.patches)
    assert heights == [0.4, 0.5, 0.6, 0.7] and len(fig.axes) == 3
    with pytest.raises(ValueError, match="empty"):
        viz.plot_placements({})
