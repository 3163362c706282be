"""The paper-scale recipe: its numbers are ManiSkill's, its commands parse into them, the sweep command runs the same
grid, and README.md and notebook 08 show it verbatim."""

import itertools
import shlex
from pathlib import Path

import nbformat
import pytest
import tyro

from gazelab.rl.algorithms import algorithm
from gazelab.rl.config import config_from_dict
from gazelab.experiments.recipes import PAPER_METHODS, PAPER_SEEDS, PAPER_TASKS, RECIPES, recipe_table, sweep_command

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "solutions/08_maniskill.ipynb", "tutorials/08_maniskill.ipynb"]

# Read off ManiSkill's examples/baselines/ppo/examples.sh (RGB section; PokeCube-v1: its state command's budget
# and rollout length) and sac/README.md (the PickCube-v1 RGB command), independently of gazelab.rl.ppo.TASK_DEFAULTS.
PPO_MANISKILL = {  # num_envs, num_steps, update_epochs, num_minibatches, gamma, total_timesteps
    "PushCube-v1": (256, 20, 8, 8, 0.8, 1_000_000),
    "PickCube-v1": (256, 50, 8, 8, 0.8, 10_000_000),
    "PushT-v1": (256, 100, 8, 8, 0.99, 25_000_000),
    "PokeCube-v1": (256, 20, 8, 8, 0.8, 3_000_000),
    "gazelab/PushCubeClutter-v1": (256, 20, 8, 8, 0.8, 1_000_000),
}
SAC_MANISKILL = dict(num_envs=32, utd=0.5, buffer_size=300_000, image_size=64, total_timesteps=1_000_000)


def test_every_algorithm_and_task_has_one_row():
    assert sorted((r.algo, r.env_id) for r in RECIPES) == sorted(itertools.product(("ppo", "sac"), PAPER_TASKS))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: f"{r.algo}-{r.env_id}")
def test_the_numbers_are_maniskills(recipe):
    if recipe.algo == "ppo":
        fields = ("num_envs", "num_steps", "update_epochs", "num_minibatches", "gamma", "total_timesteps")
        assert tuple(recipe.settings[f] for f in fields) == PPO_MANISKILL[recipe.env_id]
    else:
        assert {k: recipe.settings[k] for k in SAC_MANISKILL} == SAC_MANISKILL


@pytest.fixture
def a_gpu_machine(monkeypatch):
    """The commands are for a CUDA machine (their configs check the device); let torch see one GPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("method", PAPER_METHODS)
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: f"{r.algo}-{r.env_id}")
def test_each_command_parses_into_its_rows_settings(recipe, method, a_gpu_machine):
    config_cls = algorithm(recipe.algo).config_cls
    words = shlex.split(recipe.command(method))
    assert words[:3] == ["gazelab", "train", recipe.algo]
    config = tyro.cli(config_cls, args=words[3:])
    assert (config.env_id, config.device, config.method_name()) == (recipe.env_id, "cuda", method)
    assert {k: getattr(config, k) for k in recipe.settings} == recipe.settings


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_the_sweep_command_runs_the_tables_grid(algo, sample_efficiency, a_gpu_machine):
    words = shlex.split(sweep_command(algo))
    assert words[:2] == ["python", "benchmarks/sample_efficiency.py"]
    args = sample_efficiency.parse_args(words[2:])
    assert args.backend == "ray" and args.gpus_per_trial == 1
    assert sorted((t.task, t.method, t.seed) for t in args.trials) == sorted(
        itertools.product(PAPER_TASKS, PAPER_METHODS, range(1, PAPER_SEEDS + 1)))
    rows = {r.env_id: r for r in RECIPES if r.algo == algo}
    config_cls = algorithm(algo).config_cls
    for trial in args.trials:
        config = config_from_dict(config_cls, trial.config).resolve()
        assert config.device == "cuda"
        assert {k: getattr(config, k) for k in rows[trial.task].settings} == rows[trial.task].settings


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_show_the_table_and_the_sweep_commands_verbatim(document):
    path = ROOT / document
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        text = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    else:
        text = path.read_text()
    for part in (recipe_table(), sweep_command("ppo"), sweep_command("sac")):
        assert part in text, f"{document} lacks the current recipe: paste the output of `python -m gazelab.experiments.recipes`"
