"""Starting local processes so that any driver - the one that started them or one adopting them - can finish them.

Each script (or rank) runs under local_supervisor.py, which writes the exit code to a file in the run
folder; this module builds that command line and answers "is that process still the one we started?"
(pid + start time, so a recycled pid is never mistaken for the run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runconfig_jupyter.core import proc
from runconfig_jupyter.core.atomic import read_json

SUPERVISOR = Path(__file__).with_name("local_supervisor.py")


def supervised(argv: list[str], exit_file: Path) -> list[str]:
    """``argv`` under the supervisor, which records its exit code in ``exit_file`` (``python -I -S``: ~30 ms)."""
    return [sys.executable, "-I", "-S", str(SUPERVISOR), str(exit_file), "--", *argv]


def process_alive(pid: int, started: float | None) -> bool:
    """The same process still runs (not a recycled pid, not a zombie); read from /proc, no psutil import."""
    now_started = proc.start_time(pid)
    if now_started is None or proc.is_zombie(pid):
        return False
    return started is None or abs(now_started - started) < 1.0


def recorded_exit(exit_file: Path) -> dict[str, Any] | None:
    """What the supervisor wrote when its script ended, or None (still running, or killed with it)."""
    record = read_json(exit_file)
    return record if isinstance(record, dict) and isinstance(record.get("exit_code"), int) else None
