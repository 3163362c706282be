"""Where does a trained gaze look? Fovea-to-object distances of saved PPO/SAC runs on the built-in reach tasks.

    python benchmarks/gaze_focus.py benchmarks/results/sample_efficiency/sweep/gazelab-ReachClutter-v0/gaze*/seed*

For each run (a directory with checkpoint.pt; attention `gaze`) the deterministic policy plays ``--envs`` episodes
for ``--steps`` steps; at every step the gaze centre is converted to image coordinates
(:func:`gazelab.teach.viz.gaze_to_image`) and compared with the gripper and the goal. Printed per run: mean distance
from the fovea centre to the gripper and to the goal, the same for a fixed fovea at the image centre (what a gaze
that ignores the image would score), the spread of mu across frames (0 = the same gaze for every image) and the
mean sigma (image units; the image spans 2). A gaze of several foveae (``gaze_foveae``): the distances are the
nearest fovea's, mu std and sigma the first fovea's, and ``on both`` is the share of frames with one fovea within
``ON_OBJECT`` of the gripper and another (one fovea: the same one) within it of the goal. Writes
benchmarks/results/gaze_focus.json (the runs given; ``--out`` another file).
"""

from __future__ import annotations

import torch

from gazelab.teach.viz import gaze_to_image
from saved_runs import main, open_run, run_identity

COLUMNS = [("fovea->gripper", "fovea_to_gripper", ">15.3f"), ("centre->gripper", "centre_to_gripper", ">16.3f"),
           ("fovea->goal", "fovea_to_goal", ">12.3f"), ("centre->goal", "centre_to_goal", ">13.3f"),
           ("mu std", "mu_std", ">7.3f"), ("sigma", "sigma_mean", ">6.3f"), ("foveae", "foveae", ">6d"),
           ("on both", "on_both", ">7.3f")]
ON_OBJECT = 0.3
"""A fovea is "on" an object within this distance of it (image units): a little more than a sigma of a trained fovea."""


@torch.no_grad()
def gaze_focus(run_dir: str, envs: int, steps: int, seed: int) -> dict:
    """Fovea statistics of one run's deterministic policy (see the module docstring)."""
    agent, config, env = open_run(run_dir, envs, seed)
    if config.attention != "gaze":
        env.close()
        raise ValueError(f"{run_dir}: attention={config.attention!r}, this measures runs with attention='gaze'")
    obs, _ = env.reset(seed=seed)
    mus, sigmas, grippers, goals = [], [], [], []
    for _ in range(steps):
        action, att = agent.act(obs)
        mu, sigma = (att.mu[:, None], att.sigma[:, None]) if att.foveae is None else att.foveae[:2]  # (B, K, 2)
        mu, sigma = gaze_to_image(mu, sigma, agent.image.cnn)
        mus.append(torch.as_tensor(mu))
        sigmas.append(torch.as_tensor(sigma))
        grippers.append(env.gripper.clone())
        goals.append(env.goal.clone())
        obs, *_ = env.step(action)
    env.close()
    mu, sigma, gripper, goal = (torch.cat(x).float() for x in (mus, sigmas, grippers, goals))
    to_gripper, to_goal = (mu - gripper[:, None]).norm(dim=2), (mu - goal[:, None]).norm(dim=2)  # (frames, K)
    near_gripper, near_goal = to_gripper < ON_OBJECT, to_goal < ON_OBJECT
    if mu.shape[1] == 1:
        on_both = near_gripper[:, 0] & near_goal[:, 0]
    else:  # two different foveae, one on each object
        pairs = near_gripper[:, :, None] & near_goal[:, None, :] & ~torch.eye(mu.shape[1], dtype=torch.bool)
        on_both = pairs.flatten(1).any(1)
    return {
        **run_identity(run_dir, config),
        "fovea_to_gripper": to_gripper.min(1).values.mean().item(),
        "fovea_to_goal": to_goal.min(1).values.mean().item(),
        "centre_to_gripper": gripper.norm(dim=1).mean().item(),
        "centre_to_goal": goal.norm(dim=1).mean().item(),
        "mu_std": mu[:, 0].std(dim=0).mean().item(),
        "sigma_mean": sigma[:, 0].mean().item(),
        "foveae": mu.shape[1],
        "on_both": on_both.float().mean().item(),
    }


if __name__ == "__main__":
    main(__doc__, gaze_focus, COLUMNS, "gaze_focus", steps=50, seed=12_345)
