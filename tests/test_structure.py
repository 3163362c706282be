"""The package's layers: the folders of gazelab/ import one way, as the layer table of docs/design.md (the one
description of the architecture) says; no import cycle; the trainers pull in no plotting or widgets."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gazelab"
FRONT_END = "front end"
"""The layer of the files at the package root (cli.py, __main__.py): they may import everything."""


def layer_table() -> dict[str, set[str] | None]:
    """{folder: the folders it may import (None = everything)} from docs/design.md's table."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## The package's layers", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for row in re.findall(r"^\| (`.+?`) \|.*\| (.+?) \|$", section, flags=re.MULTILINE):
        names = re.findall(r"`([\w.]+?)/?`", row[0])
        allowed = None if row[1] == "everything" else {x.strip() for x in row[1].split(",") if x.strip() != "-"}
        for name in names:
            rules[FRONT_END if name.endswith(".py") else name] = allowed
    return rules


RULES = layer_table()
FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts and p != PACKAGE / "__init__.py")


def _layer(path: Path) -> str:
    """gazelab/rl/ppo.py -> 'rl'; gazelab/cli.py -> the front end."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else FRONT_END


def _gazelab_imports(path: Path) -> set[str]:
    """Dotted names of the gazelab modules a file imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("gazelab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gazelab"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from gazelab.rl import ppo`
    return found


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_table_names_every_folder_and_nothing_else():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders | {FRONT_END} == set(RULES), sorted(folders ^ (set(RULES) - {FRONT_END}))
    root_files = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py"}
    assert root_files == {"cli.py", "__main__.py"}, root_files


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    here, allowed = _layer(path), RULES[_layer(path)]
    if allowed is None:
        return
    imported = {name.split(".")[1] for name in _gazelab_imports(path) if name.count(".") >= 1}
    imported -= {here, "__version__"}
    assert imported <= allowed, f"{path.relative_to(PACKAGE)} ({here}/) imports {sorted(imported - allowed)}"


def test_no_import_cycle():
    graph = {_dotted(p): _gazelab_imports(p) for p in FILES}
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


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself: a method module importing a trainer is reported."""
    bad = PACKAGE / "method" / "_probe_upward.py"
    try:
        bad.write_text("from gazelab.rl.ppo import train_ppo\n")
        with pytest.raises(AssertionError, match="imports \\['rl'\\]"):
            test_imports_go_down_the_layers(bad)
    finally:
        bad.unlink()


def test_importing_the_trainers_pulls_no_plotting_or_widgets():
    code = ("import sys, gazelab.rl.ppo, gazelab.rl.sac; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets', 'PIL', 'IPython'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
