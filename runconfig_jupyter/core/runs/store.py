"""The run store: one SQLite row per run, plus a run folder on disk.

SQLite (WAL) because kernels, the Jupyter server, run drivers and scripts all
read and write the same runs concurrently and nothing must be installed. The
row holds what lists and filters need; the run folder holds logs, outputs and
metrics, and - in ``record.json``, written in the same write transaction as the
row - everything the row says. So the folders are the source of truth and
runs.db is an index: when it is missing, emptied or damaged, the store keeps the
damaged file aside, rebuilds the index from the folders (core/reindex.py) and says
so (a ``RunStoreWarning`` and a line in ``<home>/store_log.txt``). Other sqlite
failures become ``RunStoreError`` (``DiskFull`` for a full disk).

    python -m runconfig_jupyter.core.runs.store --rebuild [--home DIR]
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runconfig_jupyter.core.errors import ConfigError, DiskFull, RunNotFound, RunStoreError
from runconfig_jupyter.core.runs.folder import RECORD_FILE
from runconfig_jupyter.core.runs.index_rows import upsert_row
from runconfig_jupyter.core.runs.status import TERMINAL, RunStatus
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.atomic import write_json_atomically
from runconfig_jupyter.core.system.paths import check_run_id, run_home
from runconfig_jupyter.core.system.records import asdict, field, record

if TYPE_CHECKING:  # the rebuild (core/runs/reindex.py) is imported when one happens, not by every store user
    from runconfig_jupyter.core.runs.reindex import RebuildReport

T = TypeVar("T")
MAX_PAGE_NUMBER = (1 << 62) - 1
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26


class RunStoreWarning(UserWarning):
    """The index was rebuilt from the run folders (it was missing, emptied or damaged)."""


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
    driver_started,
    details TEXT NOT NULL DEFAULT '{}',
    progress TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, created_at);
CREATE INDEX IF NOT EXISTS runs_by_update ON runs (updated_at);
"""

_JSON_COLUMNS = ("details", "progress")
_ABSENT = object()  # a column a RunRecord does not show: an update of it always counts as a change


@record
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
    driver_started: str | float | None = None  # proc.start_mark; a float in records from before marks
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


def _damaged(error: sqlite3.Error) -> bool:
    """The file is not a usable database (garbage, truncated pages), as opposed to busy or full."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    text = str(error).lower()
    return code in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text or "not a database" in text


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Run a store operation; a damaged index is rebuilt from the folders and the operation retried once.

    Any other sqlite failure becomes a typed ``RunStoreError`` (``DiskFull`` when the disk is full).
    """

    @functools.wraps(method)
    def guarded(self: RunStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            if not _damaged(error):
                raise self._typed(error) from error
            self.recover(f"runs.db was unusable ({type(error).__name__}: {error})")
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise self._typed(error) from error

    return guarded


class RunStore:
    """Thread- and process-safe access to the runs table and run folders."""

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home) if home else run_home()
        self.runs_dir = self.home / "runs"
        self.snapshots_dir = self.home / "snapshots"
        self.db_path = self.home / "runs.db"
        self._local = threading.local()
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _os_error(error, f"could not create the run home {self.home}") from error
        self._open_checked()

    @_guarded
    def _open_checked(self) -> None:
        with self._connect():
            pass

    def _open(self) -> sqlite3.Connection:
        """Connect; an index that is new or empty while run folders exist is rebuilt from them."""
        db = self._raw_connect()
        try:
            # Asked before switching to WAL: on an emptied file still held open by another process,
            # that switch would wait for it; the replacement file recover() builds has no such holder.
            if not self._has_runs_table(db) and self._has_run_folders():
                db.close()
                self.recover("runs.db was missing or empty while run folders exist")
                db = self._raw_connect()
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _raw_connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        return db

    @staticmethod
    def _has_runs_table(db: sqlite3.Connection) -> bool:
        return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone() is not None

    def _has_run_folders(self) -> bool:
        try:
            return any(p.is_dir() and not p.name.startswith(".") for p in self.runs_dir.iterdir())
        except OSError:
            return False

    def _db_inode(self) -> int | None:
        try:
            return os.stat(self.db_path).st_ino
        except OSError:
            return None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per thread, kept open while runs.db stays the same file.

        Opening a connection per call made every status change pay for the WAL
        pragmas and, on close of the last connection, a checkpoint: about a
        third of a local run's start-up. A runs.db that was deleted or replaced
        (rebuilt by another process) is noticed by its inode and reopened. A
        transaction left open by an error is rolled back before the connection
        is used again.
        """
        db = getattr(self._local, "db", None)
        inode = self._db_inode()
        if db is not None and (getattr(self._local, "pid", None) != os.getpid() or inode != self._local.inode):
            if getattr(self._local, "pid", None) == os.getpid():
                db.close()
            db = None
        if db is None:
            db = self._open()
            self._local.db, self._local.pid, self._local.inode = db, os.getpid(), self._db_inode()
        try:
            yield db
        finally:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into runs.db now, without waiting for anyone (PASSIVE); never raises.

        The last connection to close does this itself, with two fsyncs: a driver calls it once its run's end is
        recorded, so the process that waited for that end (a script that submitted and waits, then exits; ~2 ms
        of its exit here) does not.
        """
        try:
            with self._connect() as db:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except (sqlite3.Error, RunStoreError, OSError):
            pass

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- the index is rebuilt from the folders -------------------------------
    @contextmanager
    def _recovery_lock(self) -> Iterator[None]:
        """Processes that find the index damaged at the same moment take turns (the second finds it fixed)."""
        with open(self.home / "runs.db.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def recover(self, why: str) -> RebuildReport | None:
        """runs.db is unusable: keep it aside, build a new index from the run folders, say so."""
        self.close()
        with self._recovery_lock():
            if self._index_usable():
                return None  # another process already rebuilt it
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = self.home / f"runs.db.damaged-{stamp}-{os.getpid()}"
            kept = None
            for suffix in ("", "-wal", "-shm"):  # a stale -wal must never be replayed into the new file
                source = Path(f"{self.db_path}{suffix}")
                if source.exists() and (suffix or source.stat().st_size):
                    os.replace(source, f"{aside}{suffix}")
                    kept = kept or aside.name
            building = self.home / f".runs.db.rebuilding-{os.getpid()}"
            building.unlink(missing_ok=True)
            db = sqlite3.connect(building, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                report = self._rebuild_into(db, prune=False, why=why, aside=kept)
            finally:
                db.close()
            os.replace(building, self.db_path)
        return report

    def _index_usable(self) -> bool:
        try:
            db = sqlite3.connect(self.db_path, timeout=30)
            try:
                db.execute("SELECT COUNT(*) FROM runs").fetchone()
                return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            finally:
                db.close()
        except sqlite3.Error:
            return False

    def _rebuild_into(self, db: sqlite3.Connection, prune: bool, why: str, aside: str | None = None) -> RebuildReport:
        from runconfig_jupyter.core.runs.reindex import index_folders

        db.execute("BEGIN IMMEDIATE")
        try:
            report = index_folders(db, self.runs_dir, prune=prune)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        report.aside = aside
        self._say(f"rebuilt the run index {self.db_path} from {self.runs_dir}: {why}; {report.summary()}")
        return report

    def _say(self, message: str) -> None:
        """A rebuild is never silent: a warning for the caller and a line in <home>/store_log.txt."""
        warnings.warn(message, RunStoreWarning, stacklevel=4)
        try:
            with open(self.home / "store_log.txt", "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        except OSError:
            pass

    def rebuild(self) -> RebuildReport:
        """On demand: every run folder re-indexed from record.json, rows without a folder dropped.

        Done inside one write transaction of the live index, so status writers wait instead of racing;
        a damaged index is replaced first (see ``recover``).
        """
        if not self._index_usable():
            self.recover("asked to rebuild a damaged index")
        with self._connect() as db:
            return self._rebuild_into(db, prune=True, why="asked for")

    def _typed(self, error: sqlite3.Error) -> RunStoreError:
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code == SQLITE_FULL or "disk is full" in str(error):
            return DiskFull(
                f"the run index {self.db_path} could not be written: no space left on the device. "
                "Free some space (old runs: delete their folders under runs/), then try again; nothing was changed."
            )
        return RunStoreError(
            f"the run index {self.db_path} failed: {error}. Nothing was changed. If it persists, rebuild the "
            "index from the run folders with `python -m runconfig_jupyter.core.runs.store --rebuild` (or %runs "
            "--rebuild-index)."
        )

    def _write_record(self, db: sqlite3.Connection, run_id: str, strict: bool = False) -> None:
        """Mirror the row into the run folder (inside the write transaction, so writers land in order).

        ``strict`` (creating a run): a failure is raised, so no row exists without its record. Later
        changes are best effort: the index still has them, and a warning goes to stderr.
        """
        run_dir = self.run_dir(run_id)
        if not run_dir.is_dir():
            return
        try:
            record = self._fetch(db, run_id).to_dict()
            record.pop("duration", None)
            # No fsync per status change (progress updates are frequent); the index row is durable.
            write_json_atomically(run_dir / RECORD_FILE, record, durable=False)
        except OSError as error:
            if strict:
                raise _os_error(error, f"could not write {run_dir / RECORD_FILE}") from error
            print(f"runconfig: could not write {run_dir / RECORD_FILE}: {error}", file=sys.stderr)

    def run_dir(self, run_id: str) -> Path:
        """The run's folder; a value that is not a run id (``../x``, ``a/b``, NUL) is refused, never joined."""
        return self.runs_dir / check_run_id(run_id)

    # -- writes -------------------------------------------------------------
    @_guarded
    def create_run(self, record: RunRecord) -> RunRecord:
        """Insert the row and write record.json; either both exist afterwards or neither."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            upsert_row(db, record.to_dict())  # a concurrent rebuild may have indexed the new folder already
            self._write_record(db, record.run_id, strict=True)
            db.execute("COMMIT")
        return record

    @_guarded
    def update(
        self, run_id: str, *, advance: tuple[RunStatus, RunStatus] | None = None, **fields: Any
    ) -> RunRecord | None:
        """Set columns; ``details`` and ``progress`` are merged into what is stored. ``advance`` (from, to) also
        moves the status to ``to`` if it is ``from``, in the same transaction. Returns the row as it was before
        (None when there was nothing to set).

        An update that changes nothing writes nothing (no row, no record.json, no new ``updated_at``): a run's end
        re-indexes its tags and display name, which a plain run never changed, and every record.json replaced costs
        ~0.2-0.8 ms here (ext4 starts writing the new file back when a rename replaces an old one).
        """
        if not fields and advance is None:
            return None
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            current = self._fetch(db, run_id)
            if advance is not None and current.status == advance[0]:
                fields["status"] = advance[1]
            for column in _JSON_COLUMNS:
                if column in fields:
                    fields[column] = {**getattr(current, column), **fields[column]}
            if "status" in fields:
                fields["status"] = RunStatus(fields["status"])
            if all(getattr(current, name, _ABSENT) == value for name, value in fields.items()):
                db.execute("ROLLBACK")
                return current
            for column in _JSON_COLUMNS:
                if column in fields:
                    fields[column] = json.dumps(fields[column])
            if "status" in fields:
                fields["status"] = fields["status"].value
            fields["updated_at"] = time.time()
            assignments = ", ".join(f"{name} = :{name}" for name in fields)
            db.execute(f"UPDATE runs SET {assignments} WHERE run_id = :run_id", {**fields, "run_id": run_id})
            if set(fields) - {"progress", "updated_at"}:  # progress is live UI state, not worth a file write
                self._write_record(db, run_id)
            db.execute("COMMIT")
        return current

    @_guarded
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
            self._write_record(db, run_id)
            db.execute("COMMIT")
        return True

    # -- reads --------------------------------------------------------------
    @_guarded
    def get(self, run_id: str) -> RunRecord:
        check_run_id(run_id)
        with self._connect() as db:
            try:
                return self._fetch(db, run_id)
            except RunNotFound:
                if not self._reindex_one(db, run_id):
                    raise
            return self._fetch(db, run_id)

    def _reindex_one(self, db: sqlite3.Connection, run_id: str) -> bool:
        """A run folder the index does not know (e.g. written while runs.db was being replaced): index it."""
        if not run_id or "/" in run_id or run_id.startswith("."):
            return False
        run_dir = self.run_dir(run_id)
        if not run_dir.is_dir():
            return False
        from runconfig_jupyter.core.runs.reindex import row_from_folder

        row, _from_record = row_from_folder(run_dir)
        if row is None:
            return False
        db.execute("BEGIN IMMEDIATE")
        upsert_row(db, row)
        db.execute("COMMIT")
        return True

    def _fetch(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(
                f"no run '{run_id}' in {self.db_path}. List runs with %runs or RunStore().list();"
                f" set {'RUNCONFIG_JUPYTER_HOME'} if the run was made under another home."
            )
        return _record(row)

    @_guarded
    def list(
        self,
        experiment: str | None = None,
        status: str | list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        updated_since: float | None = None,
        parent_run_id: str | None = None,
        top_level: bool = False,
    ) -> list[RunRecord]:
        """Newest first. ``parent_run_id`` keeps one run's children; ``top_level`` drops every child run."""
        limit, offset = _page_number(limit, "limit"), _page_number(offset, "offset")
        where, params = _where(experiment, status, updated_since, parent_run_id, top_level)
        query = f"SELECT * FROM runs WHERE {where} ORDER BY created_at DESC LIMIT ? OFFSET ?"
        with self._connect() as db:
            rows = db.execute(query, [*params, limit, offset]).fetchall()
        return [_record(row) for row in rows]

    @_guarded
    def count(
        self,
        experiment: str | None = None,
        created_at_most: float | None = None,
        status: str | list[str] | None = None,
        updated_since: float | None = None,
    ) -> int:
        """Runs ``list`` would give for the same filters, counted in SQLite (a page's total without reading
        every row); ``created_at_most`` counts only those made no later (v1's run number)."""
        where, params = _where(experiment, status, updated_since)
        if created_at_most is not None:
            where += " AND created_at <= ?"
            params.append(created_at_most)
        with self._connect() as db:
            return db.execute(f"SELECT COUNT(*) FROM runs WHERE {where}", params).fetchone()[0]

    @_guarded
    def experiments(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT experiment FROM runs ORDER BY experiment").fetchall()
        return [row[0] for row in rows]

    @_guarded
    def delete(self, run_id: str) -> None:
        """Forget a finished run (row only; the caller removes the folder)."""
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


def _where(
    experiment: str | None,
    status: str | list[str] | None,
    updated_since: float | None,
    parent_run_id: str | None = None,
    top_level: bool = False,
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of a run query: ``list`` and ``count`` filter alike."""
    clauses, params = ["1 = 1"], []
    if parent_run_id:
        clauses.append("parent_run_id = ?")
        params.append(parent_run_id)
    if top_level:
        clauses.append("parent_run_id IS NULL")
    if experiment:
        clauses.append("experiment = ?")
        params.append(experiment)
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(_status(s).value for s in statuses)
    if updated_since is not None:
        clauses.append("updated_at > ?")
        params.append(updated_since)
    return " AND ".join(clauses), params


def _status(value: Any) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in RunStatus)
        raise ConfigError(f"unknown status {value!r}; use one of {names}", field="status") from None


def _page_number(value: Any, name: str) -> int:
    """A whole number >= 0 for LIMIT/OFFSET; past SQLite's 64-bit range means "all" (no OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"must be a whole number, 0 or more, got {value!r}", field=name)
    return min(value, MAX_PAGE_NUMBER)


def _record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column] or "{}")
    data["status"] = RunStatus(data["status"])
    return RunRecord(**data)


def _os_error(error: OSError, what: str) -> RunStoreError:
    if error.errno == 28:  # ENOSPC
        return DiskFull(f"{what}: no space left on the device; free some space and try again")
    return RunStoreError(f"{what}: {error.strerror or error}")


def rebuild_index(home: Path | str | None = None) -> RebuildReport:
    """Rebuild runs.db from the run folders under ``home`` (default: the current run home)."""
    return RunStore(home).rebuild()


def driver_alive(record: RunRecord) -> bool:
    return bool(record.driver_pid) and proc.same_process(record.driver_pid, record.driver_started)


def is_interactive(record: RunRecord) -> bool:
    """A run owned by a notebook's own process (``start_logging``), not by a run driver."""
    return bool(record.details.get("interactive"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m runconfig_jupyter.core.runs.store", description="Maintain the run index (runs.db)."
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild runs.db from the run folders")
    parser.add_argument("--home", default=None, help="run home (default: $RUNCONFIG_JUPYTER_HOME)")
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunStoreWarning)  # the summary below says it once
        try:
            report = rebuild_index(args.home)
        except RunStoreError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
