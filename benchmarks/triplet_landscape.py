"""Does the return-guided triplet objective prefer a fovea on the prize? The loss landscape with the fovea placed by hand.

    python benchmarks/triplet_landscape.py                                # random-init CNN, ReachClutter (mild)
    python benchmarks/triplet_landscape.py --cnn runs/ppo/<baseline run>  # the CNN of a trained run

Frames of a noisy scripted expert (as ``gaze_probe.py``) are mapped by a frozen CNN, labelled, stored in a
:class:`~gazelab.method.buffer.ContrastiveBuffer` and mined exactly as the contrastive step mines them (for each label and
each neighbour rule). Then, instead of training a gaze, the anchor's fovea (one eye per triplet, sigma 0.25 image
units) is *placed*: on the anchor's goal (the prize), its gripper, the map centre, or a random spot. For each
placement: the share of mined triplets the placement already separates (cosine distance anchor-negative >
anchor-positive) and the mean of that difference. If the objective pointed at the prize, the goal placement would
separate clearly more triplets than the centre or a random spot.

Writes ``benchmarks/results/triplet_landscape[-<tag>].json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gaze_probe import collect, features, labelled, load_cnn
from gazelab.method.attention import gaussian_map
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import NEIGHBOURS, cosine_distance, mine_triplets

RESULTS = Path(__file__).resolve().parent / "results"
PLACEMENTS = ("goal", "gripper", "centre", "random")


def landscape(frames: dict, maps: torch.Tensor, cnn, label: str, neighbours: str, sigma_image: float,
              anchors: int, seed: int) -> dict:
    """Mine with one label / neighbour rule; separation of the mined triplets for every fovea placement."""
    fmaps, labels, episodes, prize, gripper = labelled(frames, maps, label, gamma=0.8)
    buffer = ContrastiveBuffer(tuple(fmaps.shape[1:]), len(labels), seed=seed)
    buffer.add(fmaps, labels, episodes)
    f, r, k = buffer.filled()
    a, p, n = mine_triplets(k, r, 16, num_anchors=anchors, episodes=buffer.episodes[: len(buffer)],
                            neighbours=neighbours, generator=torch.Generator().manual_seed(seed))
    t = len(a)
    out = {"label": label, "neighbours": neighbours, "triplets": t,
           "positive_same_episode": (episodes[p] == episodes[a]).float().mean().item() if t else None,
           "negative_same_episode": (episodes[n] == episodes[a]).float().mean().item() if t else None}
    if t == 0:
        return out
    g = torch.Generator().manual_seed(seed)
    centres = {"goal": cnn.image_to_map(prize[a]), "gripper": cnn.image_to_map(gripper[a]),
               "centre": torch.zeros(t, 2), "random": torch.rand(t, 2, generator=g) * 2 - 1}
    scale = cnn.map_geometry()[0].float().mean()
    fa, fp, fn = (f[i].float() for i in (a, p, n))
    for name, mu in centres.items():
        w = gaussian_map(mu, torch.full((t, 2), sigma_image) / scale, torch.zeros(t), *fa.shape[2:])[:, None]
        gap = cosine_distance(fa * w, fn * w) - cosine_distance(fa * w, fp * w)
        out[name] = {"separated": (gap > 0).float().mean().item(), "mean_gap": gap.mean().item()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="gazelab/ReachClutter-v0")
    parser.add_argument("--clutter", default="mild")
    parser.add_argument("--cnn", default=None, help="a run directory whose trained CNN gives the maps")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--anchors", type=int, default=3000)
    parser.add_argument("--sigma", type=float, default=0.25, help="fovea sigma in image units")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None, help="output suffix (default: <clutter>-<random|trained>)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    frames = collect(args.env_id, args.clutter, args.envs, args.steps, args.seed)
    cnn = load_cnn(args.cnn, args.seed)
    maps = features(cnn, frames["rgb"])
    rows = []
    print(f"{'label':15s} {'neighbours':15s} {'triplets':>8s} {'pos same ep':>11s} {'neg same ep':>11s}  "
          + "  ".join(f"{p + ' sep/gap':>18s}" for p in PLACEMENTS))
    for label in ("return_to_go", "success"):
        for neighbours in NEIGHBOURS:
            row = landscape(frames, maps, cnn, label, neighbours, args.sigma, args.anchors, args.seed)
            rows.append(row)
            if not row["triplets"]:
                print(f"{label:15s} {neighbours:15s} {0:>8d}  (no triplet: one outcome class per episode)")
                continue
            print(f"{label:15s} {neighbours:15s} {row['triplets']:>8d} {row['positive_same_episode']:>11.2f} "
                  f"{row['negative_same_episode']:>11.2f}  " + "  ".join(
                      f"{row[p]['separated']:>8.2f} / {100 * row[p]['mean_gap']:>6.2f}" for p in PLACEMENTS), flush=True)
    tag = args.tag or f"{args.clutter}-{'trained' if args.cnn else 'random'}"
    out = RESULTS / f"triplet_landscape-{tag}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"(gap x 100) wrote {out}")


if __name__ == "__main__":
    main()
