"""Waiting for a run to change without polling: inotify on the run store and the run's logs.

``wait_for_completion`` and ``follow`` used to sleep 0.1 s between looks, which
added ~60 ms (median) to every wait on a run that takes tens of milliseconds.
Every status change goes through the SQLite store (a write to ``runs.db-wal``, or
``runs.db`` outside WAL mode) and every line of output lands in the run's
``logs/`` folder, whoever writes it: the driver, a script, a cancel, a re-attached
driver. Watching those two folders therefore wakes a waiter for exactly the
events it cares about, with no change to any writer.

inotify is reached through ``ctypes`` on glibc (the standard library has no
binding and a third-party one is not worth a dependency for two calls). Where it
is missing (not Linux, no free inotify instance, a file system without events)
``Watch.wait`` sleeps, so callers keep working; and every wait is bounded
(``FALLBACK_SECONDS``) so a condition no file reflects (a driver killed with
``kill -9``, noticed by reading the record) is still seen.

Closing an inotify descriptor that still has (or just had) watches waits for the
kernel's fsnotify grace period: 5-20 ms measured here, paid right when the run
ended, or at the waiting process's exit. So a closed ``Watch`` removes its watches
(fast: the kernel reaps them in the background) and leaves its descriptor to the
next ``Watch`` of the process (``_Idle``); one left at exit has no watches and
closes at once.

A wait for a run's end watches only that run's ``record.json`` (``record_watch``): the store rewrites it, by an
atomic rename, inside the transaction of every change of the run's row, so it names exactly this run's
changes, while the store's folder wakes a waiter on every page any writer puts in ``runs.db-wal`` (25-30
wakes, each a store read, while a 60 ms run starts and ends; 8-9 this way).
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import RECORD_FILE, RunFolder

# A waiter looks again at least this often even when no event came (a killed driver writes nothing).
FALLBACK_SECONDS = 0.5
# SQLite makes a commit visible by updating its shared-memory index (runs.db-shm, written through mmap,
# which makes no inotify event) just *after* writing the WAL (which does), and the store replaces record.json
# inside the transaction, just before its commit. A waiter woken by either can read the row a moment too early;
# so for a short while after any event it looks again, first after half a millisecond (the commit is the writer's
# next step: a 2 ms first look made every wait for a run's end ~2 ms late) and then at doubling intervals (a handful
# of looks per event, a read of ~0.1 ms each, not a busy loop that would take CPU from the run being waited for),
# instead of blocking until the next event or the fallback.
SETTLE_SECONDS = 0.0005
SETTLE_WINDOW_SECONDS = 0.1
IDLE_DESCRIPTORS = 4  # inotify descriptors a process keeps for reuse (one per concurrent waiter is plenty)
_IN_MODIFY, _IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x2, 0x4, 0x80, 0x100, 0x200
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then ``len`` bytes of name
_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_libc: Any = None


def _inotify() -> Any:
    """glibc's inotify functions, or None where they do not exist."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(Exception):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)  # the running process's own libc: no library search
                libc.inotify_init1.argtypes = [ctypes.c_int]
                libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
                _libc = libc
    return _libc or None


def _drain(fd: int) -> bytes:
    """Every event queued on ``fd``, read so the next ``select`` blocks until a new one."""
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
    return data


def _names(events: bytes) -> set[bytes]:
    """The file names the events in ``events`` are about (events on a watched folder itself have none)."""
    names, offset = set(), 0
    while offset + _EVENT.size <= len(events):
        length = _EVENT.unpack_from(events, offset)[3]
        start = offset + _EVENT.size
        names.add(events[start : start + length].rstrip(b"\0"))
        offset = start + length
    return names


class _Idle:
    """inotify descriptors without watches, kept by this process for its next ``Watch`` (see the module docstring).

    A forked child gets copies of the parent's descriptors, which name the same kernel instances: it must
    not reuse them (the two processes would steal each other's events), so the child forgets them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: list[int] = []

    def take(self) -> int | None:
        with self._lock:
            fd = self._fds.pop() if self._fds else None
        if fd is not None:
            _drain(fd)  # what arrived before the previous watches were removed (and their IN_IGNORED)
        return fd

    def give(self, fd: int) -> None:
        with self._lock:
            if len(self._fds) < IDLE_DESCRIPTORS:
                self._fds.append(fd)
                return
        os.close(fd)

    def forget_in_child(self) -> None:
        self._lock = threading.Lock()
        fds, self._fds = self._fds, []
        for fd in fds:  # the parent still holds these instances, so closing our references is immediate
            with contextlib.suppress(OSError):
                os.close(fd)


_idle = _Idle()
os.register_at_fork(after_in_child=_idle.forget_in_child)


class Watch:
    """Wakes on any change in ``folders`` (not recursive); a context manager that owns one inotify descriptor."""

    def __init__(self, folders: Iterable[Path | str], names: Iterable[str] | None = None):
        """``names``: only events about a file of one of these names wake ``wait`` (None: any change)."""
        self.fd = -1
        self._watches: list[int] = []
        self._last_event = float("-inf")
        self._names = None if names is None else {os.fsencode(name) for name in names}
        libc = _inotify()
        if libc is None:
            return
        fd = _idle.take()
        if fd is None:
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:  # e.g. fs.inotify.max_user_instances used up: fall back to sleeping
            return
        for folder in folders:
            descriptor = libc.inotify_add_watch(fd, os.fsencode(str(folder)), _MASK)
            if descriptor >= 0:
                self._watches.append(descriptor)
        if self._watches:
            self.fd = fd
        else:
            _idle.give(fd)

    @property
    def active(self) -> bool:
        """True when events wake ``wait``; False when it only sleeps."""
        return self.fd >= 0

    def wait(self, timeout: float) -> bool:
        """Block until something changed or ``timeout`` passed; True when woken by an event."""
        timeout = max(0.0, timeout)
        if self.fd < 0:
            time.sleep(timeout)
            return False
        since = time.monotonic() - self._last_event
        if since < SETTLE_WINDOW_SECONDS:  # look again after as long as has passed since the event (doubling)
            timeout = min(timeout, max(SETTLE_SECONDS, since))
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return False
            events = _drain(self.fd)  # the next wait blocks until the next change
            if self._names is None or self._names & _names(events):
                self._last_event = time.monotonic()
                return True

    def close(self) -> None:
        """Remove the watches and hand the descriptor on (not ``os.close``: see the module docstring)."""
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        libc = _inotify()
        for descriptor in self._watches:
            libc.inotify_rm_watch(fd, descriptor)
        self._watches = []
        _idle.give(fd)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the module's globals may already be gone; exit closes the fd
            pass


def run_watch(home: Path, run_dir: Path) -> Watch:
    """A watch that wakes when a run's record (the store in ``home``) or its logs change."""
    return Watch([home, RunFolder(run_dir).logs_dir])


def record_watch(run_dir: Path) -> Watch:
    """A watch that wakes when the store changes this run's row: its ``record.json`` is replaced (see above)."""
    return Watch([run_dir], names=[RECORD_FILE])
