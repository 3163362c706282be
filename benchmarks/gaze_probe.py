"""Offline probe: does the contrastive objective alone move the gaze onto the prize? Seconds per variant, no RL.

    python benchmarks/gaze_probe.py                                   # the default variants on ReachClutter (mild)
    python benchmarks/gaze_probe.py --variants anchor own keypoint --clutter medium --cnn runs/ppo/<run>
    python benchmarks/gaze_probe.py --list                            # the variants and what they change

1. Frames: ``--envs`` envs of a built-in task play ``--steps`` steps under a noisy scripted expert (each episode
   mixes the true expert action with uniform noise in its own proportion, so returns and successes vary), and
   every frame is kept with its reward, episode id and the true prize / gripper positions
   (:func:`gazelab.teach.landscape.collect_expert_frames`, shared with ``triplet_landscape.py`` and notebook 5).
2. Features: a frozen FineNatureCNN, seeded at random init, or the CNN of a trained run (``--cnn RUN``), maps the
   frames to the feature maps the contrastive buffer would hold.
3. For each variant (a set of :class:`gazelab.method.contrastive.ContrastiveConfig` fields, a gaze head and a label), a
   fresh :class:`gazelab.method.attention.GaussianGaze` is trained by ``ContrastiveLearner.update`` on a buffer of the
   first 80% of the episodes, then measured on the other 20% with :func:`gazelab.rl.prize.gaze_on_prize`: fovea to
   prize vs a centred fovea, fovea to gripper, weight on the prize vs chance, spread of the centre across frames.

Writes ``benchmarks/results/gaze_probe/<tag>.json``. What the probe cannot show: the interplay with RL (PPO's
gradients into the gaze, a CNN that changes while the gaze learns); the PPO screen does that.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gazelab.method.attention import GaussianGaze
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import ContrastiveConfig, ContrastiveLearner
from gazelab.method.encoders import FineNatureCNN
from gazelab.rl.prize import GazeTracker
from gazelab.teach.landscape import collect_expert_frames, encode_frames, finished_episodes

RESULTS = Path(__file__).resolve().parent / "results" / "gaze_probe"

VARIANTS: dict[str, dict] = {
    "anchor": {},
    "own": {"fovea": "own"},
    "keypoint": {"head": "keypoint"},
    "keypoint-own": {"head": "keypoint", "fovea": "own"},
    "higher": {"rule": "higher_return"},
    "keypoint-higher": {"head": "keypoint", "rule": "higher_return"},
    "other-episodes": {"neighbours": "other_episodes"},
    "keypoint-other-episodes": {"head": "keypoint", "neighbours": "other_episodes"},
    "episode-return": {"label": "episode_return"},
    "success": {"label": "success"},
    "keypoint-success": {"head": "keypoint", "label": "success"},
    "lr3e-3": {"lr": 3e-3},
    "keypoint-lr3e-3": {"head": "keypoint", "lr": 3e-3},
    "keypoint-success-lr3e-3": {"head": "keypoint", "label": "success", "lr": 3e-3},
    "keypoint-own-success-lr3e-3": {"head": "keypoint", "label": "success", "lr": 3e-3, "fovea": "own"},
    "success-lr3e-3": {"label": "success", "lr": 3e-3},
    "keypoint-lr1e-2": {"head": "keypoint", "lr": 1e-2},
    "keypoint-success-lr1e-2": {"head": "keypoint", "label": "success", "lr": 1e-2},
    "keypoint-glimpse": {"head": "keypoint", "fovea": "glimpse"},
    "keypoint-glimpse-lr1e-2": {"head": "keypoint", "fovea": "glimpse", "lr": 1e-2},
    "keypoint-glimpse-lr1e-2-other-episodes": {"head": "keypoint", "fovea": "glimpse", "lr": 1e-2,
                                               "neighbours": "other_episodes"},
    "keypoint-glimpse-lr1e-2-shuffled": {"head": "keypoint", "fovea": "glimpse", "lr": 1e-2, "shuffle": True},
    "keypoint-lr1e-2-shuffled": {"head": "keypoint", "lr": 1e-2, "shuffle": True},
}
"""name -> overrides: ContrastiveConfig fields, plus 'head' (GaussianGaze head), 'label' (gazelab.method.labels; default
return_to_go with gamma 0.8, the offline stand-in for PPO's GAE returns) and 'shuffle' (the control: labels permuted
across all frames, so any move of the gaze comes from the features, not from the returns)."""


def load_cnn(run: str | None, seed: int) -> torch.nn.Module:
    """A trained run's CNN (frozen), or a randomly initialised FineNatureCNN."""
    if run is None:
        torch.manual_seed(seed)
        return FineNatureCNN(64).eval()
    from gazelab.rl.algorithms import load_policy
    from gazelab.rl.video import image_cnn

    agent, _, _ = load_policy(run, device="cpu")
    return image_cnn(agent).eval()


def probe(frames: dict, maps: torch.Tensor, cnn, name: str, overrides: dict, updates: int, seed: int) -> dict:
    """Train a fresh gaze on 80% of the episodes with one variant; measure it on the rest."""
    overrides = dict(overrides)
    head, label = overrides.pop("head", "mlp"), overrides.pop("label", "return_to_go")
    shuffle = overrides.pop("shuffle", False)
    fmaps, labels, episodes, prize, gripper = finished_episodes(frames, maps, label, gamma=0.8)
    if shuffle:
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + 1))]
    split = int(0.8 * len(labels))
    buffer = ContrastiveBuffer(tuple(fmaps.shape[1:]), split, seed=seed)
    buffer.add(fmaps[:split], labels[:split], episodes[:split])
    torch.manual_seed(seed)
    gaze = GaussianGaze(fmaps.shape[1], head=head)
    learner = ContrastiveLearner(gaze, ContrastiveConfig(**overrides), seed=seed)
    start = time.time()
    first = learner.update(buffer)
    for _ in range(updates - 1):
        last = learner.update(buffer)
    tracker = GazeTracker(cnn)
    with torch.no_grad():
        test = fmaps[split:].float()
        att = gaze(test)
        tracker.add(att, prize[split:])
        mu_image = cnn.map_to_image(att.mu)
    return {"variant": name, "head": head, "label": label, "shuffle": shuffle, **overrides, **tracker.scalars(),
            "gripper_distance": (mu_image - gripper[split:]).norm(dim=1).mean().item(),
            "centre_gripper_distance": (gripper[split:] - cnn.map_to_image(torch.zeros(2))).norm(dim=1).mean().item(),
            "triplets": last.triplets, "triplet_loss_first": first.triplet_loss, "triplet_loss_last": last.triplet_loss,
            "train_frames": split, "seconds": round(time.time() - start, 1)}


COLUMNS = ("prize_distance", "centre_distance", "gripper_distance", "centre_gripper_distance", "prize_mass",
           "prize_mass_chance", "mu_std", "sigma_x", "triplet_loss_last")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--env-id", default="gazelab/ReachClutter-v0")
    parser.add_argument("--clutter", default="mild")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300, help="steps per env (64 x 300 = 19,200 frames)")
    parser.add_argument("--updates", type=int, default=300, help="contrastive updates per variant")
    parser.add_argument("--cnn", default=None, help="a run directory whose trained CNN gives the maps (default: random init)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None, help="output name (default: <clutter>-<random|trained>-s<seed>)")
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    args = parser.parse_args()
    if args.list:
        for name, overrides in VARIANTS.items():
            print(f"{name:32s} {overrides}")
        return
    torch.set_num_threads(1)
    frames = collect_expert_frames(args.env_id, args.clutter, args.envs, args.steps, args.seed)
    cnn = load_cnn(args.cnn, args.seed)
    maps = encode_frames(cnn, frames["rgb"])
    print(f"{args.env_id} clutter={args.clutter}: {frames['reward'].numel()} frames, "
          f"{int(frames['done'].sum())} episodes, success {frames['success'].sum() / frames['done'].sum():.2f}")
    print(f"{'variant':32s} " + " ".join(f"{c[:14]:>14s}" for c in COLUMNS))
    rows = []
    for name in args.variants:
        row = probe(frames, maps, cnn, name, VARIANTS[name], args.updates, args.seed)
        rows.append(row)
        print(f"{name:32s} " + " ".join(f"{row.get(c, float('nan')):>14.3f}" for c in COLUMNS), flush=True)
    tag = args.tag or f"{args.clutter}-{'trained' if args.cnn else 'random'}-s{args.seed}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{tag}.json"
    path.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
