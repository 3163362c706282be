"""Screenshots of TensorBoard on real runs, for docs/tracking.md: the scalars that judge a gaze, and the fovea videos.

    python scripts/dashboard_screenshots.py                     # trains two short runs (about 3 min on 2 cores)
    python scripts/dashboard_screenshots.py --runs runs/ppo     # or shows the runs already under a folder

Trains PPO on gazelab/ReachClutter-v0 (the CNN baseline and gaze+contrastive, 12,288 steps each, evaluated every 3
iterations with ``--capture-video``) unless ``--runs`` is given, starts TensorBoard on them, and photographs two of
its pages with headless Chromium (Debian's ``chromium`` package: ``apt-get install chromium``; nothing is
downloaded): ``docs/images/tensorboard_scalars.png`` (success, the fovea's distance to the goal, triplets per
update) and ``docs/images/tensorboard_videos.png`` (the IMAGES tab with the filmed evaluation episode).

The wandb dashboard is not photographed: it is a web service, and the machines this runs on have no internet.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gazelab.rl.ppo import PPOConfig, train_ppo

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "images"
SCALARS = "eval/success_once|gaze/prize_distance|eval/centre_distance|contrastive/triplets"
"""The tags of the scalars page: success, the fovea's distance to the goal vs a centred fovea's, triplets mined."""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=15000"]


def train_runs(root: Path, steps: int) -> None:
    for method, extra in (("none", {}), ("gaze+contrastive", {"attention": "gaze", "contrastive": True})):
        train_ppo(PPOConfig(env_id="gazelab/ReachClutter-v0", seed=1, total_timesteps=steps, eval_freq=3,
                            num_eval_envs=8, num_eval_episodes=8, capture_video=True, torch_threads=1, progress=True,
                            run_dir=str(root / f"ReachClutter__{method}__s1"), **extra))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(chromium: str, url: str, out: Path, size: str, profile: Path) -> None:
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                    f"--screenshot={out}", url], check=True, capture_output=True, timeout=120)
    print(f"wrote {out.relative_to(REPO)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, help="a folder of run directories (default: train two short runs)")
    parser.add_argument("--steps", type=int, default=12_288, help="env steps of each run it trains")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH: apt-get install chromium (Debian) and run again")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = args.runs
        if runs is None:
            runs = tmp / "runs"
            train_runs(runs, args.steps)
        port = free_port()
        board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--port", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(60):  # TensorBoard reads the event files before it answers
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2)
                    break
                except OSError:
                    time.sleep(1)
            base = f"http://127.0.0.1:{port}/?darkMode=false"
            tags = urllib.request.quote(SCALARS, safe="")
            OUT.mkdir(parents=True, exist_ok=True)
            screenshot(chromium, f"{base}#scalars&tagFilter={tags}", OUT / "tensorboard_scalars.png", "1400,820",
                       tmp / "profile-scalars")
            screenshot(chromium, f"{base}#images", OUT / "tensorboard_videos.png", "1400,700", tmp / "profile-images")
        finally:
            board.terminate()
            board.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
