"""The ways to install gazelab (pip via pyproject.toml, conda via environment.yml / environment-gpu.yml, make with or
without GPU=1) must name the same packages, with lower bounds no older than what the code uses, and the GPU paths
must ask for torch's CUDA build."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT_FILES = ["environment.yml", "environment-gpu.yml"]


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


def _pip_section(filename: str) -> list[str]:
    env = yaml.safe_load((ROOT / filename).read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


def _environment_packages(filename: str) -> set[str]:
    return {_name(r) for r in _pip_section(filename) if not r.startswith("-")}  # not -e . / --index-url


@pytest.mark.parametrize("filename", ENVIRONMENT_FILES)
def test_environment_file_names_the_same_packages_as_pyproject(filename):
    pip_names, conda_names = _pyproject_packages(), _environment_packages(filename)
    assert pip_names == conda_names, (
        f"only in pyproject.toml: {sorted(pip_names - conda_names)}; "
        f"only in {filename}: {sorted(conda_names - pip_names)}"
    )


@pytest.mark.parametrize("filename", ENVIRONMENT_FILES)
def test_environment_file_installs_gazelab_itself_editable(filename):
    assert "-e ." in _pip_section(filename)


def test_only_the_gpu_environment_names_the_index_of_the_cuda_torch():
    assert "--index-url https://pypi.org/simple" in _pip_section("environment-gpu.yml")
    assert not [r for r in _pip_section("environment.yml") if r.startswith("--")]


def test_ray_is_an_extra_that_make_installs_but_gazelab_alone_does_not():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [r for r in project["dependencies"] if _name(r) == "ray"]
    assert [_name(r) for r in project["optional-dependencies"]["sweep"]] == ["ray"]
    assert "sweep" in project["optional-dependencies"]["all"][0]  # make installs -e ".[all]"


def _make_dry_run(tmp_path, *variables: str) -> list[str]:
    """The commands `make demo` would run on a fresh machine (-B: as if nothing were installed)."""
    out = subprocess.run(["make", "-n", "-B", "demo", f"VENV={tmp_path / 'venv'}", *variables], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_make_installs_the_cpu_default_without_gpu(tmp_path):
    lines = _make_dry_run(tmp_path)
    assert "bash scripts/install_system_deps.sh" in [line.strip() for line in lines]  # lavapipe
    torch_line = next(line for line in lines if '"torch==2.13.0"' in line)
    assert "--index-url" not in torch_line
    assert not [line for line in lines if "torch.version.cuda" in line]


def test_make_gpu_installs_the_cuda_torch_checks_it_and_skips_lavapipe(tmp_path):
    lines = _make_dry_run(tmp_path, "GPU=1")
    assert "bash scripts/install_system_deps.sh --gpu" in lines
    torch_line = next(line for line in lines if '"torch==2.13.0"' in line)
    assert torch_line.endswith("--index-url https://pypi.org/simple")
    check = next(i for i, line in enumerate(lines) if "torch.version.cuda" in line)
    assert lines.index(torch_line) < check < next(i for i, line in enumerate(lines) if ".[all]" in line)
    assert f"touch {tmp_path / 'venv'}/.gazelab-installed-gpu" in lines  # own stamp: a CPU venv is no GPU one


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
