"""Check `make lab` in a real browser: JupyterLab on tutorials/, notebook 02 run, the fovea explorer redraws.

Needs what `make` does not install (a developer check, not part of `make test`):

    apt-get install chromium && pip install playwright      # any environment; the browser is Debian's
    python scripts/check_lab.py        # with the python that has playwright; it starts .venv/bin/jupyter

Starts `jupyter lab` as `make lab` does (plus --no-browser and no token) on a temporary copy of tutorials/ (so
JupyterLab's autosave can never write into the repository) with GAZELAB_SMOKE=1, opens 02_gaussian_fovea.ipynb in headless Chromium, runs all cells, waits for the explorer's
sliders and image, moves the mu_x slider with the keyboard and checks that the image changes. Screenshots go to
--out. Exit code 0 = widgets work in the browser.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default="/tmp/gazelab_lab_check", help="folder for the screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # only this check needs it

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    served = Path(tempfile.mkdtemp(prefix="gazelab_lab_check_")) / "tutorials"
    shutil.copytree(ROOT / "tutorials", served)
    lab = subprocess.Popen(
        [str(ROOT / ".venv/bin/jupyter"), "lab", f"--ServerApp.root_dir={served}", "--no-browser", "--allow-root",
         f"--port={args.port}", "--IdentityProvider.token=", "--ServerApp.password="],
        cwd=ROOT, env=dict(os.environ, GAZELAB_SMOKE="1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status", timeout=2)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/02_gaussian_fovea.ipynb")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            time.sleep(5)  # let the kernel start
            page.click("text=Run", timeout=30_000)
            page.click("text=Run All Cells", timeout=30_000)
            page.wait_for_selector(".jupyter-widgets img", timeout=300_000)
            image = page.query_selector_all(".jupyter-widgets img")[0]
            before = image.get_attribute("src")
            print(f"sliders: {len(page.query_selector_all('.widget-slider'))}, widget images: "
                  f"{len(page.query_selector_all('.jupyter-widgets img'))}")
            image.scroll_into_view_if_needed()
            page.screenshot(path=str(out / "before.png"))
            page.query_selector_all(".noUi-handle")[0].focus()
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            deadline = time.time() + 60
            while time.time() < deadline and image.get_attribute("src") == before:
                time.sleep(1)
            redrawn = image.get_attribute("src") != before
            page.screenshot(path=str(out / "after.png"))
            browser.close()
        print(f"image redrawn after moving mu_x: {redrawn}; screenshots in {out}")
        return 0 if redrawn else 1
    finally:
        lab.terminate()
        lab.wait(timeout=30)
        shutil.rmtree(served.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
