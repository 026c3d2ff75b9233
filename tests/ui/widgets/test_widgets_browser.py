"""The widgets in a real JupyterLab, seen through a real Chromium.

A notebook submits runs with the magics (``%%runconfig`` + ``%submit``, which
show RunDetails through widgets/live.py) and with RunConfigForm; the tests
read the rendered DOM: the status reaches Completed, log lines and a metric
chart appear while the run goes on, Cancel stops a long run, and the form
shows a field error then submits. Screenshots are saved as artifacts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.timeout(150)]

QUICK = "script: train.py\narguments: [--epochs, 12, --sleep, 0.4]"
SLOW = "script: train.py\narguments: [--epochs, 3000, --sleep, 0.1]"


def _notebook(path: Path, cells: list[str]) -> None:
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}
                    for source in cells
                ],
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def _open_and_run(page, lab, relative: str, cells: int) -> None:  # type: ignore[no-untyped-def]
    """Open a notebook, wait until its kernel is idle, then run every cell with Shift+Enter."""
    page.goto(lab.notebook_url(relative))
    notebook = page.locator(".jp-NotebookPanel:visible")
    notebook.locator(".jp-Cell").first.wait_for(timeout=60_000)
    # The toolbar's execution indicator says idle before the kernel is ready; the status bar does not.
    page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=60_000)
    notebook.locator(".jp-Cell").first.locator(".jp-InputArea-editor").click()
    for _ in range(cells):
        page.keyboard.press("Shift+Enter")


def _project(lab, name: str, project: Path) -> Path:  # type: ignore[no-untyped-def]
    folder = lab.root / name
    folder.mkdir()
    shutil.copy(project / "train.py", folder / "train.py")
    return folder


def test_submit_shows_live_run_details_and_cancel_works(lab, browser, project, artifacts):
    folder = _project(lab, "magics", project)
    _notebook(
        folder / "runs.ipynb",
        [
            "%load_ext runconfig_jupyter",
            f"%%runconfig quick\n{QUICK}",
            "%submit quick -e ui",
            f"%%runconfig slow\n{SLOW}",
            "%submit slow -e ui",
        ],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        _open_and_run(page, lab, "magics/runs.ipynb", 5)
        views = page.locator(".runconfig-run-details")
        views.nth(1).wait_for(timeout=60_000)
        quick, slow = views.nth(0), views.nth(1)

        # the quick run: log lines and a metric chart while it is still running, then Completed
        quick.locator("pre.runconfig-log", has_text="epoch 1 loss").wait_for(timeout=60_000)
        chart = quick.locator("tr.runconfig-metric[data-metric='loss'] svg.runconfig-sparkline polyline")
        chart.wait_for(timeout=30_000)
        early_points = chart.get_attribute("points")
        assert quick.locator(".runconfig-status[data-status='Running']").count() == 1, "seen while still running"
        page.screenshot(path=str(artifacts / "run-details-running.png"), full_page=True)
        quick.locator(".runconfig-status[data-status='Completed']").wait_for(timeout=60_000)
        assert chart.get_attribute("points") != early_points, "the chart should have grown while the run went on"
        assert quick.locator("a.runconfig-output-link[download='model.txt']").count() == 1
        assert "epoch 11 loss 0.083" in quick.locator("pre.runconfig-log").inner_text()
        assert quick.locator("tr.runconfig-metric[data-metric='loss'] td").nth(5).inner_text() == "12"
        assert "outputs/model.txt" in quick.locator(".runconfig-outputs").inner_text()
        assert quick.get_by_role("button", name="Cancel").is_disabled()

        # the long run: Running with live lines, then Cancel from the widget stops it
        slow.locator(".runconfig-status[data-status='Running']").wait_for(timeout=60_000)
        slow.locator("pre.runconfig-log", has_text="epoch 2 loss").wait_for(timeout=60_000)
        cancel = slow.get_by_role("button", name="Cancel")
        assert cancel.is_enabled()
        cancel.click()
        slow.locator(".runconfig-status[data-status='Canceled']").wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "run-details-final.png"), full_page=True)
    finally:
        page.close()

    from runconfig_jupyter.core.store import RunStore

    statuses = sorted(r.status.value for r in RunStore(lab.home).list(experiment="ui"))
    assert statuses == ["Canceled", "Completed"]


def test_form_shows_a_field_error_then_submits(lab, browser, project, artifacts):
    folder = _project(lab, "form", project)
    _notebook(
        folder / "form.ipynb",
        ["from runconfig_jupyter.widgets import RunConfigForm\nform = RunConfigForm(experiment='uiform')\nform.show()"],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        _open_and_run(page, lab, "form/form.ipynb", 1)
        form = page.locator(".runconfig-form")
        form.wait_for(timeout=60_000)
        form.get_by_role("button", name="Submit").click()
        form.locator(".runconfig-error[data-field='script']", has_text="give a script").wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts / "form-error.png"), full_page=True)

        form.get_by_label("Script").fill("train.py")
        form.get_by_label("Arguments").fill("--epochs 3")
        form.get_by_role("button", name="Submit").click()
        details = form.locator(".runconfig-run-details")
        details.locator(".runconfig-status[data-status='Completed']").wait_for(timeout=60_000)
        assert "epoch 2 loss" in details.locator("pre.runconfig-log").inner_text()
        assert form.locator(".runconfig-error").count() == 0
        page.screenshot(path=str(artifacts / "form-submitted.png"), full_page=True)
    finally:
        page.close()
