"""The hash cache's journal: what changed since its file was last written whole, appended instead of rewritten.

A re-submit after a 1-file edit changes one row of a cache of thousands; rewriting the whole file each time
was a tenth of the re-snapshot. So a save that changes few rows appends one record to ``<key>.journal``
(one ``write`` with ``O_APPEND``), and the cache file is rewritten whole ("compacted") only every few records,
or when it has much more to say (new shard stamps: see hashcache.py).

A record is a short header (magic, payload length, CRC-32) and a ``marshal`` payload ``(token, changed,
removed)``: the rows that changed, the paths that went away, and the token of the cache file it continues.
A cache file written whole gets a new token, so records written against an older file are passed over.
Reading stops at the first record whose header or checksum does not match (a write cut short): what follows
it is lost, which costs a re-read of those files, never a wrong digest.

Every row is a fact that checks itself ("a file with this size, mtime, inode and ctime had this digest"), so
records of concurrent submits may be applied in any order. Shard stamps are never journaled: they vouch only
for the rows their writer checked, which the cache file written whole holds.
"""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path
from typing import Any

RECORD_MAGIC = b"rcj1"
RECORD_HEADER = len(RECORD_MAGIC) + 4 + 4  # magic, payload length, CRC-32 of the payload
MARSHAL_VERSION = 4


def append_record(journal: Path, token: bytes, changed: dict[str, Any], removed: list[str]) -> bool:
    """Append one record; False when it could not be written whole (the caller then writes the cache whole)."""
    payload = marshal.dumps((token, changed, removed), MARSHAL_VERSION)
    record = RECORD_MAGIC + len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        return os.write(fd, record) == len(record)
    except OSError:
        return False
    finally:
        os.close(fd)


def replay(journal: Path, token: bytes, rows: dict[str, Any]) -> tuple[dict[str, Any] | None, int, bool]:
    """``rows`` with the journal's records for ``token`` applied (a new dict; None when none applied), how many
    records the journal holds in all (of any token: they count towards the next compaction), and whether it
    was read to its end (False after a record cut short: records appended after it would never be read, so
    the cache should be written whole at the next save)."""
    try:
        with open(journal, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None, 0, True
    applied: dict[str, Any] | None = None
    records = 0
    at = 0
    while at + RECORD_HEADER <= len(raw) and raw.startswith(RECORD_MAGIC, at):
        length = int.from_bytes(raw[at + 4 : at + 8], "big")
        crc = int.from_bytes(raw[at + 8 : at + RECORD_HEADER], "big")
        payload = memoryview(raw)[at + RECORD_HEADER : at + RECORD_HEADER + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break  # a record cut short: nothing after it is trusted
        at += RECORD_HEADER + length
        records += 1
        try:
            written_for, changed, removed = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            break
        if written_for != token or type(changed) is not dict or type(removed) is not list:
            continue  # a record for an earlier cache file (or not of this shape): passed over
        if applied is None:
            applied = dict(rows)
        try:
            applied.update(changed)
            for path in removed:
                applied.pop(path, None)
        except TypeError:  # a path that is not text: no record of ours
            break
    return applied, records, at == len(raw)
