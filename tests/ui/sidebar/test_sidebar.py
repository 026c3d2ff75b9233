"""The JupyterLab sidebar in a real Chromium against a real ``jupyter lab`` and real local runs."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import ScriptRun, submit
from runconfig_jupyter.core.runs.store import RunStore
from tests.ui.common import ROOT, start_lab, stop_lab
from ui.sidebar.conftest import open_lab
from ui.sidebar.uihelpers import confirm_cancel, newest_run, run_item, run_view

pytestmark = [pytest.mark.ui, pytest.mark.timeout(120)]
SCREENSHOT = ROOT / "docs" / "img" / "sidebar.png"


def open_run(page, run_id: str) -> None:
    run_item(page, run_id).locator(".rc-run-open").click()


def log_steps(page, run_id: str) -> int:
    text = run_view(page, run_id).locator(".rc-log").inner_text()
    return len(re.findall(r"^step \d+$", text, flags=re.M))


def test_lists_runs_live_follows_log_cancels_and_reruns(page, lab, project):
    done = submit(ScriptRunConfig(str(project), script="train.py", arguments=["2"]), "baseline")
    done.wait_for_completion(timeout=30)
    open_lab(page, lab)
    expect(run_item(page, done.id)).to_have_attribute("data-status", "Completed")
    expect(page.locator('.rc-experiment[data-experiment="baseline"] .rc-experiment-label')).to_have_text("baseline (1)")

    # a run submitted through the core API after the page loaded appears without a reload
    live = submit(ScriptRunConfig(str(project), script="train.py", arguments=["300"]), "live")
    expect(run_item(page, live.id)).to_be_visible(timeout=15_000)
    expect(run_item(page, live.id)).to_have_attribute("data-status", "Running", timeout=15_000)

    # clicking opens a view whose log grows while the script prints
    open_run(page, live.id)
    view = run_view(page, live.id)
    log = view.locator(".rc-log")
    expect(log).to_contain_text("step 1", timeout=15_000)
    seen = log_steps(page, live.id)
    expect(log).to_contain_text(f"step {seen + 2}", timeout=15_000)
    expect(view).to_have_attribute("data-status", "Running")
    expect(view.locator(".rc-run-status")).to_have_text("Status: running")  # in words, not only a glyph
    expect(view.locator(".rc-cancel")).to_be_visible()
    expect(view.locator(".rc-metrics")).to_contain_text("loss", timeout=10_000)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # Cancel from the run view asks first, then stops the run; the sidebar shows it
    view.locator(".rc-cancel").click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-reject").click()  # "Keep running"
    time.sleep(1.0)
    assert ScriptRun(live.id).get_status() == "Running"
    view.locator(".rc-cancel").click()
    confirm_cancel(page)
    expect(run_item(page, live.id)).to_have_attribute("data-status", "Canceled", timeout=20_000)
    expect(view).to_have_attribute("data-status", "Canceled")
    expect(view.locator(".rc-cancel")).to_be_hidden()
    assert ScriptRun(live.id).get_status() == "Canceled"
    expect(log).to_have_attribute("data-complete", "true", timeout=10_000)
    steps_at_cancel = log_steps(page, live.id)

    # Re-run makes a new run of the same configuration, opened in its own view
    view.locator(".rc-rerun").click()
    new_id = newest_run("live", parent_run_id=live.id)
    rerun_view = run_view(page, new_id)
    expect(rerun_view.locator(".rc-run-facts")).to_contain_text(f"re-run of {live.id}", timeout=15_000)
    expect(run_item(page, new_id)).to_be_visible()
    expect(rerun_view.locator(".rc-log")).to_contain_text("step 0", timeout=15_000)
    # the sidebar's own stop button cancels too
    run_item(page, new_id).locator(".rc-run-cancel").click()
    confirm_cancel(page)
    expect(run_item(page, new_id)).to_have_attribute("data-status", "Canceled", timeout=20_000)
    expect(rerun_view).to_have_attribute("data-status", "Canceled")
    expect(run_item(page, new_id).locator(".rc-run-cancel")).to_have_count(0)
    assert log_steps(page, live.id) == steps_at_cancel  # the canceled run's log stopped growing

    # filters: status and experiment
    page.locator("#runconfig-runs .rc-filter-status").select_option("Canceled")
    expect(page.locator("#runconfig-runs .rc-run")).to_have_count(2)
    page.locator("#runconfig-runs .rc-filter-status").select_option("")
    page.locator("#runconfig-runs .rc-filter-experiment").select_option("baseline")
    expect(page.locator("#runconfig-runs .rc-run")).to_have_count(1)


def test_submit_button_runs_the_notebooks_folder(page, lab, project):
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["%%runconfig\n", "script: train.py\n", "arguments: ['3']\n"],
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "submit_me.ipynb").write_text(json.dumps(notebook))
    open_lab(page, lab)
    page.goto(f"{lab.url}/lab/tree/proj/submit_me.ipynb?token={lab.token}")
    page.locator(".jp-NotebookPanel-toolbar .rc-submit-button").click()
    run_id = newest_run("default", timeout=30)
    view = run_view(page, run_id)
    expect(view.locator(".rc-log")).to_contain_text("step 2", timeout=30_000)
    expect(view).to_have_attribute("data-status", "Completed", timeout=20_000)
    assert ScriptRun(run_id).get_config().source_directory == str(project)
    # "Outputs" shows the run's files read in place, with download links; nothing lands under the root
    before = sorted(p.relative_to(lab.root) for p in lab.root.rglob("*") if ".ipynb_checkpoints" not in p.parts)
    view.locator(".rc-outputs").click()
    row = view.locator('.rc-files tr[data-path="logs/std_log.txt"]')
    expect(row).to_be_visible()
    href = row.locator(".rc-file-download").get_attribute("href")
    body = page.evaluate("async url => (await fetch(url)).text()", href)
    assert body == "step 0\nstep 1\nstep 2\n"
    after = sorted(p.relative_to(lab.root) for p in lab.root.rglob("*") if ".ipynb_checkpoints" not in p.parts)
    assert after == before and not (lab.root / "runconfig-outputs").exists()


def test_run_submitted_from_a_notebook_kernel_appears_live(page, lab, project):
    cells = [
        "%load_ext runconfig_jupyter",
        "%%runconfig\nscript: train.py\narguments: ['300']",
        "%submit -e fromkernel -o run",
    ]
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c} for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "kernel_submit.ipynb").write_text(json.dumps(notebook))
    open_lab(page, lab)
    expect(page.locator('#runconfig-runs .rc-experiment[data-experiment="fromkernel"]')).to_have_count(0)
    page.evaluate(
        "window.jupyterapp.commands.execute('docmanager:open', {path: 'proj/kernel_submit.ipynb'}).then(() => null)"
    )
    expect(page.locator(".jp-NotebookPanel:visible .jp-Notebook")).to_be_visible()
    # the execution indicator says idle before the kernel is ready: wait for the status bar instead
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Python 3.*\| Idle"))).to_be_visible(
        timeout=60_000
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => null)")
    group = page.locator('#runconfig-runs .rc-experiment[data-experiment="fromkernel"] .rc-run')
    expect(group).to_have_count(1, timeout=30_000)  # pushed to the sidebar, no reload
    run_id = group.get_attribute("data-run-id")
    expect(group).to_have_attribute("data-status", "Running", timeout=15_000)
    group.locator(".rc-run-open").click()
    view = run_view(page, run_id)
    expect(view.locator(".rc-log")).to_contain_text("step 1", timeout=15_000)
    view.locator(".rc-cancel").click()
    confirm_cancel(page)
    expect(group).to_have_attribute("data-status", "Canceled", timeout=20_000)
    page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown').then(() => null)")


def test_cancel_hidden_when_target_cannot_cancel(page, lab, project):
    """The server's answer is rewritten in the browser to a target without cancel (no such target exists here)."""
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["2"]), "nocancel")

    def no_cancel(route):
        response = route.fetch()
        body = response.json()
        body["capabilities"]["cancel"] = False
        body["status"] = "Running"
        route.fulfill(response=response, json=body)

    page.route(f"**/runconfig/api/runs/{run.id}", no_cancel)
    open_lab(page, lab)
    open_run(page, run.id)
    view = run_view(page, run.id)
    expect(view.locator(".rc-rerun")).to_be_visible()
    expect(view.locator(".rc-cancel")).to_be_hidden()
    run.wait_for_completion(timeout=30)


def test_version_mismatch_is_explained(page, lab):
    """A server speaking another API version (simulated by rewriting /version in the browser)."""
    page.route(
        "**/runconfig/api/version*",
        lambda route: route.fulfill(json={"name": "runconfig-jupyter", "version": "9.0.0", "api_version": 99}),
    )
    open_lab(page, lab)
    expect(page.locator("#runconfig-runs .rc-version-mismatch")).to_contain_text("pip install --upgrade")


def test_missing_server_extension_is_explained(browser, tmp_path: Path):
    bare = start_lab(tmp_path, server_extension=False)
    try:
        context = browser.new_context()
        page = context.new_page()
        open_lab(page, bare)
        expect(page.locator("#runconfig-runs .rc-missing-server")).to_contain_text(
            "jupyter server extension enable runconfig_jupyter.server"
        )
        context.close()
    finally:
        stop_lab(bare)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_older_runs_page_in(page, lab):
    """Many finished runs (rows written straight into the store: only the list is under test)."""
    from runconfig_jupyter.core.runs.status import RunStatus
    from runconfig_jupyter.core.runs.store import RunRecord

    store = RunStore()
    start = time.time() - 10_000
    for i in range(230):
        store.create_run(
            RunRecord(f"bulk_{i:04d}_0000abcd", "bulk", RunStatus.COMPLETED, "local", "local", start + i, start + i)
        )
    total = store.count()
    open_lab(page, lab)
    items = page.locator("#runconfig-runs .rc-run")
    expect(items).to_have_count(200)
    page.locator("#runconfig-runs .rc-load-more").click()
    expect(items).to_have_count(total)
    expect(page.locator("#runconfig-runs .rc-load-more")).to_have_count(0)
