"""gazelab.authoring.site: the executed course as offline HTML pages, built here from two tiny notebooks (a kernel each)."""

import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gazelab.authoring import site
from gazelab.core.errors import GazelabError


def _write(folder, name, *cells):
    path = folder / name
    nbformat.write(new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                          "display_name": "Python 3"}}), path)
    return path


@pytest.fixture
def course(tmp_path):
    """Two notebooks: a figure, an equation and a file read from the notebook's folder; and a plain one."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "data.txt").write_text("read from the notebook's folder")
    _write(folder, "01_alpha.ipynb",
           new_markdown_cell("# 1 · Alpha: a *figure*\n\nIntro.\n\n**Learning goals**\n- see a parabola $y = x^2$;\n"
                             "- read a file.\n\nMore text."),
           new_markdown_cell("The curve is\n$$\ny = x^2.\n$$"),
           new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nprint(open('data.txt').read())\n"
                         "plt.plot([0, 1, 2], [0, 1, 4]);"))
    _write(folder, "02_beta.ipynb", new_markdown_cell("# 2 · Beta"), new_code_cell("print(6 * 7)"))
    return folder


def _outputs(folder):
    return {p.name: [c.get("outputs") for c in nbformat.read(p, as_version=4).cells] for p in folder.glob("*.ipynb")}


def test_site_pages_hold_the_outputs_and_load_nothing_from_the_network(course, tmp_path):
    before = {p.name: p.read_bytes() for p in course.glob("*.ipynb")}
    index = site.build_site(course, tmp_path / "site", log=lambda message: None)

    out = index.parent
    text = index.read_text()
    for name, title in (("01_alpha", "Alpha: a <em>figure</em>"), ("02_beta", "Beta")):
        assert f'href="{name}.html"' in text and title in text
        assert nbformat.read(out / f"{name}.ipynb", as_version=4).cells[-1].outputs  # the executed copy
    assert "read a file" in text and "Learning goals" not in text and "More text" not in text

    alpha, beta = (out / "01_alpha.html").read_text(), (out / "02_beta.html").read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,', alpha)
    assert "read from the notebook&#39;s folder" in alpha or "read from the notebook's folder" in alpha
    assert "42" in beta and "<title>2 · Beta</title>" in beta
    for page in (index, out / "01_alpha.html", out / "02_beta.html"):
        remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(?:https?:)?//[^"]*"', page.read_text())
        assert not remote, f"{page.name} loads {remote}"
    if site.mathjax_source() is not None:
        assert 'src="mathjax/MathJax.js?config=' in alpha and (out / "mathjax" / "MathJax.js").is_file()
    else:
        assert "equations are shown as TeX source" in text
    assert "$$\ny = x^2.\n$$" in alpha or "y = x^2." in alpha

    assert {p.name: p.read_bytes() for p in course.glob("*.ipynb")} == before
    assert not any(any(o) for outputs in _outputs(course).values() for o in outputs if o)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_a_failing_notebook_names_itself_and_its_cell_and_leaves_the_old_site(course, tmp_path):
    _write(course, "03_broken.ipynb", new_markdown_cell("# Broken"), new_code_cell("x = 1"),
           new_code_cell("raise ValueError('on purpose')"))
    old = tmp_path / "site"
    old.mkdir()
    (old / "index.html").write_text("the previous site")

    with pytest.raises(GazelabError, match=r"03_broken\.ipynb: cell 2 .*ValueError: on purpose"):
        site.build_site(course, old, only=["02", "03"], log=lambda message: None)
    assert [p.name for p in old.iterdir()] == ["index.html"] and (old / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "site"]


def test_only_must_match_a_notebook(course, tmp_path):
    with pytest.raises(GazelabError, match="starts with 07"):
        site.select(course, ["01", "07"])
    assert [p.name for p in site.select(course, ["02"])] == ["02_beta.ipynb"]


def test_widgets_are_drawn_from_their_last_state_without_the_state():
    models = {
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_text", "IPY_MODEL_progress"]}},
        "text": {"model_name": "HTMLModel", "state": {"value": "steps:&nbsp;100%"}},
        "progress": {"model_name": "FloatProgressModel", "state": {"value": 60.0, "max": 60.0}},
        "sliders": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_image"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"value": 0.2, "description": "margin"}},
        "image": {"model_name": "ImageModel", "state": {"format": "png"}},
    }
    view = "application/vnd.jupyter.widget-view+json"
    notebook = new_notebook(cells=[new_code_cell("", outputs=[
        nbformat.v4.new_output("display_data", {"text/plain": "0%", view: {"model_id": "bar"}}),
        nbformat.v4.new_output("display_data", {"text/plain": "FigureSliders(...)", view: {"model_id": "sliders"}}),
    ])], metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": models}}})

    shown = site.static_widgets(notebook)
    bar, sliders = (output.data for output in shown.cells[0].outputs)
    assert list(bar) == ["text/html"] and "steps:&nbsp;100%" in bar["text/html"]
    assert '<progress max="60.0" value="60.0">' in bar["text/html"] and "JupyterLab" not in bar["text/html"]
    assert "margin = 0.2" in sliders["text/html"] and "JupyterLab" in sliders["text/html"]
    assert "widgets" not in shown.metadata and "widgets" in notebook.metadata  # the executed copy keeps its state
