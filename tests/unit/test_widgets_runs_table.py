"""RunsTable over real runs, and the pure HTML pieces the views are drawn with."""

from __future__ import annotations

import time
from collections import deque

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.status import RunStatus
from runconfig_jupyter.core.store import RunRecord
from runconfig_jupyter.core.submit import submit
from runconfig_jupyter.widgets import render
from runconfig_jupyter.widgets.follower import MetricSeries
from runconfig_jupyter.widgets.runs_table import RunsTable
from tests.conftest import wait_for


def test_filter_compare_details_and_cancel(project):
    first = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 2]), "alpha")
    second = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3]), "beta")
    first.wait_for_completion(timeout=60)
    second.wait_for_completion(timeout=60)
    table = RunsTable()
    assert {r.run_id for r in table.records} == {first.id, second.id}
    assert set(table.experiment.options) == {"(all)", "alpha", "beta"}
    table.experiment.value = "alpha"
    assert [r.run_id for r in table.records] == [first.id] and second.id not in table.table.value
    table.experiment.value = "(all)"
    table.status.value = "Failed"
    assert table.records == [] and "No runs match" in table.table.value
    table.status.value = "Completed"
    assert len(table.records) == 2

    table.selection.value = (first.id, second.id)
    comparison = table.compare()
    assert comparison is not None and "arguments" in comparison and "loss" in comparison
    table.selection.value = (first.id,)
    assert table.compare() is None and "exactly two" in table.message.value

    details = table.show_details()
    assert details.wait(30) and table.panel.children == (details.widget,)

    long_run = submit(
        ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 0.1]), "beta"
    )
    wait_for(lambda: long_run.get_status() == "Running", 30, message="Running")
    table.status.value = "(all)"
    table.refresh()
    table.selection.value = (long_run.id,)
    assert table.cancel_selected() == [long_run.id]
    wait_for(lambda: long_run.record.is_terminal, 30, message="cancel")
    assert long_run.get_status() == "Canceled"
    table.close()


def _record(status: RunStatus, **fields) -> RunRecord:  # type: ignore[no-untyped-def]
    now = time.time()
    return RunRecord("exp_1_abcd1234", "exp", status, "local", "local", now - 5, now, **fields)


def test_status_badge_escapes_and_names_phase_exit_code_and_reason():
    record = _record(
        RunStatus.FAILED,
        started_at=time.time() - 3,
        ended_at=time.time(),
        exit_code=2,
        phase="Preparing",
        reason="<b>x",
    )
    badge = render.status_badge(record)
    assert "data-status='Failed'" in badge and "exit code 2" in badge and "in Preparing" in badge
    assert "&lt;b&gt;" in badge and "<b>" not in badge
    strip = render.lifecycle(record)
    assert "Preparing</span>" in strip and "Failed" in strip


def test_sparkline_and_metrics_table():
    assert render.sparkline([]) == ""
    svg = render.sparkline([1.0, 3.0, 2.0], width=100, height=20)
    assert svg.startswith("<svg") and svg.count(",") == 3
    loss = MetricSeries("loss")
    for step, value in enumerate([0.9, 0.5, 0.25]):
        loss.add({"name": "loss", "value": value, "kind": "scalar", "step": step})
    row = MetricSeries("row")
    row.add({"name": "row", "value": {"x": 1, "y": "<2>"}, "kind": "row"})
    table = render.metrics_table([loss, row])
    assert "data-metric='loss'" in table and "0.25" in table and "<svg" in table
    assert "y=&lt;2&gt;" in table
    assert loss.minimum == 0.25 and loss.maximum == 0.9 and loss.count == 3
    assert "No metrics yet" in render.metrics_table([])


def test_metric_series_keeps_a_bounded_window():
    series = MetricSeries("m", points=deque(maxlen=10))
    for step in range(1000):
        series.add({"name": "m", "value": step, "kind": "scalar"})
    assert list(series.points) == list(range(990, 1000)) and series.count == 1000 and series.minimum == 0


def test_log_tail_note_and_format_seconds():
    assert "no output yet" in render.log_tail("", 0, 0)
    assert "earlier lines are in the full log" in render.log_tail("a\nb", 10, 2)
    assert render.format_seconds(5.25) == "5.2s" and render.format_seconds(5.25, precise=False) == "5s"
    assert render.format_seconds(3725) == "1h02m05s" and render.format_seconds(None) == "-"
