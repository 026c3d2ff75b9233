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

A spare kept with ``prestart_env`` also starts the script's interpreter ahead (prestarted.py), in
that environment. A run uses it only when its command is ``python SCRIPT ...`` (or ``python -c
CODE ...``) with this same interpreter and its environment is ``prestart_env`` plus the names that
change from run to run (``per_run_names``): a script must never find an environment it would not have had, nor miss one
of its own variables. The spare's process environment is ``prestart_env`` (never the driver's
own), so the prestarted process cannot hold a variable the run's script would not see.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.targets.processes.supervision import SUPERVISOR, supervised

_spare: subprocess.Popen[bytes] | None = None
_prestart_env: dict[str, str] | None = None  # the environment the spare's prestarted interpreter has


def keep_spare(prestart_env: Mapping[str, str] | None = None) -> None:
    """Start this process's spare unless a live one exists; never raises (a spare is an optimisation).

    ``prestart_env`` (the target's prediction of a run's environment without its per-run names) makes the
    spare start the script's interpreter too; once given it is kept for the spares started after.
    """
    global _spare, _prestart_env
    if prestart_env is not None:
        _prestart_env = dict(prestart_env)
    if _spare is not None and _spare.poll() is None:
        return
    argv = [sys.executable, "-I", "-S", str(SUPERVISOR), "--await"]
    if _prestart_env is not None:
        argv.append("--prestart")
    try:
        _spare = subprocess.Popen(
            argv,
            cwd="/",
            env=_prestart_env,  # None: the driver's own (nothing of it is run by a script, see the docstring)
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the run's session and process group from the start: cancel's killpg
            close_fds=True,
        )
    except OSError:
        _spare = None


def fits_prestarted(argv: Sequence[str], env: Mapping[str, str], per_run_names: Collection[str] | None) -> bool:
    """Whether the spare's prestarted interpreter can be this run's script (see the module docstring).

    ``per_run_names`` None: the run does not want one (the local target's ``prestart: false``).
    """
    if _prestart_env is None or per_run_names is None or len(argv) < 2 or argv[0] != sys.executable:
        return False
    if argv[1].startswith("-") and not (argv[1] == "-c" and len(argv) >= 3):
        return False  # interpreter options other than -c change how it starts: `python -u`, `-m`, `-X`...
    return {name: value for name, value in env.items() if name not in per_run_names} == _prestart_env


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
    argv: Sequence[str],
    exit_file: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    per_run_names: Collection[str] | None = None,
) -> subprocess.Popen[bytes]:
    """``argv`` under a supervisor: the spare when one is alive, else a new one. Raises OSError like Popen.

    ``per_run_names``: the environment's names whose values differ from run to run and no interpreter
    start reads; a run differing from the prestarted interpreter's environment only in those can use it
    (None: it does not use one).
    """
    global _spare
    spare, _spare = _spare, None
    if spare is not None and spare.poll() is None and spare.stdin is not None:
        run = {
            "exit_file": str(exit_file),
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "log": str(log_path),
            "prestarted": fits_prestarted(argv, env, per_run_names),
        }
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
