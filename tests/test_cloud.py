"""A cloud notebook: gazelab from its wheel (make wheel), the Vulkan set-up for an NVIDIA runtime (gazelab.teach.cloud),
and notebook 08's first cell, which installs the wheel only where gazelab is missing."""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from gazelab.teach import cloud

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_is_installed_without_an_nvidia_driver(tmp_path):
    said = cloud.setup_vulkan(icd_dirs=(str(tmp_path),), nvidia=False, root=True, apt=True, loader=False)
    assert said.startswith("no NVIDIA driver") and "lavapipe >= 24.3" in said
    assert not list(tmp_path.iterdir())


def test_without_root_it_says_what_to_install(tmp_path):
    said = cloud.setup_vulkan(icd_dirs=(str(tmp_path),), nvidia=True, root=False, apt=True)
    assert "not root" in said and "libvulkan1" in said and json.dumps(cloud.NVIDIA_ICD) in said
    assert not list(tmp_path.iterdir())


def test_the_nvidia_manifest_is_written_once(tmp_path):
    first, second = tmp_path / "usr", tmp_path / "etc"
    said = cloud.setup_vulkan(icd_dirs=(str(first), str(second)), nvidia=True, root=True, apt=True, loader=True)
    assert said == f"wrote {first / 'nvidia_icd.json'}"
    assert json.loads((first / "nvidia_icd.json").read_text()) == cloud.NVIDIA_ICD
    again = cloud.setup_vulkan(icd_dirs=(str(first), str(second)), nvidia=True, root=True, apt=True, loader=True)
    assert again == "Vulkan loader and NVIDIA's ICD manifest already present"


def test_the_manifest_is_the_one_of_the_install_script():
    script = (ROOT / "scripts" / "install_system_deps.sh").read_text()
    text = re.search(r"<<'ICD'\n(.*?)\nICD\n", script, re.DOTALL)[1]
    assert json.loads(text) == cloud.NVIDIA_ICD


def test_make_wheel_writes_the_student_wheel_into_dist(tmp_path):
    dry = subprocess.run(["make", "-n", "-o", ".venv/.gazelab-installed", "wheel"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "-m gazelab.authoring.grading wheel --out dist" in dry
    out = subprocess.run([sys.executable, "-m", "gazelab.authoring.grading", "wheel", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    (wheel,) = tmp_path.glob("gazelab-*-py3-none-any.whl")
    assert str(wheel) in out.stdout
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "gazelab/teach/cloud.py" in names and "gazelab/rl/ppo.py" in names
    assert not [n for n in names if n.startswith("gazelab/authoring/") or n.endswith(".ipynb")]


def _cloud_cell():
    notebook = nbformat.read(ROOT / "solutions" / "08_maniskill.ipynb", 4)
    return next(c for c in notebook.cells if c.cell_type == "code" and "GAZELAB_WHEEL_URL" in c.source)


def test_notebook_08_installs_the_wheel_only_where_gazelab_is_missing(tmp_path):
    """Where gazelab imports, the cell prints where from and runs no pip; where it does not and no wheel is there,
    it says what to upload (run by a bare interpreter that cannot import gazelab)."""
    source = _cloud_cell().source
    assert "pip install torch" not in source and 'f"gazelab[maniskill] @ {wheel}"' in source
    here = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert here.returncode == 0 and here.stdout.startswith("gazelab "), here.stderr
    bare = subprocess.run([sys.executable, "-I", "-S", "-c", source], cwd=tmp_path, capture_output=True, text=True)
    assert bare.returncode != 0 and "upload gazelab-<version>-py3-none-any.whl" in bare.stderr
