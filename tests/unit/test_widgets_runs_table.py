"""RunsTable over real runs, and the pure HTML pieces the views are drawn with."""

from __future__ import annotations

import time

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.charts import VEGALITE_MIME
from runconfig_jupyter.core.runs.follow import MetricSeries
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord
from runconfig_jupyter.widgets import render
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
    charts = table.compare_charts.children
    loss = next(
        o.outputs[0]["data"][VEGALITE_MIME] for o in charts if o.outputs[0]["data"][VEGALITE_MIME]["title"] == "loss"
    )
    assert set(loss["usermeta"]["runs"]) == {first.id, second.id}, "one line per compared run"
    assert len([v for v in loss["data"]["values"] if v["run"] == second.id]) == 3
    table.compare_log_scale.value = True
    relogged = [o.outputs[0]["data"][VEGALITE_MIME] for o in table.compare_charts.children]
    assert any(spec["encoding"]["y"]["scale"] == {"type": "log"} for spec in relogged)
    table.selection.value = (first.id,)
    assert table.compare() is None and "two or more" in table.message.value

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


def test_metrics_table():
    loss = MetricSeries("loss")
    for step, value in enumerate([0.9, 0.5, 0.25]):
        loss.add({"name": "loss", "value": value, "kind": "scalar", "step": step})
    row = MetricSeries("row")
    row.add({"name": "row", "value": {"x": 1, "y": "<2>"}, "kind": "row"})
    table = render.metrics_table([loss, row])
    assert "data-metric='loss'" in table and "0.25" in table
    assert "y=&lt;2&gt;" in table
    assert loss.minimum == 0.25 and loss.maximum == 0.9 and loss.count == 3
    assert loss.points == [(0.0, 0.9), (1.0, 0.5), (2.0, 0.25)]
    assert "No metrics yet" in render.metrics_table([])


def test_metric_series_is_thinned_not_cut_and_skips_what_a_chart_cannot_draw():
    series = MetricSeries("m", max_points=100)
    for step in range(1000):
        series.add({"name": "m", "value": step, "kind": "scalar", "step": step})
    series.add({"name": "m", "value": float("nan"), "kind": "scalar"})
    assert len(series.points) <= 100 and series.count == 1001
    assert series.points[0] == (0.0, 0.0) and series.points[-1] == (999.0, 999.0), "first and last kept"
    steps = [step for step, _ in series.points]
    assert steps == sorted(steps) and series.minimum == 0 and series.maximum == 999


def test_format_seconds_uses_human_units():
    assert render.format_seconds(5.25) == "5.2 s" and render.format_seconds(5.25, precise=False) == "5 s"
    assert render.format_seconds(3725) == "1 h 02 min" and render.format_seconds(None) == "-"
    assert render.format_seconds(2592000) == "30 days"
