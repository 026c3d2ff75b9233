"""Writing one run's row into the index (runs.db): the columns and the upsert.

Its own module because every submit writes a row (``RunStore.create_run``) but only a rebuild needs the rest of
core/runs/reindex.py (its report dataclass and the "finished:" expression): a fresh ``python submit.py`` imports
this and not that.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from runconfig_jupyter.core.runs.status import RunStatus

COLUMNS = (
    "run_id",
    "experiment",
    "status",
    "target",
    "target_type",
    "script",
    "display_name",
    "snapshot_id",
    "parent_run_id",
    "created_at",
    "started_at",
    "ended_at",
    "updated_at",
    "exit_code",
    "phase",
    "reason",
    "driver_pid",
    "driver_started",
    "details",
    "progress",
)
_UPSERT = f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join(f':{name}' for name in COLUMNS)})"


def upsert_row(db: sqlite3.Connection, row: dict[str, Any]) -> None:
    """Insert or replace the row of ``row["run_id"]``; ``details`` and ``progress`` are stored as JSON text."""
    values = {name: row.get(name) for name in COLUMNS}
    for column in ("details", "progress"):
        value = values[column]
        values[column] = value if isinstance(value, str) else json.dumps(value or {})
    values["status"] = RunStatus(values["status"]).value
    db.execute(_UPSERT, values)
