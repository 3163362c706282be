"""Where does a trained gaze look? Fovea-to-object distances of saved PPO/SAC runs on the built-in reach tasks.

    python benchmarks/gaze_focus.py benchmarks/results/sample_efficiency/sweep/gazelab-ReachClutter-v0/gaze*/seed*

For each run (a directory with checkpoint.pt; attention `gaze`) the deterministic policy plays ``--envs`` episodes
for ``--steps`` steps; at every step the gaze centre is converted to image coordinates
(:func:`gazelab.viz.gaze_to_image`) and compared with the gripper and the goal. Printed per run: mean distance
from the fovea centre to the gripper and to the goal, the same for a fixed fovea at the image centre (what a gaze
that ignores the image would score), the spread of mu across frames (0 = the same gaze for every image) and the
mean sigma (image units; the image spans 2). Writes benchmarks/results/gaze_focus.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gazelab.envs import make_env
from gazelab.evaluate import load_policy
from gazelab.viz import gaze_to_image

RESULTS = Path(__file__).resolve().parent / "results"


@torch.no_grad()
def gaze_focus(run_dir: str, envs: int, steps: int, seed: int) -> dict:
    """Fovea statistics of one run's deterministic policy (see the module docstring)."""
    agent, config, _ = load_policy(run_dir, device="cpu")
    if config.attention != "gaze":
        raise ValueError(f"{run_dir}: attention={config.attention!r}, this measures runs with attention='gaze'")
    env = make_env(config.env_id, envs, seed=seed, device="cpu", **config.env_kwargs())
    if not hasattr(env, "gripper"):
        raise ValueError(f"{run_dir}: {config.env_id} is not a built-in reach/push task")
    obs, _ = env.reset(seed=seed)
    mus, sigmas, grippers, goals = [], [], [], []
    for _ in range(steps):
        action, att = agent.act(obs)
        mu, sigma = gaze_to_image(att.mu, att.sigma, agent.image.cnn)
        mus.append(torch.as_tensor(mu)), sigmas.append(torch.as_tensor(sigma))
        grippers.append(env.gripper.clone()), goals.append(env.goal.clone())
        obs, *_ = env.step(action)
    env.close()
    mu, sigma, gripper, goal = (torch.cat(x).float() for x in (mus, sigmas, grippers, goals))
    return {
        "run": str(run_dir), "env_id": config.env_id, "method": config.method_name(), "seed": config.seed,
        "fovea_to_gripper": (mu - gripper).norm(dim=1).mean().item(),
        "fovea_to_goal": (mu - goal).norm(dim=1).mean().item(),
        "centre_to_gripper": gripper.norm(dim=1).mean().item(),
        "centre_to_goal": goal.norm(dim=1).mean().item(),
        "mu_std": mu.std(dim=0).mean().item(),
        "sigma_mean": sigma.mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories (with checkpoint.pt)")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12_345)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [gaze_focus(run, args.envs, args.steps, args.seed) for run in args.runs]
    print(f"{'env':24s} {'method':18s} {'seed':>4s} {'fovea->gripper':>15s} {'centre->gripper':>16s} {'fovea->goal':>12s} "
          f"{'centre->goal':>13s} {'mu std':>7s} {'sigma':>6s}")
    for r in rows:
        print(f"{r['env_id']:24s} {r['method']:18s} {r['seed']:>4d} {r['fovea_to_gripper']:>15.3f} {r['centre_to_gripper']:>16.3f} "
              f"{r['fovea_to_goal']:>12.3f} {r['centre_to_goal']:>13.3f} {r['mu_std']:>7.3f} {r['sigma_mean']:>6.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gaze_focus.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS / 'gaze_focus.json'}")


if __name__ == "__main__":
    main()
