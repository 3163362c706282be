"""Where does the triplet loss want the eye? The return-guided triplet objective with the fovea placed by hand.

Instead of training a gaze, put the fovea somewhere and ask the mined triplets what they think of it: notebook 5's
widget (:func:`gazelab.teach.widgets.hand_fovea_explorer`) and ``benchmarks/triplet_landscape.py`` (the committed
tables of docs/evidence.md, 2026-12-02) both measure with this module.

1. Record: a built-in task played by a noisy scripted expert (:func:`collect_expert_frames`), its frames mapped
   by a frozen CNN (:func:`encode_frames`) and the finished episodes kept, labelled, flat (:func:`record_episodes`
   -> :class:`Recording`: maps, labels, episode ids and the privileged goal (``prize``) and gripper positions).
2. Mine: :class:`TripletLandscape` mines triplets exactly as the contrastive step does (``mine_triplets`` over the
   buffer's keys, k = 16), with neighbours from anywhere or from other episodes only.
3. Place the fovea, in *image* units (converted to the map with the encoder's geometry): one place for every frame
   (:meth:`TripletLandscape.at`, the widget's sliders) or each frame's own goal, gripper, ...
   (:meth:`TripletLandscape.placements`, the benchmark's; :func:`object_lead`), and compare each triplet as the
   learner compares it (``triplet_views``: ``"anchor"`` = the anchor's fovea on all three maps, ``"glimpse"`` = what
   each member's own fovea sees). :class:`FoveaNumbers` holds the answer: the triplet loss, the share of triplets the gazed views
   already separate, the weight on the goal against chance, the share of positives from the anchor's own episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import torch
from torch import Tensor

from gazelab.core.checks import check_choice, check_int, check_number, check_tensor
from gazelab.core.errors import GazelabError
from gazelab.envs import make_env
from gazelab.method.attention import PRIZE_RADIUS, gaussian_map, weight_near
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import FOVEA_MODES, NEIGHBOURS, cosine_distance, mine_triplets, triplet_views
from gazelab.method.labels import EpisodeLabeller

__all__ = ["PLACEMENTS", "PLACED", "RECORDING_LABELS", "KEYS", "collect_expert_frames", "encode_frames",
           "finished_episodes", "episode_frames", "Recording", "record_episodes", "FoveaNumbers", "TripletLandscape",
           "object_lead"]

PLACEMENTS = ("goal", "gripper", "midpoint", "centre", "random")
"""Where :meth:`TripletLandscape.placed` puts each frame's fovea: on its goal (the env's ``prize``), its gripper, the
goal-gripper midpoint, the image centre or a random spot."""
PLACED = (("goal", 0.25), ("gripper", 0.25), ("midpoint", 0.4), ("centre", 0.6), ("random", 0.5))
"""The placements of the committed landscape tables, (name, sigma in image units): a small fovea on each task object
(the goal is drawn with radius 0.13), a wider one between them, at the centre (wide: a fovea that ignores the image
but sees most of the map) and on a random spot."""
RECORDING_LABELS = ("return_to_go", "reward", "success", "neg_distance")
"""What :func:`record_episodes` labels the frames with: the episode's discounted return-to-go, the step's reward,
the episode's success, or -|gripper - goal| (a label that is a function of the state)."""
KEYS = ("map", "state")
"""What "look alike" means for mining: the buffer's keys of the whole map (the library's) or the true gripper and goal
positions (neighbours that *are* alike: an upper bound)."""


@torch.no_grad()
def collect_expert_frames(env_id: str, clutter: str, envs: int, steps: int, seed: int) -> dict[str, Tensor]:
    """Frames of a noisy scripted expert on a built-in task: rgb (S, N, 64, 64, 3), state (S, N, D),
    reward/done/success (S, N), prize/gripper (S, N, 2).

    Each episode mixes the true expert action (``env.oracle_action()``) with uniform noise in its own proportion,
    the expert's share drawn from U(0, 0.15): the expert's pull (0.1 units per step at share 1) then brings the gripper
    to a goal 0.3-0.6 away within the 50 steps in about half of the episodes, so returns and successes vary.
    """
    env = make_env(env_id, envs, seed=seed, device="cpu", clutter=clutter)
    obs, _ = env.reset()
    g = torch.Generator().manual_seed(seed)
    skill = 0.15 * torch.rand(envs, 1, generator=g)
    out: dict[str, list] = {k: [] for k in ("rgb", "state", "reward", "done", "success", "prize", "gripper")}
    for _ in range(steps):
        noise = torch.rand(envs, 2, generator=g) * 2 - 1
        action = skill * env.oracle_action() + (1 - skill) * noise
        out["rgb"].append(obs["rgb"])
        out["state"].append(obs["state"])
        out["prize"].append(obs["prize"])
        out["gripper"].append(obs["state"][:, :2])
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated | truncated
        out["reward"].append(reward)
        out["done"].append(done)
        success = torch.zeros(envs, dtype=torch.bool)
        if "final_info" in info:
            success = info["_final_info"] & info["final_info"]["episode"]["success_once"]
        out["success"].append(success)
        skill = torch.where(done[:, None], 0.15 * torch.rand(envs, 1, generator=g), skill)
    env.close()
    return {k: torch.stack(v) for k, v in out.items()}


@torch.no_grad()
def encode_frames(cnn, rgb: Tensor, batch: int = 1024) -> Tensor:
    """(S, N, H, W, 3) uint8 -> (S, N, C, h, w) float16 maps of a frozen CNN."""
    flat = rgb.flatten(0, 1)
    maps = torch.cat([cnn(flat[i:i + batch]).half() for i in range(0, len(flat), batch)])
    return maps.view(*rgb.shape[:2], *maps.shape[1:])


def finished_episodes(frames: dict, maps: Tensor, label: str, gamma: float) -> tuple[Tensor, ...]:
    """Finished episodes as flat (maps, labels, episode ids, prize, gripper), in the order they ended (an
    :class:`~gazelab.method.labels.EpisodeLabeller` labels them: ``return_to_go``, ``reward``, ``episode_return`` or
    ``success``); with :func:`episode_frames` the same rows' other per-frame values."""
    steps, n = frames["reward"].shape
    labeller = EpisodeLabeller(n, 64, maps.shape[2:], label, gamma, "cpu")
    start = torch.zeros(n, dtype=torch.long)  # step at which each env's running episode began
    parts: dict[str, list] = {k: [] for k in ("maps", "labels", "episodes", "prize", "gripper")}
    for t in range(steps):
        for i, (episode_maps, labels, episodes, _) in zip(
                torch.nonzero(frames["done"][t]).flatten().tolist(),
                labeller.observe(maps[t], frames["reward"][t], frames["done"][t], frames["success"][t])):
            span = slice(int(start[i]), t + 1)
            parts["maps"].append(episode_maps.clone())
            parts["labels"].append(labels.clone())
            parts["episodes"].append(episodes)
            parts["prize"].append(frames["prize"][span, i])
            parts["gripper"].append(frames["gripper"][span, i])
            start[i] = t + 1
    return tuple(torch.cat(v) for v in parts.values())


def episode_frames(frames: dict, key: str) -> Tensor:
    """``frames[key]`` (S, N, ...) of the finished episodes, flat, in the order of :func:`finished_episodes`."""
    steps, n = frames["done"].shape
    start, parts = torch.zeros(n, dtype=torch.long), []
    for t in range(steps):
        for i in torch.nonzero(frames["done"][t]).flatten().tolist():
            parts.append(frames[key][int(start[i]): t + 1, i])
            start[i] = t + 1
    return torch.cat(parts)


@dataclass
class Recording:
    """Frames of finished episodes, flat: what the landscape is measured on (N frames)."""

    maps: Tensor
    """(N, C, h, w) feature maps of a frozen CNN (float16, like the contrastive buffer's)."""
    labels: Tensor
    """(N,) the outcome each frame is labelled with (the triplets' classes: above / below the median)."""
    episodes: Tensor
    """(N,) integer episode id of each frame."""
    prize: Tensor
    """(N, 2) the goal's position, image coordinates (the env's privileged ``prize``)."""
    gripper: Tensor
    """(N, 2) the gripper's position, image coordinates."""
    rgb: Tensor | None = None
    """(N, H, W, 3) uint8 frames, or None (only the widget's picture needs them)."""
    label: str = ""
    """The label's name, for titles."""

    def __post_init__(self):
        n = check_tensor("maps", self.maps, (None, None, None, None), "(N, C, h, w)").shape[0]
        check_tensor("labels", self.labels, (n,), f"({n},) like maps")
        check_tensor("episodes", self.episodes, (n,), f"({n},) like maps")
        check_tensor("prize", self.prize, (n, 2), f"({n}, 2) like maps")
        check_tensor("gripper", self.gripper, (n, 2), f"({n}, 2) like maps")
        if self.rgb is not None:
            check_tensor("rgb", self.rgb, (n, None, None, 3), f"({n}, H, W, 3) like maps")

    def __len__(self) -> int:
        return self.maps.shape[0]


def record_episodes(frames: dict, maps: Tensor, label: str = "return_to_go", *, gamma: float = 0.8,
                    keep_rgb: bool = False) -> Recording:
    """The finished episodes of :func:`collect_expert_frames`' frames and their :func:`encode_frames` maps, labelled.

    label: one of :data:`RECORDING_LABELS` (``return_to_go`` with ``gamma``: the offline stand-in for PPO's GAE
    returns); ``keep_rgb``: keep the frames themselves too (for pictures).
    """
    check_choice("label", label, RECORDING_LABELS)
    base = label if label in ("success", "reward") else "return_to_go"
    fmaps, labels, episodes, prize, gripper = finished_episodes(frames, maps, base, gamma)
    if label == "neg_distance":
        labels = -(gripper - prize).norm(dim=1)
    rgb = episode_frames(frames, "rgb") if keep_rgb else None
    return Recording(fmaps, labels, episodes, prize, gripper, rgb, label)


@dataclass
class FoveaNumbers:
    """What the mined triplets say about one placement of the fovea (one mining setting, one comparison)."""

    triplets: int
    """Number of mined triplets T (the numbers below are means over them; NaN when T = 0)."""
    triplet_loss: float
    """The library's ``triplet_loss`` (cosine distance, ``margin``) of the compared views: ``margin`` where the views
    cannot tell positive from negative, 0 where every triplet is separated by the margin."""
    separated: float
    """Share of triplets whose compared views already put the positive nearer the anchor: d(a, p) < d(a, n)."""
    goal_weight: float
    """Share of the fovea's weight on the map cells near the goal (within ``PRIZE_RADIUS``), mean over the anchors
    (the anchor's fovea on the anchor's frame; ``weight_near``)."""
    goal_weight_chance: float
    """That share for uniform weights (no fovea), over the same anchors."""
    positive_same_episode: float
    """Share of positives from the anchor's own episode (0 with neighbours from other episodes)."""
    neighbours: str = "any"
    fovea: str = "anchor"
    separated_each: Tensor | None = field(default=None, repr=False, compare=False)
    """(T,) 1.0 where the triplet is separated, else 0.0 (paired comparisons of placements)."""


class TripletLandscape:
    """A recording, its mined triplets and a frozen encoder's geometry: the triplet objective at any fovea.

    Args:
        recording: the frames (:class:`Recording`).
        encoder: the CNN whose maps the recording holds (its ``image_to_map`` / ``map_geometry`` convert the fovea).
        k: neighbours per anchor (the contrastive step's default, 16).
        num_anchors: anchors drawn per mining (each gives at most one triplet); None = every frame.
        keys: ``"map"`` (the buffer's random projection of the whole map, seeded with ``seed``) or ``"state"`` (the
            true gripper and goal positions); see :data:`KEYS`.
        margin: the triplet loss's margin.
        seed: seed of the keys' projection and of the anchors' draw.

    The triplets of each neighbour rule are mined once, with a generator seeded by ``seed`` (the benchmark's draw),
    and kept.
    """

    def __init__(self, recording: Recording, encoder, *, k: int = 16, num_anchors: int | None = 3000,
                 keys: str = "map", margin: float = 0.2, seed: int = 0):
        self.recording = recording
        self.encoder = encoder
        self.k = check_int("k", k, 1, len(recording) - 1)
        self.num_anchors = num_anchors
        self.keys = check_choice("keys", keys, KEYS)
        self.margin = check_number("margin", margin, 0)
        self.seed = seed
        self.scale = encoder.map_geometry()[0].float().mean()  # image units per map unit
        self.map_size = tuple(recording.maps.shape[2:])
        self._triplets: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        self._cells = encoder.cell_centres()

    def mining_keys(self) -> Tensor:
        """(N, D) what mining compares: the buffer's keys of the maps, or the gripper and goal positions."""
        rec = self.recording
        if self.keys == "state":
            return torch.cat([rec.gripper, rec.prize], 1).float()
        # the keys a ContrastiveBuffer(seed=seed) computes in ``add`` (its projection depends on the seed only)
        return ContrastiveBuffer(tuple(rec.maps.shape[1:]), 1, seed=self.seed).make_keys(rec.maps)

    def triplets(self, neighbours: str = "any") -> tuple[Tensor, Tensor, Tensor]:
        """(anchor, positive, negative) row indices, mined as the contrastive step mines (classes: the median label)."""
        check_choice("neighbours", neighbours, NEIGHBOURS)
        if neighbours not in self._triplets:
            rec = self.recording
            self._triplets[neighbours] = mine_triplets(
                self.mining_keys(), rec.labels.float(), self.k, num_anchors=self.num_anchors, episodes=rec.episodes,
                neighbours=neighbours, generator=torch.Generator().manual_seed(self.seed))
        return self._triplets[neighbours]

    def weights(self, centres: Tensor, sigma: float) -> Tensor:
        """Map weights (B, h, w) of round foveas at ``centres`` (B, 2) with spread ``sigma``, both in image units."""
        b = centres.shape[0]
        return gaussian_map(self.encoder.image_to_map(centres.float()), torch.full((b, 2), float(sigma)) / self.scale,
                            torch.zeros(b), *self.map_size)

    def placement_centres(self, name: str, rows: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, 2) image coordinates of the fovea of each frame in ``rows`` placed by ``name`` (:data:`PLACEMENTS`).

        ``random`` spots are uniform over the image, drawn from ``generator``. Given a generator, *every* call draws
        them (and only ``random`` uses them): the committed tables of ``benchmarks/triplet_landscape.py`` were drawn
        so, one draw per placement asked, and reproduce only with that sequence. Without one, ``random`` needs it.
        """
        check_choice("placement", name, PLACEMENTS)
        prize, gripper = self.recording.prize[rows], self.recording.gripper[rows]
        if generator is None and name == "random":
            raise GazelabError("placement 'random' needs a torch.Generator")
        spots = torch.rand(prize.shape, generator=generator) * 2 - 1 if generator is not None else None
        return {"goal": prize, "gripper": gripper, "midpoint": (prize + gripper) / 2, "centre": torch.zeros_like(prize),
                "random": spots}[name]

    @torch.no_grad()
    def compare(self, fovea: str, neighbours: str, centres: tuple[Tensor, Tensor, Tensor], sigma: float
                ) -> FoveaNumbers:
        """The numbers for foveas at ``centres`` = (anchors', positives', negatives') (T, 2) image coordinates of the
        mined triplets of ``neighbours``, all with spread ``sigma`` (image units), compared by ``fovea``."""
        check_choice("fovea", fovea, FOVEA_MODES)
        check_number("sigma", sigma, 0, low_open=True)
        a, p, n = self.triplets(neighbours)
        t = len(a)
        if len(centres) != 3:
            raise GazelabError(f"centres must hold the anchors', positives' and negatives' foveas, got {len(centres)}")
        for name, c in zip(("anchor", "positive", "negative"), centres):
            check_tensor(f"{name} centres", c, (t, 2), f"({t}, 2): one per mined triplet")
        if t == 0:
            nan = float("nan")
            return FoveaNumbers(0, nan, nan, nan, nan, nan, neighbours, fovea, torch.zeros(0))
        rec = self.recording
        members = tuple(rec.maps[i].float() for i in (a, p, n))
        weights = tuple(self.weights(c, sigma) for c in centres)
        va, vp, vn = triplet_views(fovea, members, weights)
        d_pos, d_neg = cosine_distance(va, vp), cosine_distance(va, vn)
        separated = (d_neg > d_pos).float()
        goal, chance = weight_near(weights[0], rec.prize[a], self._cells, PRIZE_RADIUS)
        return FoveaNumbers(
            triplets=t,
            triplet_loss=torch.relu(d_pos - d_neg + self.margin).mean().item(),
            separated=separated.mean().item(),
            goal_weight=goal.mean().item(),
            goal_weight_chance=chance.mean().item(),
            positive_same_episode=(rec.episodes[p] == rec.episodes[a]).float().mean().item(),
            neighbours=neighbours, fovea=fovea, separated_each=separated)

    @torch.no_grad()
    def at(self, mu, sigma: float, *, neighbours: str = "any", fovea: str = "anchor") -> FoveaNumbers:
        """One hand-placed fovea for every frame: centre ``mu`` (x, y) and spread ``sigma``, image units."""
        centre = torch.as_tensor(mu, dtype=torch.float32).reshape(1, 2)
        if not torch.isfinite(centre).all():
            raise GazelabError(f"mu must be two finite numbers, got {mu!r}")
        t = len(self.triplets(neighbours)[0])
        return self.compare(fovea, neighbours, (centre.expand(t, 2),) * 3, sigma)

    @torch.no_grad()
    def placed(self, name: str, sigma: float, *, neighbours: str = "any", fovea: str = "anchor",
               generator: torch.Generator | None = None) -> FoveaNumbers:
        """Each frame's fovea placed by ``name`` (:data:`PLACEMENTS`: on its own goal, its gripper, ...) with spread
        ``sigma`` (image units). ``random`` draws the anchors', positives' and negatives' spots from ``generator``, in
        that order (None: a generator seeded with the landscape's seed)."""
        if name == "random" and generator is None:
            generator = torch.Generator().manual_seed(self.seed)
        rows = self.triplets(neighbours)
        return self.compare(fovea, neighbours, tuple(self.placement_centres(name, i, generator) for i in rows), sigma)

    def placements(self, neighbours: str = "any", foveas=("anchor", "glimpse"), placed=PLACED
                   ) -> dict[str, dict[tuple[str, float], FoveaNumbers]]:
        """{fovea: {(name, sigma): FoveaNumbers}} for every comparison in ``foveas`` and placement in ``placed``
        ((name, sigma) pairs, :data:`PLACED`), the triplets of ``neighbours``. The random spots come from one generator
        seeded with the landscape's seed, drawn per fovea and placement in that order: what
        ``benchmarks/triplet_landscape.py`` does, so with its recording this gives its committed numbers."""
        generator = torch.Generator().manual_seed(self.seed)
        return {fovea: {(name, sigma): self.placed(name, sigma, neighbours=neighbours, fovea=fovea, generator=generator)
                        for name, sigma in placed} for fovea in foveas}


def object_lead(row: Mapping[tuple[str, float], FoveaNumbers]
                ) -> tuple[list[float], tuple[str, float], tuple[str, float]] | None:
    """Do the mined triplets prefer a fovea on the task objects? ``row``: {(name, sigma): FoveaNumbers} of one setting
    (:meth:`TripletLandscape.placements`' rows, the same triplets under every placement).

    The lead is the better of the goal's and the gripper's separated share (the two objects whose distance decides
    the return) minus the better of the centre's and the random spot's, with a 95% interval over the triplets (paired:
    the same triplets under both placements, normal approximation). Returns ([low, lead, high], the object
    placement, the blind placement), or None without both kinds of placement or without triplets."""
    objects = [key for key in row if key[0] in ("goal", "gripper")]
    blind = [key for key in row if key[0] in ("centre", "random")]
    if not objects or not blind or not row[objects[0]].triplets:
        return None
    best_object = max(objects, key=lambda key: row[key].separated)
    best_blind = max(blind, key=lambda key: row[key].separated)
    diff = row[best_object].separated_each - row[best_blind].separated_each
    half = 1.96 * diff.std().item() / math.sqrt(len(diff))
    return [diff.mean().item() - half, diff.mean().item(), diff.mean().item() + half], best_object, best_blind
