"""Gaussian gaze maps, the gaze / patch / identity modules, and their input checks."""

import math

import pytest
import torch

from gazelab.core.errors import GazelabError
from gazelab.method.attention import (
    ATTENTION_KINDS,
    AttentionOutput,
    GaussianGaze,
    OracleGaze,
    NoAttention,
    PatchAttention,
    gaussian_map,
    make_attention,
    mixture_map,
    soft_argmax,
)


def one(*values):
    return torch.tensor([values], dtype=torch.float64)


def test_peak_is_one_exactly_at_mu_on_a_pixel_centre():
    # 9 columns / 7 rows: centres at linspace(-1, 1, n); mu on column 6 (x=0.5), row 1 (y=-2/3).
    weights = gaussian_map(one(0.5, -2 / 3), one(0.3, 0.2), torch.tensor([0.4], dtype=torch.float64), 7, 9)
    assert weights.shape == (1, 7, 9)
    assert weights[0, 1, 6] == pytest.approx(1.0, abs=1e-12)
    assert weights.flatten().argmax().item() == 1 * 9 + 6
    assert (weights > 0).all() and (weights <= 1).all()


def test_closed_form_values():
    mu, sigma, rho = one(0.0, 0.0), one(0.5, 1.0), torch.tensor([0.5], dtype=torch.float64)
    weights = gaussian_map(mu, sigma, rho, 3, 3)[0]  # centres -1, 0, 1 on both axes
    s = torch.tensor([[0.25, 0.25], [0.25, 1.0]], dtype=torch.float64)  # [[sx^2, r sx sy], [r sx sy, sy^2]]
    s_inv = torch.linalg.inv(s)
    for row, y in enumerate((-1.0, 0.0, 1.0)):
        for col, x in enumerate((-1.0, 0.0, 1.0)):
            d = torch.tensor([x, y], dtype=torch.float64)
            expected = math.exp(-0.5 * (d @ s_inv @ d).item())
            assert weights[row, col].item() == pytest.approx(expected, rel=1e-12)
    # One value by hand: d = (1, 0): (u^2 - 2 r u v + v^2) / (1 - r^2) = 4 / 0.75.
    assert weights[1, 2].item() == pytest.approx(math.exp(-0.5 * 4 / 0.75), rel=1e-12)


def test_rho_zero_is_separable_outer_product_of_1d_gaussians():
    mu, sigma = one(0.3, -0.2), one(0.4, 0.7)
    weights = gaussian_map(mu, sigma, torch.zeros(1, dtype=torch.float64), 6, 11)[0]
    xs, ys = torch.linspace(-1, 1, 11, dtype=torch.float64), torch.linspace(-1, 1, 6, dtype=torch.float64)
    gx = torch.exp(-0.5 * ((xs - 0.3) / 0.4) ** 2)
    gy = torch.exp(-0.5 * ((ys + 0.2) / 0.7) ** 2)
    torch.testing.assert_close(weights, torch.outer(gy, gx))


@pytest.mark.parametrize("rho", [0.6, -0.6])
def test_rho_tilts_mass_towards_the_matching_diagonal(rho):
    weights = gaussian_map(torch.zeros(1, 2), torch.full((1, 2), 0.5), torch.tensor([rho]), 21, 21)[0]
    # y grows downwards: (+x, +y) is bottom-right, (-x, -y) top-left.
    same_sign = weights[11:, 11:].sum() + weights[:10, :10].sum()
    opposite = weights[11:, :10].sum() + weights[:10, 11:].sum()
    assert (same_sign > 1.5 * opposite) if rho > 0 else (opposite > 1.5 * same_sign)


def test_gaussian_map_batches_and_keeps_dtype_and_device():
    mu, sigma, rho = torch.rand(4, 2) * 2 - 1, torch.rand(4, 2) + 0.1, torch.rand(4) * 1.8 - 0.9
    weights = gaussian_map(mu, sigma, rho, 5, 8)
    assert weights.shape == (4, 5, 8) and weights.dtype == torch.float32
    for b in range(4):
        torch.testing.assert_close(weights[b : b + 1], gaussian_map(mu[b : b + 1], sigma[b : b + 1], rho[b : b + 1], 5, 8))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(mu=torch.zeros(2)), "mu"),
        (dict(mu=torch.zeros(2, 3)), "mu"),
        (dict(sigma=torch.ones(3, 2)), "sigma"),
        (dict(sigma=torch.tensor([[0.5, 0.0], [0.5, 0.5]])), "sigma"),
        (dict(sigma=-torch.ones(2, 2)), "sigma"),
        (dict(rho=torch.zeros(2, 1)), "rho"),
        (dict(rho=torch.tensor([0.2, 1.0])), "rho"),
        (dict(rho=torch.tensor([-1.5, 0.0])), "rho"),
        (dict(height=0), "height"),
        (dict(width=-3), "width"),
        (dict(width=2.5), "width"),
    ],
)
def test_gaussian_map_rejects_bad_input_naming_the_argument(kwargs, name):
    args = dict(mu=torch.zeros(2, 2), sigma=torch.ones(2, 2), rho=torch.zeros(2), height=4, width=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        gaussian_map(**args)


def test_gaze_outputs_shapes_ranges_and_its_own_gaussian():
    torch.manual_seed(0)
    gaze = GaussianGaze(16)
    fmap = torch.rand(5, 16, 9, 7) * 3
    out = gaze(fmap)
    assert isinstance(out, AttentionOutput)
    assert out.features.shape == (5, 16, 9, 7) and out.weights.shape == (5, 9, 7)
    assert out.mu.shape == (5, 2) and out.sigma.shape == (5, 2) and out.rho.shape == (5,)
    assert (out.mu.abs() < 1).all() and (out.sigma >= gaze.sigma_floor).all() and (out.rho.abs() < 1).all()
    assert (out.weights >= 0).all() and (out.weights <= 1).all()
    torch.testing.assert_close(out.weights, gaussian_map(out.mu, out.sigma, out.rho, 9, 7))
    torch.testing.assert_close(out.features, fmap * out.weights[:, None])


def test_gaze_starts_centred_and_broad():
    out = GaussianGaze(8, init_sigma=0.6)(torch.rand(32, 8, 10, 10))
    assert out.mu.abs().max() < 0.05
    assert (out.sigma - 0.6).abs().max() < 0.05
    assert out.rho.abs().max() < 0.05


@pytest.mark.parametrize("sigma_logit", [-50.0, 50.0])
def test_gaze_extreme_head_outputs_stay_valid(sigma_logit):
    """However far the head's outputs run, sigma stays in [sigma_floor, sigma_max] (no whole-image fovea)."""
    gaze = GaussianGaze(4, rho_max=0.9, sigma_floor=0.05, sigma_max=0.8)
    with torch.no_grad():
        gaze.head[-1].bias.copy_(torch.tensor([50.0, -50.0, sigma_logit, sigma_logit, 50.0]))
    out = gaze(torch.rand(2, 4, 6, 6))
    assert torch.isfinite(out.weights).all()
    assert (out.sigma >= 0.05).all() and (out.sigma <= 0.8).all() and (out.rho.abs() <= 0.9 + 1e-6).all()


def test_soft_argmax_is_the_expected_cell_centre():
    equal = soft_argmax(torch.zeros(2, 5, 7))
    assert torch.allclose(equal, torch.zeros(2, 2), atol=1e-7)  # uniform: the middle of the map
    scores = torch.zeros(1, 5, 7)
    scores[0, 1, 6] = 1e4  # one cell far above the rest: its centre exactly, without exp overflowing
    assert torch.allclose(soft_argmax(scores), torch.tensor([[1.0, -0.5]]))
    two = torch.full((1, 3, 3), -1e4)
    two[0, 0, 0] = two[0, 2, 2] = 0.0  # two equal peaks: halfway between them
    assert torch.allclose(soft_argmax(two), torch.zeros(1, 2), atol=1e-6)


def test_keypoint_gaze_puts_mu_where_its_detector_fires():
    gaze = GaussianGaze(3, head="keypoint")
    fmap = torch.zeros(1, 3, 6, 8)
    assert torch.allclose(gaze.params(fmap)[0], torch.zeros(1, 2), atol=1e-6)  # zero scores at the start: centred
    with torch.no_grad():
        gaze.keypoint.weight[0, 0] = 5.0  # a detector of channel 0
    fmap[0, 0, 4, 1] = 1.0  # bright on row 4, column 1
    mu = gaze.params(fmap)[0]
    assert torch.allclose(mu, soft_argmax(10.0 * 5.0 * fmap[:, 0]))
    cell = torch.tensor([[torch.linspace(-1, 1, 8)[1], torch.linspace(-1, 1, 6)[4]]])
    assert (mu - cell).norm() < 0.1


def test_a_sharper_keypoint_scale_takes_the_centre_closer_to_the_detectors_cell():
    """The same weak detector: at the default inverse temperature the soft-argmax is pulled toward the map's middle;
    at 4x it lands near the firing cell."""
    fmap = torch.zeros(1, 3, 10, 10)
    fmap[0, 0, 1, 8] = 1.0  # near the top-right corner
    cell = torch.tensor([[torch.linspace(-1, 1, 10)[8], torch.linspace(-1, 1, 10)[1]]])
    errors = []
    for scale in (10.0, 40.0):
        gaze = GaussianGaze(3, head="keypoint", keypoint_scale=scale)
        with torch.no_grad():
            gaze.keypoint.weight[0, 0] = 0.5  # a weak detector, as early in training
        errors.append((gaze.params(fmap)[0] - cell).norm().item())
    assert errors[0] > 0.3 and errors[1] < 0.05, errors
    with pytest.raises(GazelabError, match="keypoint_scale"):
        GaussianGaze(3, head="keypoint", keypoint_scale=0)


def test_gaze_is_differentiable_in_its_head():
    gaze = GaussianGaze(4)
    gaze(torch.rand(3, 4, 8, 8)).features.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gaze.parameters())


@pytest.mark.parametrize("normalization", ["sigmoid", "softmax"])
def test_patch_attention_ranges(normalization):
    torch.manual_seed(0)
    patch = PatchAttention(8, normalization=normalization)
    torch.nn.init.normal_(patch.logits.weight)
    fmap = torch.randn(3, 8, 5, 6)
    out = patch(fmap)
    assert out.weights.shape == (3, 5, 6) and out.mu is None and out.sigma is None and out.rho is None
    assert (out.weights >= 0).all() and (out.weights <= 1).all()
    if normalization == "softmax":  # softmax over cells rescaled so that the strongest cell is 1
        torch.testing.assert_close(out.weights.flatten(1).amax(1), torch.ones(3))
        softmax = patch.logits(fmap).flatten(1).softmax(1)
        torch.testing.assert_close(out.weights.flatten(1), softmax / softmax.amax(1, keepdim=True))
    torch.testing.assert_close(out.features, fmap * out.weights[:, None])


def test_patch_attention_starts_uniform():
    out = PatchAttention(8)(torch.rand(2, 8, 4, 4))
    torch.testing.assert_close(out.weights, torch.full((2, 4, 4), 0.5))
    out = PatchAttention(8, normalization="softmax")(torch.rand(2, 8, 4, 4))
    torch.testing.assert_close(out.weights, torch.ones(2, 4, 4))


def test_no_attention_is_identity():
    fmap = torch.randn(2, 3, 4, 5)
    out = NoAttention(3)(fmap)
    assert torch.equal(out.features, fmap) and torch.equal(out.weights, torch.ones(2, 4, 5))
    assert out.mu is None and out.sigma is None and out.rho is None


def test_make_attention_builds_every_kind_and_rejects_unknown():
    classes = {"none": NoAttention, "patch": PatchAttention, "gaze": GaussianGaze, "oracle": OracleGaze}
    for kind in ATTENTION_KINDS:
        module = make_attention(kind, 8)
        assert isinstance(module, classes[kind])
        target = torch.zeros(2, 2) if kind == "oracle" else None  # the oracle is told where to look
        assert module(torch.rand(2, 8, 6, 6), *([target] if target is not None else [])).features.shape == (2, 8, 6, 6)
    assert make_attention("gaze", 8, hidden=16, init_sigma=0.7).head[1].out_features == 16
    with pytest.raises(ValueError, match="kind"):
        make_attention("fovea", 8)


@pytest.mark.parametrize("module", [GaussianGaze(8), PatchAttention(8), NoAttention(8)])
@pytest.mark.parametrize("fmap", [torch.rand(2, 8, 4), torch.rand(2, 7, 4, 4)])
def test_modules_reject_wrong_feature_maps(module, fmap):
    with pytest.raises(ValueError, match="fmap"):
        module(fmap)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(sigma_floor=0.0), "sigma_floor"),
        (dict(init_sigma=0.01), "init_sigma"),
        (dict(init_sigma=0.9), "init_sigma"),
        (dict(sigma_max=0.05), "sigma_max"),
        (dict(rho_max=1.0), "rho_max"),
        (dict(pool=0), "pool"),
    ],
)
def test_gaze_rejects_bad_options(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GaussianGaze(8, **kwargs)


def test_patch_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="normalization"):
        PatchAttention(8, normalization="relu")


def test_a_mixture_of_one_component_is_the_gaussian_map_and_every_fovea_peaks_at_one():
    mu, sigma, rho = torch.tensor([[0.2, -0.3]]), torch.tensor([[0.4, 0.25]]), torch.tensor([0.5])
    torch.testing.assert_close(mixture_map(mu[:, None], sigma[:, None], rho[:, None], 6, 7),
                               gaussian_map(mu, sigma, rho, 6, 7))
    two = mixture_map(torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]]), torch.full((1, 2, 2), 0.2), torch.zeros(1, 2), 5, 5)
    assert math.isclose(two[0, 0, 0].item(), 1.0) and math.isclose(two[0, -1, -1].item(), 1.0)
    assert two[0, 2, 2] < 0.01  # nothing between two small foveae
    with pytest.raises(GazelabError, match="sigma"):
        mixture_map(torch.zeros(1, 2, 2), torch.ones(1, 3, 2), torch.zeros(1, 2), 5, 5)


def _two_detectors(gaze, cells):
    """Fovea k's score map reads channel k only; channel k of each map is bright at cells[b][k] (row, column)."""
    with torch.no_grad():
        gaze.keypoint.weight.zero_()
        gaze.keypoint.weight[0, 0] = gaze.keypoint.weight[1, 1] = 5.0
    fmap = torch.zeros(len(cells), 3, 8, 8)
    for b, pair in enumerate(cells):
        for k, (row, col) in enumerate(pair):
            fmap[b, k, row, col] = 1.0
    return fmap


def test_a_gaze_of_two_foveae_puts_each_where_its_detector_fires_and_weights_both():
    gaze = GaussianGaze(3, head="keypoint", foveae=2)
    cells = [((1, 1), (6, 6)), ((0, 7), (5, 2))]
    out = gaze(_two_detectors(gaze, cells))
    mu, sigma, rho = out.foveae
    assert mu.shape == sigma.shape == (2, 2, 2) and rho.shape == (2, 2)
    grid = torch.linspace(-1, 1, 8)
    for b, pair in enumerate(cells):
        for k, (row, col) in enumerate(pair):
            assert (mu[b, k] - torch.stack([grid[col], grid[row]])).norm() < 0.1, (b, k)
            assert out.weights[b, row, col] > 0.9  # each fovea lets its own object through
    torch.testing.assert_close(out.mu, mu[:, 0])  # the single-fovea fields: the first fovea
    torch.testing.assert_close(out.weights, mixture_map(mu, sigma, rho, 8, 8))
    with pytest.raises(GazelabError, match="components"):
        gaze.params(torch.zeros(1, 3, 8, 8))
    assert GaussianGaze(3, head="keypoint")(torch.rand(2, 3, 8, 8)).foveae is None
    mlp = GaussianGaze(3, head="mlp", foveae=3)(torch.rand(2, 3, 8, 8))
    assert mlp.foveae[0].shape == (2, 3, 2) and mlp.weights.shape == (2, 8, 8)


@pytest.mark.parametrize("head", ["keypoint", "mlp"])
def test_two_foveae_part_and_each_learns_its_own_object(head):
    """Two bright objects at random places; the loss asks for weight on both. The foveae start apart (random
    keypoint scores: identical foveae would get identical gradients) and each learns to follow its own object: a
    mixture that stays one Gaussian would leave one object in the dark."""
    torch.manual_seed(0)
    gaze = GaussianGaze(2, head=head, foveae=2, pool=8, sigma_max=0.3)  # too small to cover both at once
    start = gaze(torch.rand(4, 2, 8, 8)).foveae[0]
    assert (start[:, 0] - start[:, 1]).norm(dim=1).min() > 1e-4
    optimizer = torch.optim.Adam(gaze.parameters(), lr=0.02)

    def objects(n):
        where = torch.randint(1, 7, (n, 2, 2))
        fmap = torch.zeros(n, 2, 8, 8)
        for b in range(n):
            for k in range(2):
                fmap[b, k, where[b, k, 0], where[b, k, 1]] = 1.0
        return fmap, where

    for _ in range(400):
        fmap, where = objects(32)
        weights = gaze(fmap).weights
        on = torch.stack([weights[torch.arange(32), where[:, k, 0], where[:, k, 1]] for k in range(2)], 1)
        loss = -on.log().mean() + weights.mean()  # both objects lit, the rest dark
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fmap, where = objects(64)
    with torch.no_grad():
        weights = gaze(fmap).weights
    on = torch.stack([weights[torch.arange(64), where[:, k, 0], where[:, k, 1]] for k in range(2)], 1)
    assert on.min(1).values.median() > 0.5 and weights.mean() < 0.5, (on.min(1).values.median(), weights.mean())
