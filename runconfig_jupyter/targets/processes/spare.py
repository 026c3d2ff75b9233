"""A spare: the script's parent process, started before its run is known.

Starting the supervisor (supervisor.py, ``python -I -S``) costs an interpreter start - 5-10 ms, more
on a loaded machine - that used to sit between "the driver starts the run" and "the script starts".
A spare pays it ahead: the local target's ``warm_up`` keeps one (``keep_spare``), which a standby driver
calls while it waits and a fresh driver as it starts (core/runs/driver_entry.py), so it boots while
the driver reads the run and extracts the snapshot. The run is then handed over on the spare's stdin
(``start_supervised``), and it starts the script exactly as a supervisor started with the run's argv
would (same session, cwd, environment, log file, exit file).

A spare kept with ``prestart_env`` (the local target's prediction of a default run's environment) is
also the script's interpreter, started ahead (prestarted.py): a run whose command is ``python SCRIPT
...`` (or ``python -c CODE ...``) with this same interpreter and whose environment is ``prestart_env``
plus the names that change from run to run (``per_run_names``) becomes a fork of it, so the script
skips the interpreter start; any other run is spawned by it as by ``supervisor.py``. A script must
never find an environment it would not have had, nor miss one of its own variables, and the spare's
process environment is ``prestart_env``, never the driver's own, so it holds no variable the run's
script would not see. Without ``prestart_env`` the spare is ``supervisor.py --await``.

One spare per driver process; a spare whose driver exits sees its stdin close and exits too, so it
can never outlive the standby that kept it. Anything odd (no spare, a dead one, a broken pipe) falls
back to starting the supervisor the ordinary way: a spare only ever saves time.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a fresh driver imports this module before its spare starts: pathlib & co. come after
    from pathlib import Path

_spare: subprocess.Popen[bytes] | None = None
_prestart_env: dict[str, str] | None = None  # the prediction the next prestarted spare is started with
_spare_env: dict[str, str] | None = None  # the live spare's environment when it is prestarted.py (else --await)


PRESTARTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prestarted.py")
TEMP_FOLDER_VARIABLES = ("TMPDIR", "TEMP", "TMP")  # where tempfile looks first, in its order
TITLE_ROOM = 1024  # bytes of argument memory a prestarted script gets to show its command in (prestarted.py)


def keep_spare(prestart_env: Mapping[str, str] | None = None) -> None:
    """Start this process's spare unless a live one exists; never raises (a spare is an optimisation).

    ``prestart_env`` (the target's prediction of a run's environment without its per-run names) makes the
    spare the script's interpreter too; once given it is kept for the spares started after.
    """
    global _spare, _prestart_env, _spare_env
    if prestart_env is not None:
        _prestart_env = dict(prestart_env)
    if _spare is not None and _spare.poll() is None:
        return
    if _prestart_env is None:
        from runconfig_jupyter.targets.processes.supervision import SUPERVISOR

        argv = [sys.executable, "-I", "-S", str(SUPERVISOR), "--await"]
    else:
        start = f"LOADER = {str(PRESTARTED)!r}; exec(open(LOADER, 'rb').read())"
        argv = [sys.executable, "-c", start, "awaiting a run".ljust(TITLE_ROOM)]  # room for the run's title
    try:
        # What a prestarted interpreter prints while it starts (-X importtime, a .pth's warning) is kept, and
        # written to the log of the run it becomes, where a fresh interpreter would have written it.
        with _startup_output() as startup:
            _spare = subprocess.Popen(
                argv,
                cwd="/",
                env=_prestart_env,  # None: the driver's own (nothing of it is run by a script, see the docstring)
                stdin=subprocess.PIPE,
                stdout=startup,
                stderr=startup,
                start_new_session=True,  # the run's session and process group from the start: cancel's killpg
                close_fds=True,
            )
    except OSError:
        _spare = None
    _spare_env = _prestart_env if _spare is not None else None


@contextlib.contextmanager
def _startup_output() -> Iterator[int]:
    """The spare's stdout and stderr: /dev/null for supervisor.py, an unnamed file for a prestarted interpreter.

    The file is made with ``O_TMPFILE`` where the temp folder allows it: ``tempfile`` (~8 ms of imports on a
    fresh driver, before the spare could start) only where it does not.
    """
    if _prestart_env is None:
        yield subprocess.DEVNULL
        return
    folder = next((os.environ[name] for name in TEMP_FOLDER_VARIABLES if os.environ.get(name)), "/tmp")
    try:
        fd: int | None = os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):  # no O_TMPFILE here
        fd = None
    if fd is None:  # a named temp file, removed at once
        import tempfile

        with tempfile.TemporaryFile(prefix="runconfig-spare-") as startup:
            yield startup.fileno()
        return
    try:
        yield fd
    finally:
        os.close(fd)


def fits_prestarted(
    spare_env: Mapping[str, str], argv: Sequence[str], env: Mapping[str, str], per_run_names: Collection[str] | None
) -> bool:
    """Whether a prestarted spare started with ``spare_env`` can be this run's script (see the module docstring).

    ``per_run_names`` None: the run does not want one (the local target's ``prestart: false``).
    """
    if per_run_names is None or len(argv) < 2 or argv[0] != sys.executable:
        return False
    if argv[1].startswith("-") and not (argv[1] == "-c" and len(argv) >= 3):
        return False  # interpreter options other than -c change how it starts: `python -u`, `-m`, `-X`...
    return {name: value for name, value in env.items() if name not in per_run_names} == spare_env


def discard_spare() -> None:
    """Let the spare go (its stdin closes: it exits) and reap it; for a run that will not use it."""
    global _spare, _spare_env
    spare, _spare, _spare_env = _spare, None, None
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
    global _spare, _spare_env
    spare, spare_env = _spare, _spare_env
    _spare, _spare_env = None, None
    if spare is not None and spare.poll() is None and spare.stdin is not None:
        if spare_env is not None:  # prestarted.py: NUL-separated, so it needs no json before it may fork
            mode = "run" if fits_prestarted(spare_env, argv, env, per_run_names) else "spawn"
            fields = [mode, str(exit_file), str(cwd), str(log_path), str(len(argv)), *argv]
            fields += [f"{name}={value}" for name, value in env.items()]
            message = b"\0".join(os.fsencode(field) for field in fields)
        else:
            run = {
                "exit_file": str(exit_file),
                "argv": list(argv),
                "env": dict(env),
                "cwd": str(cwd),
                "log": str(log_path),
            }
            import json  # only for supervisor.py's spare: not before a prestarted one is started

            message = json.dumps(run).encode()
        try:
            spare.stdin.write(message)
            spare.stdin.close()  # end of the run's description: the spare starts it now
            return spare
        except OSError:  # it died under us: reap it, start one the ordinary way
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                spare.wait(timeout=5)
    from runconfig_jupyter.core.system.detached import spawn_detached
    from runconfig_jupyter.targets.processes.supervision import supervised

    return spawn_detached(supervised(list(argv), exit_file), cwd=cwd, env=env, log_path=log_path)


def spare_pid() -> int | None:
    """The live spare's PID (tests end it, and check that it goes with its driver)."""
    return _spare.pid if _spare is not None and _spare.poll() is None else None
