"""The in-script API: ``Run.get_context().log("loss", 0.1)``.

Scripts written for Azure ML v1 keep working unchanged. Inside a run, metrics
go to the run folder (local target) or to marker lines on stderr that the
driver turns into metrics (targets that cannot reach the run folder). Outside a
run nothing is recorded: values are printed, as Azure's offline run did, so the
same script runs under plain ``python``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from numbers import Number
from pathlib import Path
from typing import Any

from .logsink import METRIC_MARKER
from .run_logging import RichLogging
from .v1_run_api import fallback

RUN_ID_ENV = "RUNCONFIG_RUN_ID"
METRICS_FILE_ENV = "RUNCONFIG_METRICS_FILE"
EXPERIMENT_ENV = "RUNCONFIG_EXPERIMENT"


def _jsonable(value: Any) -> Any:
    """Numbers stay numbers (including numpy scalars); anything else becomes its string."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Number):
        as_float = float(value)  # numpy scalars and Decimals
        return int(as_float) if isinstance(value, int) else as_float
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)


class RunContext(RichLogging):
    """The run a script is executing in (or an offline stand-in).

    Images, uploads and chart metrics come from ``RichLogging`` (run_logging.py). A v1 ``Run`` name
    this class does not implement warns once and is skipped (v1_run_api.py); any other missing
    name is an AttributeError, so typos still fail.
    """

    def __init__(self, run_id: str | None, metrics_file: Path | None, experiment: str | None):
        self.id = run_id or f"OfflineRun_{int(time.time())}"
        self.offline = run_id is None
        self.experiment_name = experiment
        self._metrics_file = metrics_file
        self._steps: dict[str, int] = {}

    # Azure ML v1 names -------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """A scalar; repeated calls make a series (each gets the next step unless given)."""
        self._emit(name, _jsonable(value), "scalar", step, description)

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        self._emit(name, [_jsonable(item) for item in value], "list", None, description)

    def log_row(self, name: str, description: str = "", **kwargs: Any) -> None:
        self._emit(name, {key: _jsonable(val) for key, val in kwargs.items()}, "row", None, description)

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        table = {key: [_jsonable(item) for item in column] for key, column in value.items()}
        self._emit(name, table, "table", None, description)

    def get_status(self) -> str:
        return "Running"

    def complete(self) -> None:
        """Accepted for v1 compatibility; the run completes when the script exits."""

    def flush(self) -> None:
        sys.stderr.flush()

    # -------------------------------------------------------------------------
    def _emit(self, name: str, value: Any, kind: str, step: int | None, description: str) -> None:
        if step is None:
            step = self._steps.get(name, 0)
        self._steps[name] = step + 1
        record = {"name": str(name), "value": value, "kind": kind, "step": step, "time": time.time()}
        if description:
            record["description"] = description
        payload = json.dumps(record, separators=(",", ":"))
        if self.offline:
            print(f"Attempted to log {kind} metric {name}:\n{value}")
        elif self._metrics_file is not None:
            # Several ranks of a distributed run append to the same file: one O_APPEND write per record
            # lands whole at the end (never interleaved with another rank's line).
            fd = os.open(self._metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (payload + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        else:
            # One write call per record keeps it on one line even when stderr is shared.
            sys.stderr.buffer.write(METRIC_MARKER + payload.encode() + b"\n")
            sys.stderr.flush()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return fallback(type(self).__name__, name)

    def __repr__(self) -> str:
        state = "offline" if self.offline else "live"
        return f"Run(id={self.id!r}, {state})"


_current: RunContext | None = None


def get_context() -> RunContext:
    global _current
    if _current is None:
        metrics = os.environ.get(METRICS_FILE_ENV)
        _current = RunContext(
            os.environ.get(RUN_ID_ENV),
            Path(metrics) if metrics else None,
            os.environ.get(EXPERIMENT_ENV),
        )
    return _current
