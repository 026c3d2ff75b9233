"""The one Vega-Lite spec builder every front end uses (core/charts.py)."""

from __future__ import annotations

from runconfig_jupyter.core.runs.charts import MAX_POINTS_PER_RUN, metric_chart, run_charts, scalar_points


def test_scalars_become_points_with_their_steps_or_positions() -> None:
    records = [
        {"name": "loss", "kind": "scalar", "value": 1.0},
        {"name": "loss", "kind": "scalar", "value": 0.5},
        {"name": "acc", "kind": "scalar", "value": 0.7, "step": 10},
        {"name": "note", "kind": "scalar", "value": "text"},
        {"name": "curve", "kind": "list", "value": [3, 2, float("nan"), 1]},
    ]
    points = scalar_points(records)
    assert points["loss"] == [(0.0, 1.0), (1.0, 0.5)]
    assert points["acc"] == [(10.0, 0.7)]
    assert points["curve"] == [(0.0, 3.0), (1.0, 2.0), (3.0, 1.0)]
    assert "note" not in points


def test_chart_has_axes_hover_and_one_colour_per_run() -> None:
    spec = metric_chart("loss", {"run a": [(0, 1.0), (1, 0.1)], "run b": [(0, 2.0), (1, 0.2)]})
    assert spec["encoding"]["x"]["field"] == "step"
    assert spec["encoding"]["y"]["title"] == "loss"
    assert spec["encoding"]["color"]["field"] == "run"
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["run", "step", "value"]
    assert {row["run"] for row in spec["data"]["values"]} == {"run a", "run b"}


def test_log_scale_only_when_every_value_is_positive() -> None:
    assert metric_chart("loss", {"r": [(0, 10.0), (1, 0.01)]}, log_scale=True)["encoding"]["y"]["scale"] == {
        "type": "log"
    }
    assert metric_chart("delta", {"r": [(0, -1.0), (1, 1.0)]}, log_scale=True)["usermeta"]["log_scale"] is False


def test_run_charts_compares_runs_and_bounds_points() -> None:
    long = [{"name": "loss", "value": 1 / (i + 1)} for i in range(MAX_POINTS_PER_RUN * 3)]
    charts = run_charts(
        {"a": long, "b": [{"name": "loss", "value": 1.0}, {"name": "lr", "value": 0.1}]}, log_scale=["loss"]
    )
    assert [c["title"] for c in charts] == ["loss", "lr"]
    loss_rows = [r for r in charts[0]["data"]["values"] if r["run"] == "a"]
    assert len(loss_rows) == MAX_POINTS_PER_RUN
    assert loss_rows[-1]["step"] == MAX_POINTS_PER_RUN * 3 - 1
    assert charts[0]["usermeta"]["log_scale"] is True
    assert charts[1]["usermeta"]["runs"] == ["b"]


def test_whole_number_steps_get_whole_number_ticks() -> None:
    whole = metric_chart("loss", {"r": [(0.0, 1.0), (1.0, 0.5)]})
    assert whole["encoding"]["x"]["axis"] == {"tickMinStep": 1, "format": "d"}
    fractional = metric_chart("loss", {"r": [(0.5, 1.0), (1.0, 0.5)]})
    assert "axis" not in fractional["encoding"]["x"]
