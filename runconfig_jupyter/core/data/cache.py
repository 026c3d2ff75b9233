"""The download cache: local copies of datastore paths, shared by every run of the workspace.

An entry is keyed by what the store says about the data - each file's relative name, size and its etag
(or md5 / last-modified / mtime, whichever the filesystem gives) - hashed with the filesystem's protocol
and the path: while the listing is unchanged the copy is reused and no byte is transferred; one changed
file gives a new key, hence a fresh copy (the old one ages out).

Crash safety: a copy is written into ``tmp/`` and renamed into ``entries/`` only once every file has
arrived with its listed size and ``meta.json`` is written, so a download killed mid-way leaves only a
temporary folder, never an entry (the next fetch removes it once its owner is dead and starts over).

Bound: past ``limit_bytes`` the least recently used entries are evicted, except those leased by a live
process (``leases/<pid>`` in the entry, taken by :meth:`DownloadCache.fetch` and dropped by
:meth:`DownloadCache.release` or by that process's death): a run never loses its data while it reads it.
Cross-process coordination is an ``flock`` on ``cache.lock`` (held only for renames, leases and eviction,
never during a transfer) and one per key while it downloads, so two runs asking for the same data fetch
it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from runconfig_jupyter.core.data.filesystems import safe_relative, store_errors
from runconfig_jupyter.core.data.progress import ByteProgress, Progress
from runconfig_jupyter.core.errors import DataPathMissing, DatastoreUnreachable
from runconfig_jupyter.core.system.paths import run_home

CACHE_FOLDER = "data_cache"
LIMIT_ENV = "RUNCONFIG_DATA_CACHE_BYTES"
DEFAULT_LIMIT = 50 * 1000**3
META = "meta.json"
DATA = "data"
# What identifies a version of a file, in the order filesystems spell it (s3fs, adlfs, gcsfs, local, http).
VERSION_FIELDS = ("ETag", "etag", "md5", "md5Hash", "LastModified", "last_modified", "mtime", "updated", "ino")


def _strip(fs: Any, path: str) -> str:
    return fs._strip_protocol(path).rstrip("/") if hasattr(fs, "_strip_protocol") else path.rstrip("/")


def listing(fs: Any, path: str, field: str | None = None) -> tuple[bool, dict[str, dict[str, Any]]]:
    """``(is_file, {relative name: info})`` of ``path``; DataPathMissing when nothing is there.

    One recursive listing answers for a folder (the common case, and a single request on object stores);
    only when it finds nothing is the path asked about as a file.
    """
    where = field or path
    base = _strip(fs, path)
    name = base.rsplit("/", 1)[-1]
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        found = {}
    except Exception as error:  # an SDK's own error: the store is there but refused or failed
        raise DatastoreUnreachable(f"listing {path} failed ({type(error).__name__}: {error})", field=where) from None
    if not isinstance(found, dict):  # adlfs answers a file path with [name] even with detail: ask info below
        found = {}
    files: dict[str, dict[str, Any]] = {}
    for found_name, item in found.items():
        stripped = _strip(fs, found_name)
        if item.get("type", "file") != "file":
            continue
        if stripped == base:
            return True, {name: _sized(fs, found_name, item)}
        files[safe_relative(stripped[len(base) + 1 :], where)] = _sized(fs, found_name, item)
    if files:
        return False, files
    try:
        info = fs.info(base)
    except FileNotFoundError:
        raise DataPathMissing(f"nothing exists at {path}", field=where) from None
    except Exception as error:
        raise DatastoreUnreachable(f"listing {path} failed ({type(error).__name__}: {error})", field=where) from None
    return (True, {name: info}) if info.get("type") == "file" else (False, {})


def listing_of(
    fs: Any, path: str, only: list[str] | None, field: str | None = None
) -> tuple[bool, dict[str, dict[str, Any]]]:
    """``listing`` of ``path``, or with ``only`` (a dataset's listed paths below it) of those paths alone: each
    asked for by its own URL, so a store that cannot list the folder (a web server) is never asked to, and
    nothing else in the folder is fetched."""
    if only is None:
        return listing(fs, path, field)
    files: dict[str, dict[str, Any]] = {}
    base = _strip(fs, path)
    for relative in only:
        is_file, found = listing(fs, f"{base}/{relative}", field)
        for name, info in found.items():
            files[relative if is_file else f"{relative}/{name}"] = info
    return False, files


def _sized(fs: Any, path: str, item: dict[str, Any]) -> dict[str, Any]:
    """A listed file whose size the listing left out (HTTP's link pages do) is asked about on its own."""
    if item.get("size") is not None:
        return item
    try:
        return {**item, **fs.info(path)}
    except Exception:  # still unknown: the download's own size is taken (see fetch)
        return item


def content_key(fs: Any, path: str, is_file: bool, files: dict[str, dict[str, Any]]) -> str:
    """A hash of the protocol, the path and every file's name, size and version fields."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    rows = []
    for name in sorted(files):
        info = files[name]
        version = {k: str(info[k]) for k in VERSION_FIELDS if info.get(k) is not None}
        rows.append([name, int(info.get("size") or 0), version])
    text = json.dumps([protocol, _strip(fs, path), is_file, rows], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class DownloadCache:
    """See the module docstring. ``root`` defaults to ``<home>/data_cache``, the limit to $RUNCONFIG_DATA_CACHE_BYTES
    (else 50 GB)."""

    def __init__(self, root: Path | None = None, limit_bytes: int | None = None):
        self.root = Path(root) if root is not None else run_home() / CACHE_FOLDER
        if limit_bytes is None:
            limit_bytes = int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT)
        self.limit_bytes = int(limit_bytes)
        self.entries = self.root / "entries"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"

    # -- public -------------------------------------------------------------------------------------------
    def describe(self, fs: Any, path: str, field: str | None = None, only: list[str] | None = None) -> dict[str, Any]:
        """What a fetch would transfer (for dry runs): ``{"bytes", "files", "cached"}``."""
        is_file, files = listing_of(fs, path, only, field)
        key = content_key(fs, path, is_file, files)
        return {
            "bytes": sum(int(i.get("size") or 0) for i in files.values()),
            "files": len(files),
            "cached": (self.entries / key / META).is_file(),
        }

    def fetch(
        self,
        fs: Any,
        path: str,
        *,
        progress: Progress | None = None,
        field: str | None = None,
        only: list[str] | None = None,
    ) -> Path:
        """A local copy of ``path`` (a file or a folder; with ``only``, those paths below it), leased to this
        process until :meth:`release`."""
        is_file, files = listing_of(fs, path, only, field)
        key = content_key(fs, path, is_file, files)
        total = sum(int(i.get("size") or 0) for i in files.values())
        name = _strip(fs, path).rsplit("/", 1)[-1] or "data"
        for folder in (self.entries, self.tmp, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
        with self._lock(self.locks / f"{key}.lock"):  # one download per key at a time, across processes
            entry = self.entries / key
            if not (entry / META).is_file():
                self._clean_tmp()
                self._download(fs, path, is_file, files, entry, name, total, progress, field)
            elif progress is not None:
                progress(total, total)
            with self._lock(self.root / "cache.lock"):
                if not (entry / META).is_file():  # evicted between the two locks (another process's limit)
                    raise DataPathMissing(f"the cached copy of {path} was evicted; fetch again", field=field or path)
                self._lease(entry)
                os.utime(entry / META)  # last use, for LRU
        self.evict()
        return entry / DATA / name

    def release(self, local: Path) -> None:
        """Drop this process's lease on the entry holding ``local``; the cache then shrinks to its limit again."""
        entry = self._entry_of(Path(local))
        if entry is not None:
            (entry / "leases" / str(os.getpid())).unlink(missing_ok=True)
            self.evict()  # what the lease kept past the limit goes now

    @contextlib.contextmanager
    def using(self, fs: Any, path: str, *, progress: Progress | None = None) -> Iterator[Path]:
        local = self.fetch(fs, path, progress=progress)
        try:
            yield local
        finally:
            self.release(local)

    def size(self) -> int:
        return sum(self._entry_bytes(e) for e in self._entry_folders())

    def evict(self) -> list[str]:
        """Remove least recently used, unleased entries until the cache fits its limit; the keys removed."""
        removed: list[str] = []
        if not self.entries.is_dir():
            return removed
        with self._lock(self.root / "cache.lock"):
            entries = [(e, self._entry_bytes(e), self._last_used(e)) for e in self._entry_folders()]
            total = sum(size for _e, size, _t in entries)
            for entry, size, _used in sorted(entries, key=lambda item: item[2]):
                if total <= self.limit_bytes:
                    break
                if self._leased(entry):
                    continue
                doomed = self.tmp / f"evicted-{entry.name}-{uuid.uuid4().hex[:8]}"
                entry.rename(doomed)  # out of entries/ first: a reader never sees half an entry
                shutil.rmtree(doomed, ignore_errors=True)
                self._drop_key_lock(entry.name)
                total -= size
                removed.append(entry.name)
        return removed

    # -- internals -----------------------------------------------------------------------------------------
    def _drop_key_lock(self, key: str) -> None:
        """Remove an evicted key's lock file, unless a fetch of that key holds it now (it keeps it, then)."""
        path = self.locks / f"{key}.lock"
        if not path.exists():
            return
        with self._lock(path, wait=False) as held:  # never waits: eviction holds cache.lock, fetch takes key first
            if held:
                path.unlink(missing_ok=True)

    def _download(
        self,
        fs: Any,
        path: str,
        is_file: bool,
        files: dict[str, dict[str, Any]],
        entry: Path,
        name: str,
        total: int,
        progress: Progress | None,
        field: str | None,
    ) -> None:
        staging = self.tmp / f"{entry.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        (staging / "owner").write_text(str(os.getpid()))
        try:
            base = _strip(fs, path)
            data = staging / DATA  # beside meta.json and leases/, whatever the data is called
            if is_file:  # the one file keeps its name: fetch returns entry/data/<name>
                plan = [(base, data / name, next(iter(files.values())))]
            else:
                plan = [(f"{base}/{rel}", data / name / rel, info) for rel, info in files.items()]
            pairs = [(remote, local) for remote, local, _info in plan]
            for _remote, local in pairs:
                local.parent.mkdir(parents=True, exist_ok=True)
            if not pairs:
                (data / name).mkdir(parents=True, exist_ok=True)
            callback = ByteProgress(total, progress)
            if pairs:
                with store_errors(f"download of {path}", field or path):
                    fs.get([p[0] for p in pairs], [str(p[1]) for p in pairs], callback=callback)
            for _remote, local, info in plan:
                if info.get("size") is None:  # a store that never says a file's size: nothing to compare
                    continue
                expected = int(info["size"])
                if local.stat().st_size != expected:
                    raise DatastoreUnreachable(
                        f"{path}: {local.name} arrived with {local.stat().st_size} bytes, {expected} listed; the "
                        "store changed during the download, fetch again",
                        field=field or path,
                    )
            callback.finish()
            meta = {"path": path, "bytes": total, "files": len(files), "fetched": time.time(), "name": name}
            (staging / META).write_text(json.dumps(meta))
            (staging / "owner").unlink()
            staging.rename(entry)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _clean_tmp(self) -> None:
        """Temporary folders of dead processes (a killed download): never used, removed."""
        for folder in self.tmp.iterdir() if self.tmp.is_dir() else []:
            try:
                owner = int((folder / "owner").read_text())
            except (OSError, ValueError):
                owner = 0
            if owner and psutil.pid_exists(owner):
                continue
            shutil.rmtree(folder, ignore_errors=True)

    def _entry_folders(self) -> list[Path]:
        return [e for e in self.entries.iterdir() if (e / META).is_file()] if self.entries.is_dir() else []

    @staticmethod
    def _entry_bytes(entry: Path) -> int:
        try:
            return int(json.loads((entry / META).read_text())["bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    @staticmethod
    def _last_used(entry: Path) -> float:
        try:
            return (entry / META).stat().st_mtime
        except OSError:
            return 0.0

    @staticmethod
    def _lease(entry: Path) -> None:
        leases = entry / "leases"
        leases.mkdir(exist_ok=True)
        (leases / str(os.getpid())).touch()

    @staticmethod
    def _leased(entry: Path) -> bool:
        """A lease file of a live process; leases of dead processes are dropped on the way."""
        leases = entry / "leases"
        live = False
        for lease in leases.iterdir() if leases.is_dir() else []:
            if lease.name.isdigit() and psutil.pid_exists(int(lease.name)):
                live = True
            else:
                lease.unlink(missing_ok=True)
        return live

    def _entry_of(self, local: Path) -> Path | None:
        try:
            relative = local.resolve().relative_to(self.entries.resolve())
        except ValueError:
            return None
        return self.entries / relative.parts[0] if relative.parts else None

    @staticmethod
    @contextlib.contextmanager
    def _lock(path: Path, wait: bool = True) -> Iterator[bool]:
        """Hold an ``flock`` on ``path``; yields False (holding nothing) when ``wait`` is off and it is taken.

        Eviction deletes the lock file of a key it evicts, so a process that waited on the old file may wake
        up holding a lock on a name that is gone (or now another file): it re-checks the inode and, if the
        file changed, locks the current one. Two holders of "the same" key lock are impossible either way.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(path, "a")  # noqa: SIM115 - closed below on every path
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.close()
                yield False
                return
            try:
                current = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            handle.close()
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
