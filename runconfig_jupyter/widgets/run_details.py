"""``RunDetails(run).show()``: a live view of one run in standard ipywidgets.

Azure ML's own RunDetails widget was a custom front-end bundle that did not
render in JupyterLab or VS Code; this one is built only from core ipywidgets
(HTML, Button, FloatProgress, boxes), so anything that renders ipywidgets 8
renders it. All live data comes from a :class:`RunFollower` thread reading the
run folder and store, so the view can be rebuilt for any run id at any time,
including after a kernel restart (``RunDetails.attach(run_id)``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from runconfig_jupyter.core.status import RunStatus

from . import render
from .follower import FollowState, RunFollower

PREPARING_STATES = (RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING)
FULL_LOG_MAX_BYTES = 5 * 1024 * 1024


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


def target_can_cancel(run: Any) -> bool:
    """Read the run's target capabilities from its spec; unknown targets are assumed cancelable."""
    try:
        from runconfig_jupyter.targets.base import ComputeTarget

        spec = run.get_spec()["target"]
        return bool(ComputeTarget.from_spec(spec).capabilities().cancel)
    except Exception:  # a target whose package is missing here can still be canceled through the driver
        return True


class RunDetails:
    """Status, lifecycle, preparing progress, log tail, metrics, outputs and Cancel for one run."""

    def __init__(
        self,
        run: Any,
        *,
        poll: float = 0.1,
        tail_lines: int = 200,
        max_updates_per_second: float = 10.0,
        tail_bytes: int = 256 * 1024,
    ):
        if isinstance(run, str):
            from runconfig_jupyter.core.runs import ScriptRun

            run = ScriptRun.get(run)
        self.run = run
        self.tail_lines = tail_lines
        self.can_cancel = target_can_cancel(run)
        self._cancel_requested = False
        self._links_made = False
        record = run.record

        self.header = widgets.HTML(render.header(record))
        self.status = widgets.HTML(render.status_badge(record))
        self.lifecycle = widgets.HTML(render.lifecycle(record))
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="Preparing", bar_style="info")
        self.progress_label = widgets.HTML("")
        self.progress_box = widgets.HBox([self.progress, self.progress_label])
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="danger",
            tooltip="Cancel this run" if self.can_cancel else "This run's target cannot cancel runs",
        )
        self.full_log_button = widgets.Button(description="Full log", icon="file-text-o", tooltip="Show the whole log")
        self.log = widgets.HTML(render.log_tail("", 0, 0))
        self.full_log = widgets.HTML("")
        self.full_log.layout.display = "none"
        self.metrics = widgets.HTML(render.metrics_table([]))
        self.outputs = widgets.HTML(render.outputs_list([], str(run.run_dir)))
        self.cancel_button.on_click(self._on_cancel)
        self.full_log_button.on_click(self._on_full_log)

        self.widget = _DetailsBox(
            self.close,
            children=[
                self.header,
                widgets.HBox([self.status, self.cancel_button, self.full_log_button]),
                self.lifecycle,
                self.progress_box,
                _section("Log", widgets.VBox([self.log, self.full_log])),
                _section("Metrics", self.metrics),
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
        from runconfig_jupyter.core.runs import ScriptRun

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

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.start()
        return self.widget._repr_mimebundle_(**kwargs)

    # -- events ------------------------------------------------------------
    def _on_cancel(self, _button: widgets.Button | None = None) -> None:
        self._cancel_requested = True  # the follower thread may still hold a pre-cancel record: keep it disabled
        self.cancel_button.disabled = True
        self.cancel_button.description = "Canceling"
        self.run.cancel("canceled from the RunDetails widget")

    def _on_full_log(self, _button: widgets.Button | None = None) -> None:
        if self.full_log.layout.display != "none":
            self.full_log.layout.display = "none"
            self.full_log.value = ""
            self.full_log_button.description = "Full log"
            return
        parts = []
        for name in ("prepare_log.txt", "std_log.txt"):
            path = self.run.run_dir / "logs" / name
            if not path.exists():
                continue
            size = path.stat().st_size
            text, _ = self.run.read_log(max(0, size - FULL_LOG_MAX_BYTES), name=name)
            dropped = size - FULL_LOG_MAX_BYTES
            cut = f"[{dropped} earlier bytes are only in the file]\n" if dropped > 0 else ""
            parts.append(f"== logs/{name} ({path}) ==\n{cut}{text}")
        body = html.escape("\n".join(parts) or "(no log yet)")
        self.full_log.value = f"<pre class='runconfig-full-log' style='{render.LOG_STYLE};max-height:40em'>{body}</pre>"
        self.full_log.layout.display = ""
        self.full_log_button.description = "Hide full log"

    def _on_update(self, state: FollowState) -> None:
        """Runs on the follower thread, at most ``max_updates_per_second`` times a second."""
        changed = state.changed
        record = state.record
        if changed & {"status", "elapsed"}:
            self._draw_status(record)
        if "log" in changed:
            shown = len(state.tail) + (1 if state.partial else 0)
            self.log.value = render.log_tail(state.tail_text(), state.lines_seen, shown, state.bytes_skipped)
        if "metrics" in changed:
            self.metrics.value = render.metrics_table(state.metrics.values())
        if "outputs" in changed or (record.is_terminal and not self._links_made):
            links = {}
            if record.is_terminal:  # files are final only now
                links = render.download_links(self.run.run_dir, state.outputs)
                self._links_made = True
            self.outputs.value = render.outputs_list(state.outputs, str(self.run.run_dir), links)

    def _draw_status(self, record: Any) -> None:
        self.status.value = render.status_badge(record)
        self.lifecycle.value = render.lifecycle(record)
        preparing = record.status in PREPARING_STATES
        self.progress_box.layout.display = "" if preparing else "none"
        if preparing:
            fraction, label = render.progress_fraction(record)
            step = PREPARING_STATES.index(record.status)
            self.progress.value = fraction if fraction is not None else (step + 1) / (len(PREPARING_STATES) + 1)
            self.progress.description = record.status.value
            self.progress_label.value = html.escape(label)
        finished = record.is_terminal or record.status == RunStatus.CANCEL_REQUESTED
        self.cancel_button.disabled = finished or not self.can_cancel or self._cancel_requested
        if record.is_terminal:
            self.cancel_button.description = "Cancel"
