"""The download cache against real servers: a hit transfers nothing (counted in the server's own access
log), a changed file invalidates, a download killed with SIGKILL is never used, the LRU limit holds and
never evicts data a live process leased.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from runconfig_jupyter.core.data.cache import DownloadCache
from runconfig_jupyter.core.errors import DataPathMissing
from tests.data.conftest import make_store

REMOTE = ("azure_blob", "s3")


def _object_path_prefix(store) -> str:
    """How the server's access log spells a GET of this datastore's objects."""
    return f"/devstoreaccount1/{store.root}/" if store.kind == "azure_blob" else f"/{store.root}/"


@pytest.mark.parametrize("kind", REMOTE)
def test_second_fetch_is_a_hit_with_no_bytes_transferred(kind, request, tmp_path, credentials):
    store = make_store(kind, request, tmp_path)
    for index in range(3):
        store.put(f"set/part-{index}.bin", os.urandom(10_000))
    fs, root = store.datastore.open()
    cache = DownloadCache(tmp_path / "cache")
    reads = store.server.object_reads(_object_path_prefix(store))
    seen: list[tuple[int, int]] = []
    first = cache.fetch(fs, f"{root}/set", progress=lambda done, total: seen.append((done, total)))
    assert store.server.object_reads(_object_path_prefix(store)) == reads + 3
    assert seen[-1] == (30_000, 30_000) and all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))
    assert sorted(p.name for p in first.iterdir()) == ["part-0.bin", "part-1.bin", "part-2.bin"]
    assert (first / "part-1.bin").read_bytes() == store.files()["set/part-1.bin"]
    reads = store.server.object_reads(_object_path_prefix(store))
    assert cache.describe(fs, f"{root}/set") == {"bytes": 30_000, "files": 3, "cached": True}
    second = cache.fetch(fs, f"{root}/set")
    assert second == first
    assert store.server.object_reads(_object_path_prefix(store)) == reads  # nothing transferred
    single = cache.fetch(fs, f"{root}/set/part-2.bin")
    assert single.name == "part-2.bin" and single.read_bytes() == (first / "part-2.bin").read_bytes()


@pytest.mark.parametrize("kind", REMOTE)
def test_a_changed_file_invalidates_the_entry(kind, request, tmp_path, credentials):
    store = make_store(kind, request, tmp_path)
    store.put("d/a.txt", b"version-1")
    store.put("d/b.txt", b"unchanged")
    fs, root = store.datastore.open()
    cache = DownloadCache(tmp_path / "cache")
    old = cache.fetch(fs, f"{root}/d")
    time.sleep(1.1)  # stores with a 1 s last-modified clock still see a new version
    store.put("d/a.txt", b"version-2")  # same size, other bytes
    assert cache.describe(fs, f"{root}/d")["cached"] is False
    new = cache.fetch(fs, f"{root}/d")
    assert new != old and (new / "a.txt").read_bytes() == b"version-2" and (new / "b.txt").read_bytes() == b"unchanged"
    assert (old / "a.txt").read_bytes() == b"version-1"  # the old entry is intact until evicted


def test_missing_path_is_data_path_missing(request, tmp_path, credentials):
    store = make_store("s3", request, tmp_path)
    fs, root = store.datastore.open()
    with pytest.raises(DataPathMissing) as caught:
        DownloadCache(tmp_path / "cache").fetch(fs, f"{root}/not-there", field="inputs.train")
    assert caught.value.field == "inputs.train"


KILLED_FETCH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    fs, root = open_filesystem(get_datastore_spec("data"))
    marker = Path(sys.argv[1])

    def progress(done, total):
        if 0 < done < total and not marker.exists():
            marker.write_text(str(done))
            time.sleep(120)  # holds the transfer mid-way until the test kills us

    DownloadCache(Path(sys.argv[2])).fetch(fs, root + "/big", progress=progress)
    print("finished")
    """
)


@pytest.mark.parametrize("kind", REMOTE)
def test_download_killed_mid_way_is_never_used_and_the_next_fetch_completes(kind, request, tmp_path, credentials):
    store = make_store(kind, request, tmp_path)
    parts = {f"big/p{index}.bin": os.urandom(2_000_000) for index in range(4)}
    for name, data in parts.items():
        store.put(name, data)
    marker, cache_root = tmp_path / "started", tmp_path / "cache"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_FETCH, str(marker), str(cache_root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), child.stderr.read() if child.poll() is not None else "no progress within 60 s"
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)  # mid-download, as a crash or an OOM kill would
        child.wait(10)
    assert 0 < int(marker.read_text()) < 8_000_000
    cache = DownloadCache(cache_root)
    assert not list((cache_root / "entries").glob("*/meta.json"))  # nothing usable
    assert list((cache_root / "tmp").iterdir())  # only a temporary folder of the dead process
    fs, root = store.datastore.open()
    assert cache.describe(fs, f"{root}/big")["cached"] is False
    local = cache.fetch(fs, f"{root}/big")
    assert {f"big/{p.name}": p.read_bytes() for p in local.iterdir()} == parts
    assert not list((cache_root / "tmp").iterdir())  # the dead download was cleaned up


def _folder(root: Path, name: str, size: int) -> str:
    (root / name).mkdir(parents=True)
    (root / name / "x.bin").write_bytes(os.urandom(size))
    return str(root / name)


def test_least_recently_used_entries_are_evicted_past_the_limit(tmp_path):
    fs, data = LocalFileSystem(), tmp_path / "data"
    a, b, c = (_folder(data, name, 1000) for name in "abc")
    cache = DownloadCache(tmp_path / "cache", limit_bytes=2500)
    for path in (a, b):
        cache.release(cache.fetch(fs, path))
        time.sleep(0.02)
    cache.release(cache.fetch(fs, a))  # a hit: a is now more recent than b
    time.sleep(0.02)
    cache.release(cache.fetch(fs, c))
    assert cache.size() == 2000
    assert [cache.describe(fs, p)["cached"] for p in (a, b, c)] == [True, False, True]


def test_a_leased_entry_is_never_evicted(tmp_path):
    fs, data = LocalFileSystem(), tmp_path / "data"
    a, b, c = (_folder(data, name, 1000) for name in "abc")
    cache = DownloadCache(tmp_path / "cache", limit_bytes=1500)
    in_use = cache.fetch(fs, a)  # leased by this (live) process
    time.sleep(0.02)
    cache.release(cache.fetch(fs, b))
    assert cache.describe(fs, a)["cached"] and not cache.describe(fs, b)["cached"]  # b went, a is in use
    (in_use.parent.parent / "leases" / "999999999").touch()  # a lease of a process that does not exist
    cache.release(in_use)
    time.sleep(0.02)
    cache.release(cache.fetch(fs, c))
    assert [cache.describe(fs, p)["cached"] for p in (a, c)] == [False, True]  # a dead lease holds nothing


def test_an_evicted_key_leaves_no_lock_file_and_a_waiter_never_shares_a_lock(tmp_path):
    """Eviction removes the per-key lock files of what it evicts (they used to pile up, one per key, forever).

    Removing a lock file is safe only because a locker re-checks the inode after it wakes: here a second
    process waits on a key's lock, the holder removes the file and a third party creates a new one under the
    same name; the waiter must end up holding the *current* file, so it is refused while that one is held.
    """
    fs, data = LocalFileSystem(), tmp_path / "data"
    a, b = (_folder(data, name, 1000) for name in "ab")
    cache = DownloadCache(tmp_path / "cache", limit_bytes=1500)
    cache.release(cache.fetch(fs, a))
    time.sleep(0.02)
    cache.release(cache.fetch(fs, b))  # a is evicted
    assert not cache.describe(fs, a)["cached"]
    assert sorted(p.name for p in cache.locks.iterdir()) == [f"{name}.lock" for name in _keys(cache)]

    lock = cache.locks / "shared.lock"
    waiter = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from runconfig_jupyter.core.data.cache import DownloadCache
        with DownloadCache._lock(Path({str(lock)!r})):
            print("locked", flush=True)
            time.sleep(1.5)
        """
    )
    with DownloadCache._lock(lock) as held:
        assert held
        process = subprocess.Popen([sys.executable, "-c", waiter], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # the waiter is blocked on the old file
        lock.unlink()
    # the old file is released and gone: the waiter takes the name's current file, which it creates itself
    assert process.stdout.readline().strip() == "locked"
    with DownloadCache._lock(lock, wait=False) as second:
        assert second is False  # the waiter holds the current file: nobody else gets it
    assert process.wait(timeout=20) == 0


def _keys(cache: DownloadCache) -> list[str]:
    return sorted(entry.name for entry in cache.entries.iterdir())


def test_limit_comes_from_the_environment(tmp_path, monkeypatch, run_home):
    monkeypatch.setenv("RUNCONFIG_DATA_CACHE_BYTES", "12345")
    cache = DownloadCache()
    assert cache.limit_bytes == 12345 and cache.root == run_home / "data_cache"


CONCURRENT_FETCH = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    fs, root = open_filesystem(get_datastore_spec("data"))
    print(DownloadCache(Path(sys.argv[1])).fetch(fs, root + "/shared"))
    """
)


def test_two_processes_fetching_the_same_data_download_it_once(request, tmp_path, credentials):
    store = make_store("s3", request, tmp_path)
    for index in range(4):
        store.put(f"shared/f{index}.bin", os.urandom(500_000))
    reads = store.server.object_reads(f"/{store.root}/")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_FETCH, str(tmp_path / "cache")], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    assert all(child.returncode == 0 for child in children)
    assert outputs[0] == outputs[1]
    assert store.server.object_reads(f"/{store.root}/") == reads + 4
