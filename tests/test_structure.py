"""The package's layers: imports go one way and form no cycle, the trainers pull in no plotting or widgets, and the
README's map of the package lists every module, in layer order."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gazelab"

LAYERS = [
    ("foundation", ["errors", "checks"]),
    ("method", ["returns", "attention", "encoders", "buffer", "contrastive", "labels", "plugin", "prize"]),
    ("tasks", ["envs"]),
    ("run plumbing", ["checkpoint", "config", "episodes", "run"]),
    ("RL", ["agent", "ppo", "sac"]),
    ("tools", ["algorithms", "evaluate", "sweep", "recipes"]),
    ("front ends", ["demo", "cli", "__main__"]),
]
"""Bottom to top: a module may import its own layer and the layers below, never one above."""
TEACHING = ["viz", "widgets", "exercises", "course", "tutorials", "site"]
"""The notebooks' helpers, a side layer: they build on the foundation, the method, the tasks and each other only, and
only the tools and front ends (evaluation videos, sweep plots, the demo) use them, never the method or the trainers."""
TEACHING_MAY_IMPORT = {"foundation", "method", "tasks"}
TEACHING_USED_FROM = "tools"

LAYER_OF = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}


def _top_module(path: Path) -> str:
    """gazelab/ppo.py -> 'ppo'; gazelab/envs/tabletop.py -> 'envs' (a subpackage is one module of the map)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _gazelab_imports(path: Path) -> set[str]:
    """Dotted names of the gazelab modules a file imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("gazelab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gazelab"):
            found.add(node.module)
            # `from gazelab import ppo`: the names may be modules themselves
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()}
    return found - {"gazelab"}


FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts and p != PACKAGE / "__init__.py")
MODULES = sorted({_top_module(p) for p in FILES})


def test_every_module_has_a_place():
    assert set(MODULES) == set(LAYER_OF) | set(TEACHING), set(MODULES) ^ (set(LAYER_OF) | set(TEACHING))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    here = _top_module(path)
    imported = {name.split(".")[1] for name in _gazelab_imports(path)} - {here}
    if here in TEACHING:
        allowed = {m for name, modules in LAYERS if name in TEACHING_MAY_IMPORT for m in modules} | set(TEACHING)
        assert imported <= allowed, f"teaching helper {here} imports {sorted(imported - allowed)}"
        return
    may_use_teaching = LAYER_OF[here] >= [name for name, _ in LAYERS].index(TEACHING_USED_FROM)
    upward = sorted(m for m in imported if (not may_use_teaching if m in TEACHING else LAYER_OF[m] > LAYER_OF[here]))
    assert not upward, f"{here} ({LAYERS[LAYER_OF[here]][0]}) imports {upward} from a layer above"


def test_no_import_cycle():
    graph = {_dotted(p): {name for name in _gazelab_imports(p)} for p in FILES}
    graph = {module: {t for t in targets if t in graph} for module, targets in graph.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_importing_the_trainers_pulls_no_plotting_or_widgets():
    code = ("import sys, gazelab.ppo, gazelab.sac; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets', 'PIL', 'IPython'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_readme_map_lists_every_module_in_layer_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Map of the package", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `gazelab[./]([a-z_]+)", section, flags=re.MULTILINE)
    expected = [m for _, modules in LAYERS for m in modules] + TEACHING
    assert listed == expected
