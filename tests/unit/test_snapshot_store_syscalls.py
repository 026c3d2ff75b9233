"""What a re-snapshot asks the kernel, counted on a real run under ``strace``: an unchanged folder opens no file
for reading, writes nothing and asks nothing about single objects; a 1-file edit reads only that file. And the
shortcut that spares the object checks (shards.py) still notices an object removed by hand.

Structural, not timed: the counts hold on a loaded machine too. Needs strace (skipped where it is missing or
not permitted, e.g. a container without ptrace).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snapshot_helpers import backdate, hash_cache, module_tree, write

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.objects import ObjectStore
from runconfig_jupyter.core.snapshot.shards import FINE_MARGIN_NS
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from runconfig_jupyter.core.snapshot.stream import materialize

pytestmark = pytest.mark.timeout(120)

STORE = (
    "import sys; from runconfig_jupyter.core.snapshot.stored import store_snapshot as s; s(sys.argv[1], sys.argv[2])"
)
CALL = re.compile(r"^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = module_tree(tmp_path / "src", modules=40, packages=4, blob_bytes=200_000)
    os.chmod(write(root, "run.sh", "#!/bin/sh\necho hi\n"), 0o755)
    backdate(root)
    return root


def traced_store(src: Path, store: Path, tmp_path: Path) -> list[tuple[str, str]]:
    """(syscall, arguments) of a real ``store_snapshot`` in a fresh process, for paths under ``tmp_path``."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    log = tmp_path / "strace.log"
    calls = "openat,open,creat,stat,lstat,newfstatat,statx,rename,renameat,renameat2,link,linkat,unlink,unlinkat"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        ["strace", "-f", "-qq", "-e", f"trace={calls}", "-o", str(log), sys.executable, "-c", STORE, src, store],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    found = []
    for line in log.read_text().splitlines():
        match = CALL.match(line)
        if match and str(tmp_path) in match.group(2):
            found.append((match.group(1), match.group(2)))
    return found


def settle() -> None:
    """Let the store's shard folders age past the timestamp margin, so the next store records them."""
    time.sleep(3 * FINE_MARGIN_NS / 1e9)


def opened_for_reading(calls: list[tuple[str, str]], folder: Path) -> list[str]:
    """Files (not folders) under ``folder`` opened by the traced run."""
    return [
        args
        for name, args in calls
        if name in ("openat", "open") and f'"{folder}/' in args and "O_DIRECTORY" not in args
    ]


def object_checks(calls: list[tuple[str, str]], store: Path) -> list[str]:
    """Stats of single objects (``objects/<alg>/<xx>/<digest>``), not of their shard folders."""
    single = re.compile(re.escape(f'"{store}/objects/') + r'[^/"]+/[0-9a-f]{2}/[^/"]+"')
    return [args for name, args in calls if "stat" in name and single.search(args)]


def test_unchanged_re_snapshot_reads_writes_and_checks_nothing(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    settle()
    store_snapshot(src, store)  # checks each object once more and records the settled shards
    calls = traced_store(src, store, tmp_path)
    assert opened_for_reading(calls, src) == []  # no file of the folder opened: no byte read
    writes = [args for name, args in calls if name.startswith(("rename", "link", "unlink", "creat"))]
    writes += [args for name, args in calls if name.startswith("open") and re.search(r"O_(WRONLY|RDWR|CREAT)", args)]
    assert writes == []  # no object, manifest or hash cache written
    assert object_checks(calls, store) == []  # no stat per object: their shards answered
    assert store_snapshot(src, store).id == first.id


def test_one_edit_reads_only_that_file(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store_snapshot(src, store)
    settle()
    store_snapshot(src, store)
    edited = write(src, "pkg1/mod5.py", "X = 'edited'\n")
    os.utime(edited, (time.time() - 60,) * 2)
    calls = traced_store(src, store, tmp_path)
    opened = opened_for_reading(calls, src)
    assert len(opened) == 1 and f'"{edited}"' in opened[0]  # the other 41 files are not opened
    assert object_checks(calls, store) == []


def test_an_object_removed_by_hand_is_stored_again_by_the_next_snapshot(src: Path, tmp_path: Path) -> None:
    """The shortcut trusts a shard only while its folder's ctime is unchanged: removing an object changes it."""
    store = tmp_path / "store"
    snap = store_snapshot(src, store)
    settle()
    store_snapshot(src, store)  # shards recorded: the next snapshot would check no object
    entry = next(e for e in snap.manifest.files if e.path == "data/blob.bin")
    obj = ObjectStore(store, entry.digest_alg).path(entry.digest or "", entry.mode)
    obj.unlink()
    again = store_snapshot(src, store)  # no materialize in between: the snapshot itself notices
    assert again.id == snap.id and again.stored_files == 1 and obj.is_file()
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "data/blob.bin").read_bytes() == (src / "data/blob.bin").read_bytes()


def test_a_removal_the_stamps_missed_is_repaired_after_a_reader_finds_it(src: Path, tmp_path: Path) -> None:
    """Where a folder's ctime would not move on a removal (some network or FUSE file systems, a far-off
    clock), the stamp can still say "whole". Simulated by recording the shard's stamp as it is after the
    removal: the materializer's typed error marks the shard, so the next snapshot stores the object again."""
    store = tmp_path / "store"
    snap = store_snapshot(src, store)
    settle()
    store_snapshot(src, store)
    entry = next(e for e in snap.manifest.files if e.path == "data/blob.bin")
    obj = ObjectStore(store, entry.digest_alg).path(entry.digest or "", entry.mode)
    obj.unlink()
    cache = hash_cache(store, src, entry.digest_alg)
    st = obj.parent.stat()
    cache.write_whole({**cache.shards, obj.parent.name: [st.st_ino, st.st_ctime_ns]})  # the removal "missed"
    with pytest.raises(SnapshotError, match=r"data/blob\.bin.*missing"):
        materialize(snap.path, tmp_path / "out")
    again = store_snapshot(src, store)
    assert again.stored_files == 1 and obj.is_file()
    materialize(again.path, tmp_path / "out2")
    assert (tmp_path / "out2" / "data/blob.bin").read_bytes() == (src / "data/blob.bin").read_bytes()


def test_a_damaged_shard_record_only_costs_the_object_checks(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    settle()
    store_snapshot(src, store)
    cache = hash_cache(store, src)
    assert cache.shards  # recorded, so there is something to damage
    cache.write_whole({name: ["x", None] for name in cache.shards} | {"zz": [1], "00": 7})
    calls = traced_store(src, store, tmp_path)
    assert object_checks(calls, store)  # no record trusted: every known object is checked again
    assert opened_for_reading(calls, src) == []  # and still nothing is read
    assert store_snapshot(src, store).id == first.id
