"""Rebuilding the run index (runs.db) from the run folders, which are the source of truth.

Every change the store makes to a run is also written to ``runs/<id>/record.json`` (atomically,
in the same write transaction), so the folder alone says what the index row said: status,
timestamps, exit code, phase, reason, target, tags, details. A folder made before record.json
existed is read from ``run.json`` plus what the run left behind (the local supervisor's exit code,
the driver's "finished:" line), and a run whose status cannot be known is marked Failed with a
reason saying so - never silently dropped.

Used automatically by the store when runs.db is missing, emptied or damaged, and on demand:
``python -m runconfig_jupyter.core.runs.store --rebuild``, ``%runs --rebuild-index`` or
``rebuild_index()``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import RECORD_FILE, RunFolder
from runconfig_jupyter.core.runs.index_rows import upsert_row
from runconfig_jupyter.core.runs.status import TERMINAL, RunStatus
from runconfig_jupyter.core.system.atomic import read_json
from runconfig_jupyter.core.system.paths import RUN_ID

UNKNOWN_STATUS_REASON = "status unknown: the index was rebuilt from the run folder, which holds no status record"
_FINISHED = re.compile(r"finished: (?:RunStatus\.)?(\w+) phase=(\S+) exit_code=(\S+) reason=(.*)$")
_STATUS_BY_NAME = {**{s.value.lower(): s for s in RunStatus}, **{s.name.lower(): s for s in RunStatus}}


@dataclass
class RebuildReport:
    """What a rebuild found: rows written, from which source, and folders it could not read."""

    indexed: int = 0
    from_record: int = 0
    derived: int = 0
    skipped: list[str] = field(default_factory=list)
    removed: int = 0
    aside: str | None = None

    def summary(self) -> str:
        text = (
            f"{self.indexed} runs indexed ({self.from_record} from record.json, {self.derived} derived from run.json)"
        )
        if self.removed:
            text += f", {self.removed} rows without a run folder dropped"
        if self.skipped:
            text += f", {len(self.skipped)} folders skipped ({'; '.join(self.skipped[:3])})"
        if self.aside:
            text += f"; the damaged index was kept as {self.aside}"
        return text


def row_from_folder(run_dir: Path) -> tuple[dict[str, Any] | None, bool]:
    """The index row a run folder describes, and whether it came from record.json."""
    record = read_json(run_dir / RECORD_FILE)
    if isinstance(record, dict) and record.get("run_id") == run_dir.name:
        record.pop("duration", None)
        return record, True
    spec = read_json(RunFolder(run_dir).spec_path)
    if not isinstance(spec, dict) or spec.get("run_id") != run_dir.name:
        return None, False
    return _derive(run_dir, spec), False


def _derive(run_dir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """A row for a folder with run.json but no record.json (made before record.json, or half submitted)."""
    target = spec.get("target") or {}
    config = spec.get("config") or {}
    created = float(spec.get("created_at") or run_dir.stat().st_mtime)
    row: dict[str, Any] = {
        "run_id": run_dir.name,
        "experiment": spec.get("experiment") or run_dir.name.split("_")[0],
        "status": RunStatus.FAILED.value,
        "target": target.get("name") or target.get("type") or "unknown",
        "target_type": target.get("type") or "unknown",
        "script": config.get("script"),
        "display_name": None,
        "snapshot_id": (spec.get("snapshot") or {}).get("id"),
        "parent_run_id": spec.get("parent_run_id"),
        "created_at": created,
        "started_at": None,
        "ended_at": None,
        "updated_at": created,
        "exit_code": None,
        "phase": None,
        "reason": UNKNOWN_STATUS_REASON,
        "driver_pid": None,
        "driver_started": None,
        "details": {"tags": spec.get("tags") or {}, "reindexed": True},
        "progress": {},
    }
    folder = RunFolder(run_dir)
    finished = _last_finished_line(folder.driver_log)
    exit_record = read_json(folder.script_exit_path)
    if finished is not None:
        status, phase, code, reason = finished
        done = status == RunStatus.COMPLETED  # as the store records it: no phase or reason on success
        row.update(status=status.value, exit_code=code, phase=None if done else phase, reason=None if done else reason)
    elif isinstance(exit_record, dict) and isinstance(exit_record.get("exit_code"), int):
        code = exit_record["exit_code"]
        ok = code == 0
        row.update(
            status=(RunStatus.COMPLETED if ok else RunStatus.FAILED).value,
            exit_code=code,
            phase=None if ok else "Running",
            reason=None if ok else f"the script exited with code {code} (recovered from the run folder)",
        )
    if row["status"] in {s.value for s in TERMINAL}:
        ended = _mtime(folder.driver_log) or _mtime(folder.std_log) or created
        row.update(started_at=created, ended_at=ended, updated_at=ended)
    return row


def _last_finished_line(path: Path) -> tuple[RunStatus, str | None, int | None, str | None] | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        match = _FINISHED.search(line)
        if match and match.group(1).lower() in _STATUS_BY_NAME:
            status = _STATUS_BY_NAME[match.group(1).lower()]
            phase, code, reason = match.group(2), match.group(3), match.group(4)
            return (
                status,
                None if phase == "None" else phase,
                int(code) if code.lstrip("-").isdigit() else None,
                None if reason == "None" else reason,
            )
    return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def index_folders(db: sqlite3.Connection, runs_dir: Path, prune: bool) -> RebuildReport:
    """Upsert a row for every run folder (inside the caller's write transaction); ``prune`` drops orphans."""
    report = RebuildReport()
    found: set[str] = set()
    for run_dir in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        if not RUN_ID.fullmatch(run_dir.name):  # never indexed, so no reader is ever handed an id that is a path
            report.skipped.append(f"{run_dir.name!r}: not a run id")
            continue
        try:
            row, from_record = row_from_folder(run_dir)
        except OSError as error:
            report.skipped.append(f"{run_dir.name}: {error.strerror or error}")
            continue
        if row is None:
            report.skipped.append(f"{run_dir.name}: no readable run.json or record.json")
            continue
        upsert_row(db, row)
        found.add(row["run_id"])
        report.indexed += 1
        report.from_record += from_record
        report.derived += not from_record
    if prune:
        known = [r[0] for r in db.execute("SELECT run_id FROM runs").fetchall()]
        gone = [run_id for run_id in known if run_id not in found and not (runs_dir / run_id).exists()]
        for run_id in gone:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        report.removed = len(gone)
    return report
