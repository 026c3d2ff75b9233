"""The run store: one SQLite row per run, plus a run folder on disk.

SQLite (WAL) because kernels, the Jupyter server, run drivers and scripts all
read and write the same runs concurrently and nothing must be installed. The
row holds what lists and filters need; the run folder holds logs, outputs and
metrics, which are the source of truth for content.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import proc
from .errors import RunNotFound
from .paths import run_home
from .status import TERMINAL, RunStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    status TEXT NOT NULL,
    target TEXT NOT NULL,
    target_type TEXT NOT NULL,
    script TEXT,
    display_name TEXT,
    snapshot_id TEXT,
    parent_run_id TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    updated_at REAL NOT NULL,
    exit_code INTEGER,
    phase TEXT,
    reason TEXT,
    driver_pid INTEGER,
    driver_started REAL,
    details TEXT NOT NULL DEFAULT '{}',
    progress TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, created_at);
CREATE INDEX IF NOT EXISTS runs_by_update ON runs (updated_at);
"""

_JSON_COLUMNS = ("details", "progress")


@dataclass
class RunRecord:
    run_id: str
    experiment: str
    status: RunStatus
    target: str
    target_type: str
    created_at: float
    updated_at: float
    script: str | None = None
    display_name: str | None = None
    snapshot_id: str | None = None
    parent_run_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    phase: str | None = None
    reason: str | None = None
    driver_pid: int | None = None
    driver_started: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["duration"] = self.duration
        return data


class RunStore:
    """Thread- and process-safe access to the runs table and run folders."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home else run_home()
        self.runs_dir = self.home / "runs"
        self.snapshots_dir = self.home / "snapshots"
        self.db_path = self.home / "runs.db"
        self._local = threading.local()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per thread, kept open.

        Opening a connection per call made every status change pay for the WAL
        pragmas and, on close of the last connection, a checkpoint: about a
        third of a local run's start-up. A transaction left open by an error is
        rolled back before the connection is used again.
        """
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        try:
            yield db
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    # -- writes -------------------------------------------------------------
    def create_run(self, record: RunRecord) -> RunRecord:
        row = record.to_dict()
        row.pop("duration")
        for column in _JSON_COLUMNS:
            row[column] = json.dumps(row[column])
        names = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        with self._connect() as db:
            db.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", row)
        return record

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns; ``details`` and ``progress`` are merged into what is stored."""
        if not fields:
            return
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            current = self._fetch(db, run_id)
            for column in _JSON_COLUMNS:
                if column in fields:
                    merged = {**getattr(current, column), **fields[column]}
                    fields[column] = json.dumps(merged)
            if "status" in fields:
                fields["status"] = RunStatus(fields["status"]).value
            fields["updated_at"] = time.time()
            assignments = ", ".join(f"{name} = :{name}" for name in fields)
            db.execute(f"UPDATE runs SET {assignments} WHERE run_id = :run_id", {**fields, "run_id": run_id})
            db.execute("COMMIT")

    def set_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        reason: str | None = None,
        phase: str | None = None,
        exit_code: int | None = None,
        force: bool = False,
    ) -> bool:
        """Move a run to ``status``. A finished run never changes again unless ``force``.

        Returns False when the transition was refused, so racing writers (a cancel
        arriving as the script exits) settle on whoever finished first.
        """
        status = RunStatus(status)
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            current = self._fetch(db, run_id)
            if current.is_terminal and not force:
                db.execute("ROLLBACK")
                return False
            fields: dict[str, Any] = {"status": status.value, "updated_at": now}
            if reason is not None:
                fields["reason"] = reason
            if phase is not None:
                fields["phase"] = phase
            if exit_code is not None:
                fields["exit_code"] = exit_code
            if status == RunStatus.RUNNING and current.started_at is None:
                fields["started_at"] = now
            if status in TERMINAL:
                fields["ended_at"] = now
                if current.started_at is None:
                    fields["started_at"] = current.created_at
            assignments = ", ".join(f"{name} = :{name}" for name in fields)
            db.execute(f"UPDATE runs SET {assignments} WHERE run_id = :run_id", {**fields, "run_id": run_id})
            db.execute("COMMIT")
        return True

    # -- reads --------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        with self._connect() as db:
            return self._fetch(db, run_id)

    def _fetch(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(
                f"no run '{run_id}' in {self.db_path}. List runs with %runs or RunStore().list();"
                f" set {'RUNCONFIG_JUPYTER_HOME'} if the run was made under another home."
            )
        return _record(row)

    def list(
        self,
        experiment: str | None = None,
        status: str | list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        updated_since: float | None = None,
    ) -> list[RunRecord]:
        clauses, params = [], []
        if experiment:
            clauses.append("experiment = ?")
            params.append(experiment)
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(RunStatus(s).value for s in statuses)
        if updated_since is not None:
            clauses.append("updated_at > ?")
            params.append(updated_since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT * FROM runs {where} ORDER BY created_at DESC LIMIT ? OFFSET ?"
        with self._connect() as db:
            rows = db.execute(query, [*params, limit, offset]).fetchall()
        return [_record(row) for row in rows]

    def count(self, experiment: str | None = None) -> int:
        with self._connect() as db:
            if experiment:
                return db.execute("SELECT COUNT(*) FROM runs WHERE experiment = ?", (experiment,)).fetchone()[0]
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def experiments(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT experiment FROM runs ORDER BY experiment").fetchall()
        return [row[0] for row in rows]

    def delete(self, run_id: str) -> None:
        """Forget a finished run (row only; the caller removes the folder)."""
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


def _record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column] or "{}")
    data["status"] = RunStatus(data["status"])
    return RunRecord(**data)


def default_store() -> RunStore:
    """A store at the current home; cheap, so callers need not cache it."""
    return RunStore()


def pid_start_time(pid: int) -> float | None:
    """Process start time, to tell a live driver from a recycled PID (``/proc``: no psutil import)."""
    return proc.start_time(pid)


def driver_alive(record: RunRecord) -> bool:
    if not record.driver_pid:
        return False
    started = pid_start_time(record.driver_pid)
    if started is None or proc.is_zombie(record.driver_pid):
        return False
    return record.driver_started is None or abs(started - record.driver_started) < 1.0
