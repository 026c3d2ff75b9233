"""The run view and the sidebar's keyboard, screen-reader and cancel behaviour, in a real Chromium against a
real ``jupyter lab`` and real local runs (issue 14)."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import ScriptRun, submit
from tests.ui.common import ROOT
from ui.sidebar.conftest import ARTIFACTS, open_lab
from ui.sidebar.uihelpers import (
    AT_END,
    confirm_cancel,
    newest_run,
    notebook_json,
    run_item,
    run_view,
    serious_violations,
    write_chatty,
)

pytestmark = [pytest.mark.ui, pytest.mark.timeout(150)]
RUN_VIEW_SCREENSHOT = ROOT / "docs" / "img" / "runview.png"


def test_finished_run_log_shows_last_line_header_stays_charts_have_axes(page, lab, project):
    write_chatty(project)
    run = submit(ScriptRunConfig(str(project), script="chatty.py", arguments=["300", "0"]), "finished")
    run.wait_for_completion(timeout=60)
    assert run.get_status() == "Completed"
    open_lab(page, lab)
    run_item(page, run.id).locator(".rc-run-open").click()
    view = run_view(page, run.id)
    log = view.locator(".rc-log")
    expect(log).to_have_attribute("data-complete", "true", timeout=15_000)
    expect(log).to_contain_text("line 299")
    # the log box shows its end (the last line), and the page itself did not scroll: the header is in sight
    assert log.evaluate(AT_END)
    last_line_box = log.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el); const rects = r.getClientRects();"
        " const last = rects[rects.length - 1]; const box = el.getBoundingClientRect();"
        " return last.bottom <= box.bottom + 1 && last.top >= box.top; }"
    )
    assert last_line_box, "the last log line is outside the visible part of the log box"
    assert view.evaluate("el => el.scrollTop") == 0
    title = view.locator(".rc-run-title")
    expect(title).to_be_in_viewport()
    expect(title).to_contain_text("chatty.py 300 0")

    # metrics as a table AND as a Vega-Lite chart with two axes, drawn by JupyterLab's own renderer
    expect(view.locator(".rc-metrics")).to_contain_text("loss")
    chart = view.locator(".rc-chart").first
    expect(chart.locator(".vega-embed")).to_be_visible(timeout=15_000)
    axes = chart.locator('[aria-roledescription="axis"]')
    expect(axes).to_have_count(2, timeout=10_000)
    assert "step" in axes.first.get_attribute("aria-label") + axes.last.get_attribute("aria-label")
    # the image the run logged is shown next to the metrics, served read-only from the run folder
    image = view.locator(".rc-image img")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("alt", "confusion at step 0 (outputs/plot.png)")
    # properties, inputs and outputs
    expect(view.locator(".rc-properties-section")).to_contain_text(
        "ContentSnapshotId"
    )  # Azure's get_details() properties
    expect(view.locator(".rc-inputs-section")).to_contain_text("chatty.py")
    expect(view.locator('.rc-files tr[data-path="outputs/plot.png"] .rc-file-download')).to_be_visible()
    RUN_VIEW_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RUN_VIEW_SCREENSHOT))
    assert serious_violations(page, f"#runconfig-run-{run.id}") == []
    # the image really loads from the files route (it is lazy: bring it into view first)
    image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=image.element_handle())


def test_log_follows_its_end_until_the_reader_scrolls_up(page, lab, project):
    write_chatty(project)
    run = submit(ScriptRunConfig(str(project), script="chatty.py", arguments=["80", "400", "0.1"]), "follow")
    open_lab(page, lab)
    run_item(page, run.id).locator(".rc-run-open").click()
    view = run_view(page, run.id)
    log = view.locator(".rc-log")
    expect(log).to_contain_text("line 90", timeout=20_000)
    assert log.evaluate(AT_END), "a live log must follow its end"
    assert log.evaluate("el => el.scrollHeight > el.clientHeight * 1.5")  # it really overflows

    # the reader scrolls up: new lines keep arriving, their position stays, a jump-to-end control appears
    log.hover()
    page.mouse.wheel(0, -100_000)
    expect(log).to_have_attribute("data-following", "false")
    jump = view.locator(".rc-jump-end")
    expect(jump).to_be_visible()
    position = log.evaluate("el => el.scrollTop")
    seen = log.inner_text().count("\n")
    expect(log).to_contain_text(f"line {seen + 10}", timeout=20_000)
    assert log.evaluate("el => el.scrollTop") == position
    assert not log.evaluate(AT_END)

    jump.click()
    expect(log).to_have_attribute("data-following", "true")
    expect(jump).to_be_hidden()
    seen = log.inner_text().count("\n")
    expect(log).to_contain_text(f"line {seen + 5}", timeout=20_000)
    assert log.evaluate(AT_END)
    run.cancel("test over")


def test_rows_reachable_by_tab_and_enter_status_in_words(page, lab, project):
    first = submit(ScriptRunConfig(str(project), script="train.py", arguments=["1"]), "keys")
    first.wait_for_completion(timeout=30)
    second = submit(ScriptRunConfig(str(project), script="train.py", arguments=["2"]), "keys")
    second.wait_for_completion(timeout=30)
    open_lab(page, lab)
    rows = page.locator('#runconfig-runs .rc-experiment[data-experiment="keys"] .rc-run')
    expect(rows).to_have_count(2)
    # rows that differ only by arguments read differently, and say their status in words
    expect(run_item(page, first.id).locator(".rc-run-args")).to_have_text("1")
    expect(run_item(page, second.id).locator(".rc-run-args")).to_have_text("2")
    label = run_item(page, second.id).locator(".rc-run-open").get_attribute("aria-label")
    assert "train.py 2" in label and "completed" in label and second.id.rsplit("_", 1)[1] in label
    assert "Started:" in run_item(page, second.id).locator(".rc-run-open").get_attribute("title")

    # Tab from the filter box reaches the newest run's row; Enter opens it
    page.locator("#runconfig-runs .rc-filter-text").focus()
    target = f'.rc-run[data-run-id="{second.id}"] .rc-run-open'
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => document.activeElement.matches('{target}')"):
            break
    else:
        raise AssertionError("Tab never reached the run's row")
    page.keyboard.press("Enter")
    view = run_view(page, second.id)
    expect(view).to_be_visible()
    expect(view).to_have_attribute("data-status", "Completed")
    expect(view.locator(".rc-run-status")).to_have_text("Status: completed")
    # arrow keys move between rows; the experiment heading collapses and expands by keyboard
    page.locator(target).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.closest('.rc-run').dataset.runId") == first.id
    heading = page.locator('#runconfig-runs .rc-experiment[data-experiment="keys"] .rc-experiment-name')
    heading.focus()
    page.keyboard.press("Enter")
    expect(heading).to_have_attribute("aria-expanded", "false")
    expect(rows).to_have_count(0)
    page.keyboard.press("Enter")
    expect(rows).to_have_count(2)
    assert serious_violations(page, "#runconfig-runs") == []


def test_cancel_asks_first_and_cancel_all_stops_every_running_run(page, lab, project):
    runs = [submit(ScriptRunConfig(str(project), script="train.py", arguments=["300"]), "cancelall") for _ in range(2)]
    open_lab(page, lab)
    for run in runs:
        expect(run_item(page, run.id)).to_have_attribute("data-status", "Running", timeout=20_000)
    cancel_all = page.locator("#runconfig-runs .rc-cancel-all")
    cancel_all.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Cancel 2 runs?")
    dialog.locator(".jp-Dialog-button.jp-mod-reject").click()  # "Keep running"
    time.sleep(1.0)
    assert [ScriptRun(r.id).get_status() for r in runs] == ["Running", "Running"]
    cancel_all.click()
    confirm_cancel(page)
    for run in runs:
        expect(run_item(page, run.id)).to_have_attribute("data-status", "Canceled", timeout=20_000)
    # the change was announced in words through the live region
    expect(page.locator("#runconfig-runs .rc-announcer")).to_contain_text("cancel", ignore_case=True)
    expect(cancel_all).to_be_disabled()


def test_submit_with_a_python_file_says_it_is_not_a_runconfig(page, lab, project):
    (project / "no_cell.ipynb").write_text(json.dumps(notebook_json("print('no runconfig here')")))
    open_lab(page, lab)
    page.goto(f"{lab.url}/lab/tree/proj/no_cell.ipynb?token={lab.token}")
    page.locator(".jp-NotebookPanel-toolbar .rc-submit-button").click()
    ask = page.locator(".jp-Dialog")
    expect(ask).to_contain_text("no %%runconfig cell")
    ask.locator("input").fill("proj/train.py")
    ask.locator(".jp-Dialog-button.jp-mod-accept").click()
    message = page.locator(".jp-Dialog .rc-dialog-text")
    expect(message).to_contain_text("'train.py' is a Python script, not a runconfig file")
    text = message.inner_text()
    assert "\n    script: train.py\n" in text and "%%runconfig cell" in text  # line breaks kept, how to make one
    assert "runconfig_file" not in text and "ConfigError" not in text  # no API words
    expect(page.locator(".jp-Dialog .jp-Dialog-header")).to_have_text("The run was not submitted")
    page.screenshot(path=str(ARTIFACTS / "submit_python_file.png"))
    page.locator(".jp-Dialog .jp-Dialog-button").click()
    with pytest.raises(AssertionError):
        newest_run("default", timeout=1.0)  # nothing was submitted


def test_failed_run_shows_its_exception_and_charts_compare_runs(page, lab, project):
    (project / "boom.py").write_text(
        "from runconfig_jupyter import Run\n"
        "run = Run.get_context()\n"
        "for i in range(5):\n"
        "    run.log('loss', 1 / (i + 1))\n"
        "print('about to fail', flush=True)\n"
        "raise ValueError('learning rate too high')\n"
    )
    good = submit(ScriptRunConfig(str(project), script="train.py", arguments=["3"]), "compare")
    good.wait_for_completion(timeout=30)
    bad = submit(ScriptRunConfig(str(project), script="boom.py"), "compare")
    bad.wait_for_completion(timeout=30, raise_on_error=False)
    assert bad.get_status() == "Failed"
    open_lab(page, lab)
    run_item(page, bad.id).locator(".rc-run-open").click()
    view = run_view(page, bad.id)
    traceback = view.locator(".rc-traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last):", timeout=15_000)
    expect(traceback).to_contain_text("ValueError: learning rate too high")
    expect(view.locator(".rc-run-facts")).to_contain_text("exit code 1")
    # one chart, then both runs of the experiment on it, told apart by a legend
    chart = view.locator(".rc-chart").first
    expect(chart.locator('[aria-roledescription="axis"]')).to_have_count(2, timeout=15_000)
    expect(chart.locator('[aria-roledescription="legend"]')).to_have_count(0)
    view.locator(".rc-compare input").check()
    legend = view.locator(".rc-chart").first.locator('[aria-roledescription="legend"]')
    expect(legend).to_have_count(1, timeout=15_000)
    assert good.id in legend.get_attribute("aria-label") or good.id in legend.inner_text()
