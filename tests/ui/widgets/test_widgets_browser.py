"""The widgets in a real JupyterLab and a real Notebook 7, seen through a real Chromium.

Notebooks submit runs with the magics (``%%runconfig`` + ``%submit``, which show
RunDetails) and with RunConfigForm; the tests read the rendered DOM and act as a
reader does (mouse wheel, clicks): the log follows its end, keeps the reader's place
when they scroll up while lines keep arriving, shows the last line after Completed;
charts are Vega-Lite with axes; Cancel stops a run and is hidden once it has ended;
Check lists every error; a view whose kernel restarted says it is stale and how to
re-attach; axe-core finds no serious or critical accessibility violation.
Screenshots are saved as artifacts (docs/img/ is updated from them).
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ui.widgets.axe import serious_violations

pytestmark = [pytest.mark.ui, pytest.mark.timeout(180)]

QUICK = "script: train.py\narguments: [--epochs, 12, --sleep, 0.4]"
SLOW = "script: train.py\narguments: [--epochs, 3000, --sleep, 0.1]"
PRINTER_CONFIG = "script: printer.py\narguments: [420, 0.03]"
FRONT_ENDS = ["lab", "notebook7"]
PRINTER = textwrap.dedent(
    """
    import sys, time
    from runconfig_jupyter import Run

    run = Run.get_context()
    count, pause = int(sys.argv[1]), float(sys.argv[2])
    for i in range(count):
        print(f"line {i:04d} " + "x" * 30, flush=True)
        if i % 10 == 0:
            run.log("loss", 10.0 / (i + 1))
            run.log("accuracy", i / count)
        time.sleep(pause)
    print("LAST LINE of the run", flush=True)
    """
)
# JS: the text of the first log line at the top of the log's viewport, and the scroll numbers.
LOG_STATE = """(log) => {
    const top = log.scrollTop;
    const line = [...log.querySelectorAll('.runconfig-log-line')].find(l => l.offsetTop + l.offsetHeight > top + 1);
    const lines = log.querySelectorAll('.runconfig-log-lines .runconfig-log-line');
    return {top, height: log.scrollHeight, client: log.clientHeight, first: line ? line.textContent : null,
            count: lines.length, last: lines.length ? lines[lines.length - 1].textContent : null};
}"""

# JS: watch the first chart for a while (10 ms steps, i.e. at every point the browser could paint); count the
# moments it shows no drawn chart, and the redraws seen (a new <svg>). An Output's redraw empties it and Vega
# draws asynchronously: this is what shows whether a reader would see it blink.
CHART_WATCH = """async (ms) => {
    const chart = document.querySelector('.runconfig-run-details .runconfig-chart');
    let blank = 0, seen = 0, swaps = 0, last = null;
    const end = performance.now() + ms;
    while (performance.now() < end) {
        const axis = chart.querySelector('svg .role-axis');
        const drawn = axis ? axis.ownerSVGElement : null;
        seen += 1;
        if (!drawn) blank += 1;
        if (drawn && last && drawn !== last) swaps += 1;
        if (drawn) last = drawn;
        await new Promise(resolve => setTimeout(resolve, 10));
    }
    return {blank, seen, swaps};
}"""


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


def _api(lab, path: str, method: str = "GET") -> object:  # type: ignore[no-untyped-def]
    request = urllib.request.Request(f"{lab.url}/api/{path}", method=method)
    request.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _kernel_id(lab, relative: str, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    """The notebook's kernel, once it is idle (the page's own indicators differ between Lab and Notebook 7)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for session in _api(lab, "sessions"):  # type: ignore[union-attr]
            if session["path"] == relative and session["kernel"]["execution_state"] == "idle":
                return str(session["kernel"]["id"])
        time.sleep(0.25)
    raise AssertionError(f"no idle kernel for {relative}")


def _url(lab, front_end: str, relative: str) -> str:  # type: ignore[no-untyped-def]
    if front_end == "lab":
        return lab.notebook_url(relative)
    return f"{lab.url}/notebooks/{relative}?token={lab.token}"


def _open_and_run(page, lab, relative: str, cells: int, front_end: str = "lab") -> str:  # type: ignore[no-untyped-def]
    """Open a notebook, wait until its kernel is idle, run every cell with Shift+Enter; returns the kernel id."""
    page.goto(_url(lab, front_end, relative))
    notebook = page.locator(".jp-NotebookPanel:visible")
    notebook.locator(".jp-Cell").first.wait_for(timeout=60_000)
    kernel = _kernel_id(lab, relative)
    if front_end == "lab":  # the toolbar says idle before the kernel is ready; the status bar does not
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=60_000)
    else:
        page.wait_for_timeout(1500)  # Notebook 7: let the page connect to the idle kernel
    notebook.locator(".jp-Cell").first.locator(".jp-InputArea-editor").click()
    for _ in range(cells):
        page.keyboard.press("Shift+Enter")
    return kernel


def _project(lab, name: str, project: Path) -> Path:  # type: ignore[no-untyped-def]
    folder = lab.root / name
    folder.mkdir()
    shutil.copy(project / "train.py", folder / "train.py")
    (folder / "printer.py").write_text(PRINTER)
    return folder


def _submit_notebook(lab, project: Path, name: str, runconfig: str, experiment: str) -> str:  # type: ignore[no-untyped-def]
    """A project folder with a notebook of three cells: load the magics, %%runconfig, %submit. Its relative path."""
    folder = _project(lab, name, project)
    cells = ["%load_ext runconfig_jupyter", f"%%runconfig job -q\n{runconfig}", f"%submit job -e {experiment}"]
    _notebook(folder / "submit.ipynb", cells)
    return f"{name}/submit.ipynb"


def _save(page, artifacts: Path, name: str, element=None) -> None:  # type: ignore[no-untyped-def]
    target = element if element is not None else page
    kwargs = {} if element is not None else {"full_page": True}
    target.screenshot(path=str(artifacts / name), **kwargs)


def _no_serious_violations(page, selector: str, artifacts: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    violations = serious_violations(page, selector)
    (artifacts / f"axe-{name}.json").write_text(json.dumps(violations, indent=2))
    assert violations == [], json.dumps(violations, indent=2)[:3000]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_log_follows_keeps_the_readers_place_and_charts_have_axes(lab, browser, project, artifacts, front_end):
    notebook = _submit_notebook(lab, project, f"follow-{front_end}", PRINTER_CONFIG, "uifollow")
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    try:
        _open_and_run(page, lab, notebook, 3, front_end)
        view = page.locator(".runconfig-run-details")
        view.wait_for(timeout=60_000)
        assert view.count() == 1, "one live view per %submit"
        log = view.locator(".runconfig-log")
        log.locator(".runconfig-log-line", has_text="line 0120").wait_for(timeout=60_000)
        static = page.locator(".jp-OutputArea-output table:not(.runconfig-run-details table)")
        assert static.count() == 0, "no static run table (ScriptRun's own repr) beside the live view"
        state = log.evaluate(LOG_STATE)
        assert state["height"] - state["top"] - state["client"] <= 8, f"following the end while running: {state}"

        # the reader scrolls up with the mouse wheel: their place is kept while lines keep arriving
        log.hover()
        page.mouse.wheel(0, -600)
        page.wait_for_timeout(300)
        before = log.evaluate(LOG_STATE)
        assert before["height"] - before["top"] - before["client"] > 100, f"scrolled up: {before}"
        jump = view.locator("button.runconfig-jump")
        jump.wait_for(state="visible", timeout=10_000)
        log.locator(".runconfig-log-line", has_text="line 0300").wait_for(state="attached", timeout=60_000)
        after = log.evaluate(LOG_STATE)
        assert after["count"] > before["count"] + 100, "lines kept arriving"
        assert after["top"] == before["top"] and after["first"] == before["first"], (before, after)
        assert "new line" in jump.inner_text()
        _save(page, artifacts, f"widgets-log-scrolled-{front_end}.png", view)
        flicker = page.evaluate(CHART_WATCH, 2500)
        assert flicker["swaps"] >= 1, f"the chart should have been redrawn while watched: {flicker}"
        assert flicker["blank"] == 0, f"a redraw left the chart blank: {flicker}"

        view.locator(".runconfig-status[data-status='Completed']").wait_for(timeout=60_000)
        assert log.evaluate(LOG_STATE)["first"] == before["first"], "still where the reader left it"
        assert view.locator("button.runconfig-cancel").is_hidden(), "Cancel is gone once the run has ended"
        jump.click()
        last = log.locator(".runconfig-log-lines > .runconfig-log-line").last
        assert last.inner_text() == "LAST LINE of the run"
        box, frame = last.bounding_box(), log.bounding_box()
        assert box and frame and frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
        assert jump.is_hidden()

        # charts: Vega-Lite rendered by the front end itself, with axes and a title per metric
        chart = view.locator(".runconfig-chart svg").first
        chart.wait_for(timeout=30_000)
        for metric in ("loss", "accuracy"):
            assert view.locator(".runconfig-chart svg", has=page.locator(f"text:text-is('{metric}')")).count() >= 1
        assert view.locator(".runconfig-chart svg .role-axis").count() >= 4, "x and y axes on both charts"
        loss = view.locator(".runconfig-chart", has=page.locator("svg text:text-is('loss')"))
        assert loss.locator(".role-axis-label text", has_text=re.compile(r"^0\.1$")).count() == 0, "linear first"
        view.get_by_label("log scale (y axis)").check()
        loss.locator(".role-axis-label text", has_text=re.compile(r"^0\.1$")).first.wait_for(timeout=15_000)
        _save(page, artifacts, f"widgets-run-details-{front_end}.png", view)
        _no_serious_violations(page, ".runconfig-run-details", artifacts, f"run-details-{front_end}")
    finally:
        page.close()


def test_a_bounded_log_keeps_the_readers_place_while_its_oldest_lines_are_dropped(lab, browser, project, artifacts):
    """max_log_lines=150: lines above the reader are removed as new ones arrive; what they read must not move."""
    folder = _project(lab, "bounded", project)
    _notebook(
        folder / "bounded.ipynb",
        [
            "from runconfig_jupyter import Experiment, ScriptRunConfig\n"
            "from runconfig_jupyter.widgets import RunDetails\n"
            "run = Experiment('uibounded').submit(ScriptRunConfig('.', script='printer.py', arguments=[500, 0.03]))\n"
            "RunDetails(run, max_log_lines=150).show()"
        ],
    )
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    try:
        _open_and_run(page, lab, "bounded/bounded.ipynb", 1)
        log = page.locator(".runconfig-run-details .runconfig-log")
        log.locator(".runconfig-log-line", has_text="line 0200").wait_for(timeout=60_000)
        log.hover()
        page.mouse.wheel(0, -500)  # into the middle of the 150 lines kept
        page.wait_for_timeout(300)
        before = log.evaluate(LOG_STATE)
        assert before["count"] == 150 and before["top"] > 200, before
        # 20 lines past the newest one shown now: that many old lines above the reader must go (the newest, not
        # the one at the top plus a guess, since how many lines the log shows depends on its height)
        newest = int(before["last"].split()[1])
        log.locator(".runconfig-log-line", has_text=f"line {newest + 20:04d}").wait_for(
            state="attached", timeout=60_000
        )
        after = log.evaluate(LOG_STATE)
        assert after["count"] == 150, "bounded"
        assert after["first"] == before["first"], ("the line at the top stays while older ones go", before, after)
        assert after["top"] < before["top"], "the scroll position moved up by the height removed above"
    finally:
        page.close()


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

        quick.locator(".runconfig-log-line", has_text="epoch 1 loss").wait_for(timeout=60_000)
        assert quick.locator(".runconfig-status[data-status='Running']").count() == 1, "seen while still running"
        quick.locator(".runconfig-status[data-status='Completed']").wait_for(timeout=60_000)
        assert quick.locator(".runconfig-detail").inner_text() == "exit code 0 (success)"
        assert quick.locator("a.runconfig-output-link[download='model.txt']").count() == 1
        assert quick.locator(".runconfig-log-lines > .runconfig-log-line").last.inner_text() == "env None"
        assert quick.locator("tr.runconfig-metric[data-metric='loss'] td").nth(5).inner_text() == "12"
        assert quick.locator("button.runconfig-cancel").is_hidden()

        slow.locator(".runconfig-status[data-status='Running']").wait_for(timeout=60_000)
        slow.locator(".runconfig-log-line", has_text="epoch 2 loss").wait_for(timeout=60_000)
        cancel = slow.get_by_role("button", name="Cancel")
        assert cancel.is_enabled()
        cancel.click()
        slow.locator(".runconfig-status[data-status='Canceled']").wait_for(timeout=60_000)
        assert "(cancel)" in slow.locator(".runconfig-detail").inner_text()
        assert slow.locator("button.runconfig-cancel").is_hidden()
        _save(page, artifacts, "run-details-final.png")
    finally:
        page.close()

    from runconfig_jupyter.core.runs.store import RunStore

    statuses = sorted(r.status.value for r in RunStore(lab.home).list(experiment="ui"))
    assert statuses == ["Canceled", "Completed"]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_view_whose_kernel_restarted_says_it_is_stale(lab, browser, project, artifacts, front_end):
    notebook = _submit_notebook(lab, project, f"stale-{front_end}", SLOW, f"uistale-{front_end}")
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    try:
        kernel = _open_and_run(page, lab, notebook, 3, front_end)
        view = page.locator(".runconfig-run-details")
        view.locator(".runconfig-status[data-status='Running']").wait_for(timeout=60_000)
        live = view.locator(".runconfig-live")
        assert live.get_attribute("data-stale") == "false"
        _api(lab, f"kernels/{kernel}/restart", method="POST")
        view.locator(".runconfig-live[data-stale='true']").wait_for(timeout=20_000)
        notice = view.locator(".runconfig-stale")
        assert "RunDetails.attach(" in notice.inner_text() and "The run itself goes on" in notice.inner_text()
        assert view.locator("button.runconfig-cancel").is_hidden(), "no live-looking Cancel on a dead view"
        _save(page, artifacts, f"widgets-stale-{front_end}.png", view)
    finally:
        page.close()
    from runconfig_jupyter.core.runs.store import RunStore

    records = RunStore(lab.home).list(experiment=f"uistale-{front_end}")
    assert len(records) == 1 and not records[0].is_terminal, "the run goes on without the kernel"


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_form_check_lists_every_error_then_submits(lab, browser, project, artifacts, front_end):
    name = f"form-{front_end}"
    _project(lab, name, project)
    _notebook(
        lab.root / name / "form.ipynb",
        [
            "from runconfig_jupyter.widgets import RunConfigForm\n"
            "form = RunConfigForm(experiment='not a valid name')\nform.show()"
        ],
    )
    page = browser.new_page(viewport={"width": 1300, "height": 1800})
    try:
        _open_and_run(page, lab, f"{name}/form.ipynb", 1, front_end)
        form = page.locator(".runconfig-form")
        form.wait_for(timeout=60_000)
        form.get_by_label("Environment variables").fill("not-a-pair")
        form.get_by_role("button", name="Check").click()
        for field in ("experiment", "script", "env_vars"):
            form.locator(f".runconfig-error[data-field='{field}']").wait_for(timeout=30_000)
        assert form.locator(".runconfig-error").count() == 3
        _save(page, artifacts, f"widgets-form-errors-{front_end}.png", form)
        _no_serious_violations(page, ".runconfig-form", artifacts, f"form-{front_end}")

        form.get_by_label("Experiment").fill("uiform")
        form.get_by_label("Environment variables").fill("GREETING=hi")
        form.get_by_label("Script").fill("train.py")
        form.get_by_label("Arguments").fill("--epochs 3")
        form.get_by_role("button", name="Submit").click()
        details = form.locator(".runconfig-run-details")
        details.locator(".runconfig-status[data-status='Completed']").wait_for(timeout=60_000)
        assert details.locator(".runconfig-log-line", has_text="epoch 2 loss").count() == 1
        assert form.locator(".runconfig-error").count() == 0
    finally:
        page.close()
