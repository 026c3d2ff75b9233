"""``RunDetails(run).show()``: a live view of one run.

Azure ML's own RunDetails widget was a custom front-end bundle that did not
render in JupyterLab or VS Code; this one uses only standard machinery that
every Jupyter front end renders: core ipywidgets (HTML, Output, Checkbox,
FloatProgress, boxes), one small anywidget for the part that must not be
redrawn (status, Cancel and the log, see ``live_view.py``), and Vega-Lite
charts (``core/charts.py``) shown through an ``Output``, which JupyterLab,
Notebook 7 and VS Code render natively. All live data comes from a
:class:`RunFollower` thread reading the run folder and store, so the view can
be rebuilt for any run id at any time, including after a kernel restart
(``RunDetails.attach(run_id)``).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from runconfig_jupyter.core.runs.charts import VEGALITE_MIME, metric_chart
from runconfig_jupyter.core.runs.explain import explain_exit_code, human_duration, last_traceback
from runconfig_jupyter.core.runs.folder import FOLLOWED_LOGS
from runconfig_jupyter.core.runs.follow import FollowState, MetricSeries, RunFollower
from runconfig_jupyter.core.runs.run_target import cancel_offered, cancel_refusal, recorded_capabilities
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.widgets import render
from runconfig_jupyter.widgets.live_view import LiveRunView

PREPARING_STATES = (RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING)
FULL_LOG_MAX_BYTES = 5 * 1024 * 1024
TRACEBACK_SEARCH_BYTES = 64 * 1024  # the end of the log a failed run's exception is looked for in
CHART_WIDTH, CHART_HEIGHT = 360, 150
CHART_BOX_HEIGHT = "230px"  # an Output's height while its chart re-renders: no jump when it updates
STATUS_WORDS = {RunStatus.CANCEL_REQUESTED: "Cancel requested", RunStatus.NOT_STARTED: "Not started"}


class _DetailsBox(widgets.VBox):
    """The view's outer box; closing it (from code or the front end) stops the follower thread."""

    def __init__(self, on_close: Callable[[], None], **kwargs: Any):
        super().__init__(**kwargs)
        self._on_close_callback = on_close

    def close(self) -> None:
        callback, self._on_close_callback = self._on_close_callback, None
        if callback is not None:
            callback()
        super().close()


def _section(title: str, body: widgets.Widget) -> widgets.VBox:
    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), body])


def recorded_run_capabilities(run: Any) -> dict[str, Any]:
    """The capabilities recorded with the run (core/runs/run_target.py), the ones the server serves too."""
    try:
        spec = run.get_spec()
    except (OSError, ValueError):  # run.json unreadable: what a reader assumes of an unknown target
        spec = {}
    return recorded_capabilities(spec, run.record.target)


class RunDetails:
    """Status, lifecycle, preparing progress, log, metric charts, images, outputs and Cancel for one run."""

    def __init__(
        self,
        run: Any,
        *,
        poll: float = 0.1,
        tail_lines: int = 500,
        max_updates_per_second: float = 10.0,
        tail_bytes: int = 256 * 1024,
        chart_interval: float = 1.0,
        max_log_lines: int = 2000,
    ):
        if isinstance(run, str):
            from runconfig_jupyter.core.runs.script_run import ScriptRun

            run = ScriptRun.get(run)
        self.run = run
        self.tail_lines = tail_lines
        self.chart_interval = chart_interval
        self.capabilities = recorded_run_capabilities(run)
        self._cancel_requested = False
        self._links_made = False
        self._error_read = False
        self._chart_lock = threading.Lock()
        self._chart_versions: dict[str, int] = {}
        self._last_charts = 0.0
        self._series: dict[str, MetricSeries] = {}
        record = run.record
        refusal = cancel_refusal(record, self.capabilities)
        self.can_cancel = bool(self.capabilities.get("cancel", True))  # this run's target can cancel at all

        self.header = widgets.HTML(render.header(record, max_duration=_max_duration(run)))
        self.lifecycle = widgets.HTML(render.lifecycle(record))
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="Preparing", bar_style="info")
        self.progress_label = widgets.HTML("")
        self.progress_box = widgets.HBox([self.progress, self.progress_label])
        self.view = LiveRunView(
            run_id=run.id,
            window_lines=tail_lines,
            max_lines=max_log_lines,
            can_cancel=cancel_offered(record, self.capabilities),
            cancel_tooltip=refusal or "Cancel this run",
        )
        self.view.on_cancel = self.cancel
        self.full_log_button = widgets.Button(description="Full log", icon="file-text-o", tooltip="Show the whole log")
        self.full_log = widgets.HTML("")
        self.full_log.layout.display = "none"
        self.log_scale = widgets.Checkbox(description="log scale (y axis)", value=False, indent=False)
        self.charts_box = widgets.Box(layout={"flex_flow": "row wrap"})
        self.charts: dict[str, widgets.Output] = {}
        self.images = widgets.HTML("")
        self.metrics = widgets.HTML(render.metrics_table([]))
        self.outputs = widgets.HTML(render.outputs_list([], str(run.run_dir)))
        self.full_log_button.on_click(self._on_full_log)
        self.log_scale.observe(lambda _change: self._draw_charts(force=True), names="value")

        self.widget = _DetailsBox(
            self.close,
            children=[
                self.header,
                self.lifecycle,
                self.progress_box,
                self.view,
                widgets.VBox([self.full_log_button, self.full_log]),
                _section(
                    "Metrics",
                    widgets.VBox([self.log_scale, widgets.HBox([self.charts_box, self.images]), self.metrics]),
                ),
                _section("Outputs", self.outputs),
            ],
        )
        self.widget.add_class("runconfig-run-details")
        self.follower = RunFollower(
            run,
            self._on_update,
            poll=poll,
            min_interval=1.0 / max_updates_per_second,
            tail_lines=tail_lines,
            tail_bytes=tail_bytes,
        )
        self._draw_status(record)

    # -- API ---------------------------------------------------------------
    @classmethod
    def attach(cls, run_id: str, store: Any = None, **kwargs: Any) -> RunDetails:
        """Re-attach to a run by id (e.g. after a kernel restart): same view, log from the start."""
        from runconfig_jupyter.core.runs.script_run import ScriptRun

        return cls(ScriptRun.get(run_id, store=store), **kwargs)

    def start(self) -> RunDetails:
        self.follower.start()
        return self

    def show(self) -> None:
        """Display the view and start following the run.

        Returns None, like Azure's ``RunDetails(run).show()``: a cell ending in it shows the view once.
        """
        from IPython.display import display

        display(self.widget)
        self.start()

    def close(self) -> None:
        """Stop following and release the thread; the run itself goes on."""
        self.follower.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the follower has seen the run end (scripts and tests); True when it has."""
        thread = self.follower._thread
        if thread is not None:
            thread.join(timeout)
        return self.follower.state.finished

    def cancel(self) -> bool:
        """What the Cancel button does: ask the run's driver to cancel (the view says "Canceling")."""
        self._cancel_requested = True  # the follower thread may still hold a pre-cancel record: keep it disabled
        self.view.cancel_requested = True
        return bool(self.run.cancel("canceled from the RunDetails widget"))

    def get_widget_data(self, widget_settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data the view draws, as a dict with v1's keys (``status``, ``run_id``, ``run_properties``,
        ``run_metrics``, ``child_runs``, ``children_metrics``, ``run_logs``, ``widget_settings``, ...).

        azureml.widgets' ``RunDetails.get_widget_data()`` returned what its front end was sent, and notebooks
        printed or tested it without showing the widget. Here it is read the way the view reads it (a
        :class:`RunFollower` over the run folder and store): the live follower's state when the view is showing,
        else a one-off read of the run as it is now, so it also works before ``show()`` and after the run ended.
        ``run_metrics`` uses v1's shape: ``{"name", "run_id", "categories": [steps], "series": [{"data": [...]}]}``
        per numeric metric; other kinds (rows, tables) carry their last value in ``data``.
        """
        state = self.follower.state if self.follower.alive else self._read_once()
        record = state.record if state.record is not None else self.run.record
        run_metrics = []
        for name, series in sorted(state.metrics.items()):
            if series.kind in ("scalar", "list"):
                categories = [step for step, _value in series.points]
                data: Any = series.values
            else:
                categories, data = [], list(series.rows) if series.kind == "row" else series.last
            run_metrics.append(
                {"name": name, "run_id": self.run.id, "categories": categories, "series": [{"data": data}]}
            )
        children = []
        get_children = getattr(self.run, "get_children", None)
        if callable(get_children):
            children = [{"run_id": child.id, "status": child.get_status()} for child in get_children()]
        return {
            "status": record.status.value,
            "workbench_run_details_uri": None,  # no portal: the view and the sidebar are local
            "run_id": self.run.id,
            "run_properties": self.run.get_details(),
            "child_runs": children,
            "children_metrics": {},
            "run_metrics": run_metrics,
            "run_logs": state.tail_text(),
            "outputs": [{"name": name, "size": size} for name, size in state.outputs],
            "graph": {},
            "widget_settings": dict(widget_settings or {}),
            "loading": not record.is_terminal,
        }

    def _read_once(self, max_polls: int = 100) -> FollowState:
        """The run as it is now, read by a follower of its own (the view's own follower keeps its offsets)."""
        follower = RunFollower(self.run, tail_lines=self.tail_lines, outputs_every=0.0)
        for _ in range(max_polls):  # bounded: a live run is read as far as it has got
            if follower.poll_once() or not follower.state.record.is_terminal:
                break
        return follower.state

    @property
    def log_text(self) -> str:
        """The lines the log view holds (its window), as text."""
        return self.view.text

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.start()
        return self.widget._repr_mimebundle_(**kwargs)

    # -- events ------------------------------------------------------------
    def _on_full_log(self, _button: widgets.Button | None = None) -> None:
        if self.full_log.layout.display != "none":
            self.full_log.layout.display = "none"
            self.full_log.value = ""
            self.full_log_button.description = "Full log"
            return
        parts = []
        folder = self.follower.folder
        for name in FOLLOWED_LOGS:
            path = folder.log_path(name)
            if not path.exists():
                continue
            size = folder.log_size(name)
            text, _ = self.run.read_log(max(0, size - FULL_LOG_MAX_BYTES), name=name)
            dropped = size - FULL_LOG_MAX_BYTES
            cut = f"[{dropped} earlier bytes are only in the file]\n" if dropped > 0 else ""
            parts.append(f"== logs/{name} ({path}) ==\n{cut}{text}")
        body = html.escape("\n".join(parts) or "(no log yet)")
        self.full_log.value = (
            f"<pre class='runconfig-full-log' tabindex='0' aria-label='Full log' "
            f"style='{render.LOG_STYLE};max-height:40em'>{body}</pre>"
        )
        self.full_log.layout.display = ""
        self.full_log_button.description = "Hide full log"

    def _on_update(self, state: FollowState) -> None:
        """Runs on the follower thread, at most ``max_updates_per_second`` times a second."""
        changed = state.changed
        record = state.record
        if changed & {"status", "elapsed"}:
            self._draw_status(record)
        if "log" in changed:
            first = state.lines_seen - len(state.tail)
            self.view.add_lines(first, list(state.tail), state.partial)
            hidden = first
            self.view.note = (
                f"The first {hidden} lines are not kept here: see Full log (the run's log file is complete)."
                if hidden > 0
                else ""
            )
        if "metrics" in changed:
            self._series = dict(state.metrics)
            self.metrics.value = render.metrics_table(state.metrics.values())
        if "metrics" in changed or record.is_terminal:
            self._draw_charts(force=record.is_terminal)
        if "images" in changed:
            self.images.value = render.images_html(self.run.run_dir, list(state.images))
        if "outputs" in changed or (record.is_terminal and not self._links_made):
            links = {}
            if record.is_terminal:  # files are final only now
                links = render.download_links(self.run.run_dir, state.outputs)
                self._links_made = True
            self.outputs.value = render.outputs_list(state.outputs, str(self.run.run_dir), links)
        if record.is_terminal:
            self._draw_error(record)
            self.view.save_snapshot()  # a reopened notebook shows the end of the log
        else:
            self.view.beat()

    def _draw_charts(self, force: bool = False) -> None:
        """One Vega-Lite chart per numeric metric, redrawn at most every ``chart_interval`` s, only if it moved."""
        now = time.monotonic()
        if not force and now - self._last_charts < self.chart_interval:
            return
        with self._chart_lock:
            self._last_charts = now
            for name, series in list(self._series.items()):
                if series.kind not in ("scalar", "list") or not series.points:
                    continue
                if not force and self._chart_versions.get(name) == series.version:
                    continue
                self._chart_versions[name] = series.version
                spec = metric_chart(
                    name,
                    {self.run.id: list(series.points)},
                    log_scale=bool(self.log_scale.value),
                    width=CHART_WIDTH,
                    height=CHART_HEIGHT,
                )
                output = self.charts.get(name)
                if output is None:
                    output = self.charts[name] = chart_output_widget()
                    self.charts_box.children = (*self.charts_box.children, output)
                show_chart(output, spec)

    def _draw_error(self, record: Any) -> None:
        """A failed run's exception: the last traceback in the end of its log."""
        if self._error_read or record.status != RunStatus.FAILED:
            return
        self._error_read = True
        try:
            size = self.follower.folder.log_size()
            text, _ = self.run.read_log(max(0, size - TRACEBACK_SEARCH_BYTES))
        except OSError:
            return
        self.view.error_text = last_traceback(text)

    def _draw_status(self, record: Any) -> None:
        terminal = record.is_terminal
        details = []
        if record.phase and record.status in (RunStatus.FAILED, RunStatus.CANCELED):
            details.append(f"in {record.phase}")
        words = explain_exit_code(record.exit_code, record.status.value, record.reason or "")
        plain = words == f"exit code {record.exit_code}"
        if words and not (plain and f"code {record.exit_code}" in (record.reason or "")):
            details.append(words)  # a plain code is left out when the reason already says "exited with code N"
        if record.reason:
            details.append(record.reason)
        with self.view.hold_sync():
            self.view.status = record.status.value
            self.view.status_label = STATUS_WORDS.get(record.status, record.status.value)
            self.view.elapsed = human_duration(render.elapsed(record), precise=terminal)
            self.view.detail = " · ".join(details)
            self.view.ended = terminal
            self.view.cancel_requested = self._cancel_requested or record.status == RunStatus.CANCEL_REQUESTED
            self.view.can_cancel = cancel_offered(record, self.capabilities)  # the server answers the same
            self.view.cancel_tooltip = cancel_refusal(record, self.capabilities) or "Cancel this run"
        self.lifecycle.value = render.lifecycle(record)
        preparing = record.status in PREPARING_STATES
        self.progress_box.layout.display = "" if preparing else "none"
        if preparing:
            fraction, label = render.progress_fraction(record)
            step = PREPARING_STATES.index(record.status)
            self.progress.value = fraction if fraction is not None else (step + 1) / (len(PREPARING_STATES) + 1)
            self.progress.description = record.status.value
            self.progress_label.value = html.escape(label)


def chart_output_widget() -> widgets.Output:
    """An Output for one chart, as tall as the chart, so re-rendering it never moves what is below."""
    output = widgets.Output(layout={"min_height": CHART_BOX_HEIGHT, "margin": "0 8px 8px 0"})
    output.add_class("runconfig-chart")
    return output


def show_chart(output: widgets.Output, spec: dict[str, Any]) -> None:
    """Replace what ``output`` shows with the chart (a trait update: safe from the follower thread)."""
    output.outputs = (_chart_output(spec),)


def _chart_output(spec: dict[str, Any]) -> dict[str, Any]:
    """An Output's display_data for a Vega-Lite spec; the text is what a front end without Vega shows."""
    metric = spec.get("usermeta", {}).get("metric", "metric")
    return {
        "output_type": "display_data",
        "data": {VEGALITE_MIME: spec, "text/plain": f"<Vega-Lite chart of {metric}>"},
        # SVG, not canvas: axis labels and titles are text a screen reader (and a test) can read. No actions
        # menu: vega-embed's "..." is a <summary> without a name (axe: serious); Lab keeps a PNG of the chart anyway.
        "metadata": {VEGALITE_MIME: {"embed_options": {"renderer": "svg", "actions": False}}},
    }


def _max_duration(run: Any) -> float | None:
    try:
        return run.get_spec()["config"]["run_config"].get("maxRunDurationSeconds")
    except Exception:  # an old or partial run.json: the header just leaves it out
        return None
