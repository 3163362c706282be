"""The hand-placed fovea against the mined triplets (gazelab.teach.landscape): the four numbers behave and agree with
a direct computation; the recording of the built-in task is labelled as documented."""

import pytest
import torch

from gazelab.core.errors import GazelabError
from gazelab.method.attention import PRIZE_RADIUS, gaussian_map
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import mine_triplets
from gazelab.method.encoders import FineNatureCNN
from gazelab.teach.landscape import (PLACED, Recording, TripletLandscape, collect_expert_frames, encode_frames,
                                     record_episodes)

CNN = FineNatureCNN(64)  # the geometry only: 10x10 map over image coordinates -0.571 .. 0.571


def recording(n=120, episode_length=10, goal=(0.4, -0.3), seed=0, rgb=False) -> Recording:
    """Random post-ReLU-like maps; every episode has its own pattern (so look-alikes are mostly its own frames), one
    goal near ``goal``."""
    g = torch.Generator().manual_seed(seed)
    episodes = torch.arange(n) // episode_length
    pattern = torch.rand(int(episodes.max()) + 1, 32, 10, 10, generator=g)
    maps = (pattern[episodes] + 0.3 * torch.rand(n, 32, 10, 10, generator=g)).half()
    prize = torch.tensor(goal) + 0.05 * torch.randn(int(episodes.max()) + 1, 2, generator=g)
    frames = torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8) if rgb else None
    return Recording(maps, torch.rand(n, generator=g), episodes, prize[episodes],
                     torch.rand(n, 2, generator=g) * 2 - 1, frames, "random")


def test_a_fovea_on_the_goal_weights_it_more_than_a_centred_one_and_a_uniform_one_scores_chance():
    scape = TripletLandscape(recording(), CNN, k=8, num_anchors=None)
    on_goal = scape.at((0.4, -0.3), 0.2)
    centred = scape.at((0.0, 0.0), 0.2)
    uniform = scape.at((0.0, 0.0), 1e4)  # so wide that every cell weighs the same
    assert on_goal.goal_weight > 3 * centred.goal_weight
    assert on_goal.goal_weight > 3 * on_goal.goal_weight_chance
    assert uniform.goal_weight == pytest.approx(uniform.goal_weight_chance, abs=1e-4)
    a = scape.triplets("any")[0]
    near = (torch.cdist(scape.recording.prize[a], CNN.cell_centres()) < PRIZE_RADIUS).float().mean(1)
    assert on_goal.goal_weight_chance == pytest.approx(near.mean().item())
    assert 0 < on_goal.goal_weight_chance < 0.2
    # placed per frame: on each frame's own goal vs the centre
    assert scape.placed("goal", 0.25).goal_weight > 3 * scape.placed("centre", 0.25).goal_weight


def test_neighbours_from_other_episodes_never_give_an_own_episode_positive():
    scape = TripletLandscape(recording(), CNN, k=8, num_anchors=None)
    anywhere = scape.at((0.0, 0.0), 0.3, neighbours="any")
    elsewhere = scape.at((0.0, 0.0), 0.3, neighbours="other_episodes")
    assert elsewhere.triplets > 0 and elsewhere.positive_same_episode == 0.0
    assert anywhere.positive_same_episode > 0.5  # each episode's own pattern: its look-alikes are its own frames
    for fovea in ("anchor", "glimpse"):
        assert scape.at((0.2, 0.1), 0.3, neighbours="other_episodes", fovea=fovea).positive_same_episode == 0.0


@pytest.mark.parametrize("fovea", ["anchor", "glimpse"])
def test_separated_share_and_loss_match_a_direct_computation(fovea):
    rec = recording(n=24, episode_length=4, seed=3)
    scape = TripletLandscape(rec, CNN, k=4, num_anchors=None, margin=0.2, seed=5)
    mu, sigma = (0.2, -0.1), 0.3
    numbers = scape.at(mu, sigma, fovea=fovea)

    keys = ContrastiveBuffer((32, 10, 10), 24, seed=5)
    keys.add(rec.maps, rec.labels, rec.episodes)
    a, p, n = mine_triplets(keys.filled()[2], rec.labels, 4, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip((a, p, n), scape.triplets("any")))
    t = len(a)
    scale = 4 * 9 / 63  # FineNatureCNN at 64 px: 4-px cells, 10 of them: image -0.571 .. 0.571
    w = gaussian_map(torch.tensor([mu]) / scale, torch.full((1, 2), sigma / scale), torch.zeros(1), 10, 10)[0]
    maps = [rec.maps[i].float() for i in (a, p, n)]
    if fovea == "anchor":
        views = [(m * w).flatten(1) for m in maps]
    else:
        seen = [(m * w).sum((2, 3)) / w.sum() for m in maps]
        mean = torch.cat(seen).mean(0)
        views = [s - mean for s in seen]
    cos = lambda x, y: (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))  # noqa: E731
    d_pos, d_neg = 1 - cos(views[0], views[1]), 1 - cos(views[0], views[2])
    assert numbers.triplets == t > 5
    assert 0.0 <= numbers.separated <= 1.0
    assert numbers.separated == pytest.approx((d_pos < d_neg).float().mean().item())
    assert numbers.triplet_loss == pytest.approx(torch.relu(d_pos - d_neg + 0.2).mean().item(), abs=1e-5)
    assert torch.equal(numbers.separated_each, (d_pos < d_neg).float())


def test_placements_draw_the_random_spots_in_the_benchmarks_order():
    """``placements`` = ``placed`` one after another with one seeded generator (the committed tables' draws)."""
    scape = TripletLandscape(recording(), CNN, k=8, num_anchors=60, seed=2)
    table = scape.placements("other_episodes")
    g = torch.Generator().manual_seed(2)
    for fovea in ("anchor", "glimpse"):
        for name, sigma in PLACED:
            again = scape.placed(name, sigma, neighbours="other_episodes", fovea=fovea, generator=g)
            assert torch.equal(table[fovea][(name, sigma)].separated_each, again.separated_each)
    with pytest.raises(GazelabError, match="Generator"):
        scape.placement_centres("random", torch.arange(3))


def test_record_episodes_of_the_cluttered_task():
    frames = collect_expert_frames("gazelab/ReachClutter-v0", "mild", 4, 60, 0)
    maps = encode_frames(CNN.eval(), frames["rgb"])
    rec = record_episodes(frames, maps, "neg_distance", keep_rgb=True)
    ended = int(frames["done"].sum())
    assert rec.episodes.unique().numel() == ended > 0
    assert rec.maps.shape[1:] == (32, 10, 10) and rec.rgb.shape[1:] == (64, 64, 3) and len(rec.rgb) == len(rec)
    torch.testing.assert_close(rec.labels, -(rec.gripper - rec.prize).norm(dim=1))
    first = rec.episodes == rec.episodes[0]
    assert (rec.prize[first] == rec.prize[0]).all()  # the goal stays put within an episode
    with pytest.raises(GazelabError, match="label"):
        record_episodes(frames, maps, "value")


def test_object_lead_is_the_paired_difference_of_the_best_object_and_the_best_blind_placement():
    from gazelab.teach.landscape import FoveaNumbers, object_lead

    def numbers(each):
        each = torch.tensor(each, dtype=torch.float32)
        return FoveaNumbers(len(each), 0.2, each.mean().item(), 0.1, 0.08, 0.0, separated_each=each)

    row = {("goal", 0.25): numbers([1, 1, 1, 0]), ("gripper", 0.25): numbers([1, 0, 0, 0]),
           ("centre", 0.6): numbers([0, 1, 0, 0]), ("random", 0.5): numbers([0, 0, 1, 1])}
    (low, lead, high), best_object, best_blind = object_lead(row)
    diff = torch.tensor([1.0, 1, 0, -1])  # goal (0.75 > gripper 0.25) minus random (0.5 > centre 0.25)
    assert (best_object, best_blind) == (("goal", 0.25), ("random", 0.5))
    assert lead == pytest.approx(0.25)
    assert high - lead == pytest.approx(lead - low) == pytest.approx(1.96 * diff.std().item() / 2)
    assert object_lead({("goal", 0.25): row[("goal", 0.25)]}) is None
