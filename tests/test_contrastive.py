"""Triplet / spread losses, FAISS triplet mining against brute force, and the contrastive gaze update."""

import math

import pytest
import torch
from torch import nn

from gazelab.method.attention import GaussianGaze, PatchAttention
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import (
    ContrastiveConfig,
    ContrastiveLearner,
    ContrastiveStats,
    glimpse,
    mine_triplets,
    spread_loss,
    triplet_loss,
)

# ---------------------------------------------------------------------------------------------- losses


def test_triplet_loss_matches_the_formula():
    torch.manual_seed(0)
    a, p, n = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2)
    cos = lambda x, y: (x.flatten(1) * y.flatten(1)).sum(1) / (x.flatten(1).norm(dim=1) * y.flatten(1).norm(dim=1))  # noqa: E731
    expected = torch.relu((1 - cos(a, p)) - (1 - cos(a, n)) + 0.3).mean()
    torch.testing.assert_close(triplet_loss(a, p, n, margin=0.3), expected)


def test_triplet_loss_is_zero_when_satisfied_and_margin_when_tied():
    a = torch.tensor([[1.0, 0.0]])
    assert triplet_loss(a, a * 3, -a).item() == 0.0  # d_ap = 0, d_an = 2: satisfied, scale does not matter
    assert triplet_loss(a, a, a, margin=0.2).item() == pytest.approx(0.2)
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = triplet_loss(empty, empty, empty)
    assert loss.item() == 0.0 and loss.requires_grad


def test_triplet_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), margin=-0.1)


def test_spread_loss_is_log_space_and_symmetric():
    target = 0.3
    assert spread_loss(torch.full((4, 2), target), target).item() == pytest.approx(0.0, abs=1e-12)
    half = spread_loss(torch.full((1, 2), target / 2), target).item()
    double = spread_loss(torch.full((1, 2), target * 2), target).item()
    assert half == pytest.approx(double) == pytest.approx(math.log(2) ** 2)
    sigma = torch.tensor([[0.1, 0.5], [1.0, 0.3]])
    torch.testing.assert_close(spread_loss(sigma, 0.4), ((sigma.log() - math.log(0.4)) ** 2).mean())
    with pytest.raises(ValueError, match="sigma"):
        spread_loss(torch.ones(3), 0.3)
    with pytest.raises(ValueError, match="target"):
        spread_loss(torch.ones(3, 2), 0.0)


# ---------------------------------------------------------------------------------------------- mining


def brute_force_triplets(keys, returns, k, anchors, high):
    """Reference miner: exact distances in float64, self excluded, nearest same / other class among k."""
    distances = torch.cdist(keys[anchors].double(), keys.double())
    distances[torch.arange(len(anchors)), anchors] = float("inf")
    neighbours = distances.topk(k, dim=1, largest=False).indices  # sorted, nearest first
    out = []
    for anchor, row in zip(anchors.tolist(), neighbours.tolist()):
        same = [j for j in row if high[j] == high[anchor]]
        other = [j for j in row if high[j] != high[anchor]]
        if same and other:
            out.append((anchor, same[0], other[0]))
    return out


@pytest.mark.parametrize("num_anchors", [None, 100])
def test_mining_equals_brute_force(num_anchors):
    generator = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(600, 16, generator=generator), dim=1)
    returns = torch.randn(600, generator=generator)
    mined = mine_triplets(
        keys, returns, k=8, num_anchors=num_anchors, generator=torch.Generator().manual_seed(1)
    )
    assert all(t.dtype == torch.int64 for t in mined)
    anchors = torch.randperm(600, generator=torch.Generator().manual_seed(1))[:num_anchors] if num_anchors else torch.arange(600)
    high = (returns > returns.median()).tolist()
    expected = brute_force_triplets(keys, returns, 8, anchors, high)
    assert len(expected) > 0.5 * len(anchors)
    assert list(zip(*[t.tolist() for t in mined])) == expected


def test_mined_triplets_respect_classes_and_neighbourhoods():
    generator = torch.Generator().manual_seed(3)
    keys = torch.randn(400, 8, generator=generator)
    returns = (torch.rand(400, generator=generator) < 0.3).float()  # binary, 30% successes
    k = 10
    anchor, positive, negative = mine_triplets(keys, returns, k, num_anchors=200, generator=generator)
    assert len(anchor) > 0 and len(anchor) == len(set(anchor.tolist()))
    high = returns > 0  # the tie rule splits successes from failures despite the median being 0
    assert torch.equal(high[anchor], high[positive]) and torch.equal(high[anchor], ~high[negative])
    assert (anchor != positive).all() and (anchor != negative).all()
    distances = torch.cdist(keys[anchor], keys)
    distances[torch.arange(len(anchor)), anchor] = float("inf")
    kth = distances.topk(k, dim=1, largest=False).values[:, -1]
    rows = torch.arange(len(anchor))
    assert (distances[rows, positive] <= kth + 1e-5).all() and (distances[rows, negative] <= kth + 1e-5).all()


def test_explicit_threshold_defines_the_classes():
    keys = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    returns = torch.linspace(0, 1, 100)
    anchor, positive, negative = mine_triplets(keys, returns, k=20, threshold=0.9)
    high = returns > 0.9
    assert len(anchor) > 0
    assert torch.equal(high[anchor], high[positive]) and torch.equal(high[anchor], ~high[negative])


def test_mining_leaves_torch_thread_count_alone():
    # FAISS's OpenMP calls can land in torch's runtime: the search must put the thread count back.
    keys, returns = torch.randn(200, 8), torch.randn(200)
    threads = torch.get_num_threads()
    mine_triplets(keys, returns, k=4, num_threads=threads + 1)
    assert torch.get_num_threads() == threads


def test_single_class_gives_no_triplets():
    keys = torch.randn(50, 4)
    for returns in (torch.ones(50), torch.zeros(50)):
        anchor, positive, negative = mine_triplets(keys, returns, k=5)
        assert anchor.numel() == positive.numel() == negative.numel() == 0
        assert anchor.dtype == torch.int64


@pytest.mark.parametrize(
    "keys, returns, kwargs, name",
    [
        (torch.randn(10, 4), torch.randn(10), dict(k=10), "k"),
        (torch.randn(10, 4), torch.randn(10), dict(k=0), "k"),
        (torch.randn(10, 4), torch.randn(9), dict(k=3), "returns"),
        (torch.randn(10), torch.randn(10), dict(k=3), "keys"),
        (torch.tensor([[float("nan")]] * 10), torch.randn(10), dict(k=3), "keys"),
        (torch.randn(10, 4), torch.tensor([float("inf")] * 10), dict(k=3), "returns"),
        (torch.randn(10, 4), torch.randn(10), dict(k=3, num_anchors=0), "num_anchors"),
        (torch.randn(10, 4), torch.randn(10), dict(k=3, num_threads=0), "num_threads"),
    ],
)
def test_mining_rejects_bad_input(keys, returns, kwargs, name):
    with pytest.raises(ValueError, match=name):
        mine_triplets(keys, returns, **kwargs)


# ---------------------------------------------------------------------------------------------- learner


class TinyAgent(nn.Module):
    """Encoder + gaze + head, like the trainers' agent: the contrastive step must only move the gaze."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.gaze = GaussianGaze(8)
        self.head = nn.Linear(8 * 6 * 6, 2)


def filled_buffer(n=512, seed=0, binary=True):
    generator = torch.Generator().manual_seed(seed)
    buffer = ContrastiveBuffer((8, 6, 6), capacity=n)
    returns = (torch.rand(n, generator=generator) < 0.5).float() if binary else torch.randn(n, generator=generator)
    buffer.add(torch.rand(n, 8, 6, 6, generator=generator), returns)
    return buffer


def test_update_moves_only_gaze_parameters_and_leaves_grads_alone():
    torch.manual_seed(0)
    agent = TinyAgent()
    before = {name: p.detach().clone() for name, p in agent.named_parameters()}
    agent.head.weight.grad = torch.ones_like(agent.head.weight)  # e.g. an RL gradient waiting for its step
    gaze_grad = torch.full_like(agent.gaze.head[-1].bias, 7.0)
    agent.gaze.head[-1].bias.grad = gaze_grad
    learner = ContrastiveLearner(agent.gaze, ContrastiveConfig(min_buffer=0, lr=1e-2))
    with torch.no_grad():  # e.g. called from inside a rollout loop: the update still trains the gaze
        stats = learner.update(filled_buffer())
    assert stats.triplets > 0
    for name, p in agent.named_parameters():
        if name.startswith("gaze."):
            continue
        assert torch.equal(p, before[name]), name
    assert any(not torch.equal(p, before[f"gaze.{n}"]) for n, p in agent.gaze.named_parameters())
    assert torch.equal(agent.head.weight.grad, torch.ones_like(agent.head.weight))
    assert agent.gaze.head[-1].bias.grad is gaze_grad


def test_update_stats_are_consistent():
    torch.manual_seed(0)
    gaze = GaussianGaze(8)
    config = ContrastiveConfig(num_anchors=64, min_buffer=0)
    stats = ContrastiveLearner(gaze, config).update(filled_buffer())
    assert 0 < stats.triplets <= 64 and stats.triplet_loss >= 0
    # the distances of the gazed maps before the step, as the triplet loss saw them: their mean gap bounds the loss
    assert 0 <= stats.pos_distance <= 2 and 0 <= stats.neg_distance <= 2
    assert stats.triplet_loss >= stats.pos_distance - stats.neg_distance + config.margin - 1e-6
    # every gaze starts at sigma = init_sigma 0.6: spread loss (log 0.6 - log 0.3)^2
    assert stats.spread_loss == pytest.approx(math.log(0.6 / config.spread_target) ** 2, rel=0.05)


def test_the_spread_loss_of_a_mixture_holds_every_fovea():
    """A gaze of two foveae whose first starts at the spread target and whose second at sigma_max: the spread loss
    sees the second one (only the first's sigma would read 0), and the step moves both foveae's shapes."""
    torch.manual_seed(0)
    gaze = GaussianGaze(8, head="keypoint", foveae=2)
    with torch.no_grad():
        gaze.shape.weight.zero_()
        gaze.shape.bias.copy_(torch.tensor([-0.5, -0.5, 0.0, 20.0, 20.0, 0.0]))  # sigma ~0.3, then ~0.8
    sigma = gaze(torch.rand(1, 8, 6, 6)).foveae[1][0]
    config = ContrastiveConfig(num_anchors=64, min_buffer=0, lr=1e-2)
    expected = math.log(sigma[1, 0].item() / config.spread_target) ** 2 / 2  # half of the four sigmas far off
    stats = ContrastiveLearner(gaze, config).update(filled_buffer())
    assert stats.triplets > 0 and stats.spread_loss == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("neighbours, share", [("same_episode", 1.0), ("other_episodes", 0.0)])
def test_update_stats_say_which_members_came_from_the_anchors_episode(neighbours, share):
    buffer = filled_buffer()
    buffer.episodes[:] = torch.arange(len(buffer)) // 64  # 8 episodes of 64 states
    config = ContrastiveConfig(num_anchors=64, min_buffer=0, neighbours=neighbours)
    stats = ContrastiveLearner(GaussianGaze(8), config).update(buffer)
    assert stats.triplets > 0
    assert stats.positive_same_episode == stats.negative_same_episode == share


def test_update_is_a_noop_without_enough_data_or_two_classes():
    gaze = GaussianGaze(8)
    before = [p.detach().clone() for p in gaze.parameters()]
    learner = ContrastiveLearner(gaze, ContrastiveConfig(min_buffer=1000))
    small = filled_buffer(n=100)
    one_class = ContrastiveBuffer((8, 6, 6), capacity=2000)
    one_class.add(torch.rand(1500, 8, 6, 6), torch.ones(1500))
    for buffer in (ContrastiveBuffer((8, 6, 6), capacity=10), small, one_class):
        stats = learner.update(buffer)
        assert stats == ContrastiveStats()  # triplets 0 and every loss 0
    assert all(torch.equal(p, b) for p, b in zip(gaze.parameters(), before))


def test_learner_works_with_patch_attention_and_rejects_parameterless_modules():
    stats = ContrastiveLearner(PatchAttention(8), ContrastiveConfig(min_buffer=0)).update(filled_buffer())
    assert stats.triplets > 0 and stats.spread_loss == 0.0
    with pytest.raises(ValueError, match="gaze"):
        ContrastiveLearner(nn.Identity(), ContrastiveConfig())


def test_state_dict_round_trip_reproduces_the_next_update():
    buffer = filled_buffer(binary=False)
    torch.manual_seed(0)
    gaze = GaussianGaze(8)
    learner = ContrastiveLearner(gaze, ContrastiveConfig(min_buffer=0, num_anchors=32, lr=1e-2))
    learner.update(buffer)
    gaze_state = {k: v.clone() for k, v in gaze.state_dict().items()}
    learner_state = learner.state_dict()
    expected = learner.update(buffer)

    clone = GaussianGaze(8)
    clone.load_state_dict(gaze_state)
    restored = ContrastiveLearner(clone, ContrastiveConfig(min_buffer=0, num_anchors=32, lr=1e-2))
    restored.load_state_dict(learner_state)
    assert restored.update(buffer) == expected
    assert all(torch.equal(a, b) for a, b in zip(clone.parameters(), gaze.parameters()))


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(k=0), "k"), (dict(num_anchors=0), "num_anchors"), (dict(lr=0.0), "lr"), (dict(margin=-1.0), "margin"),
     (dict(spread_target=0.0), "spread_target"), (dict(min_buffer=-1), "min_buffer"),
     (dict(faiss_threads=0), "faiss_threads")],
)
def test_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ContrastiveConfig(**kwargs)


def test_gaze_learns_to_look_at_the_cell_that_decides_the_return():
    """Only cell (row 1, col 6) of an 8x8 map carries the outcome; every other cell is noise.

    Neighbours in key space are then near-random w.r.t. the return, and the only way to pull same-outcome maps
    together and push the others apart is to look at that cell. Defaults of ContrastiveConfig, fixed seeds.
    """
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    n, channels, size, row, col = 2048, 8, 8, 1, 6
    features = torch.rand(n, channels, size, size, generator=generator)  # non-negative, like post-ReLU maps
    returns = (torch.rand(n, generator=generator) < 0.5).float()
    pattern = torch.rand(channels, generator=generator)
    features[:, :, row, col] = torch.where(returns[:, None] > 0, pattern, 1 - pattern)
    features[:, :, row, col] += 0.2 * torch.rand(n, channels, generator=generator)
    buffer = ContrastiveBuffer((channels, size, size), capacity=n)
    buffer.add(features, returns)

    gaze = GaussianGaze(channels)
    learner = ContrastiveLearner(gaze, ContrastiveConfig(num_anchors=256))
    target = torch.tensor([-1 + 2 * col / (size - 1), -1 + 2 * row / (size - 1)])  # (x, y) = (0.71, -0.71)
    cell = 2 / (size - 1)

    with torch.no_grad():
        assert (gaze(features[:256]).mu.mean(0) - target).norm() > 3 * cell  # starts centred, far from the cell
    first = learner.update(buffer)
    for _ in range(299):
        stats = learner.update(buffer)
    with torch.no_grad():
        mu = gaze(features[:256]).mu
    assert (mu - target).norm(dim=1).max() < cell  # every image's gaze within one cell of the pattern
    assert stats.triplet_loss < 0.2 * first.triplet_loss


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_gaze_looks_at_the_deciding_cell_not_at_a_loud_one(seed):
    """One cell decides the return, another carries loud outcome-free noise (6x the others' range).

    With the default one eye per triplet (the anchor's fovea on all three maps), separating positive from negative
    needs the deciding cell: after 300 updates every image's gaze gives it >= 0.5 of its peak weight (measured
    0.96-0.99 over seeds 0-3), and the loud cell gets almost none.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n, channels, size, cell, loud = 2048, 8, 8, (1, 6), (5, 2)
    features = torch.rand(n, channels, size, size, generator=generator)
    returns = (torch.rand(n, generator=generator) < 0.5).float()
    pattern = torch.rand(channels, generator=generator)
    features[:, :, cell[0], cell[1]] = torch.where(returns[:, None] > 0, pattern, 1 - pattern) + 0.2 * torch.rand(
        n, channels, generator=generator)
    features[:, :, loud[0], loud[1]] = 6 * torch.rand(n, channels, generator=generator)
    buffer = ContrastiveBuffer((channels, size, size), capacity=n)
    buffer.add(features, returns)
    gaze = GaussianGaze(channels)
    learner = ContrastiveLearner(gaze, ContrastiveConfig(num_anchors=256), seed=seed)
    assert learner.config.fovea == "anchor"
    for _ in range(300):
        learner.update(buffer)
    with torch.no_grad():
        weights = gaze(features[:512]).weights
    assert weights[:, cell[0], cell[1]].min() >= 0.5
    assert weights[:, loud[0], loud[1]].max() < 0.05


def _line_keys(n):
    """Keys on a line (state i at position i): each state's nearest neighbours are i-1, i+1, i-2, i+2, ..."""
    return torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], 1)


def test_mining_rules_by_hand():
    """Returns 0,1,0,1,...: with 'same_class' the positive shares the anchor's class; with 'higher_return' the
    positive is always a high-return neighbour and the negative a low one."""
    keys, returns = _line_keys(12), torch.arange(12.0) % 2
    a, p, n = mine_triplets(keys, returns, 4)
    assert ((returns[a] == returns[p]) & (returns[a] != returns[n])).all()
    a, p, n = mine_triplets(keys, returns, 4, rule="higher_return")
    assert (returns[p] == 1).all() and (returns[n] == 0).all() and len(a) == 12


def test_mining_inside_or_outside_the_episode_and_with_a_time_gap():
    """Two episodes of 6 states on one line (0-5, 6-11), returns alternate; times 0..5 in each."""
    keys, returns = _line_keys(12), torch.arange(12.0) % 2
    episodes, times = torch.arange(12) // 6, torch.arange(12) % 6
    a, p, n = mine_triplets(keys, returns, 3, episodes=episodes, neighbours="same_episode")
    assert (episodes[p] == episodes[a]).all() and (episodes[n] == episodes[a]).all()
    a, p, n = mine_triplets(keys, returns, 3, episodes=episodes, neighbours="other_episodes")
    assert (episodes[p] != episodes[a]).all() and (episodes[n] != episodes[a]).all()
    a, p, n = mine_triplets(keys, returns, 3, episodes=episodes, neighbours="same_episode", times=times, min_time_gap=2)
    assert len(a) > 0 and ((times[p] - times[a]).abs() >= 2).all() and ((times[n] - times[a]).abs() >= 2).all()
    with pytest.raises(ValueError, match="episodes"):
        mine_triplets(keys, returns, 3, neighbours="same_episode")


def test_gazed_keys_mine_among_states_that_look_alike_where_the_gaze_looks():
    """keys='gazed': the buffer's whole-map keys are ignored; neighbours come from the current gaze's view, and the
    triplets index the buffer's rows (a pool smaller than the buffer is mined)."""
    torch.manual_seed(0)
    buffer = ContrastiveBuffer((4, 6, 6), capacity=600)
    returns = (torch.arange(600) % 2).float()
    buffer.add(torch.rand(600, 4, 6, 6), returns)
    # whole-map keys that cluster by outcome: every neighbour shares the anchor's class, so they give no triplet
    buffer.keys[:600] = torch.nn.functional.normalize(
        torch.randn(600, buffer.key_dim) * 0.01 + (2 * returns[:, None] - 1), dim=1)
    stored = ContrastiveLearner(GaussianGaze(4), ContrastiveConfig(num_anchors=64))
    assert stored.update(buffer).triplets == 0
    gazed = ContrastiveLearner(GaussianGaze(4), ContrastiveConfig(keys="gazed", key_pool=300, num_anchors=64))
    assert gazed.update(buffer).triplets > 0
    with pytest.raises(ValueError, match="keys"):
        ContrastiveConfig(keys="pixels")


def _prize_anywhere(seed, n=2048, channels=8, size=8):
    """Maps whose deciding cell sits at a different place in every map, marked by channel 0 (like a goal drawn
    wherever the episode put it); the outcome is the pattern in the other channels there, every other cell noise."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.rand(n, channels, size, size, generator=generator)
    features[:, 0] = 0
    returns = (torch.rand(n, generator=generator) < 0.5).float()
    pattern = torch.rand(channels - 1, generator=generator)
    cell = torch.randint(0, size, (n, 2), generator=generator)  # (row, col) per map
    rows = torch.arange(n)
    features[rows, 0, cell[:, 0], cell[:, 1]] = 1.0
    features[rows, 1:, cell[:, 0], cell[:, 1]] = (torch.where(returns[:, None] > 0, pattern, 1 - pattern)
                                                  + 0.2 * torch.rand(n, channels - 1, generator=generator))
    target = torch.stack([cell[:, 1], cell[:, 0]], 1) * 2 / (size - 1) - 1  # (x, y) map coordinates
    return features, returns, target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_glimpse_comparison_follows_a_prize_that_moves_between_maps(seed):
    """The deciding cell is elsewhere in every map. One eye per triplet reads the positive and the negative at the
    *anchor's* prize, where they hold noise: nothing to learn, the keypoint gaze stays near the centre. Comparing
    what each member's own fovea sees (``fovea="glimpse"``) rewards looking at each map's own prize: after 300
    updates the median fovea sits within 1.5 cells of it (measured 0.01-0.38 over seeds 0-2; anchor: 0.70-0.94)."""
    features, returns, target = _prize_anywhere(seed)
    cell = 2 / 7
    medians = {}
    for fovea in ("glimpse", "anchor"):
        torch.manual_seed(seed)
        buffer = ContrastiveBuffer(tuple(features.shape[1:]), capacity=len(features), seed=seed)
        buffer.add(features, returns)
        gaze = GaussianGaze(8, head="keypoint")
        learner = ContrastiveLearner(gaze, ContrastiveConfig(num_anchors=256, fovea=fovea, lr=1e-2), seed=seed)
        for _ in range(300):
            stats = learner.update(buffer)
        with torch.no_grad():
            medians[fovea] = (gaze(features[:512]).mu - target[:512]).norm(dim=1).median().item()
        if fovea == "glimpse":
            assert stats.triplet_loss < 0.02
    assert medians["glimpse"] < 1.5 * cell, medians
    assert medians["anchor"] > 2 * cell, medians


def test_glimpse_is_what_the_fovea_sees_wherever_it_is():
    fmap = torch.zeros(2, 3, 5, 5)
    fmap[0, :, 1, 1] = torch.tensor([1.0, 2.0, 3.0])
    fmap[1, :, 3, 4] = torch.tensor([1.0, 2.0, 3.0])
    weights = torch.zeros(2, 5, 5)
    weights[0, 1, 1] = weights[1, 3, 4] = 0.5
    seen = glimpse(fmap * weights[:, None], weights)
    torch.testing.assert_close(seen, torch.tensor([[1.0, 2.0, 3.0]] * 2))
