"""What a script logged through MLflow becomes its run's metrics, tags and child runs, as in Azure ML v1.

v1 pointed ``mlflow`` at the run (``history.enableMLflowTracking``, on by default): ``mlflow.log_metric`` values
came back from ``run.get_metrics()``. Here the driver gives the script a tracking store of its own
(core/runs/script_env.py ``mlflow_environment``: an SQLite file in its working directory), the targets collect
it into the run folder's ``mlflow/`` with the outputs (targets/collect.py), and once the script ended (completed,
failed or canceled) the driver calls ``import_mlflow_store`` - only when that file exists, so a run that never
used MLflow loads nothing of this.

The store is read with the standard library's ``sqlite3`` and MLflow's documented tables (``runs``, ``metrics``,
``params``, ``tags``), never by importing mlflow, which the driver's interpreter need not have:

* every metric row of a top-level MLflow run becomes a scalar metric record of the run, in the order it was
  logged (``rowid``), with its step and time: a name logged once reads back as a number, a series as a list;
* params and tags (MLflow's own ``mlflow.*`` system tags aside) become run tags, where v1's ``run.get_tags()``
  showed them;
* a nested MLflow run (``mlflow.start_run(nested=True)``, tag ``mlflow.parentRunId``) becomes a child run of
  the run (or of the child its parent became), ended with MLflow's status for it.

The file was written by the script, so it is data and nothing more: the store and its journal must be regular
files of the run folder (a link is refused), it is opened read-only, reading stops after ``READ_SECONDS``,
and names, values and row counts are bounded; what was left out is said in the driver's log, which receives
every line this returns. Artifact locations in the store are text that nothing here follows. An
``imported.json`` beside the store keeps a driver that re-attached after a crash from importing twice.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import record_history
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunStore

IMPORTED_MARK = "imported.json"
MAX_STORE_BYTES = 2 * 1024**3  # a bigger file is not read at all
MAX_METRIC_ROWS = 200_000  # over every MLflow run of the store
MAX_RUNS = 100  # top-level and nested MLflow runs
MAX_KEYS = 10_000  # params + tags per MLflow run
MAX_NAME_CHARS = 250  # MLflow's own limit for a metric, param or tag key
MAX_VALUE_CHARS = 8_000  # MLflow's own limit for a tag value (params: 6,000)
READ_SECONDS = 20.0  # all the store's queries together
REQUIRED_TABLES = ("runs", "metrics", "params", "tags")
PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
SYSTEM_TAG_PREFIX = "mlflow."
# MLflow's run statuses -> ours (a nested run still RUNNING ends with its parent, core/runs/interactive.py).
END_STATUS = {"FINISHED": RunStatus.COMPLETED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.CANCELED}


class StoreRefused(Exception):
    """The store is not a plain file of the run folder, or is too big to read."""


def import_mlflow_store(store: RunStore, run_id: str, store_file: Path) -> list[str]:
    """Record what the MLflow store at ``store_file`` holds on run ``run_id``; lines for the driver's log.

    Raises on a store that cannot be read (damaged, not MLflow's, refused): the caller logs it, and nothing of
    the store was recorded then. A store read to its end is recorded whole, and marked as imported.
    """
    folder = store_file.parent
    if (folder / IMPORTED_MARK).exists():
        return []
    _check_plain_files(folder, store_file)
    with _open_read_only(store_file) as connection:
        runs, notes = _read_store(connection)
    lines = [f"MLflow store: {note}" for note in notes]
    lines += _record(store, run_id, runs)
    (folder / IMPORTED_MARK).write_text(json.dumps({"imported_at": time.time(), "runs": len(runs)}))
    return lines


# -- reading -----------------------------------------------------------------------------------------------------
def _check_plain_files(folder: Path, store_file: Path) -> None:
    """The folder, the database and any journal are what they seem: never a link out of the run folder."""
    if folder.is_symlink() or not folder.is_dir():
        raise StoreRefused(f"{folder} is not a folder of the run")
    info = os.lstat(store_file)
    if not stat.S_ISREG(info.st_mode):
        raise StoreRefused(f"{store_file.name} is not a regular file (a link or a special file); not read")
    if info.st_size > MAX_STORE_BYTES:
        raise StoreRefused(f"{store_file.name} is {info.st_size} bytes, more than {MAX_STORE_BYTES}; not read")
    for suffix in ("-journal", "-wal", "-shm"):
        companion = store_file.with_name(store_file.name + suffix)
        if companion.is_symlink() or (companion.exists() and not companion.is_file()):
            raise StoreRefused(f"{companion.name} is not a regular file; the store was not read")


class _open_read_only:  # a context manager, named like open()
    """A read-only connection whose queries stop once ``READ_SECONDS`` have passed (a crafted store cannot hang
    the driver): sqlite3's progress handler aborts the running statement."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self.connection = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
        deadline = time.monotonic() + READ_SECONDS
        self.connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        return self.connection

    def __exit__(self, *_exc: object) -> None:
        self.connection.close()


class _MlflowRun:
    """One MLflow run as read from the store: what will be recorded of it."""

    def __init__(self, uuid: str, name: str | None, status: str | None):
        self.uuid, self.name, self.status = uuid, name, status
        self.parent: str | None = None
        self.metrics: list[dict[str, Any]] = []
        self.tags: dict[str, str] = {}


def _read_store(connection: sqlite3.Connection) -> tuple[list[_MlflowRun], list[str]]:
    """The store's active runs (oldest first) with their metrics, params and tags; notes on what was left out."""
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if missing:
        raise StoreRefused(f"not an MLflow tracking store (no table {', '.join(missing)})")
    notes: list[str] = []
    rows = connection.execute(
        "SELECT run_uuid, name, status FROM runs WHERE lifecycle_stage IS NOT 'deleted' "
        "ORDER BY start_time, rowid LIMIT ?",
        (MAX_RUNS + 1,),
    ).fetchall()
    if len(rows) > MAX_RUNS:
        notes.append(f"more than {MAX_RUNS} MLflow runs; the first {MAX_RUNS} were imported")
        rows = rows[:MAX_RUNS]
    runs = [_MlflowRun(str(uuid), _text(name, MAX_NAME_CHARS), _text(status, 16)) for uuid, name, status in rows]
    budget = MAX_METRIC_ROWS
    skipped = {"names": 0, "values": 0, "truncated": 0}
    for run in runs:
        budget = _read_metrics(connection, run, budget, skipped)
        _read_keys(connection, run, skipped)
    if budget <= 0:
        notes.append(f"more than {MAX_METRIC_ROWS} metric values; the first {MAX_METRIC_ROWS} were imported")
    if skipped["names"]:
        notes.append(f"{skipped['names']} entries without a usable name (text of 1-{MAX_NAME_CHARS} chars) left out")
    if skipped["values"]:
        notes.append(f"{skipped['values']} metric values that are not numbers left out")
    if skipped["truncated"]:
        notes.append(f"{skipped['truncated']} param or tag values cut to {MAX_VALUE_CHARS} characters")
    return runs, notes


def _read_metrics(connection: sqlite3.Connection, run: _MlflowRun, budget: int, skipped: dict[str, int]) -> int:
    """Append the run's metric rows in the order they were logged; returns the budget left."""
    if budget <= 0:
        return budget
    cursor = connection.execute(
        "SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? ORDER BY rowid LIMIT ?",
        (run.uuid, budget + 1),
    )
    for key, value, is_nan, timestamp, step in cursor:
        if budget <= 0:
            return -1  # one row more than the budget: some were left out
        budget -= 1
        name = _text(key, MAX_NAME_CHARS, exact=True)
        if name is None:
            skipped["names"] += 1
            continue
        number = math.nan if is_nan else _number(value)
        if number is None:
            skipped["values"] += 1
            continue
        record = {"name": name, "value": number, "kind": "scalar", "step": _integer(step), "time": _seconds(timestamp)}
        run.metrics.append(record)
    return budget


def _read_keys(connection: sqlite3.Connection, run: _MlflowRun, skipped: dict[str, int]) -> None:
    """Params, then tags (a tag of the same name wins); MLflow's system tags only for the parent and the name."""
    query = "SELECT key, value FROM {} WHERE run_uuid = ? ORDER BY rowid LIMIT ?"
    for table in ("params", "tags"):
        for key, value in connection.execute(query.format(table), (run.uuid, MAX_KEYS)):
            name = _text(key, MAX_NAME_CHARS, exact=True)
            if name is None:
                skipped["names"] += 1
                continue
            if name == PARENT_TAG:
                run.parent = _text(value, 64)
            elif name == RUN_NAME_TAG:
                run.name = run.name or _text(value, MAX_NAME_CHARS)
            if name.startswith(SYSTEM_TAG_PREFIX):
                continue
            text = "" if value is None else str(value)
            if len(text) > MAX_VALUE_CHARS:
                skipped["truncated"] += 1
                text = text[:MAX_VALUE_CHARS]
            run.tags[name] = text


def _text(value: Any, limit: int, exact: bool = False) -> str | None:
    """Text of at most ``limit`` characters: cut when longer, or None with ``exact`` (a name is never cut)."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) > limit:
        return None if exact else value[:limit]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _seconds(timestamp: Any) -> float:
    """MLflow's milliseconds since the epoch as the seconds our records carry (now, when unusable)."""
    return timestamp / 1000.0 if isinstance(timestamp, int | float) and not isinstance(timestamp, bool) else time.time()


# -- recording -------------------------------------------------------------------------------------------------------
def _record(store: RunStore, run_id: str, runs: list[_MlflowRun]) -> list[str]:
    """Top-level MLflow runs onto ``run_id``; nested ones as its child runs (grandchildren under their parent)."""
    from runconfig_jupyter.core.runs.interactive import start_interactive

    known = {run.uuid for run in runs}
    ours = {run.uuid: run_id for run in runs if run.parent not in known}  # top-level (or its parent was left out)
    lines: list[str] = []
    tags: dict[str, str] = {}
    metrics: list[dict[str, Any]] = []
    for run in runs:
        if run.uuid in ours:
            metrics += run.metrics
            tags.update(run.tags)
    _append_metrics(store, run_id, metrics)
    if tags:
        record_history(store, run_id, tags=tags)
    lines.append(f"MLflow: {len(metrics)} metric values and {len(tags)} params and tags recorded on the run")
    experiment = store.get(run_id).experiment
    for run in runs:  # oldest first: a nested run's parent has its run id by now
        if run.uuid in ours:
            continue
        parent = ours.get(run.parent or "", run_id)
        child_id = f"{run_id}_mlflow_{''.join(ch for ch in run.uuid if ch.isalnum())[:32]}"
        start_interactive(
            store, experiment, parent_run_id=parent, display_name=run.name, run_id=child_id, tags=run.tags
        )
        ours[run.uuid] = child_id
        _append_metrics(store, child_id, run.metrics)
        ended = END_STATUS.get(run.status or "")
        if ended is not None:
            reason = None if ended == RunStatus.COMPLETED else f"the MLflow run ended {run.status}"
            store.set_status(child_id, ended, reason=reason)
        lines.append(f"MLflow: nested run {run.uuid} ({run.name or 'unnamed'}) recorded as child run {child_id}")
    return lines


def _append_metrics(store: RunStore, run_id: str, records: list[dict[str, Any]]) -> None:
    """The records appended to the run's metrics.jsonl, in writes of whole lines (a reader never sees half one)."""
    if not records:
        return
    path = RunFolder(store.run_dir(run_id)).metrics_path
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        block: list[str] = []
        for record in records:
            block.append(json.dumps(record, separators=(",", ":")))
            if len(block) == 1000:
                os.write(fd, ("\n".join(block) + "\n").encode("utf-8"))
                block = []
        if block:
            os.write(fd, ("\n".join(block) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
