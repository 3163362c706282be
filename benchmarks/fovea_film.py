"""Film a trained run's fovea: a GIF and a filmstrip PNG of a few episodes with the gaze drawn on every frame.

    python benchmarks/fovea_film.py benchmarks/results/sample_efficiency/evidence-mild/gazelab-ReachClutter-v0/gaze+contrastive/seed1 \\
        --out docs/images/fovea_follows_goal

The run's policy plays ``--episodes`` episodes of its own task (deterministic actions, a fresh env seed); each
reset draws a new goal, so a gaze that follows the goal is seen jumping to it while the clutter moves. The PNG shows
every ``--every``-th frame with its episode and step, and the fovea-to-goal distance of each episode's first frame
is what ``gazelab.rl.prize`` measures over whole evaluations (README Evidence). Needs the run's checkpoint
(checkpoints are not committed: re-run the sweep, or film any run of yours).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gazelab.rl.algorithms import load_policy
from gazelab.envs import make_env
from gazelab.rl.video import image_cnn, record_episodes, write_video
from gazelab.teach.viz import plot_attention


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a run directory (or its checkpoint.pt)")
    parser.add_argument("--out", required=True, help="output path without extension: writes .gif and .png")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--every", type=int, default=3, help="filmstrip: every this many frames")
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2024, help="env seed of the filmed episodes")
    args = parser.parse_args(argv)

    agent, config, _ = load_policy(args.run, device="cpu")
    env = make_env(config.env_id, 1, seed=args.seed, device="cpu", **config.env_kwargs())
    frames, episodes = record_episodes(agent.act, env, args.episodes, scale=2, encoder=image_cnn(agent))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    videos = write_video(frames, out)

    titles, strip = [], []
    start = 0
    for number, episode in enumerate(episodes, 1):
        length = int(episode["episode_len"]) + 1  # frames of an episode: every observation, the last included
        for step in range(0, length, args.every):
            strip.append(frames[start + step])
            titles.append(f"ep {number}, t={step}")
        start += length
    fig = plot_attention(strip, titles, cols=args.cols)
    fig.suptitle(f"{config.env_id} ({config.method_name()}): the fovea drawn on what the policy sees", y=1.03)
    fig.savefig(out.with_suffix(".png"), dpi=80, bbox_inches="tight")
    print(f"episodes: {episodes}\nwrote {', '.join(str(v) for v in videos)}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
