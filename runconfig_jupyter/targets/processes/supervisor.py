"""The local script's parent: outlives the run driver and writes the script's exit code to the run folder.

Why it exists: only a process's parent can learn its exit status. When the local target started
the script itself, a driver killed with SIGKILL took the exit code with it, and a replacement driver
could only guess. This supervisor is started by the driver in the run's own session (it leads the
process group, so a cancel's ``killpg`` still reaches every process of the run), starts the script
with ``posix_spawnp`` (arguments are passed as a list, never through a shell), waits for it and
writes ``{"exit_code": ...}`` atomically (temp file, fsync, rename) to the file it was given.
Any driver - the first or an adopting one - reads that file.

Run as a plain file with ``python -I -S`` (standard library only, nothing to import), so it costs
a few milliseconds::

    python -I -S supervisor.py EXIT_FILE -- ARGV...
    python -I -S supervisor.py --await          (a spare: the run arrives on stdin, see spare.py)
    python -I -S supervisor.py --await --prestart   (a spare with the script's interpreter started too)

A spare is started before its run is known (a standby driver keeps one, a fresh driver starts one as
it starts), so the interpreter start of this process is not on the run's critical path. Until its
run arrives it is only a process reading a pipe; when the pipe closes without a run (its driver
retired or died) it exits. The run it gets - argv, environment, working folder, log file, exit file -
is applied exactly as a started supervisor would have had it, before the script is spawned.

With ``--prestart`` the spare also starts the script's interpreter ahead (prestarted.py, with the
spare's own environment, which the driver chose). A run marked ``prestarted`` is handed to it, and
that process becomes the script; any other run gets a freshly spawned process and the prestarted one
is let go.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
TITLE_ROOM = 1024  # bytes of argument memory a prestarted interpreter gets to show its run's command in


def write_atomically(path: str, record: dict) -> None:
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def prestart() -> tuple[int, int]:
    """Start the script's interpreter ahead (prestarted.py); its pid and the pipe its run will arrive on."""
    loader = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prestarted.py")
    text = f"exec(open({loader!r}, 'rb').read())"  # short, and names the file in `ps`
    reader, writer = os.pipe()
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-c", text, "awaiting a run".ljust(TITLE_ROOM)],  # room for the run's command line
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_DUP2, reader, 0)],
            setsigdef=FORWARDED,
        )
    except OSError:
        os.close(writer)
        raise
    finally:
        os.close(reader)
    return pid, writer


def hand_to_prestarted(writer: int, run: dict) -> bool:
    """Give the prestarted interpreter its run; False when it is gone (the caller spawns the script)."""
    command = list(run["argv"])
    fields = [run["cwd"], run["log"], str(len(command)), *command, *(f"{k}={v}" for k, v in run["env"].items())]
    payload = b"\0".join(os.fsencode(field) for field in fields)
    try:
        while payload:
            payload = payload[os.write(writer, payload) :]
    except OSError:  # it died (BrokenPipeError): the caller lets it go and spawns the script
        return False
    os.close(writer)  # the end of its run: it starts the script now
    return True


def let_go(pid: int, writer: int) -> None:
    """End the prestarted interpreter, which is not used, and reap it.

    SIGKILL rather than closing its pipe: it may still be starting, and the run that did not use it is
    waiting for its own process to be spawned. Nothing of a run has reached it, so nothing is lost.
    """
    os.close(writer)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass


def await_run(prestarted: tuple[int, int] | None = None) -> tuple[str, list[str], dict] | None:
    """Read the run from stdin (until its writer closes it) and enter its surroundings: exit file, argv, run.

    None when the pipe closed empty (this spare's driver is gone or did not need it) or the run's folder or
    log could not be opened (recorded in its exit file).
    """
    data = sys.stdin.buffer.read()
    if not data.strip():
        if prestarted is not None:
            let_go(*prestarted)
        return None
    run = json.loads(data)
    exit_file, command = run["exit_file"], list(run["argv"])
    try:
        os.chdir(run["cwd"])
        log = os.open(run["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as error:
        message = f"could not start {command[0]!r}: {error.strerror or error}"
        write_atomically(exit_file, {"exit_code": 127, "error": message, "ended_at": time.time()})
        if prestarted is not None:
            let_go(*prestarted)
        return None
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (log, 1), (log, 2)):
        os.dup2(source, target)
    os.close(null)
    os.close(log)
    # posix_spawnp searches PATH in this process's own environment: make it the run's before spawning.
    os.environ.clear()
    os.environ.update(run["env"])
    return exit_file, command, run


def main(argv: list[str]) -> int:
    prestarted: tuple[int, int] | None = None
    run: dict = {}
    if argv[:1] == ["--await"] and set(argv[1:]) <= {"--prestart"}:
        if "--prestart" in argv:
            try:
                prestarted = prestart()
            except OSError:
                prestarted = None  # only an optimisation: the run is spawned the ordinary way
        awaited = await_run(prestarted)
        if awaited is None:
            return 0
        exit_file, command, run = awaited
    elif len(argv) >= 3 and argv[1] == "--":
        exit_file, command = argv[0], argv[2:]
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    # A cancel signals the whole group; the script gets it too. The supervisor stays to record the code.
    for sig in FORWARDED:
        signal.signal(sig, lambda _signum, _frame: None)
    if prestarted is not None and run.get("prestarted") and hand_to_prestarted(prestarted[1], run):
        pid = prestarted[0]
    else:
        if prestarted is not None:
            let_go(*prestarted)
        try:
            pid = os.posix_spawnp(command[0], command, dict(os.environ), setsigdef=FORWARDED)
        except OSError as error:
            message = f"could not start {command[0]!r}: {error.strerror or error}"
            sys.stderr.write(f"runconfig: {message}\n")
            sys.stderr.flush()
            write_atomically(exit_file, {"exit_code": 127, "error": message, "ended_at": time.time()})
            return 127
    _pid, status = os.waitpid(pid, 0)  # retried on EINTR (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    try:
        write_atomically(exit_file, {"exit_code": code, "pid": pid, "ended_at": time.time()})
    except OSError:
        pass  # a full disk: the driver that started us still learns the code from our own exit below
    if code < 0:  # end the way the script ended, so our parent sees the same signal
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP have no handler to reset
        os.kill(os.getpid(), -code)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
