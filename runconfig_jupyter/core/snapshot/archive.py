"""What packaging a folder needs besides the store itself: member order, safe opens, stale temp files.

- member order: sorted paths, parents first; manifests (and so snapshot ids) and tar streams follow it;
- ``open_member``: a file is read only if it is still the regular file inside the source folder that was
  walked (no link or FIFO swapped in after the walk);
- temp files (``.tmp-<pid>-<random>...``) whose writer was killed hard are removed by the next writer.

The single-archive packer that gave this module its name is gone (submits store each file once,
stored.py); run homes of earlier versions still hold its ``<id>.tar`` files, which every reader accepts
and the garbage collector (garbage.py) removes, with their temp files, once no run needs them.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry

MAX_ATTEMPTS = 3  # reads of a file that keeps changing while it is read, before giving up
TEMP_NAME = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+\.tar$")  # temp archives of earlier versions

Progress = Callable[[int, int], None]


def _sort_key(item: tuple[str, ManifestEntry | None]) -> str:
    """Archive order is the order of the paths' component tuples. A name never holds a NUL, so the path with
    each '/' made the lowest character sorts exactly like that tuple (a component that is a prefix of
    another sorts first either way), without building a tuple per member."""
    return item[0].replace("/", "\0")


def ordered_members(manifest: Manifest) -> list[tuple[str, ManifestEntry | None]]:
    """(path, entry) in archive order; entry is None for a folder. Parents always precede children."""
    items: list[tuple[str, ManifestEntry | None]] = [(d, None) for d in manifest.dirs]
    items += [(e.path, e) for e in manifest.files]
    return sorted(items, key=_sort_key)


def remove_stale_temps(folder: Path, pattern: re.Pattern[str] = TEMP_NAME) -> None:
    """Remove temp files (``pattern``'s group 1 is the writer's pid) whose writer is gone (killed hard)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match and not pid_alive(int(match.group(1))):
            try:
                os.unlink(folder / name)
            except OSError:
                pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_member(source: Path, path: str) -> int:
    """Open ``source/path`` for reading, only if it is still the regular file inside ``source`` that was walked
    (see ``open_member_stat``)."""
    return open_member_stat(source, path)[0]


@lru_cache(maxsize=8)
def _inside(source: Path) -> str:
    """The prefix of every real path inside ``source``, once per folder rather than once per file read. The
    folder was resolved when walked; a relative one would make the cache follow the working directory."""
    if not os.path.isabs(source):
        raise ValueError(f"the source folder is not resolved: {source}")
    return os.path.abspath(source).rstrip("/") + "/"


def open_member_stat(source: Path, path: str) -> tuple[int, os.stat_result]:
    """``open_member`` and the ``fstat`` of what was opened (a packer needs its size and mtime anyway).

    Between the walk and the read, a file can be swapped for a link out of the project (or a folder on the way
    for a link to ``~/.ssh``), or for a FIFO that blocks the reader forever. Opening with ``O_NOFOLLOW`` and
    ``O_NONBLOCK`` and then asking the kernel where the open file really is (``/proc/self/fd``) judges the file
    actually read, not the name that was checked, so no byte from outside the source folder is packaged.
    """
    full = os.path.join(source, path)  # a str: this runs once per file packaged
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise SnapshotError(f"{full} stopped being a regular file while it was packaged; submit again")
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # no /proc: the O_NOFOLLOW open is the check
            real = None
        if real is not None and not real.startswith(_inside(source)):
            raise SnapshotError(
                f"{full} now leads out of the source folder (to {real}) - a folder on the way was replaced by "
                "a link while it was packaged; nothing outside the source folder is packaged. Submit again"
            )
        return fd, opened
    except BaseException:
        os.close(fd)
        raise


def open_error(exc: OSError, source: Path, path: str) -> SnapshotError:
    """The typed error for a member that could not be opened (a link swapped in, or no permission)."""
    full = source / path
    if exc.errno == errno.ELOOP:
        return SnapshotError(f"{full} was replaced by a symbolic link while it was packaged; submit again")
    return SnapshotError(
        f"cannot read {full}: {exc.strerror}; fix its permissions or exclude it with the line "
        f"'{path}' in {source / '.amlignore'}"
    )
