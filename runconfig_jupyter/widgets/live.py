"""A minimal live view of a run: status line, the log's tail, a Cancel button.

Standard ipywidgets only, so it renders in JupyterLab, Notebook 7 and VS Code.
A daemon thread reads the run folder (never the target), so the same view works
for a run re-attached after a kernel restart.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any

import ipywidgets as widgets
from IPython.display import display

TAIL_LINES = 200


def _status_html(record: Any) -> str:
    elapsed = f" &middot; {record.duration:.1f}s" if record.duration is not None else ""
    reason = f" &middot; {html.escape(record.reason)}" if record.reason else ""
    code = f" &middot; exit code {record.exit_code}" if record.exit_code is not None else ""
    return f"<b>{html.escape(record.run_id)}</b> &middot; {record.status.value}{elapsed}{code}{reason}"


def show_run(run: Any, poll: float = 0.1) -> widgets.VBox:
    status = widgets.HTML(_status_html(run.record))
    log_view = widgets.HTML("<pre style='max-height:20em;overflow:auto;margin:0'></pre>")
    cancel = widgets.Button(description="Cancel", button_style="warning", icon="stop")
    box = widgets.VBox([widgets.HBox([status, cancel]), log_view])
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def on_cancel(_button: widgets.Button) -> None:
        cancel.disabled = True
        run.cancel()

    cancel.on_click(on_cancel)

    def follow() -> None:
        offsets: dict[str, int] = {}
        partial = ""
        last_draw = 0.0
        while True:
            record = run.record
            for chunk in run.follow(offsets, poll=poll, timeout=poll):
                lines = (partial + chunk).split("\n")
                partial = lines.pop()
                tail.extend(lines)
            now = time.monotonic()
            if now - last_draw >= 0.1 or record.is_terminal:  # at most ~10 redraws a second
                shown = "\n".join([*tail, partial] if partial else tail)
                log_view.value = f"<pre style='max-height:20em;overflow:auto;margin:0'>{html.escape(shown)}</pre>"
                status.value = _status_html(record)
                last_draw = now
            if record.is_terminal:
                cancel.disabled = True
                return

    threading.Thread(target=follow, daemon=True, name=f"runconfig-follow-{run.id}").start()
    display(box)
    return box
