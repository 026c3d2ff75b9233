"""Snapshots stored per file: objects named by digest, and a manifest whose hash is the snapshot id.

``store_snapshot`` packages a source folder into the store under ``<snapshots_dir>``::

    objects/<alg>/<xx>/<digest>[.x]   each file's bytes once (objects.py)
    manifests/<id>.json               one snapshot: paths, modes, sizes, digests, links; read-only
    .hashcache/<alg>/                 digests remembered by (size, mtime, inode, ctime) (hashcache.py)

The store folder itself is flock'ed: shared by writers, exclusive for the garbage collector (garbage.py) and
for a writer undoing a failed store (whose new objects are removed again: a refused submit leaves nothing).

Only what changed is read: a file whose (size, mtime, inode, ctime) is in the hash cache and whose object is
present costs one ``stat`` (the walk's; that its object is still there follows from its shard folder,
shards.py); every other file is read once, hashed while it is written to a temp object (threads read
several files at a time), and renamed into place. A 1-file edit reads and stores that file
and writes a new manifest of a few hundred bytes per file, so ten re-submits of a 1 GB folder with one file
changed each time store ~1 GB plus the changed files, not ten archives.

Every packaging rule holds: the walk and the limits (manifest.py) come first and nothing is read
before they pass; each file is opened without following links and re-checked after the open (swap races,
archive.open_member) and after the read (a file that changed while read is read again); names and links
follow member_names.py, so a manifest the packer writes is one the materializer accepts.

The manifest file is hard-linked into a run folder as ``snapshot.json``: targets get the run's tree
(``materialize``) or a tar stream (``tar_stream``) from manifest and objects, see stream.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.archive import (
    MAX_ATTEMPTS,
    Progress,
    open_error,
    open_member_stat,
    ordered_members,
    remove_stale_temps,
)
from runconfig_jupyter.core.snapshot.create import Snapshot, checked_manifest
from runconfig_jupyter.core.snapshot.hashcache import HashCache
from runconfig_jupyter.core.snapshot.limits import SnapshotLimits
from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry
from runconfig_jupyter.core.snapshot.objects import (
    DEFAULT_ALG,
    FILE_THREADS,
    TEMP_OBJECT,
    ObjectStore,
    copy_hashing,
    in_threads,
    new_hasher,
)
from runconfig_jupyter.core.snapshot.shards import ShardStamps
from runconfig_jupyter.core.system.digest import sha256_hex
from runconfig_jupyter.core.system.records import record

try:
    import fcntl
except ImportError:  # pragma: no cover - no flock (Windows): writers and the collector are not kept apart
    fcntl = None  # type: ignore[assignment]

MANIFESTS_DIR = "manifests"
HASHCACHE_DIR = ".hashcache"  # one file per source folder and algorithm folder
MANIFEST_FORMAT = "runconfig-snapshot-manifest-v1"
READ_THREADS = FILE_THREADS  # file reads in flight (objects.py)
THREADS_FROM_BYTES = 4 << 20  # below this much to read, one thread in path order (threads would cost more)


@record(frozen=True)
class StoredSnapshot(Snapshot):
    """What ``store_snapshot`` returns: a ``Snapshot`` whose ``path`` is the manifest, and what was stored."""

    stored_files: int = 0  # files read and stored by this call (0 for an unchanged folder)
    stored_bytes: int = 0


@contextmanager
def store_lock(snapshots_dir: Path, exclusive: bool = False) -> Iterator[None]:
    """Writers share the store; the garbage collector (and a writer undoing its failed work) has it alone,
    so it never removes an object a manifest being written is about to name. The lock is taken on the
    store folder itself: no lock file is left in it."""
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(snapshots_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def manifest_document(manifest: Manifest, alg: str) -> bytes:
    """The canonical manifest bytes: members in archive order (parents first), ids hash exactly this.

    The bytes are those of ``json.dumps({"format": ..., "hash": alg, "members": [...]}, separators=(",", ":"),
    ensure_ascii=True)`` plus a newline (ids of earlier snapshots stay valid), written member by member with the
    encoder's own string function: one f-string per member instead of a list per member for the encoder to
    walk (a third faster, and this runs on every submit).
    """
    text = encode_basestring_ascii
    parts: list[str] = []
    for path, entry in ordered_members(manifest):
        if entry is None:
            parts.append(f'["d",{text(path)}]')
        elif entry.kind == "symlink":
            target = "null" if entry.link_target is None else text(entry.link_target)
            parts.append(f'["l",{text(path)},{target}]')
        else:
            if not entry.digest:
                raise ValueError(f"no digest for {path}")
            parts.append(f'["f",{text(path)},{entry.mode},{entry.size},{text(entry.digest)}]')  # ints from stat
    head = f'{{"format":{text(MANIFEST_FORMAT)},"hash":{text(alg)},"members":['
    return (head + ",".join(parts) + "]}\n").encode()


def store_snapshot(
    source_dir: Path | str,
    snapshots_dir: Path | str,
    limits: SnapshotLimits | None = None,
    progress: Progress | None = None,
    extra_excludes: Iterable[Path | str] = (),
    expect_source: Path | None = None,
    alg: str = DEFAULT_ALG,
) -> StoredSnapshot:
    """Store ``source_dir`` per file under ``snapshots_dir`` and return the snapshot (its manifest's path).

    Raises SnapshotError (missing/unreadable source, a folder swapped for a link) or SnapshotTooLarge
    before any byte is copied. ``progress(done, total)`` counts bytes
    read and stored, and is called once at the end.
    """
    snapshots_dir = Path(snapshots_dir)
    limits = limits or SnapshotLimits()
    manifest = checked_manifest(source_dir, snapshots_dir, limits, extra_excludes, expect_source)
    objects = ObjectStore(snapshots_dir, alg)
    started_ns = time.time_ns()
    try:
        with store_lock(snapshots_dir):
            remove_stale_temps(objects.root, TEMP_OBJECT)
            cache = HashCache(snapshots_dir / HASHCACHE_DIR / alg, manifest.source)
            shards = ShardStamps(objects.alg_root, cache.shards)
            checked_from = time.time_ns()

            # A known file whose shard lost nothing since it was recorded costs no stat of its object; the others
            # are asked of the store one by one.
            missing = cache.resolve(
                manifest.files, alg, shards.whole(), lambda digest, entry: objects.has(digest, entry.mode, entry.size)
            )
            total = manifest.total_bytes
            stored_bytes = _store_files(manifest.source, missing, objects, cache, progress, total)
            cache.save(shards.record(cache.shards_named, checked_from))
            document = manifest_document(manifest, alg)
            sid = sha256_hex(document)[:32]
            path, reused = _write_manifest(snapshots_dir / MANIFESTS_DIR, sid, document)
    except BaseException:
        _roll_back(snapshots_dir, objects, started_ns)
        raise
    if progress is not None:
        progress(total, total)
    return StoredSnapshot(sid, path, manifest, reused, len(missing), stored_bytes)


def objects_named(snapshots_dir: Path, manifest: Path) -> set[Path] | None:
    """The object files a stored manifest names; None when it cannot be read."""
    try:
        document = json.loads(manifest.read_bytes())
        objects = ObjectStore(snapshots_dir, str(document["hash"]))
        return {objects.path(str(m[4]), int(m[2])) for m in document["members"] if m[0] == "f"}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _roll_back(snapshots_dir: Path, objects: ObjectStore, started_ns: int) -> None:
    """After a failed or interrupted store: remove the objects this call created, and the folders it left
    empty, so a refused submit leaves the store as it was (a full disk gets its space back).

    Under the exclusive lock (no other writer is between making a folder and linking into it), keeping any
    object that a manifest written meanwhile names (a concurrent submit that found it); when such a manifest
    cannot be read, no object is removed.
    """
    manifests = snapshots_dir / MANIFESTS_DIR
    with store_lock(snapshots_dir, exclusive=True):
        keep: set[Path] = set()
        for manifest in manifests.glob("*.json") if objects.created else ():
            try:
                recent = manifest.stat().st_mtime_ns >= started_ns - 2_000_000_000
            except OSError:
                continue
            named = objects_named(snapshots_dir, manifest) if recent else set()
            if named is None:
                return
            keep |= named
        for name in objects.created:
            if Path(name) not in keep:
                Path(name).unlink(missing_ok=True)
        made = sorted((Path(folder) for folder in objects.made), reverse=True)
        _remove_empty(*made, objects.root / objects.alg, objects.root, manifests)


def _remove_empty(*folders: Path) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (in use by other snapshots) or already gone


def _write_manifest(folder: Path, sid: str, document: bytes) -> tuple[Path, bool]:
    """Write ``<id>.json`` atomically and read-only; an existing one is re-used (and marked as just used)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{sid}.json"
    if final.is_file():
        os.utime(final)  # the garbage collector's grace age counts from the last submit that used it
        return final, True
    tmp = folder / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"  # what secrets.token_hex does, without its imports
    try:
        tmp.write_bytes(document)
        os.chmod(tmp, 0o444)  # run folders hard-link it: nobody may change it in place
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final, False


def _store_files(
    source: Path,
    entries: list[ManifestEntry],
    objects: ObjectStore,
    cache: HashCache,
    progress: Progress | None,
    total: int,
) -> int:
    """Read, hash and store ``entries`` with a few threads; fills their digests. Returns bytes read."""
    if not entries:
        return 0
    lock = threading.Lock()
    done = total - sum(e.size for e in entries)

    def advance(n: int) -> None:
        nonlocal done
        if progress is None:
            return
        with lock:
            done += n
            progress(done, total)

    def one(entry: ManifestEntry) -> int:
        hashed_at = _store_one(source, entry, objects, advance)
        with lock:
            cache.remember(entry, hashed_at)
        return entry.size

    if len(entries) == 1 or sum(e.size for e in entries) < THREADS_FROM_BYTES:
        return sum(one(entry) for entry in entries)
    return in_threads(one, entries, READ_THREADS)


def _store_one(source: Path, entry: ManifestEntry, objects: ObjectStore, advance: Any) -> int:
    """Copy one file into a temp object while hashing it, then rename it into place; when it was read.

    The file is opened as archive.open_member does (no links, still inside the source folder, still a
    regular file). A file that changes while it is read (size or mtime differ after the copy) is read
    again, at most MAX_ATTEMPTS times: the stored bytes always match the recorded digest.
    """
    hashed_at = time.time_ns()  # before the open's fstat: a write after it is caught by the racy window
    try:
        src, before = open_member_stat(source, entry.path)
    except OSError as exc:
        raise open_error(exc, source, entry.path) from None
    try:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                hashed_at = time.time_ns()
                before = os.fstat(src)
            entry.take_stat(before)
            hasher = new_hasher(objects.alg, entry.size)
            dst, tmp = objects.begin(entry.mode)
            try:
                copied = copy_hashing(src, dst, entry.size, hasher, advance)
                after = os.fstat(src)
            except BaseException:
                objects.abort(dst, tmp)
                raise
            if copied == entry.size and entry.same_stat(after):
                entry.digest = hasher.hexdigest()
                objects.commit(dst, tmp, entry.digest, entry.mode)
                return hashed_at
            objects.abort(dst, tmp)
            advance(-copied)
        raise SnapshotError(
            f"{source / entry.path} keeps changing while it is being packaged; stop writing to it and submit again"
        )
    finally:
        os.close(src)
