"""Snapshot speed against a bare ``tar -cf`` of the same folder, measured in the same run.

Two figures, each paired with a ``tar -cf`` of the same folder (timing.py; warm page cache):
  first      create_snapshot into an empty store (walk + hash + deterministic tar, one read per file)
  one-edit   one file edited, then create_snapshot (only that file hashed; a new archive is written)
and the time of an unchanged re-snapshot (stat walk + hash cache + existing archive).

    python3 benchmarks/bench_snapshot.py                  # 256 MB / 2,500 files (well under 2 min)
    python3 benchmarks/bench_snapshot.py --mb 1024 --files 10000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import figure, paired, timed

from runconfig_jupyter.core.snapshot.create import SnapshotLimits, create_snapshot


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
        stores = iter(range(10**6))
        state: dict[str, Path] = {}

        def first() -> float:
            if "store" in state:  # each first snapshot goes into an empty store; drop the last one
                shutil.rmtree(state["store"], ignore_errors=True)
            state["store"] = work / f"store{next(stores)}"
            return timed(lambda: create_snapshot(src, state["store"], limits))

        def one_edit() -> float:
            edited = src / "d0000" / "f000000.bin"
            edited.write_bytes(edited.read_bytes()[:-8] + os.urandom(8))
            os.utime(edited, (time.time() - 60,) * 2)
            return timed(lambda: create_snapshot(src, state["store"], limits))

        first_pair = paired(first, lambda: timed(bare_tar), args.repeat)
        edit_pair = paired(one_edit, lambda: timed(bare_tar), args.repeat)
        again = timed(lambda: create_snapshot(src, state["store"], limits))
        size = f"{args.mb} MB / {args.files:,} files"
        print(f"folder: {size} (generated in {t_gen:.1f}s); unchanged re-snapshot {again * 1000:.0f} ms")
        figure(f"first snapshot of {size} vs `tar -cf`", first_pair, "<= 1.2x", suffix="ms")
        figure(f"re-snapshot of {size} after a 1-file edit vs `tar -cf`", edit_pair, "<= 0.1x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
