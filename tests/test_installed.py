"""An installed copy of gazelab works outside the checkout: no solutions/, tutorials/ or benchmarks/ beside it.

The package is built and installed (not editable) into a folder of its own, which goes first on the path of the
test environment's interpreter (its dependencies: torch & co.), and every command runs from an empty folder.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True, capture_output=True, text=True)
    work = tmp_path_factory.mktemp("work")
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("GAZELAB_SMOKE", None)

    def run(*args, timeout=600):
        out = subprocess.run([sys.executable, "-m", "gazelab", *args], cwd=work, env=env, capture_output=True,
                             text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    return site, work, run


def test_the_copy_is_the_one_imported_and_ships_no_course_files(installed):
    site, work, _ = installed
    where = subprocess.run([sys.executable, "-c", "import gazelab; print(gazelab.__file__)"], cwd=work,
                           env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)
    assert not any((site / name).exists() for name in ("solutions", "tutorials", "benchmarks"))


def test_envs_train_and_eval_run_from_the_installed_copy(installed):
    _, work, run = installed
    assert "gazelab/ReachClutter-v0" in run("envs")
    run("train", "ppo", "--env-id", "gazelab/Reach-v0", "--total-timesteps", "2048", "--num-envs", "8",
        "--attention", "gaze", "--contrastive", "--eval-freq", "0", "--no-progress", "--torch-threads", "1",
        "--run-dir", "run")
    assert (work / "run" / "final.pt").is_file()
    printed = run("eval", "run", "--num-episodes", "4", "--num-envs", "4", "--no-video")
    assert "success" in printed and (work / "run" / "eval" / "eval.json").is_file()


def test_the_demo_runs_from_the_installed_copy(installed):
    _, work, run = installed
    run("demo", "--smoke", "--out", "demo", timeout=900)
    assert (work / "demo" / "summary.json").is_file()
