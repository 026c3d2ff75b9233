"""What the benchmark scripts share, written once so every script measures and reports the same way.

Every figure is *paired*: ours (A) and its bare baseline (B) run in turn, A B A B ..., and the
ratio is taken pair by pair, then the median of those ratios is reported with the medians of
both sides. On a shared machine the load drifts by the second; a pair sees the same load, a
block of A's followed by a block of B's does not. The 1-minute load average is printed with
every figure, because absolute times (and, less so, ratios) move with it.

Each figure is printed as one ``FIGURE`` line that ``run_all.py`` collects into the table.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def load() -> float:
    """The 1-minute load average (how many runnable processes shared the cores)."""
    return os.getloadavg()[0]


@dataclass
class Pair:
    ours: list[float]
    bare: list[float]
    loads: list[float]

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios (not the ratio of medians: each pair shares its load)."""
        return statistics.median(a / b for a, b in zip(self.ours, self.bare, strict=True))

    @property
    def spread(self) -> tuple[float, float]:
        ratios = [a / b for a, b in zip(self.ours, self.bare, strict=True)]
        return min(ratios), max(ratios)


def paired(ours: Callable[[], float], bare: Callable[[], float], repeat: int, warmup: int = 1) -> Pair:
    """Run ``ours`` and ``bare`` in turn ``repeat`` times (after ``warmup`` uncounted pairs); each returns seconds."""
    for _ in range(warmup):
        ours()
        bare()
    result = Pair([], [], [])
    for _ in range(repeat):
        result.loads.append(load())
        result.ours.append(ours())
        result.bare.append(bare())
    result.loads.append(load())
    return result


def figure(name: str, pair: Pair, goal: str, unit: float = 1000.0, suffix: str = "ms", note: str = "") -> None:
    """One table row: ``FIGURE | name | ours | bare | ratio (min-max) | goal | load``."""
    low, high = pair.spread
    ours, bare = statistics.median(pair.ours) * unit, statistics.median(pair.bare) * unit
    loads = f"{min(pair.loads):.1f}-{max(pair.loads):.1f}"
    print(
        f"FIGURE | {name} | {ours:.1f} {suffix} | {bare:.1f} {suffix} | {pair.ratio:.2f}x ({low:.2f}-{high:.2f}, "
        f"{len(pair.ours)} pairs) | {goal} | load {loads}{' | ' + note if note else ''}",
        flush=True,
    )


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rss_mb(pid: int) -> float:
    """Resident set size of a live process, from /proc (MB); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_for_standby(home: Path, seconds: float = 10.0) -> None:
    """Until a warm standby driver waits in ``home`` (a user's next submit comes seconds later); no-op when off."""
    from runconfig_jupyter.core.runs.standby import standby_seconds, waiting_pids

    if standby_seconds() <= 0:
        return
    deadline = time.monotonic() + seconds
    while not waiting_pids(home) and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_for_line(run: Any, line: str) -> None:
    """Until ``line`` is in the run's log, polled every 2 ms (the figure measured is submit -> this)."""
    log = run.run_dir / "logs" / "std_log.txt"
    while not (log.exists() and line in log.read_text()):
        time.sleep(0.002)
