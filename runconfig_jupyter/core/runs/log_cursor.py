"""One way to read a run's logs while they are being written: by byte offset, status first.

Every reader of a live run (``ScriptRun.follow`` / ``wait_for_completion(show_output=True)`` / ``%logs -f``,
the server's log route and websocket, the widgets' follower) goes through this module, so they agree on
three things that are easy to get subtly wrong:

* **Status before files.** A reader looks at the run's status *before* it reads the files. The driver writes
  the terminal status only after every log line is on disk, so a terminal status seen first means that the
  files read right after it are complete: the reader can stop once it has read them to their end, and never
  stops one line short. (Reading the files first and the status second can see "Completed" together with a
  log that was read a moment before its last lines were written.)
* **Whole text.** A chunk never ends inside a UTF-8 character, and while the run is going it ends at a line
  end: the last line is held back while the writer is still busy with it. A line without a newline is shown
  once the file has been quiet for ``PARTIAL_LINE_SECONDS`` (a prompt, a progress bar) or the run has ended,
  so nothing waits for a newline that never comes.
* **Files change under the reader.** A log replaced by a new file (another inode) is read again from its
  start. A log cut shorter in place (the rank merger rewrites the end of ``std_log.txt`` when a driver
  adopts a distributed run, targets/processes/rank_group.py) is read on from its new end, so the reader's
  text stays what the file says and nothing already shown is shown twice; the chunk says it happened.

The stateless :func:`read_log_chunk` serves one request from a client-held offset (the REST route);
:class:`LogCursor` keeps the offsets of several files for a follower.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISREG
from typing import Any, Generic, Protocol, TypeVar

from runconfig_jupyter.core.runs.folder import FOLLOWED_LOGS, RunFolder

# A last line without a newline is released once its file has not changed for this long ...
PARTIAL_LINE_SECONDS = 0.3
# ... or once it is this long (a line that never ends must not hold the log back).
PARTIAL_LINE_MAX = 64 * 1024
MAX_CHAR_BYTES = 4  # the longest UTF-8 character
# A log is read only as the regular file it is: never through a link planted under its name (it could point
# anywhere the server can read), and never blocking on a FIFO planted there.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class HasTerminal(Protocol):
    @property
    def is_terminal(self) -> bool: ...


StatusT = TypeVar("StatusT", bound=HasTerminal)


@dataclass(frozen=True)
class LogChunk:
    """Text read from one log file: bytes ``offset`` to ``next_offset`` of a file that had ``size`` bytes.

    ``skipped`` counts bytes jumped over before ``offset`` (a cursor told to keep only the tail), and
    ``truncated`` says the text does not continue the previous chunk: the file had been cut shorter than the
    reader's offset, or replaced by a new file (see the module's docstring).
    """

    name: str
    offset: int
    next_offset: int
    text: str
    size: int
    skipped: int = 0
    truncated: bool = False

    @property
    def at_end(self) -> bool:
        """Everything the file held when it was read has been read."""
        return self.next_offset >= self.size


def complete_utf8(data: bytes) -> int:
    """How many leading bytes of ``data`` end on a character boundary (at most 3 trailing bytes held back)."""
    for back in range(1, min(MAX_CHAR_BYTES, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: a boundary right after it
            return len(data) - back + 1
        if byte >= 0xC0:  # a lead byte: is its sequence whole?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)  # only continuation bytes: not UTF-8 at this end, nothing to wait for


def _usable(data: bytes, hold_partial: bool, at_file_end: bool, final: bool) -> int:
    """How many bytes of ``data`` a reader should take now (the rest is read next time)."""
    if final and at_file_end:
        return len(data)  # the run ended: everything, even a last line without a newline
    if hold_partial:
        end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1  # a progress bar redraws its line with \r
        if end:
            return end
        if at_file_end and len(data) < PARTIAL_LINE_MAX:
            return 0  # the one line there is still being written: nothing yet
    return complete_utf8(data)  # a very long line, or a quiet partial one: up to a character boundary


def read_log_chunk(
    path: str | os.PathLike[str],
    offset: int,
    max_bytes: int | None = None,
    *,
    final: bool = False,
    name: str | None = None,
    from_line_start: bool = False,
    now: float | None = None,
) -> LogChunk:
    """Text of the log at ``path`` from byte ``offset``: whole lines unless ``final`` or the writer is quiet.

    ``final`` means the caller saw the run's terminal status before this call, so the file is complete.
    ``from_line_start`` drops the rest of a line ``offset`` points into (counted as ``skipped``).
    An offset at or past the end (a client's offset from the future) reads nothing and keeps that offset.
    """
    label = name or Path(path).name
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:  # missing, or a link (ELOOP)
        return LogChunk(label, offset, offset, "", 0)
    with open(fd, "rb") as log:
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            return LogChunk(label, offset, offset, "", 0)
        size = stat.st_size
        if offset >= size:
            return LogChunk(label, offset, offset, "", size)
        # At least one whole character per read, however small max_bytes is, so a reader always moves on.
        wanted = size - offset if not max_bytes else min(max(max_bytes, MAX_CHAR_BYTES), size - offset)
        log.seek(offset)
        data = log.read(wanted)
    skipped = 0
    if from_line_start:
        skipped = data.find(b"\n") + 1 or len(data)
        offset, data = offset + skipped, data[skipped:]
    at_file_end = offset + len(data) >= size
    quiet = (time.time() if now is None else now) - stat.st_mtime >= PARTIAL_LINE_SECONDS
    data = data[: _usable(data, hold_partial=not quiet, at_file_end=at_file_end, final=final)]
    return LogChunk(label, offset, offset + len(data), data.decode(errors="replace"), size, skipped)


@dataclass
class Poll(Generic[StatusT]):
    """One look at a run: its status (read first), what its logs gained since, and whether that was all."""

    status: StatusT
    chunks: list[LogChunk]
    done: bool

    @property
    def text(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)


@dataclass
class LogCursor:
    """Byte offsets into several log files of one run folder; each :meth:`read` returns what is new.

    ``offsets`` (log name -> next byte to read) is updated in place, so a caller can hand in a dict it keeps
    (``ScriptRun.follow(offsets=...)``) and resume later without repeats. ``max_bytes`` bounds one read of one
    file (the rest comes next time); ``keep_tail`` makes a view that only shows the end of a log jump ahead
    when more than that many bytes arrived, instead of decoding text it would throw away.
    """

    folder: RunFolder
    names: tuple[str, ...] = FOLLOWED_LOGS
    offsets: dict[str, int] = field(default_factory=dict)
    max_bytes: int | None = None
    keep_tail: int | None = None
    _files: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)  # name -> (device, inode)
    _at_end: bool = field(default=False, repr=False)

    @property
    def at_end(self) -> bool:
        """The last read reached the end of every file (as long as each was then)."""
        return self._at_end

    def read(self, final: bool = False) -> list[LogChunk]:
        """One chunk per followed log, in order (empty text when nothing is new)."""
        chunks = [self._read_one(name, final) for name in self.names]
        self._at_end = all(chunk.at_end for chunk in chunks)
        return chunks

    def poll(self, read_status: Callable[[], StatusT]) -> Poll[StatusT]:
        """The status, THEN the files: ``done`` once a terminal status was seen and the files were read out."""
        status = read_status()
        final = bool(status.is_terminal)
        chunks = self.read(final=final)
        return Poll(status, chunks, final and self._at_end)

    def _read_one(self, name: str, final: bool) -> LogChunk:
        path = self.folder.log_path(name)
        offset = self.offsets.get(name, 0)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return LogChunk(name, offset, offset, "", 0)
        identity, known = (stat.st_dev, stat.st_ino), self._files.get(name)
        truncated = False
        if known is not None and known != identity:
            offset, truncated = 0, True  # a new file under the old name: all of it is new
        elif known is not None and stat.st_size < offset:
            offset, truncated = stat.st_size, True  # cut shorter in place: go on from its new end
        elif known is None and offset > stat.st_size:
            return LogChunk(name, offset, offset, "", stat.st_size)  # an offset from the future: nothing yet
        self._files[name] = identity
        skipped = 0
        if self.keep_tail is not None and stat.st_size - offset > self.keep_tail:
            skipped = stat.st_size - self.keep_tail - offset
            offset = stat.st_size - self.keep_tail
        chunk = read_log_chunk(path, offset, self.max_bytes, final=final, name=name, from_line_start=bool(skipped))
        self.offsets[name] = chunk.next_offset
        if skipped or truncated:
            chunk = replace(chunk, skipped=skipped + chunk.skipped, truncated=truncated)
        return chunk


def follow_texts(
    cursor: LogCursor,
    read_status: Callable[[], HasTerminal],
    wait: Callable[[float | None], Any],
    timeout: float | None = None,
) -> Iterator[str]:
    """New log text as it comes, until the run has ended and its logs are read out (or ``timeout``).

    ``wait(seconds_left)`` (None: no deadline) sleeps until something may have changed, e.g. on an inotify
    watch of the run (core/system/watch.py); it is called only after a look that found nothing new.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = cursor.poll(read_status)
        texts = [chunk.text for chunk in step.chunks if chunk.text]
        yield from texts
        if step.done or (deadline is not None and time.monotonic() > deadline):
            return
        if not texts:
            wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
