"""Write docs/images/env_gallery.png: one frame of every environment, titled by id (and clutter level).

    .venv/bin/python scripts/env_gallery.py                 # built-in + ManiSkill3 (CPU: ~10 s for ManiSkill)
    .venv/bin/python scripts/env_gallery.py --no-maniskill
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from gazelab.envs import CLUTTER_NAMES, list_envs, make_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def builtin_frames(steps: int) -> list[tuple[str, torch.Tensor]]:
    """Frames of every built-in id at its default level, plus Push-v0 at every clutter level."""
    cases = [(env_id, {}) for env_id in list_envs("builtin")]
    cases += [("gazelab/Push-v0", {"clutter": level}) for level in CLUTTER_NAMES[1:]]
    frames = []
    for env_id, kwargs in cases:
        env = make_env(env_id, num_envs=1, seed=1, device="cpu", **kwargs)
        obs, _ = env.reset()
        for _ in range(steps):  # a few expert steps so the gripper is on its way
            obs = env.step(env.oracle_action())[0]
        title = env_id + (f"\nclutter={env.clutter_level}" if env.clutter_level != "none" else "")
        frames.append((title, obs["rgb"][0]))
    return frames


def maniskill_frames(image_size: int) -> list[tuple[str, torch.Tensor]]:
    """Frames of every ManiSkill3 id after a reset and two zero-action steps."""
    frames = []
    for env_id in list_envs("maniskill"):
        env = make_env(env_id, num_envs=1, seed=1, device="cpu", image_size=image_size)
        env.reset()
        for _ in range(2):
            obs = env.step(torch.zeros(1, *env.single_action_space.shape))[0]
        env.close()
        frames.append((env_id, obs["rgb"][0].cpu()))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "env_gallery.png")
    parser.add_argument("--no-maniskill", action="store_true", help="built-in tasks only")
    parser.add_argument("--maniskill-image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4, help="expert steps before the built-in frames")
    args = parser.parse_args()

    frames = builtin_frames(args.steps)
    if not args.no_maniskill:
        frames += maniskill_frames(args.maniskill_image_size)
    cols = 5
    rows = math.ceil(len(frames) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, rgb) in zip(axes.flat, frames):
        ax.imshow(rgb.numpy(), interpolation="nearest")
        ax.set_title(title, fontsize=9)
    fig.suptitle("gazelab environments (built-in 64x64 top-down; ManiSkill3 camera)", fontsize=12)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
