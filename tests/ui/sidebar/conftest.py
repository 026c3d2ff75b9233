"""A real ``jupyter lab`` (tests/ui/common.py: temp dirs, 127.0.0.1) with the built labextension.

The labextension is the one built from js/ into runconfig_jupyter/labextension; it is linked into a
temporary JUPYTER_DATA_DIR, so nothing is installed into the shared environment. The server extension
is enabled on the command line. Tests share one lab per module (starting it is the slow part) and one
run home, which replaces the per-test home of tests/conftest.py.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.common import ROOT, Lab, serve


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from serve(tmp_path_factory)


@pytest.fixture(autouse=True)
def run_home(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs submitted by the test land where the lab's server looks (overrides tests/conftest.py)."""
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(lab.home))
    return lab.home


# Every test leaves a screenshot of its last state here (CI uploads the folder as an artifact).
ARTIFACTS = Path(os.environ.get("RUNCONFIG_UI_ARTIFACTS", ROOT / "build" / "ui-artifacts"))


@pytest.fixture
def page(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        except Exception:  # a crashed page must not hide the test's own failure
            pass
        context.close()


@pytest.fixture
def project(lab: Lab) -> Path:
    """A notebook folder under the lab's root: a script that prints a line every 0.3 s."""
    folder = lab.root / "proj"
    if not folder.exists():
        folder.mkdir()
        (folder / "train.py").write_text(
            textwrap.dedent(
                """
                import sys, time
                from runconfig_jupyter import Run
                run = Run.get_context()
                steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
                for i in range(steps):
                    run.log("loss", 1.0 / (i + 1))
                    print(f"step {i}", flush=True)
                    time.sleep(0.3)
                """
            )
        )
    return folder


def open_lab(page, lab: Lab) -> None:
    """Load Lab and open the runs sidebar."""
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="runconfig-runs"]').click()
    page.wait_for_selector("#runconfig-runs", state="visible")
