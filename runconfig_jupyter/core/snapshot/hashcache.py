"""Remember file digests by (size, mtime, inode, ctime): an unchanged folder is recognised without reading it.

This is what makes a re-submit of an unchanged 1 GB folder instant: the walk costs one ``stat`` per
file, the digests come from here, and the content-addressed snapshot already exists.

Racy entries (git's "racy clean" problem): a file modified within the same timestamp tick as it was
hashed could keep its mtime while changing content. An entry is only trusted when the file's mtime is
at least ``RACY_WINDOW_NS`` older than the moment it was hashed; younger files are simply re-hashed.

The ctime is part of the key: a file rewritten in place with the same size and its mtime set back (``cp -p``
over it, ``touch -d``, a tool restoring timestamps) keeps size, mtime and inode, but its ctime moves on and
nobody can set it back. Entries written before the ctime was kept are trusted once more and upgraded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from runconfig_jupyter.core.snapshot.manifest import ManifestEntry

CACHE_VERSION = 1
RACY_WINDOW_NS = 2_000_000_000


class HashCache:
    """One JSON file per source folder under ``<snapshots_dir>/.hashcache/``; losing it only costs time."""

    def __init__(self, cache_dir: Path, source: Path):
        key = hashlib.sha256(str(source).encode()).hexdigest()[:24]
        self.path = cache_dir / f"{key}.json"
        self.source = source
        self.entries: dict[str, list[int | str]] = {}
        self.shards: dict[str, list[int]] = {}  # object shard -> (inode, ctime_ns) when last known whole (shards.py)
        self._changed = False  # nothing new to write: a re-submit of an unchanged folder writes no cache file
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if data.get("version") == CACHE_VERSION and data.get("source") == str(self.source):
            self.entries = data.get("entries", {})
            shards = data.get("shards")
            if isinstance(shards, dict):  # a malformed record is dropped: its shards are checked per object
                self.shards = {
                    str(k): v
                    for k, v in shards.items()
                    if isinstance(v, list) and len(v) == 2 and all(type(n) is int for n in v)
                }

    def lookup(self, entry: ManifestEntry) -> str | None:
        cached = self.entries.get(entry.path)
        if not cached or len(cached) not in (5, 6):
            return None
        size, mtime_ns, inode, hashed_at_ns, digest = cached[:5]
        if (size, mtime_ns, inode) != (entry.size, entry.mtime_ns, entry.inode):
            return None
        if int(mtime_ns) + RACY_WINDOW_NS > int(hashed_at_ns):
            return None
        if len(cached) == 5:  # written before the ctime was kept: trusted as before, and upgraded
            self.entries[entry.path] = [*cached, entry.ctime_ns]
            self._changed = True
        elif cached[5] != entry.ctime_ns:  # changed with its mtime set back (touch -d, cp -p): read again
            return None
        return str(digest)

    def remember(self, entry: ManifestEntry, hashed_at_ns: int) -> None:
        """Record ``entry.digest``; ``hashed_at_ns`` is when reading started (taken before the read)."""
        if entry.digest:
            self.entries[entry.path] = [
                entry.size,
                entry.mtime_ns,
                entry.inode,
                hashed_at_ns,
                entry.digest,
                entry.ctime_ns,
            ]
            self._changed = True

    def save(self, keep: set[str], shards: dict[str, list[int]] | None = None) -> None:
        """Write atomically, keeping only paths still in the folder so the cache cannot grow forever.
        ``shards``: the object shards now known whole (None: keep what was recorded)."""
        kept = {k: v for k, v in self.entries.items() if k in keep}
        shards = self.shards if shards is None else shards
        if not self._changed and len(kept) == len(self.entries) and shards == self.shards and self.path.exists():
            return
        self.entries, self.shards = kept, shards
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".tmp-{os.getpid()}-{self.path.name}")
        try:
            tmp.write_text(
                json.dumps(
                    {"version": CACHE_VERSION, "source": str(self.source), "entries": self.entries, "shards": shards}
                )
            )
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache that cannot be written only costs time next round
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
