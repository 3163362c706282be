"""The two ways to install gazelab (pip via pyproject.toml, conda via environment.yml) must name the same packages,
with lower bounds no older than what the code uses."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """'faiss-cpu>=1.7.4' -> 'faiss_cpu' (PEP 503-style normalisation, so '-', '_' and '.' compare equal)."""
    bare = re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "_", bare).lower()


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        names |= {_name(r) for r in reqs if _name(r) != "gazelab"}  # 'all' refers back to gazelab's own extras
    return names


def _environment_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r) for r in pip_section if not r.startswith("-e")}


def test_environment_yml_names_the_same_packages_as_pyproject():
    pip_names, conda_names = _pyproject_packages(), _environment_packages()
    assert pip_names == conda_names, (
        f"only in pyproject.toml: {sorted(pip_names - conda_names)}; "
        f"only in environment.yml: {sorted(conda_names - pip_names)}"
    )


def test_environment_yml_installs_gazelab_itself_editable():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip_section


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in ci


# The oldest version of each dependency that has what gazelab uses; a declared lower bound must not be older.
NEEDED = {
    "torch": ("2.4", "Adam(fused=True) on CPU (both trainers)"),
    "gymnasium": ("1.1", "gym.vector.AutoresetMode.SAME_STEP (the ManiSkill CPU vector env)"),
    "tyro": ("0.8.5", "CLI parse errors on stderr (tests/test_cli.py; 0.8.0 prints them elsewhere); mani_skill's"),
    "mani_skill": ("3.0.1", "ManiSkillVectorEnv with gymnasium 1.x"),
    "faiss_cpu": ("1.7.4", "IndexFlatL2, cvar.distance_compute_blas_threshold, omp_set_num_threads"),
}


def _lower_bounds(requirements) -> dict[str, tuple[int, ...]]:
    """{'torch': (2, 4), ...} from '>=' or '==' requirements."""
    bounds = {}
    for requirement in requirements:
        match = re.search(r"(>=|==)\s*([0-9.]+)", requirement)
        if match:
            bounds[_name(requirement)] = tuple(int(part) for part in match.group(2).split("."))
    return bounds


@pytest.mark.parametrize("source", ["pyproject.toml", "environment.yml"])
def test_lower_bounds_cover_what_the_code_uses(source):
    if source == "pyproject.toml":
        project = tomllib.loads((ROOT / source).read_text())["project"]
        requirements = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    else:
        env = yaml.safe_load((ROOT / source).read_text())
        requirements = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    declared = _lower_bounds(requirements)
    too_old = {name: f"declared {'.'.join(map(str, declared.get(name, ())))}, needs {version}: {why}"
               for name, (version, why) in NEEDED.items()
               if declared.get(name, ()) < tuple(int(part) for part in version.split("."))}
    assert not too_old, too_old
