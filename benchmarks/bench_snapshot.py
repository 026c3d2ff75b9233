"""Snapshot speed against a bare ``tar -cf`` of the same folder, and the store's disk use, in the same run.

Four figures, each paired with a ``tar -cf`` of the same folder (timing.py; warm page cache):
  first      store_snapshot into an empty store (walk + read, hash and store each file once, in threads)
  one-edit   one file edited, then store_snapshot (only that file read and stored; a new manifest)
  fresh      the same in a fresh interpreter, as a submit from a new script does it: the snapshot modules'
             imports plus the call, timed inside the child (its interpreter start-up is printed beside it)
  floor      the first snapshot's object files alone: as many new files of the same sizes, written from
             memory through the store's own begin/commit (no walk, no read, no hash, one thread). Any store
             that keeps each file's bytes as a file of its own (what lets a run's tree be hard links) pays
             this; ``first`` cannot be cheaper than it
  deleted    ``first`` again, right after deleting the earlier stores' files: see "ext4 without a journal"
the time of an unchanged re-snapshot (stat walk + hash cache), and one MEMORY line:
  disk       the store's disk use after 10 re-submits of a ``--disk-mb`` folder with one file changed each
             time (goal: about the folder once plus the changed files)

ext4 without a journal (this machine's root file system) does not reuse an inode freed in the last 60 s
(RECENTCY_MIN in the kernel's fs/ext4/ialloc.c; 300 s while its inode table block is not yet written back):
every file created meanwhile first steps over all such inodes of its block group. Right after a test run or
an earlier benchmark deleted thousands of files, creating 2,500 files costs several times what it costs a
minute later (1.9 s against 0.1 s here), and ``first`` and ``floor`` measure that, not the store. So on
such a file system both wait for the deletions before them to age (``--settle``, after a sync), and the
``deleted`` figure shows the other case on purpose. Journaled ext4, xfs and btrfs have no such wait.
Even settled, this VM's disk moves both sides a lot (500 new files took 27-322 ms, 10 s apart, with no
deletion at all; a ``tar -cf`` 200-760 ms): read the spread, and run it more than once.

    python3 benchmarks/bench_snapshot.py                  # 256 MB / 2,500 files, 1 GB disk figure (< 3 min)
    python3 benchmarks/bench_snapshot.py --mb 1024 --files 10000 --disk-mb 0
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import Pair, figure, load, paired, timed

from runconfig_jupyter.core.snapshot.create import SnapshotLimits
from runconfig_jupyter.core.snapshot.objects import DEFAULT_ALG, ObjectStore
from runconfig_jupyter.core.snapshot.stored import store_snapshot

ROOT = Path(__file__).resolve().parents[1]
# A fresh interpreter's re-snapshot: prints the seconds from before the first snapshot import to the call's end.
FRESH = """
import sys, time
start = time.perf_counter()
from runconfig_jupyter.core.snapshot.create import SnapshotLimits
from runconfig_jupyter.core.snapshot.stored import store_snapshot
store_snapshot(sys.argv[1], sys.argv[2], SnapshotLimits(max_bytes=int(sys.argv[3]), max_files=int(sys.argv[4])))
print(time.perf_counter() - start)
"""


def generate(root: Path, total_mb: int, files: int) -> None:
    """``files`` files of equal size in folders of 100, distinct content, mtimes a minute in the past."""
    size = max(1, total_mb * 1024 * 1024 // files)
    block = os.urandom(size + 4096)
    past = time.time() - 60
    for i in range(files):
        folder = root / f"d{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i:06d}.bin"
        offset = i % 4096
        path.write_bytes(i.to_bytes(8, "little") + block[offset : offset + size - 8])
        os.utime(path, (past, past))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=256, help="total size of the generated folder in MB")
    parser.add_argument("--files", type=int, default=2500, help="number of generated files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median is reported)")
    parser.add_argument("--disk-mb", type=int, default=1024, help="folder size of the disk-use figure (0: skip)")
    parser.add_argument(
        "--settle",
        type=float,
        default=RECENTLY_FREED_SECONDS + 2,
        help="seconds to let earlier deletions age before the first-snapshot figures, on ext4 without a journal",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    try:
        src = work / "src"
        t_gen = timed(lambda: generate(src, args.mb, args.files))
        limits = SnapshotLimits(max_bytes=(args.mb + 64) * 1024 * 1024, max_files=args.files + 10)
        tar_out = work / "baseline.tar"

        def bare_tar() -> None:
            subprocess.run(["tar", "-cf", str(tar_out), "-C", str(src), "."], check=True)
            tar_out.unlink()

        bare_tar()  # warm the page cache for everybody
        settled = settle(work, args.settle)
        stores = iter(range(10**6))
        state: dict[str, Path] = {}

        def first() -> float:
            # Each first snapshot goes into a new, empty store, and the earlier ones stay until the end: deleting
            # a store's 2,500 files just before writing the next one's would measure the file system's handling
            # of freshly freed inodes (on ext4 without a journal, as here, the allocator skips every inode freed
            # in the last 60-360 s, reading each one's table block: creates cost 150-200 us instead of ~10),
            # which no real first snapshot follows.
            state["store"] = work / f"store{next(stores)}"
            return timed(lambda: store_snapshot(src, state["store"], limits))

        def edit() -> None:
            edited = src / "d0000" / "f000000.bin"
            edited.write_bytes(edited.read_bytes()[:-8] + os.urandom(8))
            os.utime(edited, (time.time() - 60,) * 2)

        def one_edit() -> float:
            edit()
            return timed(lambda: store_snapshot(src, state["store"], limits))

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        argv = [sys.executable, "-c", FRESH, str(src), "", str(limits.max_bytes), str(limits.max_files)]
        processes: list[float] = []

        def fresh_edit() -> float:
            edit()
            argv[4] = str(state["store"])
            started = time.perf_counter()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
            processes.append(time.perf_counter() - started)
            return float(done.stdout)

        sizes = [max(1, args.mb * 1024 * 1024 // args.files)] * args.files  # what generate() writes
        payload = os.urandom(sizes[0])

        def floor() -> float:
            return timed(lambda: write_objects(ObjectStore(work / f"store{next(stores)}"), sizes, payload))

        # first and floor take turns, each with its own tar beside it. All three write hundreds of MB into new
        # files: each starts after a sync (not timed), so none pays for the writeback of the one before it.
        first_pair, floor_pair = Pair([], [], []), Pair([], [], [])

        def synced(measure: Callable[[], float]) -> float:
            os.sync()
            return measure()

        for turn in range(args.repeat + 1):  # the first turn warms up and is not counted
            for pair, ours in ((first_pair, first), (floor_pair, floor)):
                loaded, mine, bare = load(), synced(ours), synced(lambda: timed(bare_tar))
                if turn:
                    pair.loads.append(loaded)
                    pair.ours.append(mine)
                    pair.bare.append(bare)
        deleted_files = delete_stores(work)
        deleted_pair = paired(lambda: synced(first), lambda: synced(lambda: timed(bare_tar)), args.repeat, warmup=0)
        edit_pair = paired(one_edit, lambda: timed(bare_tar), args.repeat)
        fresh_pair = paired(fresh_edit, lambda: timed(bare_tar), args.repeat)
        again = timed(lambda: store_snapshot(src, state["store"], limits))
        size = f"{args.mb} MB / {args.files:,} files"
        print(f"folder: {size} (generated in {t_gen:.1f}s); unchanged re-snapshot {again * 1000:.0f} ms")
        figure(f"first snapshot of {size} vs `tar -cf`", first_pair, "<= 1.2x", suffix="ms", note=settled)
        figure(
            f"floor: {args.files:,} new object files of {size}, from memory (no read, no hash) vs `tar -cf`",
            floor_pair,
            "",
        )
        figure(
            f"first snapshot of {size} right after deleting {deleted_files:,} files vs `tar -cf`",
            deleted_pair,
            "",
            note="ext4 without a journal steps over recently freed inodes" if settled else "",
        )
        figure(f"re-snapshot of {size} after a 1-file edit vs `tar -cf`", edit_pair, "<= 0.1x")
        whole = statistics.median(processes[-args.repeat :]) * 1000
        figure(
            f"re-snapshot of {size} after a 1-file edit in a fresh interpreter (imports + call) vs `tar -cf`",
            fresh_pair,
            "",
            note=f"whole process incl. interpreter start-up {whole:.0f} ms",
        )
        print(f"digest: {DEFAULT_ALG}; load {os.getloadavg()[0]:.1f}", flush=True)
        shutil.rmtree(src, ignore_errors=True)
        if args.disk_mb:
            disk_use(work / "disk", args.disk_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


RECENTLY_FREED_SECONDS = 60  # RECENTCY_MIN of fs/ext4/ialloc.c


def unjournaled_ext4(folder: Path) -> bool:
    """Whether ``folder`` is on ext4 mounted without a journal: the kernel lists each ext4 device under
    /proc/fs/ext4 and each journal under /proc/fs/jbd2 (``<device>-8``)."""
    device = os.stat(folder).st_dev
    try:
        name = Path(os.path.realpath(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")).name
    except OSError:
        return False
    journals = Path("/proc/fs/jbd2")
    has_journal = journals.is_dir() and any(entry.name.startswith(f"{name}-") for entry in journals.iterdir())
    return Path("/proc/fs/ext4", name).is_dir() and not has_journal


def settle(work: Path, seconds: float) -> str:
    """On ext4 without a journal, write everything back and wait ``seconds``: the inodes freed before this
    benchmark started are reusable again (module docstring). The note printed with the first-snapshot figure."""
    if seconds <= 0 or not unjournaled_ext4(work):
        return ""
    os.sync()  # the freed inodes' table blocks on disk: their wait is then the shorter one
    print(f"ext4 without a journal: letting earlier deletions age for {seconds:.0f} s", flush=True)
    time.sleep(seconds)
    return f"after {seconds:.0f} s without deletions (ext4 without a journal)"


def delete_stores(work: Path) -> int:
    """Delete the stores the first-snapshot figures wrote; how many files that was."""
    deleted = 0
    for store in work.glob("store*"):
        deleted += sum(len(names) for _, _, names in os.walk(store))
        shutil.rmtree(store)
    return deleted


def write_objects(objects: ObjectStore, sizes: list[int], payload: bytes) -> None:
    """One object per size, written and committed as ``store_snapshot`` does (distinct made-up digests)."""
    view = memoryview(payload)
    for index, size in enumerate(sizes):
        fd, tmp = objects.begin(0o644)
        chunk = view[:size]
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]
        objects.commit(fd, tmp, f"{index:064x}", 0o644)


def stored_bytes(folder: Path) -> int:
    """Disk blocks used under ``folder``, each inode counted once (what ``du`` reports)."""
    seen: set[int] = set()
    used = 0
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            st = os.lstat(os.path.join(parent, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                used += st.st_blocks * 512
    return used


def disk_use(work: Path, total_mb: int, submits: int = 10) -> None:
    """The store after ``submits`` snapshots of one folder, one file changed before each: one MEMORY line."""
    src, store = work / "src", work / "store"
    files = max(1, total_mb)  # 1 MB files
    generate(src, total_mb, files)
    limits = SnapshotLimits(max_bytes=(total_mb + 64) * 1024 * 1024, max_files=files + 10)
    changed = 0
    for i in range(submits):
        if i:
            edited = src / "d0000" / f"f{i:06d}.bin"
            edited.write_bytes(os.urandom(edited.stat().st_size))
            os.utime(edited, (time.time() - 60,) * 2)
            changed += edited.stat().st_size
        store_snapshot(src, store, limits)
    folder = stored_bytes(src)
    used = stored_bytes(store)
    print(
        f"MEMORY | snapshot store after {submits} re-submits of a {folder / 2**20:.0f} MB folder, one file changed "
        f"each time: {used / 2**20:.0f} MB ({used / folder:.2f}x the folder; changed files {changed / 2**20:.0f} MB; "
        f"goal ~{(folder + changed) / 2**20:.0f} MB, a tar per submit would be {submits * folder / 2**20:.0f} MB) "
        f"| load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
