"""Writing run-folder files so a reader (or a crash) never sees half of one.

The run folder is the source of truth (the SQLite index is rebuilt from it), so every small
state file in it is written to a temporary name in the same folder, flushed to disk and renamed
over the old one: a reader sees the old content or the new, never a torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_bytes_atomically(path: Path, data: bytes, durable: bool = True) -> None:
    """``durable=False`` skips the fsync: still never torn, but a power cut may keep the previous version."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_json_atomically(path: Path, value: Any, durable: bool = True) -> None:
    write_bytes_atomically(path, json.dumps(value, sort_keys=True, default=str).encode(), durable)


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or unreadable (a reader never raises on a bad file)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
