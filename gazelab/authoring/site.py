"""The course, executed, as static HTML pages that read offline: ``python -m gazelab.authoring.site`` (or ``make site``).

Every notebook of ``tutorials/`` (the student version: a stub not written yet falls back to the library's
reference) or ``solutions/`` runs top to bottom with nbclient, in its own folder as working directory, at the
full budget (``GAZELAB_SMOKE=1`` or ``--smoke``: the smoke budget, see :mod:`gazelab.teach.course`). Each becomes
``<name>.html`` (nbconvert's ``lab`` template, CSS inlined, figures embedded as PNG) next to ``<name>.ipynb``, the
executed copy, and ``index.html`` lists them with their titles, learning goals, run times, the budget and the date.
The committed notebooks are read, never written: their outputs only exist in the site.

Offline: the pages load no script from the network. Equations are typeset by the MathJax 2 copy that the
``jupyter-server-mathjax`` package ships, copied into ``mathjax/`` (without it they stay TeX source, with a note);
require.js and the CDN widget renderer are left out, and each widget is drawn once as static HTML from its last
state (progress bars, slider values; its figure is the static one the notebook displays before it).

A notebook that fails stops the build with an error naming it and the cell; the site is built in a temporary
folder next to ``--out`` and moved into place only when every notebook ran, so a failed build leaves the previous
site (or none) as it was.
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

from gazelab import __version__
from gazelab.teach.course import SMOKE_ENV_VAR, smoke_mode
from gazelab.core.errors import GazelabError
from gazelab.authoring.tutorials import REPO_ROOT, SOLUTIONS_DIR, TUTORIALS_DIR

SITE_DIR = REPO_ROOT / "build" / "site"
"""Where ``make site`` writes the pages (ignored by git)."""
SOURCES = {"tutorials": TUTORIALS_DIR, "solutions": SOLUTIONS_DIR}
CELL_TIMEOUT = 1800
"""Seconds one cell may run: the full budgets train for minutes on a 2-core CPU."""
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
"""The site's MathJax, relative to the pages: the combined configuration jupyter-server-mathjax ships."""
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

_FONTS = '"HTML-CSS": {availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web"}'
"""The site's MathJax has the STIX-Web fonts only (as the classic notebook configured it)."""

# nbconvert's lab template without what it loads from CDNs: require.js, the widget renderer, mermaid. MathJax comes
# from the site's copy and is left out when there is none; this config block comes before MathJax.js so that it is
# read at start-up (nbconvert's own, after it, sets the $...$ delimiters).
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
{%- if resources.mathjax_url -%}
<script type="text/x-mathjax-config">MathJax.Hub.Config({FONTS});</script>
{{ super() }}
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
""".replace("FONTS", _FONTS)
_INDEX_MATHJAX = (f'<script type="text/x-mathjax-config">MathJax.Hub.Config({{{_FONTS}, '
                  'tex2jax: {inlineMath: [["$", "$"]], processEscapes: true}});</script>\n'
                  f'<script src="{MATHJAX_URL}"></script>')


@dataclass
class Page:
    """One executed notebook of the site."""

    name: str
    title: str
    goals: str
    seconds: float


def mathjax_source() -> Path | None:
    """The MathJax 2 folder of the installed ``jupyter-server-mathjax`` package, or None when it is missing."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "MathJax.js").is_file() else None


def _unusable_mathjax(folder: str, names: list[str]) -> list[str]:
    """jupyter-server-mathjax ships the SVG output's fonts without the SVG output itself: 3 MB the site cannot use."""
    return ["SVG"] if Path(folder).parts[-2:] == ("jax", "output") else []


def title_of(notebook: nbformat.NotebookNode, default: str) -> str:
    """The text of the notebook's first markdown heading, or ``default``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def goals_of(notebook: nbformat.NotebookNode) -> str:
    """The markdown list under the first cell's ``**Learning goals**`` line ("" when there is none)."""
    lines = notebook.cells[0].source.splitlines() if notebook.cells else []
    if "**Learning goals**" not in lines:
        return ""
    goals = []
    for line in lines[lines.index("**Learning goals**") + 1:]:
        if not line.strip():
            break
        goals.append(line)
    return "\n".join(goals)


def execute(path: Path, timeout: int = CELL_TIMEOUT, env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed in its folder, in memory (the file is not written).

    Raises :class:`GazelabError` naming the notebook and the cell that failed (or timed out)."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    current = {"index": None}

    def started(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(notebook, timeout=timeout, on_cell_start=started,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=env) if env is not None else client.execute()
    except Exception as error:
        index = current["index"]
        if index is None:
            where = "before its first cell (kernel start)"
        else:
            first = next((line for line in notebook.cells[index].source.splitlines() if line.strip()), "")
            where = f"cell {index} (`{first[:80]}`)"
        reason = (f"{error.ename}: {error.evalue}" if hasattr(error, "ename")
                  else f"{type(error).__name__}: {error}")
        raise GazelabError(f"{path}: {where} failed: {reason}") from error
    return notebook


def _widget_html(model_id: str, models: dict) -> str:
    """A widget drawn from its saved state: boxes, text, progress bars and control values; images are left out."""
    model = models.get(model_id.removeprefix("IPY_MODEL_"))
    if model is None:
        return ""
    name, state = model["model_name"], model["state"]
    if "children" in state:
        layout = "column;align-items:flex-start" if name.startswith("VBox") else "row;align-items:center"
        inner = "".join(_widget_html(child, models) for child in state["children"])
        return f'<div style="display:flex;flex-direction:{layout};gap:0.5em">{inner}</div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{state.get('value', '')}</span>"
    if "Progress" in name:
        return f'<progress max="{state.get("max", 100)}" value="{state.get("value", 0)}"></progress>'
    value = state.get("value")
    if name == "ImageModel" or not isinstance(value, (str, int, float, bool)):
        return ""
    label = state.get("description", "")
    return f"<span><code>{html.escape(f'{label} = {value}' if label else str(value))}</code></span>"


def static_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an executed notebook whose widget outputs are static HTML and which holds no widget state."""
    notebook = copy.deepcopy(notebook)
    models = notebook.metadata.pop("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(_WIDGET_VIEW)
            if view is None:
                continue
            drawn = _widget_html(view["model_id"], models)
            if "<code>" in drawn:  # it has controls
                drawn += ('<p style="font-size:smaller;opacity:0.7">A widget, as the notebook left it: run the '
                          "notebook in JupyterLab to use it.</p>")
            output.data = {"text/html": drawn}
    return notebook


def exporter(mathjax: bool):
    """nbconvert's HTML exporter with the offline template above."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file="gazelab_site.html.j2",
                        extra_loaders=[DictLoader({"gazelab_site.html.j2": _TEMPLATE})],
                        mathjax_url=MATHJAX_URL if mathjax else "")


def render_index(pages: list[Page], *, source: str, smoke: bool, mathjax: bool, when: datetime) -> str:
    """The site's index.html: one row per page, with the budget, the date and the source folder."""
    from nbconvert.filters import markdown2html

    def inline(markdown: str) -> str:
        return markdown2html(markdown).strip().removeprefix("<p>").removesuffix("</p>")

    rows = "\n".join(
        f'<tr><td><a href="{page.name}.html">{inline(page.title)}</a></td><td>{markdown2html(page.goals)}</td>'
        f'<td class="num">{page.seconds:.0f} s</td><td><a href="{page.name}.ipynb">.ipynb</a></td></tr>'
        for page in pages
    )
    budget = ("the <b>smoke</b> budget (<code>GAZELAB_SMOKE=1</code>: every run shortened; numbers and figures "
              "are not the teaching ones)" if smoke else "the <b>full</b> budget (the teaching default)")
    math = _INDEX_MATHJAX if mathjax else ""
    note = ("" if mathjax else "<p><b>Note:</b> no local MathJax was found (the <code>jupyter-server-mathjax</code> "
            "package), so equations are shown as TeX source.</p>")
    student = (" (the student version: an exercise not written yet uses the library's reference)"
               if source == "tutorials" else "")
    total = sum(page.seconds for page in pages)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>gazelab course: executed notebooks</title>
{math}
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }}
table {{ border-collapse: collapse; }}
td, th {{ border-top: 1px solid #ccc; padding: 0.5em; vertical-align: top; text-align: left; }}
td ul {{ margin: 0; padding-left: 1.2em; }}
.num {{ text-align: right; white-space: nowrap; }}
</style>
</head>
<body>
<h1>gazelab course: executed notebooks</h1>
<p>The notebooks of <code>{html.escape(source)}/</code>{student}, executed top to bottom with {budget} on
{when:%Y-%m-%d %H:%M} (gazelab {__version__}, {total:.0f} s in all). Each page shows the code and its outputs as
that run left them; the <code>.ipynb</code> link is the executed notebook, to open in JupyterLab.
To run them yourself: <code>make lab</code>.</p>
{note}
<table>
<tr><th>notebook</th><th>learning goals</th><th>run time</th><th>executed</th></tr>
{rows}
</table>
</body>
</html>
"""


def select(source: Path, only: list[str] | None = None) -> list[Path]:
    """The notebooks of ``source``, or those whose name starts with one of ``only`` (e.g. ``00``, ``01``)."""
    paths = sorted(source.glob("*.ipynb"))
    if only:
        missing = [prefix for prefix in only if not any(p.stem.startswith(prefix) for p in paths)]
        if missing:
            raise GazelabError(f"no notebook of {source} starts with {', '.join(missing)}")
        paths = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
    if not paths:
        raise GazelabError(f"no notebook in {source}")
    return paths


def _move_into_place(built: Path, out: Path) -> None:
    """Replace ``out`` by ``built`` (both in the same folder): the old site is removed only once the new one is in."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
    built.rename(out)
    if old is not None:
        shutil.rmtree(old)


def build_site(source: Path = TUTORIALS_DIR, out: Path = SITE_DIR, *, only: list[str] | None = None,
               smoke: bool | None = None, timeout: int = CELL_TIMEOUT, log=print) -> Path:
    """Execute the notebooks of ``source`` and write the site to ``out`` (see the module's docstring).

    ``smoke``: None follows ``GAZELAB_SMOKE``; True or False sets it for the notebooks. Returns ``out/index.html``."""
    paths = select(source, only)
    env = None
    if smoke is not None:
        env = {**os.environ, SMOKE_ENV_VAR: "1" if smoke else "0"}
    else:
        smoke = smoke_mode()
    mathjax = mathjax_source()
    if mathjax is None:
        log("no local MathJax (pip install jupyter-server-mathjax): equations stay TeX source")
    html_exporter = exporter(mathjax is not None)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        pages = []
        for path in paths:
            log(f"executing {path} ({'smoke' if smoke else 'full'} budget)")
            start = time.monotonic()
            notebook = execute(path, timeout, env)
            page = Page(path.stem, title_of(notebook, path.stem), goals_of(notebook), time.monotonic() - start)
            log(f"  {page.seconds:.0f} s")
            nbformat.write(notebook, staging / path.name)
            shown = static_widgets(notebook)
            shown.metadata["title"] = page.title.replace("*", "").replace("`", "")  # the page's <title>
            body, _ = html_exporter.from_notebook_node(shown, resources={"metadata": {"name": path.stem}})
            (staging / f"{path.stem}.html").write_text(body, encoding="utf-8")
            pages.append(page)
        if mathjax is not None:
            shutil.copytree(mathjax, staging / "mathjax", ignore=_unusable_mathjax)
        label = next((name for name, folder in SOURCES.items() if folder == source.resolve()), str(source))
        index = render_index(pages, source=label, smoke=smoke, mathjax=mathjax is not None, when=datetime.now())
        (staging / "index.html").write_text(index, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a site is for reading
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="tutorials",
                        help="tutorials (default), solutions, or a folder of notebooks")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help=f"site folder (default {SITE_DIR})")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="only these notebooks, e.g. --only 00 01")
    parser.add_argument("--smoke", action="store_true", help=f"smoke budgets (as {SMOKE_ENV_VAR}=1)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds one cell may run")
    args = parser.parse_args(argv)
    source = SOURCES.get(args.source, Path(args.source))
    try:
        index = build_site(source, args.out, only=args.only, smoke=True if args.smoke else None, timeout=args.timeout)
    except GazelabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"site: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
