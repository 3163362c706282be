"""``gazelab demo`` (``make demo``): the CNN baseline vs gaze + contrastive PPO on the built-in cluttered task.

Trains both with the same seed and budget, then writes to ``runs/demo/``:

* ``learning_curves.png``: deterministic success rate and training return vs environment steps;
* ``gaze_agent.gif`` (and ``.mp4`` when imageio-ffmpeg works): the trained gaze agent with its fovea drawn;
* ``summary.json``: final success rates, wall times, paths;
* ``baseline/`` and ``gaze_contrastive/``: the two run directories (TensorBoard logs, history.jsonl, checkpoints).

About 4 minutes on 2 idle CPU cores (measured: 3 min 56 s); ``--smoke`` (or ``GAZELAB_SMOKE=1``) shrinks the
budget to about a minute. One seed: its two final success rates swing by +-0.2 from one evaluation to the next, so
the demo shows the pipeline, not the comparison (the README's 5-seed sweep does that).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Optional

from gazelab.algorithms import load_policy
from gazelab.checkpoint import write_atomic
from gazelab.config import METHODS
from gazelab.course import smoke_mode
from gazelab.envs import make_env
from gazelab.evaluate import image_cnn, record_episode, write_video
from gazelab.ppo import PPOConfig, train_ppo
from gazelab.viz import plot_learning_curves

__all__ = ["run_demo", "DEMO_ENV", "DEMO_STEPS", "SMOKE_STEPS"]

DEMO_ENV = "gazelab/ReachClutter-v0"
DEMO_STEPS = 61_440
"""Environment steps per method (60 PPO iterations of 32 envs x 32 steps; about 2 min each on 2 idle cores)."""
SMOKE_STEPS = 4_096
"""Environment steps per method with --smoke."""
RUNS = {"baseline": "none", "gaze_contrastive": "gaze+contrastive"}
"""Run directory -> method (gazelab.config.METHODS)."""


def run_demo(smoke: Optional[bool] = None, out_dir: str | os.PathLike = "runs/demo", seed: int = 1) -> dict:
    """Train both methods, write the plot, the GIF and the summary; print where they are; return the summary.

    ``smoke``: tiny budgets; None = whether ``GAZELAB_SMOKE`` is set (:func:`gazelab.course.smoke_mode`)."""
    smoke = smoke if smoke is not None else smoke_mode()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = SMOKE_STEPS if smoke else DEMO_STEPS
    print(f"gazelab demo: PPO on {DEMO_ENV}, {steps} steps per method ({'smoke' if smoke else 'full'} budget)")
    histories, summary = {}, {"env_id": DEMO_ENV, "total_timesteps": steps, "seed": seed, "methods": {}}
    for name, method in RUNS.items():
        run_dir = out / name
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time (resume has its own command)
        config = PPOConfig(env_id=DEMO_ENV, seed=seed, total_timesteps=steps, run_dir=str(run_dir),
                           eval_freq=2 if smoke else 5, num_eval_episodes=16 if smoke else 32, **METHODS[method])
        start = time.time()
        result = train_ppo(config)
        histories[name] = [result.history]
        summary["methods"][name] = {
            "method": config.method_name(), "wall_time_s": round(time.time() - start, 1),
            "final_eval_success": result.final.get("eval/success_once"),
            "final_eval_return": result.final.get("eval/return"), "run_dir": str(run_dir),
        }

    fig = plot_learning_curves(histories, "eval/success_once", title=f"{DEMO_ENV}: deterministic success")
    curves = out / "learning_curves.png"
    fig.savefig(curves, dpi=120, bbox_inches="tight")

    agent, config, _ = load_policy(out / "gaze_contrastive", device="cpu")
    env = make_env(DEMO_ENV, 1, seed=seed + 100, device="cpu")
    frames, episode = record_episode(agent.act, env, encoder=image_cnn(agent))
    videos = write_video(frames, out / "gaze_agent")
    summary.update(learning_curves=str(curves), videos=[str(v) for v in videos], video_episode=episode)
    write_atomic(out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))

    print("\nresults:")
    for name, info in summary["methods"].items():
        print(f"  {name:18s} success {info['final_eval_success']:.2f}  ({info['wall_time_s']:.0f} s)  {info['run_dir']}")
    print(f"  learning curves    {curves}")
    for video in videos:
        print(f"  gaze agent video   {video}")
    print(f"  summary            {out / 'summary.json'}")
    print(f"  TensorBoard        tensorboard --logdir {out}")
    return summary
