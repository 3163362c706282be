"""Environment speed: env steps per second of every built-in task (rendering included) and of ManiSkill3 on CPU.

Also prints, per clutter level, the share of pixels the clutter changes compared with the clean render of the
same state: at all, visibly (some channel off by more than 32 of 255), and covered by distractor shapes.

    .venv/bin/python benchmarks/env_speed.py                     # 256 envs, all built-in ids + PushCube-v1
    .venv/bin/python benchmarks/env_speed.py --num-envs 1024 --no-maniskill
"""

from __future__ import annotations

import argparse
import time

import torch
from tqdm.auto import tqdm

from gazelab.envs import CLUTTER_NAMES, list_envs, make_env


def steps_per_second(env, seconds: float) -> float:
    """Env steps (summed over the batch) per second under uniform random actions."""
    env.reset(seed=0)
    shape = (env.num_envs, *env.single_action_space.shape)
    for _ in range(3):  # warm-up
        env.step(torch.rand(shape, device=env.device) * 2 - 1)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(torch.rand(shape, device=env.device) * 2 - 1)
        steps += env.num_envs
    return steps / (time.perf_counter() - start)


def clutter_share(level: str, num_envs: int = 256, frames: int = 10) -> tuple[float, float, float]:
    """Mean shares of pixels (changed at all, changed by > 32, covered by distractor shapes) for gazelab/Push-v0."""
    clean = make_env("gazelab/Push-v0", num_envs, seed=0, device="cpu")
    noisy = make_env("gazelab/Push-v0", num_envs, seed=0, device="cpu", clutter=level)
    a, _ = clean.reset()
    b, _ = noisy.reset()
    changed, visible, shapes = [], [], []
    for _ in range(frames):
        diff = (a["rgb"].short() - b["rgb"].short()).abs().amax(-1)
        changed.append((diff > 0).float().mean().item())
        visible.append((diff > 32).float().mean().item())
        k = noisy.clutter.spec.num_shapes
        layers = noisy.raster.layer_map(noisy.clutter.pos, noisy.clutter.sprite_ids) if k else None
        shapes.append((layers > 0).float().mean().item() if k else 0.0)
        action = torch.rand(num_envs, 2) * 2 - 1
        a = clean.step(action)[0]
        b = noisy.step(action)[0]
    return sum(changed) / frames, sum(visible) / frames, sum(shapes) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=256, help="batch size of the built-in envs")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per env id")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="device of the built-in envs")
    parser.add_argument("--no-maniskill", action="store_true", help="skip the ManiSkill3 CPU measurement")
    parser.add_argument("--maniskill-id", default="PushCube-v1", help="ManiSkill3 id to time on CPU")
    parser.add_argument("--maniskill-image-size", type=int, default=64, help="ManiSkill camera size")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")

    rows = []
    ids = list_envs("builtin")
    for env_id in tqdm(ids, desc="built-in"):
        env = make_env(env_id, args.num_envs, seed=0, device=args.device)
        rows.append((env_id, env.clutter_level, steps_per_second(env, args.seconds)))
    for level in tqdm(CLUTTER_NAMES, desc="Push-v0 levels"):
        env = make_env("gazelab/Push-v0", args.num_envs, seed=0, device=args.device, clutter=level)
        rows.append((f"gazelab/Push-v0 clutter={level}", level, steps_per_second(env, args.seconds)))
    print(f"\nbuilt-in envs, {args.num_envs} envs, rendering 64x64 included")
    print(f"{'env':42s} {'clutter':8s} {'steps/s':>10s}")
    for env_id, level, sps in rows:
        print(f"{env_id:42s} {level:8s} {sps:10.0f}")

    print("\nclutter coverage (gazelab/Push-v0, mean over 256 envs x 10 frames)")
    print(f"{'level':8s} {'changed':>8s} {'by > 32':>8s} {'shapes':>8s}")
    for level in CLUTTER_NAMES:
        changed, visible, shapes = clutter_share(level)
        print(f"{level:8s} {changed:8.1%} {visible:8.1%} {shapes:8.1%}")

    if not args.no_maniskill:
        start = time.perf_counter()
        env = make_env(args.maniskill_id, 1, seed=0, device="cpu", image_size=args.maniskill_image_size)
        made = time.perf_counter() - start
        sps = steps_per_second(env, args.seconds * 3)
        env.close()
        print(f"\nManiSkill3 {args.maniskill_id} on CPU (physx_cpu + lavapipe, 1 env, "
              f"{args.maniskill_image_size}x{args.maniskill_image_size} rgb): {sps:.1f} steps/s, "
              f"created in {made:.1f} s")


if __name__ == "__main__":
    main()
