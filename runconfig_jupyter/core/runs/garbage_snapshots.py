"""The snapshot store as a garbage source: ``<home>/snapshots/<id>.tar``.

Today's layout: one content-addressed archive per snapshot, hard-linked into each run folder as
``snapshot.tar``. Removing the store's copy frees its bytes only when no run folder links it any more, so an
item's ``bytes`` is its size when the store holds the last link and 0 otherwise. The per-source hash cache
(``.hashcache``) and temporary archives being written (``.tmp-*``) are not items: the cache is small and a
missing archive is simply written again by the next submit (core/snapshot/create.py checks it exists).

An archive's last use is the later of its mtime (written) and ctime (which moves whenever a run folder links
it, or a removed run folder unlinks it), so a snapshot re-used by a recent submit counts as recently used.

``snapshot_items`` is the one function that knows the layout; when the store becomes per-file objects
(core/snapshot/garbage.py), it is the one place to swap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from runconfig_jupyter.core.runs.garbage import GarbageItem
from runconfig_jupyter.core.runs.garbage_refs import snapshot_key

ARCHIVE = re.compile(r"^([0-9a-f]{16,128})\.tar$")


def snapshot_items(snapshots_dir: Path) -> Iterator[GarbageItem]:
    """Every stored snapshot archive, with the bytes its removal would free."""
    try:
        entries = list(os.scandir(snapshots_dir))
    except FileNotFoundError:
        return
    for entry in entries:
        match = ARCHIVE.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield GarbageItem(
            kind="snapshot",
            name=match.group(1),
            where=entry.path,
            bytes=stat.st_size if stat.st_nlink <= 1 else 0,
            last_used=max(stat.st_mtime, stat.st_ctime),  # ctime moves when a run folder links it
            keys=frozenset({snapshot_key(match.group(1))}),
            handle=Path(entry.path),
        )


class SnapshotSource:
    """Core's own source; the targets add theirs (core/runs/gc.py)."""

    name = "snapshots"

    def __init__(self, snapshots_dir: Path):
        self.snapshots_dir = snapshots_dir

    def items(self) -> Iterator[GarbageItem]:
        return snapshot_items(self.snapshots_dir)

    def remove(self, item: GarbageItem) -> None:
        Path(item.handle).unlink(missing_ok=True)
