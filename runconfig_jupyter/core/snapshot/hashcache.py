"""Remember file digests by (size, mtime, inode, ctime): an unchanged folder is recognised without reading it.

This is what makes a re-submit of an unchanged 1 GB folder instant: the walk costs one ``stat`` per
file, the digests come from here, and the content-addressed snapshot already exists.

Racy entries (git's "racy clean" problem): a file modified within the same timestamp tick as it was
hashed could keep its mtime while changing content. A digest is only remembered when the file's mtime was
at least ``RACY_WINDOW_NS`` older than the moment it was hashed; younger files are simply re-hashed next time.

The ctime is part of the key: a file rewritten in place with the same size and its mtime set back (``cp -p``
over it, ``touch -d``, a tool restoring timestamps) keeps size, mtime and inode, but its ctime moves on and
nobody can set it back. Entries written before the ctime was kept are trusted once more and upgraded.

The file is read and written on every re-submit, so its format is chosen for speed (a re-snapshot after a
1-file edit is mostly the walk, this file and the manifest): a short header (magic, payload length, CRC-32 of
the payload) and a ``marshal`` payload mapping each path to a row ``(key, digest)``, where ``key`` packs
(size, mtime, inode, ctime) into 32 bytes. That loads about twice as fast, and is written about three times
as fast, as the same rows of numbers, and six times as fast as the JSON of earlier versions. A file whose
header, length or checksum does not match, or whose payload is not the shape this module writes, is ignored
and rewritten: a damaged cache costs a re-read of the folder, never a wrong digest. Caches written as JSON by
earlier versions (``<key>.json``) are read once and replaced by the new file.

A save that changes a few rows appends them to a journal instead of writing the file whole (cache_journal.py).
A process also keeps the rows of the cache file it last read or wrote (a kernel re-submits the same folder):
while that file is still in place, unchanged (inode, size, mtime, ctime), it is not parsed again.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from runconfig_jupyter.core.snapshot.cache_journal import append_record, replay
from runconfig_jupyter.core.snapshot.manifest import ManifestEntry
from runconfig_jupyter.core.system.digest import sha256_hex

CACHE_VERSION = 2
LEGACY_JSON_VERSION = 1  # the JSON files of earlier versions
MAGIC = b"runconfig-hashcache\x00"
HEADER_BYTES = len(MAGIC) + 8 + 4  # magic, payload length, CRC-32 of the payload
MARSHAL_VERSION = 4  # pinned: the file must not change shape with the interpreter
RACY_WINDOW_NS = 2_000_000_000
KEY = struct.Struct("<QqQq")  # size, mtime_ns, inode, ctime_ns (times may be before 1970)
KEY_WITHOUT_CTIME = struct.Struct("<QqQ")  # rows of JSON caches written before ctimes were kept
DIGEST = re.compile(r"[0-9a-f]{64}")  # what both algorithms' hex digests look like (they name object files)

Row = tuple[bytes, str]  # (KEY of the file when it was hashed, hex digest)
Present = Callable[[str, ManifestEntry], bool]
Signature = tuple[int, int, int, int]  # (inode, size, mtime_ns, ctime_ns) of a cache file

# The cache files this process last read or wrote, by path: a notebook kernel re-submits the same folder again
# and again, and each save renames a new file into place, so a file still showing the same signature holds the
# rows already in memory (another writer's file has another inode and ctime). A few folders are kept.
REMEMBERED_FILES = 8
_remembered: dict[str, tuple[Signature, dict[str, Row], dict[str, list[int]], bytes]] = {}
JOURNAL_RECORDS = 8  # records appended (cache_journal.py) before the file is written whole again
JOURNAL_ROWS = 256  # changed rows a record may hold (more: the file is written whole)
STAMPS_FOR_A_REWRITE = 8  # shard stamps gained that are worth writing the file whole at once (shards.py)
TOKEN_BYTES = 8


def _signature(st: os.stat_result) -> Signature:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _remember_file(
    path: str, signature: Signature, entries: dict[str, Row], shards: dict[str, list[int]], token: bytes
) -> None:
    _remembered.pop(path, None)
    while len(_remembered) >= REMEMBERED_FILES:
        _remembered.pop(next(iter(_remembered)), None)
    _remembered[path] = (signature, entries, shards, token)


def file_key(entry: ManifestEntry) -> bytes:
    """What a row's key must equal for ``entry`` (its size, mtime, inode and ctime as the walk saw them)."""
    return KEY.pack(entry.size, entry.mtime_ns, entry.inode, entry.ctime_ns)


class HashCache:
    """One file per source folder under ``<snapshots_dir>/.hashcache/<alg>/``; losing it only costs time."""

    def __init__(self, cache_dir: Path, source: Path):
        key = sha256_hex(str(source).encode())[:24]
        self.path = cache_dir / f"{key}.cache"
        self.legacy_path = cache_dir / f"{key}.json"  # what earlier versions wrote: read when no .cache exists
        self.journal_path = cache_dir / f"{key}.journal"  # rows changed since the .cache was written whole
        self.source = source
        self.entries: dict[str, Row] = {}
        self.shards: dict[str, list[int]] = {}  # object shard -> (inode, ctime_ns) when last known whole (shards.py)
        self.shards_named: set[str] = set()  # shards of the digests resolve handed out and remember was given
        self._changed = False  # nothing new to write: a re-submit of an unchanged folder writes no cache file
        self._legacy = False  # loaded from an earlier version's JSON: written anew in this format
        self._shared: dict[str, Row] | None = None  # rows also remembered for the process: copied before a change
        self._token: bytes | None = None  # of the .cache file loaded: the journal's records for it apply
        self._journal_records = 0
        self._fresh: dict[str, Row] = {}  # rows remembered since the load (what a journal record adds)
        if self._load():
            applied, self._journal_records, intact = replay(self.journal_path, self._token or b"", self.entries)
            if applied is not None:
                self.entries = applied
            if not intact:  # appending after a record cut short would be lost: the next save writes whole
                self._journal_records = JOURNAL_RECORDS
        else:
            self._legacy = self._load_legacy()
            self._changed = self._legacy
        self._loaded = self.entries  # the rows as loaded: those missing at save time are journaled as removed

    def _load(self) -> bool:
        """Read this format; False when the file is missing, damaged or not for this source folder."""
        try:
            with open(self.path, "rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                known = _remembered.get(str(self.path))
                if known is not None and known[0] == signature:  # the file this process last read or wrote
                    self.entries = self._shared = known[1]
                    self.shards = dict(known[2])
                    self._token = known[3]
                    return True
                raw = handle.read()
        except OSError:
            return False
        if len(raw) < HEADER_BYTES or not raw.startswith(MAGIC):
            return False
        length = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 8], "big")
        crc = int.from_bytes(raw[len(MAGIC) + 8 : HEADER_BYTES], "big")
        payload = memoryview(raw)[HEADER_BYTES:]
        if len(payload) != length or zlib.crc32(payload) != crc:
            return False
        try:
            data = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return False
        if not (type(data) is tuple and len(data) == 5 and data[0] == CACHE_VERSION and data[1] == str(self.source)):
            return False
        if type(data[2]) is not dict or type(data[4]) is not bytes:
            return False
        self.entries = self._shared = data[2]
        self.shards = valid_shards(data[3])
        self._token = data[4]
        _remember_file(str(self.path), signature, self.entries, dict(self.shards), self._token)
        return True

    def _load_legacy(self) -> bool:
        """Read a JSON cache of an earlier version, checking every row (it was never checksummed)."""
        try:
            data = json.loads(self.legacy_path.read_text())
        except (OSError, ValueError):
            return False
        if not (isinstance(data, dict) and data.get("version") == LEGACY_JSON_VERSION):
            return False
        if data.get("source") != str(self.source) or not isinstance(data.get("entries"), dict):
            return False
        for path, fields in data["entries"].items():
            row = legacy_row(fields)
            if row is not None:
                self.entries[path] = row
        self.shards = valid_shards(data.get("shards"))
        return True

    def resolve(
        self, files: list[ManifestEntry], alg: str, whole: Mapping[str, bool], present: Present
    ) -> list[ManifestEntry]:
        """Fill in the digest of every regular file the cache knows unchanged and whose object is there; return
        the others, to be read (links are passed over). An object counts as there when its shard is ``whole``
        (shards.py: no stat per object) or when ``present(digest, entry)`` finds it. From now on the cache keeps
        only the rows of ``files``, and ``shards_named`` holds the object shards their digests live in.

        One pass over the files with the comparisons written out: this runs once per file on every submit.
        A row that is not the shape this module writes is a damaged cache: nothing of it is trusted.
        """
        old, kept, missing, named = self.entries, {}, [], self.shards_named
        pack, known, shard_whole, name_shard = KEY.pack, old.get, whole.get, named.add
        try:
            for entry in files:
                if entry.kind != "file":
                    continue
                entry.digest_alg = alg
                path = entry.path
                row = known(path)
                if row is not None and (
                    row[0] == pack(entry.size, entry.mtime_ns, entry.inode, entry.ctime_ns)
                    or (row := self._upgraded(row, entry)) is not None
                ):
                    digest = row[1]
                    shard = digest[:2]
                    if shard_whole(shard) or present(digest, entry):
                        entry.digest = digest
                        kept[path] = row
                        name_shard(shard)
                        continue
                entry.digest = None  # new, changed, or its object is gone: read it (again)
                missing.append(entry)
        except (TypeError, IndexError, ValueError, struct.error):
            missing = [entry for entry in files if entry.kind == "file"]
            for entry in missing:
                entry.digest = None
            kept = {}
            named.clear()
        self._changed = self._changed or bool(missing) or len(kept) != len(old)
        self.entries = kept
        return missing

    def _upgraded(self, row: Row, entry: ManifestEntry) -> Row | None:
        """A row of a JSON cache written before ctimes were kept: trusted as before (size, mtime, inode), and
        given the ctime. None for any other row (its key differs: the file changed)."""
        if len(row[0]) != KEY_WITHOUT_CTIME.size:
            return None
        if row[0] != KEY_WITHOUT_CTIME.pack(entry.size, entry.mtime_ns, entry.inode):
            return None
        self._changed = True
        upgraded = self._fresh[entry.path] = (file_key(entry), row[1])
        return upgraded

    def remember(self, entry: ManifestEntry, hashed_at_ns: int) -> None:
        """Record ``entry.digest``; ``hashed_at_ns`` is when reading started (taken before the read). A file
        modified less than RACY_WINDOW_NS before that is not remembered: it is read again next time."""
        if not entry.digest:
            return
        self._changed = True
        if self.entries is self._shared:
            self.entries = dict(self.entries)
        self.entries.pop(entry.path, None)
        if entry.mtime_ns + RACY_WINDOW_NS <= hashed_at_ns:
            self.entries[entry.path] = self._fresh[entry.path] = (file_key(entry), entry.digest)
            self.shards_named.add(entry.digest[:2])

    def save(self, shards: dict[str, list[int]] | None = None) -> None:
        """Save when anything changed (rows are only those ``resolve`` kept and ``remember`` added): a few
        changed rows are appended to the journal, otherwise the file is written whole and atomically.
        ``shards``: the object shards now known whole (None: keep what was recorded)."""
        shards = self.shards if shards is None else shards
        if not self._changed and shards == self.shards:
            return
        gained = sum(1 for shard, pair in shards.items() if self.shards.get(shard) != pair)
        if self._token is not None and gained <= STAMPS_FOR_A_REWRITE:
            # The few stamps gained are not journaled (those shards' objects are checked one by one until the
            # next whole write): with no row changed there is nothing to save, an unchanged folder writes nothing.
            if not self._changed:
                return
            removed = list(self._loaded.keys() - self.entries.keys())
            if (
                self._journal_records < JOURNAL_RECORDS
                and len(self._fresh) + len(removed) <= JOURNAL_ROWS
                and append_record(self.journal_path, self._token, self._fresh, removed)
            ):
                self._journal_records += 1
                self._changed, self._fresh, self._loaded = False, {}, self.entries
                return
        self.write_whole(shards)

    def write_whole(self, shards: dict[str, list[int]]) -> None:
        """Write the file whole, rows and shard ``stamps`` (with a new token: earlier journal records no longer
        apply), then drop the journal."""
        self.shards = shards
        token = os.urandom(TOKEN_BYTES)
        payload = marshal.dumps((CACHE_VERSION, str(self.source), self.entries, shards, token), MARSHAL_VERSION)
        header = MAGIC + len(payload).to_bytes(8, "big") + zlib.crc32(payload).to_bytes(4, "big")
        # One temp name per writing thread (two submits in one kernel may save at once; each renames its own).
        tmp = self.path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{self.path.name}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(header + payload)
                handle.flush()
                os.replace(tmp, self.path)
                signature = _signature(os.fstat(handle.fileno()))  # the file renamed into place, as it is now
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache that cannot be written only costs time next round
            return
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._changed, self._fresh, self._loaded = False, {}, self.entries
        self._shared, self._token, self._journal_records = self.entries, token, 0
        _remember_file(str(self.path), signature, self.entries, dict(shards), token)
        try:
            self.journal_path.unlink(missing_ok=True)  # its records were for the previous file: folded in above
        except OSError:
            pass  # records of another token are passed over anyway
        if self._legacy:  # upgraded: the JSON file of the earlier version has done its job
            self.legacy_path.unlink(missing_ok=True)
            self._legacy = False


def legacy_row(fields: object) -> Row | None:
    """A JSON row ``[size, mtime, inode, hashed_at, digest(, ctime)]`` of an earlier version as a row of this
    format; None when a field has the wrong type or the row was racy (that file is read again)."""
    if not isinstance(fields, list) or len(fields) not in (5, 6):
        return None
    size, mtime_ns, inode, hashed_at_ns, digest = fields[:5]
    numbers = [size, mtime_ns, inode, hashed_at_ns, *fields[5:]]
    if not all(type(n) is int for n in numbers) or type(digest) is not str or not DIGEST.fullmatch(digest):
        return None
    if mtime_ns + RACY_WINDOW_NS > hashed_at_ns:
        return None
    try:
        if len(fields) == 6:
            return (KEY.pack(size, mtime_ns, inode, fields[5]), digest)
        return (KEY_WITHOUT_CTIME.pack(size, mtime_ns, inode), digest)
    except struct.error:  # a number out of range
        return None


def valid_shards(shards: object) -> dict[str, list[int]]:
    """The well-formed shard records; a malformed one is dropped (its shard's objects are checked one by one)."""
    if not isinstance(shards, dict):
        return {}
    return {
        str(k): list(v)
        for k, v in shards.items()
        if isinstance(v, (list, tuple)) and len(v) == 2 and all(type(n) is int for n in v)
    }
