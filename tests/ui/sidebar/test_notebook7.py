"""The same extension in a real Notebook 7 (``python -m notebook``) and a real Chromium (issue 14).

Notebook 7's page holds one main widget (the notebook), so the run view opens in the panel under it
(the shell's 'down' area). The ``lab`` fixture is replaced here by a Notebook 7 server, so the suite's
``page``, ``project`` and ``run_home`` fixtures point at it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from tests.ui.common import ROOT, Lab, serve
from ui.sidebar.conftest import ARTIFACTS
from ui.sidebar.uihelpers import newest_run, notebook_json, run_item, serious_violations

pytestmark = [pytest.mark.ui, pytest.mark.timeout(150)]
SCREENSHOT = ROOT / "docs" / "img" / "notebook7.png"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pytest.importorskip("notebook", minversion="7")
    yield from serve(tmp_path_factory, app="notebook")


def open_notebook(page, lab: Lab, path: str) -> None:
    # On a loaded machine Notebook 7 sometimes reports its own theme stylesheet as failed (it loads on retry);
    # that dialog is Notebook's, not ours: dismiss it whenever it shows up.
    theme_error = page.locator(".jp-Dialog", has_text="Error Loading Theme")
    page.add_locator_handler(theme_error, lambda: theme_error.locator(".jp-Dialog-button").first.click())
    page.goto(f"{lab.url}/notebooks/{path}?token={lab.token}")
    expect(page.locator(".jp-NotebookPanel-toolbar .rc-submit-button")).to_be_visible(timeout=60_000)


def test_submit_opens_the_run_view_under_the_notebook(page, lab, project):
    (project / "nb7_submit.ipynb").write_text(
        json.dumps(notebook_json("%%runconfig\nscript: train.py\narguments: ['3']"))
    )
    open_notebook(page, lab, "proj/nb7_submit.ipynb")
    page.locator(".jp-NotebookPanel-toolbar .rc-submit-button").click()
    run_id = newest_run("default", timeout=30)
    view = page.locator(f"#jp-down-stack #runconfig-run-{run_id}")
    expect(view).to_be_visible(timeout=15_000)
    expect(view.locator(".rc-log")).to_contain_text("step 2", timeout=30_000)
    expect(view).to_have_attribute("data-status", "Completed", timeout=20_000)
    expect(page.locator(".jp-NotebookPanel")).to_be_visible()  # the notebook is still there, above
    assert view.bounding_box()["height"] > 250, "the panel under the notebook must show the run, not only its tab"
    expect(view.locator(".rc-log")).to_be_in_viewport()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    # Outputs are listed read-only with downloads; nothing is copied into the notebook's folder
    before = sorted(p.relative_to(lab.root) for p in lab.root.rglob("*") if ".ipynb_checkpoints" not in p.parts)
    view.locator(".rc-outputs").click()
    expect(view.locator('.rc-files tr[data-path="logs/std_log.txt"] .rc-file-download')).to_be_visible()
    after = sorted(p.relative_to(lab.root) for p in lab.root.rglob("*") if ".ipynb_checkpoints" not in p.parts)
    assert after == before


def test_sidebar_row_opens_the_run_view_by_keyboard(page, lab, project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["4"]), "nb7list")
    run.wait_for_completion(timeout=30)
    (project / "nb7_plain.ipynb").write_text(json.dumps(notebook_json("print(1)")))
    open_notebook(page, lab, "proj/nb7_plain.ipynb")
    # View > Left Sidebar > Training runs, through the command it runs
    page.evaluate("window.jupyterapp.commands.execute('runconfig:show-runs').then(() => null)")
    row = run_item(page, run.id)
    expect(row).to_be_visible(timeout=15_000)
    expect(row).to_have_attribute("data-status", "Completed")
    row.locator(".rc-run-open").focus()
    page.keyboard.press("Enter")
    view = page.locator(f"#jp-down-stack #runconfig-run-{run.id}")
    expect(view).to_be_visible(timeout=15_000)
    expect(view.locator(".rc-log")).to_contain_text("step 3")
    # the charts render in Notebook 7 too (its own Vega-Lite renderer), with axes
    expect(view.locator(".rc-chart").first.locator('[aria-roledescription="axis"]')).to_have_count(2, timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "notebook7_sidebar.png"))
    assert serious_violations(page, "#runconfig-runs") == []
    assert serious_violations(page, f"#runconfig-run-{run.id}") == []
