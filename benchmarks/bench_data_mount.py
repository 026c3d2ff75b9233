"""Docker run start with a registered N GB folder mounted vs the same run without it: nothing is copied.

A registered local datastore reaches a container as a read-only bind mount (targets/docker/data.py), so a
2 GB (or, with ``--full``, 10 GB) folder should cost what no folder costs: the figure is submit -> Completed
of a script that lists the mounted folder, against the same submit without the input, paired A B A B. The
files are sparse by default (made with truncate: the size is real to every reader, the disk holds none of it);
``--real`` writes real bytes instead (slow, uses the disk). Also printed: how much the run folder and the
download cache grew across all the mounted runs (a copy would show up there).

    python benchmarks/bench_data_mount.py [--repeat 5] [--gb 2] [--full] [--real]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import figure, paired  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILE_BYTES = 256 * 1024**2
SCRIPT = """import os, sys
folder = sys.argv[1] if len(sys.argv) > 1 else None
sizes = [os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)] if folder else []
print(f"{len(sizes)} files, {sum(sizes) / 1e9:.2f} GB", flush=True)
"""


def make_folder(root: Path, gigabytes: float, real: bool) -> int:
    """``gigabytes`` of data in 256 MiB files; sparse unless ``real``. Returns the byte count."""
    root.mkdir(parents=True, exist_ok=True)
    total = int(gigabytes * 1024**3)
    count = max(1, total // FILE_BYTES)
    for index in range(count):
        path = root / f"part-{index:04d}.bin"
        with open(path, "wb") as out:
            if real:
                block = os.urandom(1024**2)
                for _ in range(FILE_BYTES // len(block)):
                    out.write(block)
            else:
                out.truncate(FILE_BYTES)
    return count * FILE_BYTES


def disk_used(path: Path) -> int:
    """Bytes the folder really holds on disk (``du``), 0 when it does not exist."""
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--full", action="store_true", help="10 GB")
    parser.add_argument("--real", action="store_true", help="real bytes instead of sparse files")
    args = parser.parse_args()
    gigabytes = 10.0 if args.full else args.gb
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_docker.sh")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "0"  # a fresh driver per submit, on both sides
        from runconfig_jupyter import Datastore, Experiment, ScriptRunConfig, Workspace

        source = Path(work, "project")
        source.mkdir()
        (source / "list.py").write_text(SCRIPT)
        started = time.perf_counter()
        size = make_folder(Path(work, "big"), gigabytes, args.real)
        made = time.perf_counter() - started
        store = Datastore.register_local(Workspace(), "big", str(Path(work, "big")))
        experiment = Experiment("bench-data")
        lines: list[str] = []

        def submit(arguments: list) -> float:  # type: ignore[type-arg]
            config = ScriptRunConfig(str(source), script="list.py", arguments=arguments, compute_target="docker")
            start = time.perf_counter()
            run = experiment.submit(config)
            run.wait_for_completion(timeout=600)
            elapsed = time.perf_counter() - start
            lines.append(run.get_log().strip().splitlines()[-1])
            return elapsed

        def mounted() -> float:
            return submit([store.path(data_reference_name="big").as_mount()])

        def without() -> float:
            return submit([])

        runs_before = disk_used(Path(home, "runs"))
        pair = paired(mounted, without, args.repeat)
        grown = disk_used(Path(home, "runs")) - runs_before
        cache = disk_used(Path(home, "data_cache"))
    kind = "real" if args.real else "sparse"
    figure(
        f"docker submit -> Completed with a registered {size / 1024**3:.0f} GiB folder ({kind}) mounted vs without",
        pair,
        "~1x (nothing copied)",
    )
    seen = sorted(set(line for line in lines if "files" in line and not line.startswith("0 files")))
    print(f"the script saw: {', '.join(seen)}; folder made in {made:.1f} s")
    print(f"run folders grew {grown / 1e6:.1f} MB over {2 * (args.repeat + 1)} runs; download cache {cache} bytes")


if __name__ == "__main__":
    main()
