"""Run history kept in the run folder: tags, properties, description, display name, parent.

The run folder is the source of truth (the SQLite index can be rebuilt from run folders), so
everything a user adds to a run after it was created lives in ``history.json`` next to
``run.json``. Writers are several processes (the notebook, the run's own script on the local
target, the driver applying marker lines from a container), so every change is a read-modify-write
under an exclusive file lock, written to a temporary file and renamed into place: a reader never
sees half a file. The index columns that lists need (display name, tags) follow each change.

Properties are immutable once set, as in Azure ML: adding the same value again is fine, a
different value is an ``AssetConflict``.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import AssetConflict, ConfigError
from runconfig_jupyter.core.runs.folder import HISTORY_FILE

if TYPE_CHECKING:
    from runconfig_jupyter.core.runs.store import RunStore

_LOCK_FILE = ".history.lock"
EMPTY: dict[str, Any] = {
    "tags": {},
    "properties": {},
    "description": None,
    "display_name": None,
    "model_requests": [],  # run.register_model(...) called in-script: done by the driver when the run ends
    "models": [],  # "name:version" of models registered from this run
}


def read_history(run_dir: Path) -> dict[str, Any]:
    """The run's history (a fresh dict; empty sections when nothing was recorded)."""
    try:
        data = json.loads((run_dir / HISTORY_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        data = {}
    return {**json.loads(json.dumps(EMPTY)), **data}


@contextmanager
def _locked(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield the current history for editing; what the block leaves in it is written atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / _LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        history = read_history(run_dir)
        yield history
        fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".history.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(history, out, indent=1, sort_keys=True)
        os.replace(tmp, run_dir / HISTORY_FILE)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _check_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a dict of names to values, got {type(value).__name__}", field=field)
    return value


def update_history(
    run_dir: Path,
    *,
    tags: Mapping[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
    description: Any = ...,
    display_name: Any = ...,
    parent_run_id: Any = ...,
    remove_tags: list[str] | None = None,
    append: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply one change and return the new history. ``...`` means "leave as it is"."""
    if tags is not None:
        tags = {str(k): _text(v) for k, v in _check_mapping(tags, "tags").items()}
    if properties is not None:
        properties = {str(k): _text(v) for k, v in _check_mapping(properties, "properties").items()}
    with _locked(run_dir) as history:
        for key, value in (properties or {}).items():
            current = history["properties"].get(key, value)
            if key in history["properties"] and current != value:
                raise AssetConflict(
                    f"property '{key}' is already '{current}'; properties are immutable once set (as in Azure ML). "
                    "Use a tag (run.tag) for values that change."
                )
        history["properties"].update(properties or {})
        history["tags"].update(tags or {})
        for key in remove_tags or []:
            history["tags"].pop(str(key), None)
        if description is not ...:
            history["description"] = _text(description)
        if display_name is not ...:
            history["display_name"] = _text(display_name)
        if parent_run_id is not ...:
            history["parent_run_id"] = parent_run_id
        for key, item in (append or {}).items():  # list sections: model_requests, models
            history.setdefault(key, []).append(item)
        return dict(history)


def index_history(store: RunStore, run_id: str, history: Mapping[str, Any]) -> None:
    """Copy what lists show (display name, tags) into the SQLite index."""
    store.update(run_id, display_name=history.get("display_name"), details={"tags": dict(history.get("tags") or {})})


def record_history(store: RunStore, run_id: str, **change: Any) -> dict[str, Any]:
    """``update_history`` on the run's folder, then the index; the run must exist."""
    store.get(run_id)  # RunNotFound before anything is written
    history = update_history(store.run_dir(run_id), **change)
    index_history(store, run_id, history)
    return history


# Marker records (``HISTORY_MARKER`` lines, see logsink.py) from scripts that cannot reach the run folder.
MARKER_OPS = ("tags", "properties", "child", "status")


def marker_change(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``update_history`` keywords a ``tags``/``properties`` marker record asks for (others: empty)."""
    op = record.get("op")
    if op == "tags":
        return {"tags": record.get("tags") or {}, "remove_tags": list(record.get("remove") or [])}
    if op == "properties":
        return {"properties": record.get("properties") or {}}
    return {}
