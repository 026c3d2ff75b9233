"""Which launcher an MPI run asks for: ``auto``, ``mpirun`` or ``direct`` (see mpi_launch.py).

Apart from mpi_launch.py because every submit checks the request (a typo fails before anything is
recorded) while only an MPI run needs the launching machinery: a single-process run's submit and
driver import this small module, not the rank groups, log mergers and supervisors behind it.
"""

from __future__ import annotations

import os

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.system.records import record

LAUNCHER_ENV = "RUNCONFIG_MPI_LAUNCHER"
LAUNCHERS = ("auto", "mpirun", "direct")


@record(frozen=True)
class LauncherChoice:
    """What will start the ranks and why (the sentence goes to prepare_log.txt)."""

    use_mpirun: bool
    mpirun: str | None
    reason: str
    requested: str = "auto"


def requested_launcher(run_env: dict[str, str], setting: object = None) -> str:
    """``auto`` / ``mpirun`` / ``direct``: run env var, then the driver's env, then the target setting."""
    for source, value in (
        (f"the run's {LAUNCHER_ENV}", run_env.get(LAUNCHER_ENV)),
        (LAUNCHER_ENV, os.environ.get(LAUNCHER_ENV)),
        ("the target's mpi_launcher", setting),
    ):
        if value is None or value == "":
            continue
        choice = str(value).strip().lower()
        if choice not in LAUNCHERS:
            raise ConfigError(
                f"{source} is {value!r}; use one of {', '.join(LAUNCHERS)}",
                field="mpi_launcher" if source.startswith("the target") else LAUNCHER_ENV,
            )
        return choice
    return "auto"
