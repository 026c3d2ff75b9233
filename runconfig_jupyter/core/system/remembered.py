"""Small JSON files under ``<run home>/cache/`` that let a later process skip work another one already did.

The target-type scan (core/target/plugins.py), the ignore rules' pre-filters (core/snapshot/prefilters.py) and
Jupyter's runtime folder (core/safety/jupyter_runtime.py) are each remembered this way, and all need the same three
guarantees, hence one place for them (with ``file_state``, how each keys its entries to the files they came
from): the file never fails its caller (missing, damaged, unreadable or unwritable only costs the work it would
have saved); writing it never creates a run home that does not exist (a removed home stays removed); and it is
written atomically but without fsync (a file lost in a crash costs the same work again, nothing more).

Only the run home's user writes there; a process trusts what it finds as it trusts the home itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def file_state(path: str | None) -> str:
    """``path:size:mtime:inode`` of a file or folder a remembered value was derived from ("" when it is missing):
    an upgrade, a move, an edit or a replacement of it changes this, and so discards what was remembered from it
    (for a folder: any entry added, removed or renamed in it moves its mtime)."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        st = None
    return f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}" if st is not None else ""


def remembered_path(relative: Path) -> Path:
    from runconfig_jupyter.core.system.paths import run_home

    return run_home() / relative


def read_remembered(relative: Path) -> dict[str, Any]:
    """The remembered JSON object, or ``{}`` when there is none that can be read."""
    from runconfig_jupyter.core.system.atomic import read_json

    try:
        value = read_json(remembered_path(relative))
    except (OSError, ValueError):  # no usable run home
        return {}
    return value if isinstance(value, dict) else {}


def write_remembered(relative: Path, value: dict[str, Any]) -> None:
    """Remember ``value`` for the next process; silently nothing when the home is missing or read-only."""
    from runconfig_jupyter.core.system.atomic import write_json_atomically

    try:
        path = remembered_path(relative)
        if path.parent.parent.is_dir():  # never the home itself: a removed home stays removed
            path.parent.mkdir(exist_ok=True)
            write_json_atomically(path, value, durable=False)
    except (OSError, ValueError):
        pass
