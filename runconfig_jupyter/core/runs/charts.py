"""Vega-Lite specs for metric charts: one builder that every front end uses.

JupyterLab, Notebook 7 and VS Code render ``application/vnd.vegalite.v5+json``
natively, so the widget (through an ``Output``), the Lab run view (through the
rendermime registry) and ``%runs --table`` show the same chart with axes, hover
values and several runs compared, without a plotting library of our own.
Pure functions over metric records (``metrics.jsonl`` lines): no I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
VEGALITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
# A chart never carries more points than this per run: a long run stays a small spec.
MAX_POINTS_PER_RUN = 2000


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def scalar_points(records: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Each numeric metric as ``(step, value)`` points: scalars logged over time, or the last logged list.

    A scalar without a ``step`` gets its position among that metric's values, as Azure's charts do.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        name, kind, value = record.get("name"), record.get("kind", "scalar"), record.get("value")
        if not isinstance(name, str):
            continue
        if kind == "scalar" and _finite_number(value):
            points = series.setdefault(name, [])
            step = record.get("step")
            points.append((float(step) if _finite_number(step) else float(len(points)), float(value)))
        elif kind == "list" and isinstance(value, list):
            series[name] = [(float(i), float(v)) for i, v in enumerate(value) if _finite_number(v)]
    return {name: _thin(points) for name, points in series.items() if points}


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Keep at most MAX_POINTS_PER_RUN points, always the first and the last."""
    if len(points) <= MAX_POINTS_PER_RUN:
        return points
    stride = len(points) / (MAX_POINTS_PER_RUN - 1)
    kept = [points[int(i * stride)] for i in range(MAX_POINTS_PER_RUN - 1)]
    return [*kept, points[-1]]


def metric_chart(
    metric: str,
    runs: Mapping[str, list[tuple[float, float]]],
    *,
    log_scale: bool = False,
    width: int | str = "container",
    height: int = 180,
) -> dict[str, Any]:
    """A line chart of one metric, one coloured line per run label, with axes and hover values.

    ``log_scale`` falls back to linear when a value is not positive, since a log axis cannot show it.
    """
    values = [{"run": label, "step": step, "value": value} for label, points in runs.items() for step, value in points]
    use_log = log_scale and all(row["value"] > 0 for row in values)
    y_scale: dict[str, Any] = {"type": "log"} if use_log else {"zero": False}
    several = len(runs) > 1
    encoding: dict[str, Any] = {
        "x": {"field": "step", "type": "quantitative", "title": "step", **_step_axis(values)},
        "y": {"field": "value", "type": "quantitative", "title": metric, "scale": y_scale},
        "tooltip": [
            {"field": "run", "type": "nominal"},
            {"field": "step", "type": "quantitative"},
            {"field": "value", "type": "quantitative", "format": ".4~g"},
        ],
    }
    if several:
        encoding["color"] = {"field": "run", "type": "nominal", "title": "run"}
    single_point = all(len(points) <= 1 for points in runs.values())
    return {
        "$schema": VEGALITE_SCHEMA,
        "description": f"{metric} by step" + (" for runs " + ", ".join(runs) if several else ""),
        "title": metric,
        "width": width,
        "height": height,
        "data": {"values": values},
        "mark": {
            "type": "point" if single_point else "line",
            "point": not single_point and len(values) <= 60,
            "tooltip": True,
        },
        "encoding": encoding,
        "usermeta": {"metric": metric, "log_scale": use_log, "runs": list(runs)},
    }


def _step_axis(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Whole-number steps get whole-number ticks: two points must not read as steps 0.0, 0.1, ... 1.0."""
    if values and all(float(row["step"]).is_integer() for row in values):
        return {"axis": {"tickMinStep": 1, "format": "d"}}
    return {}


def run_charts(
    records_by_run: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    metrics: Iterable[str] | None = None,
    log_scale: bool | Iterable[str] = False,
    **chart_options: Any,
) -> list[dict[str, Any]]:
    """One chart per numeric metric over the given runs (label -> metric records), in first-seen order.

    ``log_scale`` is a flag for every chart or the names of the metrics to draw on a log axis.
    """
    per_run = {label: scalar_points(records) for label, records in records_by_run.items()}
    names: list[str] = []
    for points in per_run.values():
        names.extend(name for name in points if name not in names)
    if metrics is not None:
        wanted = list(metrics)
        names = [name for name in names if name in wanted]
    log_names = set(names) if log_scale is True else set() if log_scale is False else set(log_scale)
    return [
        metric_chart(
            name,
            {label: points[name] for label, points in per_run.items() if name in points},
            log_scale=name in log_names,
            **chart_options,
        )
        for name in names
    ]
