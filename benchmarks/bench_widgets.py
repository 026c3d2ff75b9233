"""RunDetails under a flood of log lines, against a bare tail loop reading the same run.

A real local run prints ``--lines`` lines (default 1,000,000) in batches; two
followers watch it at the same time, in this process:

* ours: ``RunDetails`` (real ipywidgets models; no front end attached, so the
  comm is a no-op and what is measured is the kernel side: reading, parsing,
  the ring buffer, HTML rendering, trait updates);
* bare: a loop that reads new bytes every 0.1 s and keeps the last 200 lines -
  the least any live log view has to do.

Printed: CPU seconds per second of run for each and their ratio, widget
updates per second (goal <= 10), p95 latency from a line being printed to it
being in the widget (goal <= 200 ms), kernel RSS growth (goal < 50 MB), the
widget's log state vs the raw log size, and whether the run's own log kept
every line.

    python benchmarks/bench_widgets.py [--lines 1000000] [--batches 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import psutil

SCRIPT = """
import sys, time
lines, batches = int(sys.argv[1]), int(sys.argv[2])
per_batch = lines // batches
write = sys.stdout.write
for batch in range(batches):
    stamp = time.time()
    base = batch * per_batch
    write("".join(f"line {base + i} t={stamp:.6f}\\n" for i in range(per_batch)))
    sys.stdout.flush()
    time.sleep(0.05)
"""


class BareTail:
    """Reads new bytes every ``poll`` seconds and keeps the last lines: the baseline."""

    def __init__(self, path: Path, poll: float = 0.1, keep: int = 200):
        self.path, self.poll = path, poll
        self.tail: deque[str] = deque(maxlen=keep)
        self.cpu = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        start = time.thread_time()
        offset, partial = 0, ""
        while not self.stop.is_set():
            try:
                with open(self.path, "rb") as log:
                    log.seek(offset)
                    data = log.read()
            except FileNotFoundError:
                data = b""
            offset += len(data)
            lines = (partial + data.decode(errors="replace")).split("\n")
            partial = lines.pop()
            self.tail.extend(lines)
            self.stop.wait(self.poll)
        self.cpu = time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as source:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        Path(source, "spam.py").write_text(SCRIPT)
        run_bench(Path(source), args.lines, args.batches)


def run_bench(source: Path, lines: int, batches: int) -> None:
    from runconfig_jupyter import ScriptRunConfig
    from runconfig_jupyter.core.runs.script_run import submit
    from runconfig_jupyter.widgets.run_details import RunDetails

    process = psutil.Process()
    config = ScriptRunConfig(str(source), script="spam.py", arguments=[lines, batches])
    run = submit(config, "bench")
    details = RunDetails(run)  # imports and widget construction happen before the RSS baseline
    rss_before = process.memory_info().rss

    latencies: list[float] = []
    update = details.follower.on_update
    assert update is not None

    def timed_update(state):  # type: ignore[no-untyped-def]
        update(state)
        if state.tail:
            last = state.tail[-1]
            if " t=" in last:
                latencies.append(time.time() - float(last.rsplit("t=", 1)[1]))

    details.follower.on_update = timed_update
    ours_cpu = [0.0]
    loop = details.follower._loop

    def timed_loop() -> None:
        start = time.thread_time()
        try:
            loop()
        finally:
            ours_cpu[0] = time.thread_time() - start

    details.follower._loop = timed_loop  # type: ignore[method-assign]
    bare = BareTail(run.run_dir / "logs" / "std_log.txt")
    wall_start = time.monotonic()
    bare.thread.start()
    details.start()
    finished = details.wait(600)
    wall = time.monotonic() - wall_start
    bare.stop.set()
    bare.thread.join(10)
    rss_growth = (process.memory_info().rss - rss_before) / 2**20

    log_path = run.run_dir / "logs" / "std_log.txt"
    raw_bytes = log_path.stat().st_size
    with open(log_path, "rb") as log:
        kept = sum(1 for _ in log)
    widget_bytes = len(details.view.text.encode()) + sum(len(line) for line in details.follower.state.tail)
    updates_per_second = details.follower.updates / wall
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) >= 20 else float("nan")
    status = run.get_status()

    print(f"run: {lines:,} lines in {batches} batches, {raw_bytes / 2**20:.1f} MB, {wall:.1f} s wall, {status}")
    print(f"run log complete: {kept == lines} ({kept:,} of {lines:,} lines in std_log.txt)")
    print(f"follower finished by itself: {finished}; thread alive after: {details.follower.alive}")
    print(f"CPU per second of run: RunDetails {ours_cpu[0] / wall:.4f} s/s, bare tail {bare.cpu / wall:.4f} s/s")
    print(f"ratio RunDetails / bare tail CPU: {ours_cpu[0] / max(bare.cpu, 1e-9):.2f}")
    print(f"widget updates per second: {updates_per_second:.1f} (goal <= 10)")
    median = statistics.median(latencies) * 1000 if latencies else float("nan")
    print(f"line -> widget latency: p95 {p95:.0f} ms, median {median:.0f} ms (goal <= 200)")
    print(f"kernel RSS growth: {rss_growth:.1f} MB (goal < 50)")
    print(
        f"widget log state {widget_bytes / 1024:.0f} KB vs raw log {raw_bytes / 1024:.0f} KB: "
        f"ratio {widget_bytes / raw_bytes:.4f}"
    )
    details.close()
    if status != "Completed":
        sys.exit(f"the benchmark run ended {status}")


if __name__ == "__main__":
    main()
