"""What the hot path needs to know about another process, read from ``/proc`` without psutil.

Every submit and every run driver asks "when did this PID start?" (to tell a live
driver from a recycled PID) and "is it a zombie?". psutil answers both but costs
10-15 ms to import, which is a noticeable share of a submit that should cost little
more than starting the script. On Linux these are two fields of ``/proc/<pid>/stat``,
computed the way psutil computes them (boot time from ``/proc/stat`` + start ticks /
``SC_CLK_TCK``), so values written by either agree. Elsewhere psutil is used.

A process is identified by its *start mark*, not by that wall-clock start time. The wall-clock value is
``btime`` + ticks, and ``btime`` is itself derived from the wall clock: every step of the clock (an NTP step,
a VM host resync, a resume from suspend) moves it, so a process that read ``btime`` on the other side of a step
computes a different start time for the same process. Judged by that, a live driver looks dead and settling
starts a second one for the same run. The mark is the boot's id plus the start in clock ticks since boot:
no clock step moves it, and a reboot changes it.
"""

from __future__ import annotations

import os
import sys

_boot_id: str | None = None
MARK_SEPARATOR = "@"  # "<start ticks>@<boot id>": never a well-formed number, so SQLite keeps it as text


def _linux() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces and parentheses)."""
    with open(f"/proc/{int(pid)}/stat", "rb") as handle:
        data = handle.read()
    return data[data.rindex(b")") + 2 :].decode().split()


def _boot() -> float:
    """The wall-clock time of boot, read afresh (as psutil does): it moves with every clock step."""
    with open("/proc/stat", "rb") as handle:
        for line in handle:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _boot_identity() -> str:
    """This boot's random id (the kernel makes a new one at every boot); empty where the kernel does not show it."""
    global _boot_id
    if _boot_id is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
                _boot_id = handle.read().decode().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


def start_mark(pid: int) -> str | float | None:
    """What identifies ``pid``'s start for ``same_process``; None when there is no such process.

    On Linux ``"<start ticks>@<boot id>"``, which clock steps do not move. Elsewhere psutil's wall-clock
    start time, the best that platform offers.
    """
    if _linux():
        try:
            return _mark(_stat_fields(pid))
        except (OSError, ValueError, IndexError):
            return None
    return start_time(pid)


def _mark(fields: list[str]) -> str:
    return f"{fields[19]}{MARK_SEPARATOR}{_boot_identity()}"


def start_time(pid: int) -> float | None:
    """Seconds since the epoch when ``pid`` started, for showing; None when there is no such process.

    Not an identity: a clock step moves it (see the module's docstring). Records written before start marks
    existed hold this value, and ``same_process`` still reads them with it.
    """
    if _linux():
        try:
            return int(_stat_fields(pid)[19]) / os.sysconf("SC_CLK_TCK") + _boot()
        except (OSError, ValueError, IndexError):
            return None
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def is_zombie(pid: int) -> bool:
    """True when ``pid`` exited and waits to be reaped (it counts as gone); False when absent or running."""
    if _linux():
        try:
            return _stat_fields(pid)[0] == "Z"
        except (OSError, ValueError, IndexError):
            return False
    try:
        import psutil

        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except Exception:
        return False


def same_process(pid: int, started: str | float | None) -> bool:
    """``pid`` still runs and is the process whose ``start_mark`` was ``started`` (not a recycled pid, not a zombie).

    ``started`` None means "not recorded": any live process with that pid counts. A number is a record from
    before start marks (a wall-clock start time); it is compared as it was then, within a second. Anything else
    (a hand-edited or damaged file) identifies no process.
    """
    if isinstance(started, str):  # the state and the start come from one read of /proc/<pid>/stat
        if not _linux():
            return False  # marks are written on Linux only; psutil's platforms record a number
        try:
            fields = _stat_fields(pid)
            return fields[0] != "Z" and _mark(fields) == started
        except (OSError, ValueError, IndexError):
            return False
    if started is not None and (isinstance(started, bool) or not isinstance(started, (int, float))):
        return False
    now_started = start_time(pid)
    if now_started is None or is_zombie(pid):
        return False
    return started is None or abs(now_started - started) < 1.0


def command_line(pid: int) -> list[str]:
    """The argv of ``pid``; empty when it is gone (or a zombie, whose argv the kernel no longer keeps)."""
    if _linux():
        try:
            with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            return []
        return [part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1]]
    try:
        import psutil

        return psutil.Process(pid).cmdline()
    except Exception:
        return []
