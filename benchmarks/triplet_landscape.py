"""Does the return-guided triplet objective prefer a fovea on the prize? The loss landscape with the fovea placed by hand.

    python benchmarks/triplet_landscape.py                                 # random-init CNN, ReachClutter (mild)
    python benchmarks/triplet_landscape.py --cnn runs/ppo/<run>            # a trained run's CNN (and its critic)
    python benchmarks/triplet_landscape.py --clutter mild-scenes --labels neg_distance --foveas glimpse
    python benchmarks/triplet_landscape.py --markdown benchmarks/results/triplet_landscape/*.json   # tables only

Frames of a noisy scripted expert (as ``gaze_probe.py``) are mapped by a frozen CNN, labelled, and mined exactly as
the contrastive step mines them (``mine_triplets``, k = 16), for every label x key x neighbour rule asked for. Then,
instead of training a gaze, the fovea is *placed* (``NAME@SIGMA``, sigma in image units): on the prize (``goal``),
the ``gripper``, the goal-gripper ``midpoint``, the image ``centre`` or a ``random`` spot, and each triplet is compared as the learner
compares it (``triplet_views``: ``anchor`` = the anchor's fovea on all three maps, the library's default;
``glimpse`` = what each member's own fovea sees). Per placement: the share of mined triplets it already separates
(cosine distance anchor-negative > anchor-positive). If the objective pointed at the prize, the goal placement would
separate clearly more triplets than the centre or a random spot: ``object lead`` is the better of the goal's and the
gripper's share (the two task objects, whose distance decides the return) minus the better of the centre's and the
random spot's, with a 95% interval over the triplets (paired: the same triplets under both placements).

Labels: ``return_to_go`` (gamma 0.8, the offline stand-in for PPO's GAE returns), ``reward`` (the step's own dense
reward, a label the agent has), ``success``, ``neg_distance``
(-|gripper - goal|, a label that is a function of the state) and ``value`` (the critic's V(s) of the ``--cnn`` run).
Keys: ``map`` (the buffer's random projection of the whole map, the library's) or ``state`` (the true gripper and
goal positions: neighbours that *are* alike, an upper bound). ``pos same ep`` / ``neg same ep``: the shares of
positives / negatives from the anchor's own episode (positives from it and negatives from others: the triplets tell
episodes apart, whatever the labels say of single states). Controls: ``return_to_go_shuffled_per_episode`` (each
episode's labels permuted among its frames, as ``contrastive.shuffle_labels`` stores SAC's episodes) and
``return_to_go_shuffled`` (among all frames, as ``contrastive.shuffle_scope="buffer"``). ``rho(label, -dist)``: the label's rank correlation with -|gripper - goal|, how far the label
is a function of what the image shows.

The recording, the mining and the placed foveas are :mod:`gazelab.teach.landscape`'s, which notebook 5's hand-placed
fovea widget measures with too. Writes ``benchmarks/results/triplet_landscape/<tag>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gaze_probe import load_cnn
from gazelab.method.contrastive import FOVEA_MODES, NEIGHBOURS
from gazelab.teach.landscape import (PLACED, PLACEMENTS as PLACEMENT_NAMES, Recording, TripletLandscape,
                                     collect_expert_frames, encode_frames, episode_frames, object_lead,
                                     record_episodes)

RESULTS = Path(__file__).resolve().parent / "results" / "triplet_landscape"
SHUFFLED = {"return_to_go_shuffled_per_episode": "episode", "return_to_go_shuffled": "all"}
LABELS = ("return_to_go", "reward", "success", "neg_distance", "value", *SHUFFLED)
KEYS = ("map", "state")
PLACEMENTS = tuple(f"{name}@{sigma}" for name, sigma in PLACED)  # goal@0.25 ... random@0.5


def placement(spec: str) -> tuple[str, float]:
    """'goal@0.25' -> ('goal', 0.25); the names: goal, gripper, midpoint, centre, random."""
    name, _, sigma = spec.partition("@")
    if name not in PLACEMENT_NAMES or not sigma:
        raise SystemExit(f"placement {spec!r}: use NAME@SIGMA with NAME goal, gripper, midpoint, centre or random")
    return name, float(sigma)


@torch.no_grad()
def critic_values(run: str, frames: dict, batch: int = 1024) -> torch.Tensor:
    """V(s) (S, N) of a saved PPO run's critic for every collected frame."""
    from gazelab.rl.algorithms import load_policy

    agent, _, _ = load_policy(run, device="cpu")
    if not hasattr(agent, "get_value"):
        raise SystemExit(f"--labels value needs a PPO run's critic; {run} has none")
    flat = {k: frames[k].flatten(0, 1) for k in ("rgb", "state", "prize")}
    values = [agent.get_value({k: v[i:i + batch] for k, v in flat.items()}).flatten()
              for i in range(0, len(flat["rgb"]), batch)]
    return torch.cat(values).view(frames["rgb"].shape[:2])


def dataset(frames: dict, maps: torch.Tensor, label: str, seed: int = 0) -> Recording:
    """Finished episodes, flat, labelled (``value``: the critic's V(s), see :func:`critic_values`; the shuffled
    return-to-go controls: :func:`shuffled`)."""
    if label in SHUFFLED:
        return shuffled(record_episodes(frames, maps, "return_to_go", gamma=0.8), SHUFFLED[label], seed)
    if label != "value":
        return record_episodes(frames, maps, label, gamma=0.8)
    recording = record_episodes(frames, maps, "return_to_go", gamma=0.8)
    recording.labels = episode_frames(frames, "value")
    return recording


def shuffled(recording: Recording, scope: str, seed: int) -> Recording:
    """The shuffled-label controls: labels permuted inside each episode (``"episode"``, what
    ``contrastive.shuffle_labels`` does in SAC, which stores one episode at a time: each episode keeps its own
    labels) or among all frames (``"all"``, like ``contrastive.shuffle_scope="buffer"``)."""
    generator = torch.Generator().manual_seed(seed)
    labels = recording.labels.clone()
    groups = [torch.arange(len(labels))] if scope == "all" else [
        torch.nonzero(recording.episodes == e).flatten() for e in recording.episodes.unique()]
    for rows in groups:
        labels[rows] = labels[rows[torch.randperm(len(rows), generator=generator)]]
    recording.labels = labels
    return recording


def rank_correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's rho of two (N,) series (ties broken by order: the labels' ties are few, except success's)."""
    rx, ry = (v.argsort().argsort().double() for v in (x, y))
    return torch.corrcoef(torch.stack([rx, ry]))[0, 1].item()


def landscape(data: Recording, cnn, keys: str, neighbours: str, foveas, placements, anchors: int, seed: int) -> dict:
    """Mine with one key / neighbour rule; the separation of the mined triplets per fovea mode and placement
    (:class:`gazelab.teach.landscape.TripletLandscape`, what notebook 5's widget measures with)."""
    scape = TripletLandscape(data, cnn, k=16, num_anchors=anchors, keys=keys, seed=seed)
    a, p, n = scape.triplets(neighbours)
    t = len(a)
    out = {"keys": keys, "neighbours": neighbours, "triplets": t,
           "positive_same_episode": (data.episodes[p] == data.episodes[a]).float().mean().item() if t else None,
           "negative_same_episode": (data.episodes[n] == data.episodes[a]).float().mean().item() if t else None}
    if t == 0:
        return out
    spec_of = {placement(spec): spec for spec in placements}
    numbers = scape.placements(neighbours, foveas, list(spec_of))
    for fovea in foveas:
        row = {spec_of[key]: value.separated for key, value in numbers[fovea].items()}
        lead = object_lead(numbers[fovea])
        if lead is not None:
            row["object_lead"], row["lead_of"] = lead[0], [spec_of[lead[1]], spec_of[lead[2]]]
        out[fovea] = row
    return out


def table(result: dict) -> list[str]:
    """Markdown rows of one result file."""
    args = result["args"]
    lines = []
    for r in result["rows"]:
        for fovea in args["foveas"]:
            if fovea not in r:
                continue
            lead = r[fovea].get("object_lead")
            lead_text = f"{lead[1]:+.2f} [{lead[0]:+.2f}, {lead[2]:+.2f}]" if lead else "-"
            rho = r.get("label_rho_neg_distance")
            lines.append(f"| {args['clutter']} | {'trained' if args['cnn'] else 'random'} | {r['label']} | "
                         f"{'-' if rho is None else f'{rho:+.2f}'} | "
                         f"{r['keys']} | {r['neighbours']} | {fovea} | {r['triplets']} | "
                         f"{r['positive_same_episode']:.2f} | {same_episode(r, 'negative')} | "
                         + " | ".join(f"{r[fovea][s]:.2f}" for s in args["placements"]) + f" | {lead_text} |")
    return lines


def same_episode(row: dict, member: str) -> str:
    """A row's share of ``member`` ("positive", "negative") from the anchor's own episode ('-' in results saved
    before negatives were counted)."""
    share = row.get(f"{member}_same_episode")
    return "-" if share is None else f"{share:.2f}"


def header(placements) -> list[str]:
    cols = ["clutter", "CNN", "label", "rho(label, -dist)", "keys", "neighbours", "compared", "triplets", "pos same ep",
            "neg same ep", *placements, "object lead [95%]"]
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="gazelab/ReachClutter-v0")
    parser.add_argument("--clutter", default="mild")
    parser.add_argument("--cnn", default=None, help="a run directory whose trained CNN gives the maps")
    parser.add_argument("--labels", nargs="+", default=["return_to_go", "neg_distance"], choices=LABELS)
    parser.add_argument("--keys", nargs="+", default=["map"], choices=KEYS)
    parser.add_argument("--neighbours", nargs="+", default=["any", "other_episodes"], choices=NEIGHBOURS)
    parser.add_argument("--foveas", nargs="+", default=["anchor", "glimpse"], choices=FOVEA_MODES)
    parser.add_argument("--placements", nargs="+", default=list(PLACEMENTS), type=str)
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--anchors", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None, help="output name (default: <clutter>-<random|trained>-s<seed>)")
    parser.add_argument("--markdown", nargs="+", metavar="JSON", help="print the tables of saved results and exit")
    args = parser.parse_args()
    if args.markdown:
        results = [json.loads(Path(f).read_text()) for f in args.markdown]
        print("\n".join(header(results[0]["args"]["placements"])))
        for result in results:
            print("\n".join(table(result)))
        return
    for spec in args.placements:
        placement(spec)
    if "value" in args.labels and not args.cnn:
        parser.error("--labels value needs --cnn RUN (the critic of a trained PPO run)")
    torch.set_num_threads(1)
    frames = collect_expert_frames(args.env_id, args.clutter, args.envs, args.steps, args.seed)
    cnn = load_cnn(args.cnn, args.seed)
    maps = encode_frames(cnn, frames["rgb"])
    if "value" in args.labels:
        frames["value"] = critic_values(args.cnn, frames)
    rows = []
    print("\n".join(header(args.placements)))
    for label in args.labels:
        data = dataset(frames, maps, label, args.seed)
        rho = rank_correlation(data.labels, -(data.gripper - data.prize).norm(dim=1))
        for keys in args.keys:
            for neighbours in args.neighbours:
                rows.append({"label": label, "label_rho_neg_distance": rho, **landscape(data, cnn, keys, neighbours, args.foveas, args.placements,
                                                        args.anchors, args.seed)})
                print("\n".join(table({"args": vars(args), "rows": rows[-1:]})), flush=True)
    tag = args.tag or f"{args.clutter}-{'trained' if args.cnn else 'random'}-s{args.seed}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{tag}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
