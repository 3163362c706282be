"""Are the mined triplets about the task? Mining checked against the simulator's ground truth.

    python benchmarks/mining_quality.py benchmarks/results/sample_efficiency/sweep/gazelab-*/gaze+contrastive/seed1

For each saved run on a built-in reach task: the run's own stochastic policy plays ``--envs`` envs for
``--steps`` steps (the data PPO would collect); every frame's CNN map (detached, as the contrastive buffer stores
it) and its discounted return-to-go (the run's gamma; the last 20 steps of each env are dropped, their returns are
cut short) go into a ContrastiveBuffer, and triplets are mined exactly as the contrastive step mines them
(``gazelab.contrastive.mine_triplets`` with the run's k and anchor count). Then, with the true positions:

* neighbour vs random: mean gripper-to-gripper and goal-to-goal distance between an anchor and its k visual
  nearest neighbours, and between random pairs. Ratios near 1 mean "looks alike" is decided by something else
  (the clutter), not by where the task objects are;
* triplet gap: mean |d(A) - d(P)| and |d(A) - d(N)| with d = gripper-to-goal distance (the quantity the return
  depends on). The method needs positives that agree with the anchor and negatives that differ *in the task*.

Writes benchmarks/results/mining_quality.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gazelab.buffer import ContrastiveBuffer
from gazelab.contrastive import mine_triplets
from gazelab.envs import make_env
from gazelab.evaluate import load_policy

RESULTS = Path(__file__).resolve().parent / "results"
CUT = 20  # steps dropped at the end of every env's window: gamma^20 < 0.012 for gamma <= 0.8


@torch.no_grad()
def mining_quality(run_dir: str, envs: int, steps: int, seed: int) -> dict:
    """Mining statistics of one run (see the module docstring)."""
    agent, config, _ = load_policy(run_dir, device="cpu")
    env = make_env(config.env_id, envs, seed=seed, device="cpu", **config.env_kwargs())
    if not hasattr(env, "gripper"):
        raise ValueError(f"{run_dir}: {config.env_id} is not a built-in reach/push task")
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    fmaps, rewards, dones, grippers, goals = [], [], [], [], []
    for _ in range(steps):
        action, _, _, _, enc = agent.get_action_and_value(obs)
        fmaps.append(enc.fmap.half()), grippers.append(env.gripper.clone()), goals.append(env.goal.clone())
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward.float()), dones.append((terminated | truncated).float())
    env.close()
    returns = torch.zeros(steps, envs)
    running = torch.zeros(envs)
    for t in reversed(range(steps)):
        running = rewards[t] + config.gamma * running * (1 - dones[t])
        returns[t] = running
    keep = slice(0, steps - CUT)
    fmap = torch.stack(fmaps)[keep].flatten(0, 1)
    returns = returns[keep].flatten()
    gripper, goal = torch.stack(grippers)[keep].flatten(0, 1), torch.stack(goals)[keep].flatten(0, 1)

    buffer = ContrastiveBuffer(tuple(fmap.shape[1:]), len(fmap), seed=config.seed)
    buffer.add(fmap, returns)
    keys = buffer.filled()[2]
    gen = torch.Generator().manual_seed(seed)
    anchor, positive, negative = mine_triplets(keys, returns, config.contrastive_k,
                                               num_anchors=config.contrastive_anchors, generator=gen)
    # k nearest neighbours of the same anchors (exact, L2 on the keys, the anchor itself excluded)
    sample = torch.randperm(len(keys), generator=gen)[: config.contrastive_anchors]
    dist = torch.cdist(keys[sample], keys)
    dist[torch.arange(len(sample)), sample] = float("inf")
    neighbours = dist.topk(config.contrastive_k, largest=False).indices  # (A, k)
    random_pairs = torch.randint(0, len(keys), neighbours.shape, generator=gen)

    def mean_gap(pos: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
        return (pos[a] - pos[b]).norm(dim=-1).mean().item()

    task = (gripper - goal).norm(dim=1)  # what the return depends on
    anchors = sample[:, None].expand_as(neighbours)
    return {
        "run": str(run_dir), "env_id": config.env_id, "method": config.method_name(), "seed": config.seed,
        "frames": len(keys), "triplets": len(anchor),
        "gripper_gap_neighbours": mean_gap(gripper, anchors, neighbours),
        "gripper_gap_random": mean_gap(gripper, anchors, random_pairs),
        "goal_gap_neighbours": mean_gap(goal, anchors, neighbours),
        "goal_gap_random": mean_gap(goal, anchors, random_pairs),
        "task_gap_positive": (task[anchor] - task[positive]).abs().mean().item(),
        "task_gap_negative": (task[anchor] - task[negative]).abs().mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories (with checkpoint.pt)")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=4_321)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [mining_quality(run, args.envs, args.steps, args.seed) for run in args.runs]
    print(f"{'task':26s} {'method':18s} {'seed':>4s} {'triplets':>8s} {'gripper gap nn/random':>22s} "
          f"{'goal gap nn/random':>19s} {'|d(A)-d(P)|':>11s} {'|d(A)-d(N)|':>11s}")
    for r in rows:
        print(f"{r['env_id']:26s} {r['method']:18s} {r['seed']:>4d} {r['triplets']:>8d} "
              f"{r['gripper_gap_neighbours']:>10.3f} / {r['gripper_gap_random']:<9.3f} "
              f"{r['goal_gap_neighbours']:>8.3f} / {r['goal_gap_random']:<8.3f} "
              f"{r['task_gap_positive']:>11.3f} {r['task_gap_negative']:>11.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mining_quality.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS / 'mining_quality.json'}")


if __name__ == "__main__":
    main()
