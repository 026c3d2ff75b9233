"""``RunsTable``: recent runs as a table, filtered by experiment and status, with details and compare.

Reads only the store (one query per refresh), so it is cheap to keep open; the
live part is delegated to RunDetails for the run the user picks.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

import ipywidgets as widgets

from runconfig_jupyter.core.errors import RunConfigError
from runconfig_jupyter.core.runs.charts import run_charts
from runconfig_jupyter.core.runs.run_target import cancel_refusal
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.widgets import render
from runconfig_jupyter.widgets.run_details import (
    CHART_HEIGHT,
    CHART_WIDTH,
    chart_output_widget,
    recorded_run_capabilities,
    show_chart,
)

ALL = "(all)"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _last(value: Any) -> Any:
    if isinstance(value, list) and value and not isinstance(value[-1], (list, dict)):
        return value[-1]
    return value


def compare_html(*runs: Any) -> str:
    """The config keys that differ between runs, then their metrics' last values side by side."""
    configs = [_flatten(run.get_spec().get("config") or {}) for run in runs]  # an interactive run has no config
    keys = sorted(set().union(*configs))
    differing = [key for key in keys if len({repr(config.get(key)) for config in configs}) > 1]
    columns = len(runs) + 1
    head = "<tr><th scope='col'>run</th>" + "".join(f"<th scope='col'>{html.escape(r.id)}</th>" for r in runs)
    head += "</tr>"

    def row(label: str, values: list[Any]) -> str:
        cells = "".join(f"<td>{html.escape(str(value))}</td>" for value in values)
        return f"<tr><th scope='row'>{html.escape(label)}</th>{cells}</tr>"

    config_rows = "".join(row(key, [repr(config.get(key)) for config in configs]) for key in differing)
    config_rows = config_rows or f"<tr><td colspan={columns}><i>same configuration</i></td></tr>"
    metrics = [run.get_metrics() for run in runs]
    names = sorted(set().union(*metrics))
    metric_rows = "".join(row(name, [_last(m.get(name, "")) for m in metrics]) for name in names)
    metric_rows = metric_rows or f"<tr><td colspan={columns}><i>no metrics</i></td></tr>"
    status_row = row("status", [run.record.status.value for run in runs])
    return (
        f"<table class='runconfig-compare'>{head}{status_row}<tr><th colspan={columns}>configuration</th></tr>"
        f"{config_rows}<tr><th colspan={columns}>metrics (last value)</th></tr>{metric_rows}</table>"
    )


def compare_charts(runs: list[Any], log_scale: bool = False) -> list[dict[str, Any]]:
    """One Vega-Lite chart per numeric metric with a line per run (core/charts.py, as in the Lab run view)."""
    return run_charts(
        {run.id: run.get_metric_records() for run in runs},
        log_scale=log_scale,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )


def runs_html(records: list[Any]) -> str:
    if not records:
        return "<i>No runs match. Submit one with %submit or RunConfigForm().</i>"
    rows = []
    for record in records:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created_at))
        rows.append(
            f"<tr class='runconfig-run-row' data-run-id='{html.escape(record.run_id, quote=True)}'>"
            f"<td><code>{html.escape(record.run_id)}</code></td><td>{html.escape(record.experiment)}</td>"
            f"<td>{render.status_badge(record)}</td><td>{html.escape(record.target)}</td>"
            f"<td>{html.escape(record.script or '')}</td><td>{created}</td></tr>"
        )
    head = "<tr><th>run</th><th>experiment</th><th>status</th><th>target</th><th>script</th><th>created</th></tr>"
    return f"<table class='runconfig-runs'>{head}{''.join(rows)}</table>"


class RunsTable:
    """Filterable list of recent runs; pick one for live details, two to compare, any to cancel."""

    def __init__(self, experiment: str | None = None, status: str | None = None, limit: int = 20, store: Any = None):
        from runconfig_jupyter.core.runs.store import RunStore

        self.store = store or RunStore()
        self.records: list[Any] = []
        self.details: Any = None
        self.experiment = widgets.Dropdown(description="Experiment", options=[ALL], value=ALL)
        self.status = widgets.Dropdown(description="Status", options=[ALL, *(s.value for s in RunStatus)], value=ALL)
        self.limit = widgets.BoundedIntText(description="Show", value=limit, min=1, max=1000, layout={"width": "160px"})
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.table = widgets.HTML()
        self.selection = widgets.SelectMultiple(description="Select", rows=6, layout={"width": "640px"})
        self.compare_log_scale = widgets.Checkbox(description="log scale (y axis)", value=False, indent=False)
        self.compare_log_scale.observe(lambda _change: self._redraw_compare(), names="value")
        self._compared: list[Any] = []
        self.details_button = widgets.Button(description="Details", icon="eye")
        self.compare_button = widgets.Button(description="Compare selected", icon="columns")
        self.cancel_button = widgets.Button(description="Cancel selected", icon="stop", button_style="danger")
        self.message = widgets.HTML()
        self.panel = widgets.VBox()
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.experiment, self.status, self.limit, self.refresh_button]),
                self.table,
                self.selection,
                widgets.HBox([self.details_button, self.compare_button, self.cancel_button]),
                self.message,
                self.panel,
            ]
        )
        self.widget.add_class("runconfig-runs-table")
        self._refreshing = False
        self.refresh(experiment=experiment, status=status)
        for control in (self.experiment, self.status, self.limit):
            control.observe(self._on_filter, names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.details_button.on_click(lambda _b: self.show_details())
        self.compare_button.on_click(lambda _b: self.compare())
        self.cancel_button.on_click(lambda _b: self.cancel_selected())

    def show(self) -> None:
        """Display the widget. Returns None (like Azure's ``show()``) so a cell ending in it shows it once."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _on_filter(self, _change: Any) -> None:
        if not self._refreshing:  # our own option/value updates inside refresh() must not recurse
            self.refresh()

    def refresh(self, experiment: str | None = None, status: str | None = None) -> list[Any]:
        """Re-read the store with the current filters (settling runs whose driver died) and redraw."""
        self._refreshing = True
        try:
            return self._refresh(experiment, status)
        finally:
            self._refreshing = False

    def _refresh(self, experiment: str | None, status: str | None) -> list[Any]:
        experiments = sorted({r.experiment for r in self.store.list(limit=1000)})
        wanted = experiment or (self.experiment.value if self.experiment.value != ALL else None)
        options = [ALL, *experiments] + ([wanted] if wanted and wanted not in experiments else [])
        if tuple(options) != tuple(self.experiment.options):
            self.experiment.options = options
        self.experiment.value = wanted or ALL
        if status:
            self.status.value = RunStatus(status).value
        chosen_status = self.status.value if self.status.value != ALL else None
        # A plain read: runs whose driver died are settled elsewhere (core/runs/settle.py)
        self.records = self.store.list(wanted, chosen_status, limit=self.limit.value)
        self.table.value = runs_html(self.records)
        self.selection.options = [(f"{r.run_id} · {r.status.value}", r.run_id) for r in self.records]
        return self.records

    def _selected(self) -> list[Any]:
        from runconfig_jupyter.core.runs.script_run import ScriptRun

        return [ScriptRun(run_id, store=self.store) for run_id in self.selection.value]

    def show_details(self) -> Any:
        from runconfig_jupyter.widgets.run_details import RunDetails

        selected = self._selected()
        if not selected:
            self.message.value = "<i>Select a run first.</i>"
            return None
        if self.details is not None:
            self.details.close()
        self.details = RunDetails(selected[0]).start()
        self.panel.children = (self.details.widget,)
        self.message.value = ""
        return self.details

    def compare(self) -> str | None:
        """Selected runs side by side: differing config keys, last metric values, and one chart per metric."""
        selected = self._selected()
        if len(selected) < 2:
            self.message.value = "<i>Select two or more runs to compare (Ctrl/Shift+click).</i>"
            return None
        self._compared = selected
        text = compare_html(*selected)
        self.compare_charts = widgets.Box(layout={"flex_flow": "row wrap"})
        self.panel.children = (widgets.HTML(text), self.compare_log_scale, self.compare_charts)
        self._redraw_compare()
        self.message.value = ""
        return text

    def _redraw_compare(self) -> None:
        if not self._compared:
            return
        outputs = []
        for spec in compare_charts(self._compared, log_scale=bool(self.compare_log_scale.value)):
            output = chart_output_widget()
            show_chart(output, spec)
            outputs.append(output)
        self.compare_charts.children = tuple(outputs)

    def cancel_selected(self) -> list[str]:
        selected = self._selected()  # a target that cannot cancel is refused as the server refuses it
        cancelable = [run for run in selected if cancel_refusal(run.record, recorded_run_capabilities(run)) is None]
        canceled = [run.id for run in cancelable if run.cancel("canceled from the runs table")]
        self.message.value = f"Cancel requested for {', '.join(canceled)}." if canceled else "<i>Nothing to cancel.</i>"
        self.refresh()
        return canceled

    def close(self) -> None:
        if self.details is not None:
            self.details.close()
        self.widget.close()


def show_runs_table(experiment: str | None = None, status: str | None = None, limit: int = 20) -> None:
    """What ``%runs_table`` and ``%runs --table`` both do: show the table, or say what is wrong with the
    filter (a typed error's message, no traceback) when there is nothing to show."""
    try:
        RunsTable(experiment, status, limit).show()
    except (RunConfigError, ValueError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
