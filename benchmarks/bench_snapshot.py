"""Snapshot speed against a bare ``tar -cf`` of the same folder, measured in the same run.

Three figures, each as a ratio to the tar baseline (median of --repeat runs, warm page cache):
  first      create_snapshot into an empty store (walk + hash + deterministic tar, one read per file)
  resubmit   create_snapshot of the unchanged folder again (stat walk + hash cache + existing archive)
  one-edit   one file edited, then create_snapshot (only that file hashed; a new archive is written)

    python3 benchmarks/bench_snapshot.py                  # 256 MB / 2,500 files (well under 2 min)
    python3 benchmarks/bench_snapshot.py --mb 1024 --files 10000
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runconfig_jupyter.core.snapshot import SnapshotLimits, create_snapshot


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


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
        tar_t, first_t, again_t, edit_t = [], [], [], []
        for rep in range(args.repeat):
            store = work / f"store{rep}"
            tar_t.append(timed(bare_tar))
            first_t.append(timed(lambda store=store: create_snapshot(src, store, limits)))
            again_t.append(timed(lambda store=store: create_snapshot(src, store, limits)))
            edited = src / "d0000" / "f000000.bin"
            edited.write_bytes(edited.read_bytes()[:-8] + rep.to_bytes(8, "little"))
            os.utime(edited, (time.time() - 60,) * 2)
            edit_t.append(timed(lambda store=store: create_snapshot(src, store, limits)))
            shutil.rmtree(store)

        base = statistics.median(tar_t)
        print(f"folder: {args.mb} MB in {args.files:,} files (generated in {t_gen:.1f}s), median of {args.repeat}")
        print(f"bare tar -cf          {base:8.3f}s   1.00x")
        for label, values in (("first snapshot", first_t), ("re-snapshot", again_t), ("after 1-file edit", edit_t)):
            value = statistics.median(values)
            print(f"{label:<20}  {value:8.3f}s   {value / base:.2f}x of tar")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
