"""Small helpers shared by the snapshot tests (building source trees on disk)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def write(root: Path, rel: str, content: str | bytes = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def backdate(root: Path, seconds: float = 60) -> None:
    """Make every file look older than the hash cache's racy window, as files edited a while ago are."""
    stamp = time.time() - seconds
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (stamp, stamp), follow_symlinks=False)


def module_tree(root: Path, modules: int, packages: int, blob_bytes: int) -> Path:
    """``modules`` small Python files spread over ``packages`` folders and one random blob, all backdated."""
    for i in range(modules):
        write(root, f"pkg{i % packages}/mod{i}.py", f"X = {i}\n" * 50)
    write(root, "data/blob.bin", os.urandom(blob_bytes))
    backdate(root)
    return root


def paths(manifest) -> set[str]:
    return {e.path for e in manifest.files}


def hash_cache(store: Path, source: Path, alg: str | None = None):
    """The hash cache ``store_snapshot`` keeps for ``source`` in ``store``, as the module loads it."""
    from runconfig_jupyter.core.snapshot.hashcache import HashCache
    from runconfig_jupyter.core.snapshot.objects import DEFAULT_ALG

    return HashCache(store / ".hashcache" / (alg or DEFAULT_ALG), source.resolve())


def write_json_cache(store: Path, source: Path, with_ctime: bool = True) -> Path:
    """Replace the cache of ``source`` by the JSON file earlier versions wrote (``"version": 1``, rows
    ``[size, mtime, inode, hashed_at, digest, ctime]``; ``with_ctime=False``: the five-field rows of the version
    before that), with the same content; returns the JSON file. ``hashed_at`` is 10 s after the mtime (the
    cache only holds rows of files hashed well after their last change)."""
    import json

    from runconfig_jupyter.core.snapshot.hashcache import KEY

    cache = hash_cache(store, source)
    entries = {}
    for path, (key, digest) in cache.entries.items():
        size, mtime_ns, inode, ctime_ns = KEY.unpack(key)
        entries[path] = [size, mtime_ns, inode, mtime_ns + 10**10, digest] + ([ctime_ns] if with_ctime else [])
    document = {"version": 1, "source": str(cache.source), "entries": entries, "shards": cache.shards}
    cache.legacy_path.write_text(json.dumps(document))
    cache.path.unlink()
    return cache.legacy_path
