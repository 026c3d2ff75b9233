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
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import RunFolder

# A waiter looks again at least this often even when no event came (a killed driver writes nothing).
FALLBACK_SECONDS = 0.5
# SQLite makes a commit visible by updating its shared-memory index (runs.db-shm, written through mmap,
# which makes no inotify event) just *after* writing the WAL (which does). A waiter woken by that write
# can read the record a moment too early; so for a short while after any event it looks again every
# few milliseconds instead of blocking until the next event or the fallback.
SETTLE_SECONDS = 0.002
SETTLE_WINDOW_SECONDS = 0.1
_IN_MODIFY, _IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x2, 0x4, 0x80, 0x100, 0x200
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
                _libc = libc
    return _libc or None


class Watch:
    """Wakes on any change in ``folders`` (not recursive); a context manager that owns one inotify descriptor."""

    def __init__(self, folders: Iterable[Path | str]):
        self.fd = -1
        self._last_event = float("-inf")
        libc = _inotify()
        if libc is None:
            return
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:  # e.g. fs.inotify.max_user_instances used up: fall back to sleeping
            return
        watched = 0
        for folder in folders:
            watched += libc.inotify_add_watch(fd, os.fsencode(str(folder)), _MASK) >= 0
        if watched:
            self.fd = fd
        else:
            os.close(fd)

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
        if time.monotonic() - self._last_event < SETTLE_WINDOW_SECONDS:
            timeout = min(timeout, SETTLE_SECONDS)
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 65536):  # drain: the next wait blocks until the next change
                pass
        self._last_event = time.monotonic()
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def run_watch(home: Path, run_dir: Path) -> Watch:
    """A watch that wakes when a run's record (the store in ``home``) or its logs change."""
    return Watch([home, RunFolder(run_dir).logs_dir])
