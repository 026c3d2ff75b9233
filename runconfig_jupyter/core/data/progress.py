"""Byte progress of a many-file fsspec transfer, reported as ``progress(done_bytes, total_bytes)``.

fsspec's ``get``/``put`` of a list reports per file through a *branched* child callback (the async
filesystems run many files at once); the parent here sums the children's byte updates, and calls the
user's function at most every 0.2 s so a widget or sidebar is not flooded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from fsspec.callbacks import Callback

Progress = Callable[[int, int], None]
INTERVAL_SECONDS = 0.2


class ByteProgress(Callback):
    """The parent callback of a transfer; ``done`` counts bytes over every file."""

    def __init__(self, total: int, progress: Progress | None = None):
        super().__init__(size=total, value=0)
        self.total = total
        self.done = 0
        self.progress = progress
        self._last = 0.0
        self._guard = threading.Lock()

    def add(self, amount: int) -> None:
        with self._guard:
            self.done += amount
            now = time.monotonic()
            due = now - self._last >= INTERVAL_SECONDS
            if due:
                self._last = now
        if due and self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Callback:
        return FileBytes(self)


class FileBytes(Callback):
    """The callback of one file: byte updates go to the parent (absolute ones as their difference)."""

    def __init__(self, parent: ByteProgress):
        super().__init__()
        self.parent = parent

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc
        self.parent.add(inc)

    def absolute_update(self, value: int) -> None:
        self.parent.add(value - self.value)
        self.value = value

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Callback:
        return FileBytes(self.parent)
