"""The snapshot store as a garbage source (core/snapshot/stored.py's layout).

Items are snapshots: manifests (``snapshots/manifests/<id>.json``, the per-file store) and whole archives of
earlier versions (``snapshots/<id>.tar``). A manifest's ``bytes`` are its own plus those of the objects that
no other manifest names, i.e. what its removal frees; a run folder hard-links its snapshot, so a snapshot a
run folder still holds frees nothing of its own (and its run references it, so it is kept anyway).

Removing a snapshot happens under the store's exclusive lock and re-checks that nothing used it since it was
listed (a submit that re-uses a snapshot touches it, then links it into the new run folder). Objects are not
items: once the chosen snapshots are gone, ``finish`` removes the objects no remaining snapshot names, through
core/snapshot/garbage.py (which also clears temp files of killed writers).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from runconfig_jupyter.core.errors import RunStateError
from runconfig_jupyter.core.runs.garbage import GRACE_SECONDS, GarbageItem
from runconfig_jupyter.core.runs.garbage_refs import snapshot_key
from runconfig_jupyter.core.snapshot.garbage import collect_snapshot_garbage, stored_snapshots
from runconfig_jupyter.core.snapshot.stored import objects_named, store_lock


class SnapshotSource:
    """Core's own source; the targets add theirs (core/runs/gc.py)."""

    name = "snapshots"

    def __init__(self, snapshots_dir: Path, grace_seconds: float = GRACE_SECONDS):
        self.snapshots_dir = snapshots_dir
        self.grace_seconds = grace_seconds
        self._named: dict[Path, set[Path]] = {}  # manifest -> its objects, read once per collection

    def items(self) -> Iterator[GarbageItem]:
        files = stored_snapshots(self.snapshots_dir)
        for path in files:
            if path.suffix == ".json":
                objects = objects_named(self.snapshots_dir, path)
                if objects is not None:  # unreadable: read (and judged unsure) again under the lock in finish
                    self._named[path] = objects
        namers = Counter(obj for objects in self._named.values() for obj in objects)
        for path in files:
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            sid = path.name.rsplit(".", 1)[0]
            freed = 0
            if stat.st_nlink <= 1:
                freed = stat.st_size + sum(_size(obj) for obj in self._named.get(path, ()) if namers[obj] == 1)
            yield GarbageItem(
                kind="snapshot",
                name=sid,
                where=str(path),
                bytes=freed,
                last_used=max(stat.st_mtime, stat.st_ctime),  # ctime moves when a run folder links it
                keys=frozenset({snapshot_key(sid)}),
                handle=path,
            )

    def remove(self, item: GarbageItem) -> None:
        path = Path(item.handle)
        with store_lock(self.snapshots_dir, exclusive=True):
            try:
                stat = path.lstat()
            except FileNotFoundError:
                return
            if stat.st_nlink > 1 or max(stat.st_mtime, stat.st_ctime) > item.last_used:
                raise RunStateError(f"snapshot {item.name} was used again since it was listed; it stays")
            path.unlink()

    def finish(self) -> None:
        """After removals: objects no remaining snapshot names go (snapshots themselves are all kept here)."""
        remaining = {path.name.rsplit(".", 1)[0] for path in stored_snapshots(self.snapshots_dir)}
        collect_snapshot_garbage(
            self.snapshots_dir, remaining, min_age=self.grace_seconds, now=time.time(), known=self._named
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
