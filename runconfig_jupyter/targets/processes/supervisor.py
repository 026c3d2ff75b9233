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

A spare is started before its run is known (a standby driver keeps one, a fresh driver starts one as
it starts), so the interpreter start of this process is not on the run's critical path. Until its
run arrives it is only a process reading a pipe; when the pipe closes without a run (its driver
retired or died) it exits. The run it gets - argv, environment, working folder, log file, exit file -
is applied exactly as a started supervisor would have had it, before the script is spawned.

The script's prestarted interpreter (prestarted.py) runs these same functions (``run_command``,
``wait_and_record``), from this file's source, when it is a run's supervisor rather than its script.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


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


def enter(exit_file: str, command: list[str], folder: str, log: str, environment: dict[str, str]) -> bool:
    """Enter the run's surroundings: its folder, stdin from /dev/null, stdout/stderr to its log, its environment.

    False when the folder or the log cannot be opened; that is recorded in the exit file, and nothing starts.
    """
    try:
        os.chdir(folder)
        output = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as error:
        message = f"could not start {command[0]!r}: {error.strerror or error}"
        write_atomically(exit_file, {"exit_code": 127, "error": message, "ended_at": time.time()})
        return False
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (output, 1), (output, 2)):
        os.dup2(source, target)
    os.close(null)
    os.close(output)
    # posix_spawnp searches PATH in this process's own environment: make it the run's before spawning.
    os.environ.clear()
    os.environ.update(environment)
    return True


def shield() -> None:
    """A cancel signals the whole group; the script gets it too. The supervisor stays to record the code."""
    for sig in FORWARDED:
        signal.signal(sig, lambda _signum, _frame: None)


def run_command(exit_file: str, command: list[str], folder: str, log: str, environment: dict[str, str]) -> int:
    """Enter the run's surroundings, start ``command`` and supervise it; the code to exit with."""
    if not enter(exit_file, command, folder, log, environment):
        return 0
    return spawn_and_wait(exit_file, command)


def spawn_and_wait(exit_file: str, command: list[str]) -> int:
    shield()
    try:
        pid = os.posix_spawnp(command[0], command, dict(os.environ), setsigdef=FORWARDED)
    except OSError as error:
        message = f"could not start {command[0]!r}: {error.strerror or error}"
        sys.stderr.write(f"runconfig: {message}\n")
        sys.stderr.flush()
        write_atomically(exit_file, {"exit_code": 127, "error": message, "ended_at": time.time()})
        return 127
    return wait_and_record(exit_file, pid)


def wait_and_record(exit_file: str, pid: int, **details: object) -> int:
    """Wait for the script (our child ``pid``), record its code (and ``details``); end the way it ended (signal)
    or return the code."""
    _pid, status = os.waitpid(pid, 0)  # retried on EINTR (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    try:
        write_atomically(exit_file, {"exit_code": code, "pid": pid, "ended_at": time.time(), **details})
    except OSError:
        pass  # a full disk: the driver that started us still learns the code from our own exit below
    if code < 0:  # end the way the script ended, so our parent sees the same signal
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP have no handler to reset
        os.kill(os.getpid(), -code)
    return code if code >= 0 else 128 - code


def leave(code: int) -> None:
    """End this supervisor now with ``code``. Its work is done and durable (the exit file is fsync'ed), and the
    driver waits for this process to end: tearing the interpreter down (a prestarted spare holds site's
    modules) only delayed the run's end, by 5-15 ms here."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def main(argv: list[str]) -> int:
    if argv == ["--await"]:
        data = sys.stdin.buffer.read()  # until the driver closes the pipe: the whole run, or nothing
        if not data.strip():
            return 0
        run = json.loads(data)
        return run_command(run["exit_file"], list(run["argv"]), run["cwd"], run["log"], run["env"])
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    return spawn_and_wait(argv[0], argv[2:])


if __name__ == "__main__":
    leave(main(sys.argv[1:]))
