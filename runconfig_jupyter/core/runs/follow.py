"""Follow a run's folder from a background thread into bounded in-memory state.

Front-end neutral (no ipywidgets here, hence in core): the RunDetails widget and the text
fallback both draw from a :class:`RunFollower`. Why a separate piece:

* Memory stays bounded whatever the run prints: the log keeps only the last
  ``tail_lines`` lines, and when more than ``tail_bytes`` arrived since the
  last poll the follower seeks ahead instead of decoding text it would drop.
  The run's log file on disk stays complete; the view is only a window on it.
* Redraws are batched: ``on_update`` is called at most once per
  ``min_interval`` seconds (10/s by default), whatever the line rate.
* It reads only the run folder and the store (the logs through the one log
  cursor, core/runs/log_cursor.py, status first; metrics by byte offset), never
  the target, so it works the same for a run re-attached after a kernel restart
  (``ScriptRun.get(run_id)``).
* The thread ends when the run is terminal and everything is read, or when
  :meth:`stop` is called; :meth:`stop` joins it, so nothing is leaked.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.log_cursor import LogChunk, LogCursor

MAX_CHART_POINTS = 1000  # per metric; older points are thinned (every other one), never dropped from the start
MAX_IMAGES = 24  # image records kept per view (the newest); the view shows fewer


@dataclass
class MetricSeries:
    """One metric as the view needs it: ``(step, value)`` points for a chart, or the last list/row/table value.

    Points are thinned, not cut: past ``max_points`` every other point is dropped (the last is always
    kept), so a long run's chart still starts at step 0 and memory stays bounded.
    """

    name: str
    kind: str = "scalar"
    points: list[tuple[float, float]] = field(default_factory=list)
    count: int = 0
    last: Any = None
    minimum: float | None = None
    maximum: float | None = None
    rows: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    max_points: int = MAX_CHART_POINTS
    version: int = 0  # bumped on every change, so a view redraws only the charts that moved

    @property
    def values(self) -> list[float]:
        return [value for _step, value in self.points]

    def add(self, record: dict[str, Any]) -> None:
        self.kind = str(record.get("kind", "scalar"))
        value = record.get("value")
        self.count += 1
        self.version += 1
        self.last = value
        if self.kind == "row" and isinstance(value, dict):
            self.rows.append(value)
            return
        numbers: list[tuple[float, float]] = []
        if self.kind == "scalar" and _is_number(value):
            step = record.get("step")
            numbers = [(float(step) if _is_number(step) else float(self.count - 1), float(value))]
        elif self.kind == "list" and isinstance(value, list):
            self.points.clear()
            self.minimum = self.maximum = None
            numbers = [(float(i), float(v)) for i, v in enumerate(value) if _is_number(v)]
        for point in numbers:
            self.points.append(point)
            number = point[1]
            self.minimum = number if self.minimum is None else min(self.minimum, number)
            self.maximum = number if self.maximum is None else max(self.maximum, number)
        if len(self.points) > self.max_points:
            last = self.points[-1]
            self.points = [*self.points[:-1:2], last]


def _is_number(value: Any) -> bool:
    """A value a chart can draw: NaN and infinity are not (and are not valid JSON for the front end)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class FollowState:
    """What a view draws; ``changed`` names the parts that moved since the last update."""

    record: Any = None
    tail: deque[str] = field(default_factory=deque)
    partial: str = ""
    lines_seen: int = 0
    bytes_skipped: int = 0
    metrics: dict[str, MetricSeries] = field(default_factory=dict)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    images: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_IMAGES))
    finished: bool = False
    changed: set[str] = field(default_factory=set)

    def tail_text(self) -> str:
        lines = list(self.tail)
        if self.partial:
            lines.append(self.partial)
        return "\n".join(lines)


class RunFollower:
    """Polls one run's folder and store row with byte offsets; calls ``on_update`` with batched changes."""

    def __init__(
        self,
        run: Any,
        on_update: Callable[[FollowState], None] | None = None,
        *,
        poll: float = 0.1,
        min_interval: float = 0.1,
        tail_lines: int = 200,
        tail_bytes: int = 256 * 1024,
        outputs_every: float = 1.0,
    ):
        self.run = run
        self.folder = RunFolder(run.run_dir)
        self.on_update = on_update
        self.poll = poll
        self.min_interval = min_interval
        self.outputs_every = outputs_every
        self.state = FollowState(tail=deque(maxlen=tail_lines))
        self.cursor = LogCursor(self.folder, keep_tail=tail_bytes)
        self._metrics_offset = 0
        self._last_outputs = 0.0
        self._last_status: tuple[Any, ...] | None = None
        self._last_second = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.updates = 0  # how many times on_update ran (benchmarks read it)
        self.error: Exception | None = None  # the last error while polling or drawing, for diagnosis
        # Metrics are read at most this much per poll, so re-attaching to a run with a huge
        # metrics.jsonl keeps the view responsive (the rest is read over the next polls).
        self.metrics_chunk = 4 * 1024 * 1024
        self.max_failures = 100  # consecutive failed polls before giving up (~10 s at the default poll)

    # -- thread ------------------------------------------------------------
    def start(self) -> RunFollower:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name=f"runconfig-follow-{self.run.id}")
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it (never from inside ``on_update``)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        last_emit = 0.0
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    finished = self.poll_once()
                    failures = 0
                except Exception as error:  # a locked store or a file mid-rename: retry, don't die silently
                    self.error = error
                    failures += 1
                    if failures >= self.max_failures:
                        return
                    self._stop.wait(self.poll)
                    continue
                now = time.monotonic()
                if self.state.changed and (finished or now - last_emit >= self.min_interval):
                    self._emit()
                    last_emit = now
                if finished:
                    return
                wait = self.poll
                if self.state.changed - {"elapsed"}:  # held back by the rate limit: draw as soon as allowed
                    wait = min(wait, max(0.0, last_emit + self.min_interval - time.monotonic()))
                self._stop.wait(wait)
        finally:
            self.state.finished = True

    def _emit(self) -> None:
        if self.on_update is None:
            self.state.changed.clear()
            return
        try:
            self.on_update(self.state)
            self.updates += 1
        except Exception as error:  # a broken view must not stop the follower (the next update may work)
            self.error = error
        finally:
            self.state.changed.clear()

    # -- one poll ----------------------------------------------------------
    def poll_once(self) -> bool:
        """Read what is new; returns True once the run is terminal and everything has been read."""
        with self._lock:
            step = self.cursor.poll(lambda: self.run.record)  # status first: a run seen ended is read out
            record = step.status
            key = (record.status, record.phase, record.reason, record.exit_code, json.dumps(record.progress))
            if key != self._last_status:
                self._last_status = key
                self.state.changed.add("status")
            self.state.record = record
            for chunk in step.chunks:
                self._add_log(chunk)
            got_metrics = self._read_metrics()
            now = time.monotonic()
            if record.is_terminal or now - self._last_outputs >= self.outputs_every:
                self._last_outputs = now
                outputs = self._list_outputs()
                if outputs != self.state.outputs:
                    self.state.outputs = outputs
                    self.state.changed.add("outputs")
            second = int(time.time())
            if second != self._last_second:  # the elapsed clock shows whole seconds while running
                self._last_second = second
                self.state.changed.add("elapsed")
            drained = step.done and not got_metrics
            if drained and self.state.partial:
                self.state.tail.append(self.state.partial)
                self.state.partial = ""
                self.state.changed.add("log")
            return drained

    def _add_log(self, chunk: LogChunk) -> bool:
        """Lines of one chunk into the bounded tail; a chunk that jumped ahead starts at a whole line."""
        if chunk.skipped:  # more arrived than the view can show: the cursor jumped to the tail
            self.state.bytes_skipped += chunk.skipped
            self.state.partial = ""
            self.state.lines_seen += 1
        elif chunk.truncated:  # the log was cut or replaced: a line begun before it does not go on
            self.state.partial = ""
        elif not chunk.text:
            return False
        lines = (self.state.partial + chunk.text).split("\n")
        self.state.partial = lines.pop()
        self.state.tail.extend(lines)
        self.state.lines_seen += len(lines)
        self.state.changed.add("log")
        return True

    def _read_metrics(self) -> bool:
        path = self.folder.metrics_path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        if size <= self._metrics_offset:
            return False
        with open(path, "rb") as metrics:
            metrics.seek(self._metrics_offset)
            data = metrics.read(min(size - self._metrics_offset, self.metrics_chunk))
        end = data.rfind(b"\n") + 1  # whole lines only; a line being written is read next time
        if end == 0:
            if len(data) < self.metrics_chunk:
                return False
            end = len(data)  # one line longer than a chunk: not drawable, step over it
        self._metrics_offset += end
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
                name = str(record["name"])
            except (ValueError, KeyError, TypeError):
                continue
            if record.get("kind") == "image":  # log_image: a file in the run folder, shown beside the charts
                if isinstance(record.get("value"), dict):
                    self.state.images.append({"name": name, "step": record.get("step"), **record["value"]})
                    self.state.changed.add("images")
                continue
            series = self.state.metrics.get(name)
            if series is None:
                series = self.state.metrics[name] = MetricSeries(name)
            series.add(record)
        self.state.changed.add("metrics")
        return True

    def _list_outputs(self) -> list[tuple[str, int]]:
        return self.folder.outputs(limit=200)  # a list, not a file browser
