"""Snapshots: the source directory packaged as a content-addressed, deterministic tar.

The public facade; the work is done by small modules:

- :mod:`.ignore`    which files belong in (``.amlignore`` / ``.gitignore`` / built-ins)
- :mod:`.manifest`  the list of files from ``stat`` alone, shown before submit and checked against limits
- :mod:`.limits`    :class:`SnapshotLimits` and the "too large" message
- :mod:`.hashcache` digests remembered by (size, mtime, inode, ctime): an unchanged folder is not re-read
- :mod:`.archive`   deterministic, atomic tar writing; the snapshot id
- :mod:`.extract`   safe extraction into a run's working folder

Snapshots are stored once as ``<snapshots_dir>/<id>.tar``; the id hashes every member's path, mode and
content, so an unchanged folder maps to the existing archive and a re-submit costs one ``stat`` per file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runconfig_jupyter.core.errors import ConfigError, SnapshotError
from runconfig_jupyter.core.snapshot.archive import Progress, hash_entries, snapshot_id, write_archive
from runconfig_jupyter.core.snapshot.extract import extract_snapshot
from runconfig_jupyter.core.snapshot.hashcache import HashCache
from runconfig_jupyter.core.snapshot.limits import SnapshotLimits
from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry, build_manifest

__all__ = [
    "Manifest",
    "ManifestEntry",
    "Snapshot",
    "SnapshotLimits",
    "build_manifest",
    "create_snapshot",
    "extract_snapshot",
]

HASHCACHE_DIR = ".hashcache"


@dataclass(frozen=True)
class Snapshot:
    id: str
    path: Path
    manifest: Manifest
    reused: bool = False  # True when an identical archive was already stored

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "path": str(self.path), "reused": self.reused, **self.manifest.to_dict()}


def create_snapshot(
    source_dir: Path | str,
    snapshots_dir: Path | str,
    limits: SnapshotLimits | None = None,
    progress: Progress | None = None,
    extra_excludes: Iterable[Path | str] = (),
    expect_source: Path | None = None,
) -> Snapshot:
    """Package ``source_dir`` into ``snapshots_dir/<id>.tar`` (or re-use it) and return the Snapshot.

    ``extra_excludes`` are folders never packaged wherever they sit (the run home, when a user keeps it
    inside the project: each run's snapshot.tar would otherwise be packaged into the next run's).

    ``expect_source`` is the real path the confinement check accepted: when the folder now resolves elsewhere
    (a folder on the way swapped for a link after the check) nothing is packaged.

    Raises SnapshotError (missing/unreadable source) or SnapshotTooLarge before any byte is copied.
    ``progress(done_bytes, total_bytes)`` is called while content is copied, and once at the end.
    """
    snapshots_dir = Path(snapshots_dir)
    limits = limits or SnapshotLimits()
    manifest = checked_manifest(source_dir, snapshots_dir, limits, extra_excludes, expect_source)

    cache = HashCache(snapshots_dir / HASHCACHE_DIR, manifest.source)
    regular = [e for e in manifest.files if e.kind == "file"]
    for entry in regular:
        entry.digest = cache.lookup(entry)
    total = manifest.total_bytes
    missing = [e for e in regular if not e.digest]
    if missing and sum(e.size for e in missing) * 2 <= total:
        # Few new or changed files: hash just those first; the archive may already exist (e.g. a file
        # touched without changes, or one edited and edited back). Otherwise hash while archiving.
        hash_entries(manifest.source, missing, on_hashed=cache.remember)
        cache.save({e.path for e in regular})
        missing = []

    if not missing:
        sid = snapshot_id(manifest)
        final = snapshots_dir / f"{sid}.tar"
        if final.is_file() and final.stat().st_size > 0:
            if progress is not None:
                progress(total, total)
            return Snapshot(sid, final, manifest, reused=True)

    tmp = write_archive(manifest, snapshots_dir, progress, on_hashed=cache.remember)
    try:
        sid = snapshot_id(manifest)
        final = snapshots_dir / f"{sid}.tar"
        reused = final.is_file()
        if reused:
            tmp.unlink()  # identical content already stored (e.g. only the cache was lost)
        else:
            os.chmod(tmp, 0o444)  # run folders hard-link it: nobody may change it in place
            os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    cache.save({e.path for e in regular})
    return Snapshot(sid, final, manifest, reused=reused)


def checked_manifest(
    source_dir: Path | str,
    snapshots_dir: Path,
    limits: SnapshotLimits,
    extra_excludes: Iterable[Path | str],
    expect_source: Path | None,
) -> Manifest:
    """The walk and every check that comes before any byte is read (both packers): the source still resolves
    where the confinement check saw it, the limits hold, and the store folder can be created."""
    manifest = build_manifest(source_dir, limits, extra_excludes=[snapshots_dir, *map(Path, extra_excludes)])
    if expect_source is not None and manifest.source != expect_source:
        raise SnapshotError(
            f"{source_dir} changed after it was checked (it now resolves to {manifest.source}, not {expect_source}):"
            " a folder on the way was replaced by a link; nothing was packaged. Submit again"
        )
    manifest.check(limits)
    try:
        snapshots_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot create the snapshot store {snapshots_dir}: {exc.strerror}") from None
    return manifest


def check_script_packaged(manifest: Manifest, script: object) -> None:
    """The script must be in the snapshot: one left out (ignore rule, credential store) would fail at run time."""
    if not isinstance(script, str) or not script:
        return
    wanted = Path(script).as_posix()
    if any(
        entry.path == wanted or (entry.kind == "symlink" and wanted.startswith(entry.path + "/"))
        for entry in manifest.files
    ):
        return  # packaged, or reached through a link the snapshot keeps (the extractor recreates it)
    why = next((rule for path, rule in manifest.excluded if wanted == path or wanted.startswith(path)), None)
    raise ConfigError(
        f"'{script}' is left out of the snapshot{f' by {why}' if why else ''}, so the run would not have it; "
        "move the script or change that rule",
        field="script",
    )
