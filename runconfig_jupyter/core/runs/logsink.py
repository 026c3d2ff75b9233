"""Turns raw output chunks from any target into the run's log and metrics.

Targets that cannot write into the run folder directly (containers, remote
kernels, Ray) hand us byte chunks that may split lines anywhere. Lines that
carry in-script metrics are pulled out here, so the log shows only what the
script printed and metrics stay live on every target.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.artifacts import FILE_CHUNK_KIND, MAX_STREAMED_RUN_BYTES, place_chunk

METRIC_MARKER = b"\x1e@runconfig:metric "
# Bytes of streamed files placed per run (keyed by its metrics file), against MAX_STREAMED_RUN_BYTES.
_streamed: dict[Path, int] = {}
_streamed_lock = threading.Lock()
# Run-history records (tags, properties, child runs) from scripts that cannot reach the run folder;
# the driver applies them (core/script_history.py). Same framing as metrics: one JSON object per line.
HISTORY_MARKER = b"\x1e@runconfig:history "


class LogSink:
    """Appends re-assembled lines to one log file; thread-safe; extracts metric markers."""

    def __init__(self, log_path: Path, metrics_path: Path, on_history: Callable[[dict[str, Any]], None] | None = None):
        self.log_path = log_path
        self.metrics_path = metrics_path
        self.on_history = on_history
        self._pending = b""
        self._lock = threading.Lock()
        self.failure: str | None = None  # the first write that failed (a full disk), for the run's reason
        log_path.parent.mkdir(parents=True, exist_ok=True)

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        with self._lock:
            buffered = self._pending + data
            cut = buffered.rfind(b"\n") + 1
            self._pending = buffered[cut:]
            self._write(buffered[:cut])

    def flush(self) -> None:
        """Write a trailing partial line (end of the run)."""
        with self._lock:
            if self._pending:
                self._write(self._pending + b"\n")
                self._pending = b""

    def _write(self, block: bytes) -> None:
        if not block:
            return
        if METRIC_MARKER in block or HISTORY_MARKER in block:
            kept: list[bytes] = []
            for line in block.splitlines(keepends=True):
                start, marker = line.find(METRIC_MARKER), METRIC_MARKER
                if start < 0:
                    start, marker = line.find(HISTORY_MARKER), HISTORY_MARKER
                if start < 0:
                    kept.append(line)
                    continue
                payload = line[start + len(marker) :].strip()
                if marker is METRIC_MARKER:
                    append_metric_line(self.metrics_path, payload)
                else:
                    self._history(payload)
                if start:
                    kept.append(line[:start] + b"\n")
            block = b"".join(kept)
        if block:
            try:
                with open(self.log_path, "ab") as log:
                    log.write(block)
            except OSError as error:
                # Never raise into a follower thread (the run would lose its driver); the driver reads this.
                where = "/".join(self.log_path.parts[-2:])
                self.failure = self.failure or f"{(error.strerror or str(error)).lower()} writing {where}"

    def _history(self, payload: bytes) -> None:
        try:
            record = json.loads(payload)
        except ValueError:
            return
        if isinstance(record, dict) and self.on_history is not None:
            self.on_history(record)


def append_metric_line(metrics_path: Path, payload: bytes | str) -> None:
    """Validate and append one JSON metric record; a garbled record is dropped, not fatal.

    A ``file-chunk`` record is not a metric: it carries part of an uploaded file or logged image
    (core/artifacts.py) and is placed in the run folder next to ``metrics.jsonl``.
    """
    try:
        record: dict[str, Any] = json.loads(payload)
    except ValueError:
        return
    if not isinstance(record, dict):
        return
    if record.get("kind") == FILE_CHUNK_KIND:
        with _streamed_lock:
            used = _streamed.get(metrics_path, 0)
            _streamed[metrics_path] = used + place_chunk(metrics_path.parent, record, MAX_STREAMED_RUN_BYTES - used)
        return
    record.setdefault("time", time.time())
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    # O_APPEND writes of one small line are atomic, so several writers never interleave.
    try:
        with open(metrics_path, "ab") as out:
            out.write(line)
    except OSError:
        pass  # a full disk: the log sink's own failure (or the driver's check) names it
