"""Local target: submit -> first log line, against a bare ``python -c`` printing the same line.

Both sides are measured in the same run, on the same machine, and the ratio is
printed; the absolute figures vary with the machine, the ratio much less.

    python benchmarks/bench_local.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = "first line"


def bare(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", f"print({LINE!r}, flush=True)"], stdout=subprocess.PIPE)
        assert process.stdout is not None
        process.stdout.readline()
        times.append(time.perf_counter() - start)
        process.wait()
    return times


def ours(repeat: int, source: Path) -> list[float]:
    from runconfig_jupyter import Experiment, ScriptRunConfig

    times = []
    config = ScriptRunConfig(str(source), command=[sys.executable, "-c", f"print({LINE!r}, flush=True)"])
    experiment = Experiment("bench")
    for _ in range(repeat):
        start = time.perf_counter()
        run = experiment.submit(config)
        log = run.run_dir / "logs" / "std_log.txt"
        while not (log.exists() and LINE in log.read_text()):
            time.sleep(0.002)
        times.append(time.perf_counter() - start)
        run.wait_for_completion()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as source:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        Path(source, "train.py").write_text("print('x')\n")
        ours(1, Path(source))  # warm the snapshot cache and imports
        baseline = statistics.median(bare(args.repeat))
        submitted = statistics.median(ours(args.repeat, Path(source)))
    print(f"bare python -c -> first line : {baseline * 1000:7.1f} ms (median of {args.repeat})")
    print(f"local submit   -> first line : {submitted * 1000:7.1f} ms (median of {args.repeat})")
    print(f"ratio                        : {submitted / baseline:7.2f}x")


if __name__ == "__main__":
    main()
