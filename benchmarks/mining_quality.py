"""Are the mined triplets about the task? Mining checked against the simulator's ground truth.

    python benchmarks/mining_quality.py benchmarks/results/sample_efficiency/sweep/gazelab-*/gaze+contrastive/seed1

For each saved run on a built-in reach task: the run's own stochastic policy plays ``--envs`` envs for
``--steps`` steps (the data PPO would collect); every frame's CNN map (detached, as the contrastive buffer stores
it) and its discounted return-to-go (the run's gamma; the last 20 steps of each env are dropped, their returns are
cut short) go into a ContrastiveBuffer, and triplets are mined exactly as the contrastive step mines them
(``gazelab.method.contrastive.mine_triplets`` with the run's k and anchor count). Then, with the true positions:

* neighbour vs random: mean gripper-to-gripper and goal-to-goal distance between an anchor and its k visual
  nearest neighbours, and between random pairs. Ratios near 1 mean "looks alike" is decided by something else
  (the clutter), not by where the task objects are;
* triplet gap: mean |d(A) - d(P)| and |d(A) - d(N)| with d = gripper-to-goal distance (the quantity the return
  depends on). The method needs positives that agree with the anchor and negatives that differ *in the task*.

Writes benchmarks/results/mining_quality.json (the runs given).
"""

from __future__ import annotations

import torch
from saved_runs import main, open_run, run_identity

from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import knn_excluding_self, mine_triplets
from gazelab.method.returns import discount_cumsum

CUT = 20  # steps dropped at the end of every env's window: gamma^20 < 0.012 for gamma <= 0.8
COLUMNS = [("triplets", "triplets", ">8d"),
           ("gripper gap nn", "gripper_gap_neighbours", ">14.3f"), ("random", "gripper_gap_random", ">7.3f"),
           ("goal gap nn", "goal_gap_neighbours", ">11.3f"), ("random", "goal_gap_random", ">7.3f"),
           ("|d(A)-d(P)|", "task_gap_positive", ">11.3f"), ("|d(A)-d(N)|", "task_gap_negative", ">11.3f")]


@torch.no_grad()
def mining_quality(run_dir: str, envs: int, steps: int, seed: int) -> dict:
    """Mining statistics of one run (see the module docstring)."""
    if steps <= CUT:
        raise ValueError(f"--steps must be > {CUT} (the last {CUT} steps of each env are dropped), got {steps}")
    agent, config, env = open_run(run_dir, envs, seed)
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    fmaps, rewards, dones, grippers, goals = [], [], [], [], []
    for _ in range(steps):
        action, _, _, _, image = agent.get_action_and_value(obs)
        fmaps.append(image.fmap.half())
        grippers.append(env.gripper.clone())
        goals.append(env.goal.clone())
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward.float())
        dones.append(terminated | truncated)
    env.close()
    returns = discount_cumsum(torch.stack(rewards), config.gamma, torch.stack(dones))
    keep = slice(0, steps - CUT)
    fmap = torch.stack(fmaps)[keep].flatten(0, 1)
    returns = returns[keep].flatten()
    gripper, goal = torch.stack(grippers)[keep].flatten(0, 1), torch.stack(goals)[keep].flatten(0, 1)

    buffer = ContrastiveBuffer(tuple(fmap.shape[1:]), len(fmap), seed=config.seed)
    buffer.add(fmap, returns)
    keys = buffer.filled()[2]
    gen = torch.Generator().manual_seed(seed)
    settings = config.contrastive_config
    anchor, positive, negative = mine_triplets(keys, returns, settings.k, num_anchors=settings.num_anchors,
                                               generator=gen, num_threads=1)
    # The same k-NN search the mining runs, for a sample of anchors, to compare neighbours with random pairs.
    sample = torch.randperm(len(keys), generator=gen)[: settings.num_anchors]
    neighbours = torch.from_numpy(knn_excluding_self(keys.float().contiguous().numpy(), sample.numpy(),
                                                     settings.k, 1))  # (A, k)
    random_pairs = torch.randint(0, len(keys), neighbours.shape, generator=gen)

    def mean_gap(pos: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
        return (pos[a] - pos[b]).norm(dim=-1).mean().item()

    task = (gripper - goal).norm(dim=1)  # what the return depends on
    anchors = sample[:, None].expand_as(neighbours)
    return {
        **run_identity(run_dir, config),
        "frames": len(keys), "triplets": len(anchor),
        "gripper_gap_neighbours": mean_gap(gripper, anchors, neighbours),
        "gripper_gap_random": mean_gap(gripper, anchors, random_pairs),
        "goal_gap_neighbours": mean_gap(goal, anchors, neighbours),
        "goal_gap_random": mean_gap(goal, anchors, random_pairs),
        "task_gap_positive": (task[anchor] - task[positive]).abs().mean().item(),
        "task_gap_negative": (task[anchor] - task[negative]).abs().mean().item(),
    }


if __name__ == "__main__":
    main(__doc__, mining_quality, COLUMNS, "mining_quality", steps=100, seed=4_321)
