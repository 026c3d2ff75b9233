"""``LiveRunView``: the status line, Cancel, the exception and the log of one run, as an anywidget.

Why not ipywidgets ``HTML``: every value change replaces its DOM, so a log box
jumps back to its top on each redraw and cannot follow its end. This widget's
ESM (``static/live_run.js``) only appends lines and trims the oldest, follows
the end while the reader has not scrolled up, keeps their place when they have
(with a "Jump to end" button), and says "not live" when the kernel that feeds
it stops answering (a restart), with the ``RunDetails.attach`` line to run.
anywidget is standard widget machinery: it renders in JupyterLab, Notebook 7
and VS Code without a front-end extension of ours.

The kernel side keeps the window of lines (``window``) and sends only new lines
as custom messages ``{"kind": "lines", "start", "lines", "partial"}`` numbered
from the start of the log, so a view that missed some (skipped by the follower,
or opened late) knows and says so. ``lines`` / ``first_line`` is a snapshot for
views opened without a kernel (a saved notebook); it is refreshed rarely.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from runconfig_jupyter.core.runs.explain import clean_log_line

STATIC = Path(__file__).parent / "static"


class LiveRunView(anywidget.AnyWidget):
    _esm = STATIC / "live_run.js"
    _css = STATIC / "live_run.css"

    run_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("NotStarted").tag(sync=True)
    status_label = traitlets.Unicode("").tag(sync=True)
    elapsed = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Unicode("").tag(sync=True)
    error_text = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    ended = traitlets.Bool(False).tag(sync=True)
    can_cancel = traitlets.Bool(True).tag(sync=True)
    cancel_requested = traitlets.Bool(False).tag(sync=True)
    cancel_tooltip = traitlets.Unicode("Cancel this run").tag(sync=True)
    heartbeat_seconds = traitlets.Float(1.0).tag(sync=True)
    max_lines = traitlets.Int(2000).tag(sync=True)
    lines = traitlets.List(traitlets.Unicode()).tag(sync=True)
    first_line = traitlets.Int(0).tag(sync=True)
    partial = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *, window_lines: int = 500, snapshot_every: float = 5.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.window: deque[str] = deque(maxlen=window_lines)
        self.window_start = 0  # absolute number of window[0]
        self.total = 0  # lines received so far (absolute number of the next line)
        self.current_partial = ""
        self.snapshot_every = snapshot_every
        self._last_snapshot = 0.0
        self._last_sent = 0.0
        self._lock = threading.Lock()
        self.on_cancel: Callable[[], None] | None = None
        self.on_msg(self._handle_message)

    # -- lines ------------------------------------------------------------------
    def add_lines(self, start: int, new_lines: Iterable[str], partial: str = "") -> None:
        """Lines numbered from ``start`` (absolute); those already sent are skipped, a gap is allowed."""
        cleaned = [clean_log_line(line) for line in new_lines]
        with self._lock:
            if start < self.total:
                cleaned = cleaned[self.total - start :]
                start = self.total
            if start > self.total:  # lines the follower skipped: the window restarts after the gap
                self.window.clear()
            self.window.extend(cleaned)
            self.total = start + len(cleaned)
            self.window_start = self.total - len(self.window)
            partial = clean_log_line(partial)
            if not cleaned and partial == self.current_partial:
                return
            self.current_partial = partial
            self.send({"kind": "lines", "start": start, "lines": cleaned, "partial": partial})
            self._last_sent = time.monotonic()
        if time.monotonic() - self._last_snapshot >= self.snapshot_every:
            self.save_snapshot()

    def save_snapshot(self) -> None:
        """Copy the window into the synced state, for a view opened later without a kernel."""
        with self._lock:
            window, first, partial = list(self.window), self.window_start, self.current_partial
        self._last_snapshot = time.monotonic()
        with self.hold_sync():
            self.lines = window
            self.first_line = first
            self.partial = partial

    @property
    def text(self) -> str:
        """The window as text (the partial last line included): what a view shows at most."""
        with self._lock:
            lines = list(self.window) + ([self.current_partial] if self.current_partial else [])
        return "\n".join(lines)

    def beat(self) -> None:
        """Tell the views the kernel is alive and following (the follower calls this at least once a second).

        Any message is a sign of life, so a beat is sent only when nothing else was in the last half second.
        """
        if time.monotonic() - self._last_sent >= 0.5:
            self.send({"kind": "beat"})
            self._last_sent = time.monotonic()

    # -- messages from the views ----------------------------------------------------
    def _handle_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "sync":
            with self._lock:
                message = {
                    "kind": "lines",
                    "start": self.window_start,
                    "lines": list(self.window),
                    "partial": self.current_partial,
                }
            self.send(message)
        elif kind == "cancel" and self.on_cancel is not None and self.can_cancel and not self.ended:
            self.on_cancel()
