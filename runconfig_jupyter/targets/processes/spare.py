"""A spare supervisor: the script's parent process, started before its run is known.

Starting the supervisor (supervisor.py, ``python -I -S``) costs an interpreter start - 5-10 ms, more
on a loaded machine - that used to sit between "the driver starts the run" and "the script starts".
A spare pays it ahead: the local target's ``warm_up`` keeps one (``keep_spare``), which a standby driver
calls while it waits and a fresh driver as it starts (core/runs/driver.py ``warm_up_target``), so it
boots while the driver reads the run and extracts the snapshot. The run is then handed over on the
spare's stdin (``start_supervised``), and it
spawns the script exactly as a supervisor started with the run's argv would (same session, cwd,
environment, log file, exit file).

One spare per driver process; a spare whose driver exits sees its stdin close and exits too, so it
can never outlive the standby that kept it. Anything odd (no spare, a dead one, a broken pipe) falls
back to starting the supervisor the ordinary way: a spare only ever saves time.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.targets.processes.supervision import SUPERVISOR, supervised

_spare: subprocess.Popen[bytes] | None = None


def keep_spare() -> None:
    """Start this process's spare unless a live one exists; never raises (a spare is an optimisation)."""
    global _spare
    if _spare is not None and _spare.poll() is None:
        return
    try:
        _spare = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR), "--await"],
            cwd="/",
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the run's session and process group from the start: cancel's killpg
            close_fds=True,
        )
    except OSError:
        _spare = None


def discard_spare() -> None:
    """Let the spare go (its stdin closes: it exits) and reap it; for a run that will not use it."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return
    with contextlib.suppress(OSError):
        assert spare.stdin is not None
        spare.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.wait(timeout=5)


def start_supervised(
    argv: Sequence[str], exit_file: Path, *, cwd: Path, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``argv`` under a supervisor: the spare when one is alive, else a new one. Raises OSError like Popen."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None and spare.poll() is None and spare.stdin is not None:
        run = {"exit_file": str(exit_file), "argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log_path)}
        try:
            spare.stdin.write(json.dumps(run).encode())
            spare.stdin.close()  # end of the run's description: the spare starts it now
            return spare
        except OSError:  # it died under us: reap it, start one the ordinary way
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                spare.wait(timeout=5)
    return spawn_detached(supervised(list(argv), exit_file), cwd=cwd, env=env, log_path=log_path)


def spare_pid() -> int | None:
    """The live spare's PID (tests end it, and check that it goes with its driver)."""
    return _spare.pid if _spare is not None and _spare.poll() is None else None
