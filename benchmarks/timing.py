"""What the benchmark scripts wait on, written once so every script measures the same way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def wait_for_standby(home: Path, seconds: float = 10.0) -> None:
    """Until a warm standby driver waits in ``home`` (a user's next submit comes seconds later); no-op when off."""
    from runconfig_jupyter.core.standby import standby_seconds, waiting_pids

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
