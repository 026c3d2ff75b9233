"""Local target: submit -> first log line, against a bare ``python -c`` printing the same line.

Both sides are measured in the same run, on the same machine, and the ratio is
printed; the absolute figures vary with the machine, the ratio much less.

"warm": from the second submit of a session on, a standby driver (core/standby.py) takes the run;
"cold": a fresh driver process per submit.

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

from timing import wait_for_line, wait_for_standby  # benchmarks/timing.py, beside this script

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


def ours(repeat: int, source: Path) -> tuple[list[float], int]:
    """Submit -> first line, and how many of the runs a warm standby driver served."""
    from runconfig_jupyter import Experiment, ScriptRunConfig

    times, served = [], 0
    config = ScriptRunConfig(str(source), command=[sys.executable, "-c", f"print({LINE!r}, flush=True)"])
    experiment = Experiment("bench")
    for _ in range(repeat):
        wait_for_standby(experiment.store.home)
        start = time.perf_counter()
        run = experiment.submit(config)
        wait_for_line(run, LINE)
        times.append(time.perf_counter() - start)
        run.wait_for_completion()
        served += bool(run.record.details.get("standby_driver"))
    return times, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as source:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        Path(source, "train.py").write_text("print('x')\n")
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "0"  # cold: a fresh driver process per submit
        ours(1, Path(source))  # warm the snapshot cache and imports
        baseline = statistics.median(bare(args.repeat))
        cold = statistics.median(ours(args.repeat, Path(source))[0])
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "120"  # the default: a warm standby driver
        ours(1, Path(source))  # the first submit of a session starts the first standby
        warm_times, served = ours(args.repeat, Path(source))
        submitted = statistics.median(warm_times)
    print(f"bare python -c -> first line : {baseline * 1000:7.1f} ms (median of {args.repeat})")
    print(f"local submit   -> first line : {submitted * 1000:7.1f} ms ({served}/{args.repeat} by a standby driver)")
    print(f"cold submit    -> first line : {cold * 1000:7.1f} ms (a fresh driver process each)")
    print(f"ratio warm                   : {submitted / baseline:7.2f}x")
    print(f"ratio cold                   : {cold / baseline:7.2f}x")


if __name__ == "__main__":
    main()
