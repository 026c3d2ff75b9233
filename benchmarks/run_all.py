"""Every figure of the fast-path table (issue 15), each paired with its bare baseline, as one table.

Runs each benchmark script in turn with short settings (every one bounded, well under two
minutes on a loaded 2-core machine), collects the ``FIGURE`` and ``MEMORY`` lines they print
(benchmarks/timing.py) and prints them as a Markdown table with the load each was measured at.
A script that fails or runs out of time is reported as such; the others still run.

    PYTHONPATH=$PWD python benchmarks/run_all.py [--only local,server,...] [--skip ray,kernel]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name -> (script and arguments, time bound in seconds)
BENCHMARKS: dict[str, tuple[list[str], float]] = {
    "local": (["bench_local.py", "--repeat", "8"], 120),
    "script": (["bench_script.py", "--repeat", "5"], 150),
    "docker": (["bench_docker.py", "--repeat", "5"], 150),
    "snapshot": (["bench_snapshot.py", "--repeat", "3"], 240),  # waits ~60 s on ext4 without a journal
    "ray": (["bench_ray.py", "--repeat", "3"], 180),
    "server": (["bench_server.py"], 120),
    "kernel": (["bench_kernel.py", "--repeat", "5", "--mb", "8"], 480),  # cold, warm, upload, re-submit; boots vary
    "data": (["bench_data_download.py", "--mb", "64", "--repeat", "2"], 180),
    "data_mount": (["bench_data_mount.py", "--repeat", "3"], 180),
}


def run(name: str, argv: list[str], bound: float) -> tuple[list[str], str]:
    """The FIGURE/MEMORY lines of one benchmark, and what went wrong ('' when nothing did)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / argv[0]), *argv[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=bound,
        )
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        return _rows(output), f"stopped after {bound:.0f} s"
    if done.returncode == 0:
        return _rows(done.stdout), ""
    # The last line names the exception; the whole stderr (the failing run's own output included) is kept for reading.
    kept = Path(tempfile.gettempdir(), f"run_all-{name}-{os.getpid()}.stderr")
    kept.write_text(done.stderr)
    return _rows(done.stdout), f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]} (whole stderr: {kept})"


def bytecode_state() -> str:
    """How many of the package's modules have up-to-date bytecode: without it every driver, standby and
    submitting script compiles the sources again (PYTHONDONTWRITEBYTECODE, an editable install), which
    moves the cold figures by ~50 ms. scripts/install.sh compiles it, as a wheel's install does."""
    import importlib.util

    sources = list((ROOT / "runconfig_jupyter").rglob("*.py"))
    fresh = 0
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        fresh += cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime
    return f"package bytecode: {fresh}/{len(sources)} modules compiled"


def _rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("FIGURE |", "MEMORY |"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    args = parser.parse_args()
    chosen = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n and n not in args.skip.split(",")]
    figures, memory, problems = [], [], []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for name in chosen:
        argv, bound = BENCHMARKS[name]
        print(f"running {name} ({' '.join(argv)}), load {os.getloadavg()[0]:.1f} ...", file=sys.stderr, flush=True)
        rows, problem = run(name, argv, bound)
        figures += [row for row in rows if row.startswith("FIGURE")]
        memory += [row for row in rows if row.startswith("MEMORY")]
        if problem:
            problems.append(f"{name}: {problem}")
    print(
        f"Measured {started}, {os.cpu_count()} cores, {bytecode_state()}; every ratio is the median of "
        "per-pair ratios (A B A B).\n"
    )
    print("| figure | ours | bare baseline | ratio (min-max, pairs) | goal | load (1-min) |")
    print("|---|---|---|---|---|---|")
    for row in figures:
        cells = [cell.strip() for cell in row.split("|")[1:]]
        note = f" ({cells[6]})" if len(cells) > 6 else ""
        print(f"| {cells[0]}{note} | {cells[1]} | {cells[2]} | {cells[3]} | {cells[4]} | {cells[5][5:]} |")
    for row in memory:
        print("\n" + " ; ".join(cell.strip() for cell in row.split("|")[1:]))
    for problem in problems:
        print(f"\nnot measured: {problem}")


if __name__ == "__main__":
    main()
