"""Deterministic, atomic tar writing: same content in, same bytes out; never a half-written snapshot.

Determinism: members in sorted path order, a fixed mtime (2000-01-01), uid/gid 0 and no owner
names, normalised modes, PAX format (long and non-ASCII names without surprises). So the archive
depends only on what the snapshot id hashes, and a stored ``<id>.tar`` can be re-used by every later
run with that id.

Atomicity: the archive is written to ``.tmp-<pid>-<random>.tar`` beside its final place and renamed
when complete. Any error, including KeyboardInterrupt, removes the temp file; a temp file left by a
process killed with SIGKILL is removed by the next writer once that pid is gone.

Content is copied by the kernel (``sendfile``) where possible; only hashing reads it into Python.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry
from runconfig_jupyter.core.snapshot.objects import copy_hashing
from runconfig_jupyter.core.snapshot.tar_members import member_info

CHUNK = 1 << 20
COPY_CHUNK = 8 << 20  # progress granularity for big files
MAX_ATTEMPTS = 3
ID_VERSION = b"runconfig-snapshot-v1\n"
TEMP_NAME = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+\.tar$")

Progress = Callable[[int, int], None]


def new_digest():
    """The one place content digests start (tests count calls to prove unchanged files are not re-read)."""
    return hashlib.sha256()


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


def snapshot_id(manifest: Manifest) -> str:
    """sha256 over (path, type, mode, content digest or link target) of every member, in archive order."""
    digest = hashlib.sha256(ID_VERSION)
    for path, entry in ordered_members(manifest):
        if entry is None:
            line = f"d\0{path}\0755"
        elif entry.kind == "symlink":
            line = f"l\0{path}\0{entry.link_target}"
        else:
            if not entry.digest:
                raise ValueError(f"no digest for {path}")
            line = f"f\0{path}\0{entry.mode:o}\0{entry.digest}"
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:32]


class _TarWriter:
    """Minimal tar stream on a raw fd: headers from ``TarInfo.tobuf``, content copied by the kernel.

    ``tarfile.TarFile`` copies content through Python buffers; ``os.sendfile`` keeps it in the
    kernel, which is most of the difference to a bare ``tar -cf``. The stream format is plain PAX.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.offset = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.offset += len(data)

    def header(self, info: tarfile.TarInfo) -> None:
        self.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def rewind(self, offset: int) -> None:
        os.ftruncate(self.fd, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)
        self.offset = offset

    def close(self) -> None:
        """Two zero blocks end the archive; pad to a whole 10 KiB record like tar(1) does."""
        end = self.offset + 2 * tarfile.BLOCKSIZE
        record = tarfile.RECORDSIZE
        self.write(b"\0" * (2 * tarfile.BLOCKSIZE + (-end) % record))


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


def write_archive(
    manifest: Manifest,
    folder: Path,
    progress: Progress | None = None,
    on_hashed: Callable[[ManifestEntry, int], None] | None = None,
) -> Path:
    """Write all members to a temp tar in ``folder`` and return its path; fills missing ``entry.digest``.

    ``on_hashed(entry, hashed_at_ns)`` is called for each file hashed here (to feed the hash cache).
    The caller renames the result into place; on any error nothing is left behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    tmp = folder / f".tmp-{os.getpid()}-{secrets.token_hex(6)}.tar"
    total = manifest.total_bytes
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None and n > 0:
            progress(done, total)

    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            writer = _TarWriter(fd)
            for path, entry in ordered_members(manifest):
                if entry is None or entry.kind == "symlink":
                    writer.header(member_info(path, entry))
                else:
                    _add_file(writer, manifest.source, path, entry, advance, on_hashed)
            writer.close()
        finally:
            os.close(fd)
        if progress is not None and done != total:
            progress(total, total)
        return tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_member(source: Path, path: str) -> int:
    """Open ``source/path`` for reading, only if it is still the regular file inside ``source`` that was walked
    (see ``open_member_stat``)."""
    return open_member_stat(source, path)[0]


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
        if real is not None:
            root = os.path.abspath(source)  # resolved when walked: not again
            if not real.startswith(root.rstrip("/") + "/"):
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


def hash_entries(
    source: Path, entries: list[ManifestEntry], on_hashed: Callable[[ManifestEntry, int], None] | None = None
) -> None:
    """Fill ``digest`` of ``entries`` by reading them (used when only a few files are new or changed)."""
    for entry in entries:
        hashed_at = time.time_ns()
        digest = new_digest()
        try:
            with open(open_member(source, entry.path), "rb", buffering=0) as handle:
                entry.take_stat(os.fstat(handle.fileno()))
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise open_error(exc, source, entry.path) from None
        entry.digest = digest.hexdigest()
        if on_hashed is not None:
            on_hashed(entry, hashed_at)


def _add_file(
    writer: _TarWriter,
    source: Path,
    path: str,
    entry: ManifestEntry,
    advance: Callable[[int], None],
    on_hashed: Callable[[ManifestEntry, int], None] | None,
) -> None:
    """Header, then content (hashed first unless the digest is cached), then padding.

    Hashing and copying read the file twice (from the page cache); a file that changes in between is
    detected by its stat and packaged again, so digest and archived bytes always agree.
    """
    full = source / path
    try:
        fd = open_member(source, path)
    except OSError as exc:
        raise open_error(exc, source, path) from None
    try:
        start = writer.offset
        for _attempt in range(MAX_ATTEMPTS):
            hashed_at = time.time_ns()
            st = os.fstat(fd)
            if not entry.same_stat(st):
                # Changed since the walk: package what is there now, and do not trust a cached digest.
                entry.take_stat(st)
                entry.digest = None
            digest = None if entry.digest else new_digest()
            if digest is not None:
                _hash_fd(fd, entry.size, digest)
            writer.header(member_info(path, entry))
            copied = _copy(fd, writer, entry.size, advance)
            after = os.fstat(fd)
            if copied == entry.size and entry.same_stat(after):
                break
            advance(-copied)
            writer.rewind(start)
        else:
            raise SnapshotError(
                f"{full} keeps changing while it is being packaged; stop writing to it and submit again"
            )
    finally:
        os.close(fd)
    writer.write(b"\0" * (-entry.size % tarfile.BLOCKSIZE))
    if digest is not None:
        entry.digest = digest.hexdigest()
        if on_hashed is not None:
            on_hashed(entry, hashed_at)


def _hash_fd(fd: int, size: int, digest) -> None:
    """Hash up to ``size`` bytes of ``fd`` (objects.copy_hashing without a destination)."""
    copy_hashing(fd, None, size, digest)


def _copy(fd: int, writer: _TarWriter, size: int, advance: Callable[[int], None]) -> int:
    """Copy ``size`` bytes of ``fd`` into the archive; returns the bytes copied (less if the file shrank).

    ``sendfile`` keeps the data in the kernel; where it cannot write to a regular file (macOS, some
    file systems) a plain read/write loop does the same job.
    """
    copied = 0
    use_sendfile = hasattr(os, "sendfile")
    while copied < size:
        count = min(COPY_CHUNK, size - copied)
        if use_sendfile:
            try:
                n = os.sendfile(writer.fd, fd, copied, count)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP):
                    raise
                use_sendfile = False
                continue
        else:
            data = os.pread(fd, min(count, CHUNK), copied)
            n = len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(writer.fd, view) :]
        if n == 0:
            break
        copied += n
        advance(n)
    writer.offset += copied
    return copied
