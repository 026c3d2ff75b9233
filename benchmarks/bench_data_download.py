"""Downloading a dataset through the download cache against a bare fsspec ``get`` of the same data.

Real servers on 127.0.0.1 (tests/data_servers.py): moto (S3, through s3fs) and Azurite (Azure Blob, through
adlfs). For each, a dataset of ``--mb`` MB in ``--files`` files is uploaded once, then, paired A B A B
(timing.py):
  ours  DownloadCache(<empty folder>).fetch(fs, path)  - listing, content key, staging folder, size check,
        rename into the cache
  bare  fs.get(path, <empty folder>, recursive=True)    - what s3fs / adlfs users do (azcopy-style copy)
and a cache hit: fetch again with the entry present, against the download's median, with the server's own
access log showing how many object GETs the hits made (0 expected).

    python3 benchmarks/bench_data_download.py              # 256 MB in 64 files
    python3 benchmarks/bench_data_download.py --full       # 1 GB
    python3 benchmarks/bench_data_download.py --mb 64 --repeat 2 --servers moto
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import figure, paired, timed

from runconfig_jupyter.core.data.cache import DownloadCache
from tests.data_servers import Server, azure_fs, new_container, s3_fs, start_azurite, start_moto, stop


def upload(fs, container: str, mb: int, files: int, scratch: Path) -> str:
    """``files`` files of random bytes totalling ``mb`` MB under ``container/dataset``; the remote path."""
    size = mb * 1024 * 1024 // files
    local = scratch / "dataset"
    local.mkdir()
    for index in range(files):
        (local / f"part-{index:04d}.bin").write_bytes(os.urandom(size))
    remote = f"{container}/dataset"
    fs.put(str(local), remote, recursive=True)
    shutil.rmtree(local)
    return remote


def measure(server: Server, fs, mb: int, files: int, repeat: int, work: Path) -> None:
    remote = upload(fs, new_container(server), mb, files, work)
    counter = iter(range(10**6))

    def ours() -> float:
        root = work / f"cache-{next(counter)}"
        elapsed = timed(lambda: DownloadCache(root).fetch(fs, remote))
        shutil.rmtree(root)
        return elapsed

    def bare() -> float:
        target = work / f"bare-{next(counter)}"
        elapsed = timed(lambda: fs.get(remote, str(target), recursive=True))
        shutil.rmtree(target)
        return elapsed

    pair = paired(ours, bare, repeat=repeat, warmup=0)
    label = {"moto": "S3 (moto, s3fs)", "azurite": "Azure Blob (Azurite, adlfs)"}[server.name]
    figure(
        f"download {mb} MB / {files} files from {label}: DownloadCache.fetch vs fs.get(recursive=True)",
        pair,
        "<= 1.1x",
        unit=1.0,
        suffix="s",
    )
    cache = DownloadCache(work / "hit-cache")
    cache.fetch(fs, remote)
    reads_before = server.object_reads()
    hits = [timed(lambda: cache.fetch(fs, remote)) for _ in range(max(3, repeat))]
    reads = server.object_reads() - reads_before
    hit, download = statistics.median(hits), statistics.median(pair.ours)
    print(
        f"FIGURE | cache hit of {mb} MB from {label} vs the download | {hit * 1000:.1f} ms | {download * 1000:.1f} ms "
        f"| {hit / download:.3f}x ({len(hits)} hits) | no bytes transferred | load {os.getloadavg()[0]:.1f} | "
        f"{reads} object GETs at the server",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=256, help="dataset size in MB (default 256)")
    parser.add_argument("--full", action="store_true", help="1 GB, the issue's figure")
    parser.add_argument("--files", type=int, default=64, help="number of files in the dataset")
    parser.add_argument("--repeat", type=int, default=3, help="pairs per server")
    parser.add_argument("--servers", default="moto,azurite", help="comma-separated: moto, azurite")
    args = parser.parse_args()
    mb = 1024 if args.full else args.mb
    work = Path(tempfile.mkdtemp(prefix="bench-data-"))
    os.environ.setdefault("RUNCONFIG_JUPYTER_HOME", str(work / "home"))
    try:
        for name in args.servers.split(","):
            started = time.monotonic()
            server = start_moto(work) if name == "moto" else start_azurite(work)
            try:
                fs = s3_fs(server) if name == "moto" else azure_fs(server)
                measure(server, fs, mb, args.files, args.repeat, work)
            finally:
                stop(server.process)
            print(f"({name}: {time.monotonic() - started:.0f} s with the upload)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
