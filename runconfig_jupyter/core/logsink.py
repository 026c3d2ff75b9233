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
from pathlib import Path
from typing import Any

METRIC_MARKER = b"\x1e@runconfig:metric "


class LogSink:
    """Appends re-assembled lines to one log file; thread-safe; extracts metric markers."""

    def __init__(self, log_path: Path, metrics_path: Path):
        self.log_path = log_path
        self.metrics_path = metrics_path
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
        if METRIC_MARKER in block:
            kept: list[bytes] = []
            for line in block.splitlines(keepends=True):
                start = line.find(METRIC_MARKER)
                if start < 0:
                    kept.append(line)
                    continue
                append_metric_line(self.metrics_path, line[start + len(METRIC_MARKER) :].strip())
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


def append_metric_line(metrics_path: Path, payload: bytes | str) -> None:
    """Validate and append one JSON metric record; a garbled record is dropped, not fatal."""
    try:
        record: dict[str, Any] = json.loads(payload)
    except ValueError:
        return
    record.setdefault("time", time.time())
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    # O_APPEND writes of one small line are atomic, so several writers never interleave.
    try:
        with open(metrics_path, "ab") as out:
            out.write(line)
    except OSError:
        pass  # a full disk: the log sink's own failure (or the driver's check) names it
