"""Snapshot garbage: manifests no run references, and then objects no remaining manifest names.

The store grows per file (stored.py), so something must remove what no run needs any more. The caller
(the run store's ``--gc`` policy) says which snapshot ids runs still reference and how old an unreferenced
snapshot must be; this module finds and (unless ``dry_run``) removes:

1. manifests (``manifests/<id>.json``) and archives of earlier versions (``<id>.tar``) whose id is not
   referenced, that no run folder hard-links (link count 1), and that were last used longer than ``min_age``
   seconds ago (a submit touches the manifest it re-uses);
2. objects that no remaining manifest names, also older than ``min_age``;
3. temp files left by writers that were killed (their pid is gone).

Safe against a submit running at the same time: writers hold the store's lock shared from their first look
at the hash cache until their manifest is in place, and the collector holds it exclusively, so it never sees
a half-written snapshot and never removes an object that a manifest being written is about to name. A
manifest written after the caller computed ``referenced`` is younger than ``min_age`` (and linked from
its run folder), so it is kept; so are its objects.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runconfig_jupyter.core.snapshot.archive import TEMP_NAME, remove_stale_temps
from runconfig_jupyter.core.snapshot.objects import OBJECTS_DIR, TEMP_OBJECT
from runconfig_jupyter.core.snapshot.stored import MANIFESTS_DIR, objects_named, store_lock

SNAPSHOT_ID = re.compile(r"[0-9a-f]{32}")  # the store's manifest ids, and the archives of earlier versions
DEFAULT_MIN_AGE = 3600.0  # an hour: far longer than any submit takes between storing and recording its run


@dataclass
class GarbageReport:
    """What was (or, with ``dry_run``, would be) removed, and what it frees."""

    dry_run: bool
    snapshots: list[str] = field(default_factory=list)  # snapshot ids whose manifest or archive goes
    objects: int = 0
    bytes_freed: int = 0  # manifests, archives and objects together
    kept_snapshots: int = 0
    kept_objects: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "snapshots": list(self.snapshots),
            "snapshot_count": len(self.snapshots),
            "objects": self.objects,
            "bytes_freed": self.bytes_freed,
            "kept_snapshots": self.kept_snapshots,
            "kept_objects": self.kept_objects,
        }


def collect_snapshot_garbage(
    snapshots_dir: Path | str,
    referenced: set[str] | frozenset[str],
    min_age: float = DEFAULT_MIN_AGE,
    dry_run: bool = False,
    now: float | None = None,
    known: Mapping[Path, set[Path]] | None = None,
) -> GarbageReport:
    """Remove (or list, with ``dry_run``) snapshots not in ``referenced`` and objects nothing names.

    ``referenced``: the snapshot ids of every run to keep (``RunRecord.snapshot_id``); ``min_age``: seconds
    since an unreferenced snapshot or object was last written or used before it may go. ``known``: the
    objects of manifests the caller has already read (a manifest's name is its content's hash, so what it
    names cannot have changed; a manifest stored since is read here). Returns a ``GarbageReport`` (ids
    removed, object count, bytes freed). A missing store is an empty report.
    """
    snapshots_dir = Path(snapshots_dir)
    report = GarbageReport(dry_run=dry_run)
    if not snapshots_dir.is_dir():
        return report
    cutoff = (time.time() if now is None else now) - min_age
    with store_lock(snapshots_dir, exclusive=True):
        if not dry_run:
            remove_stale_temps(snapshots_dir, TEMP_NAME)
            remove_stale_temps(snapshots_dir / MANIFESTS_DIR, TEMP_OBJECT)
            remove_stale_temps(snapshots_dir / OBJECTS_DIR, TEMP_OBJECT)
        live: set[Path] = set()  # objects named by a manifest that stays
        unsure = False  # a manifest that stays could not be read: then no object is removed
        for path in stored_snapshots(snapshots_dir):
            sid = path.name.rsplit(".", 1)[0]
            st = path.lstat()
            if sid in referenced or st.st_nlink > 1 or st.st_mtime > cutoff:
                report.kept_snapshots += 1
                if path.suffix == ".json":
                    named = known[path] if known and path in known else objects_named(snapshots_dir, path)
                    unsure = unsure or named is None
                    live.update(named or ())
                continue
            report.snapshots.append(sid)
            report.bytes_freed += st.st_size
            if not dry_run:
                path.unlink(missing_ok=True)
        for path, st in [] if unsure else _object_files(snapshots_dir / OBJECTS_DIR):
            if path in live or st.st_mtime > cutoff:
                report.kept_objects += 1
                continue
            report.objects += 1
            report.bytes_freed += st.st_size
            if not dry_run:
                path.unlink(missing_ok=True)
    return report


def stored_snapshots(snapshots_dir: Path) -> list[Path]:
    """Every stored snapshot: manifests of the per-file store and archives of earlier versions.

    Only regular files named like a snapshot id: a link or a file someone put there is not ours to judge.
    """
    manifests = sorted((snapshots_dir / MANIFESTS_DIR).glob("*.json"))
    return [path for path in [*manifests, *sorted(snapshots_dir.glob("*.tar"))] if _is_snapshot_file(path)]


def _is_snapshot_file(path: Path) -> bool:
    return SNAPSHOT_ID.fullmatch(path.name.rsplit(".", 1)[0]) is not None and _is_regular(path)


def _object_files(root: Path) -> list[tuple[Path, os.stat_result]]:
    """Regular files under objects/ with their ``lstat`` (taken once: a store holds one file per object).

    os.walk follows no link to a folder; a link to a file is not an object.
    """
    if not root.is_dir():
        return []
    found: list[tuple[Path, os.stat_result]] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((path, st))
    return found


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False
