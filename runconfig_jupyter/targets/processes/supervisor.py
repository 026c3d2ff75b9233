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

    python -I -S local_supervisor.py EXIT_FILE -- ARGV...
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


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    exit_file, command = argv[0], argv[2:]
    # A cancel signals the whole group; the script gets it too. The supervisor stays to record the code.
    for sig in FORWARDED:
        signal.signal(sig, lambda _signum, _frame: None)
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
