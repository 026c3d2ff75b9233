"""Starting local processes so that any driver - the one that started them or one adopting them - can finish them.

Each script (or rank) runs under supervisor.py, which writes the exit code to a file in the run
folder; this module builds that command line and reads that file. "Is that process still the one we
started?" (pid + start mark) is core/system/proc.py's ``same_process``, shared with the driver-liveness check.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.system.atomic import read_json

SUPERVISOR = Path(__file__).with_name("supervisor.py")


def supervised(argv: list[str], exit_file: Path) -> list[str]:
    """``argv`` under the supervisor, which records its exit code in ``exit_file``.

    ``python -I -S`` costs 5-10 ms to start; spare.py pays it ahead for single-process local runs.
    """
    return [sys.executable, "-I", "-S", str(SUPERVISOR), str(exit_file), "--", *argv]


def recorded_exit(exit_file: Path) -> dict[str, Any] | None:
    """What the supervisor wrote when its script ended, or None (still running, or killed with it)."""
    record = read_json(exit_file)
    return record if isinstance(record, dict) and isinstance(record.get("exit_code"), int) else None
