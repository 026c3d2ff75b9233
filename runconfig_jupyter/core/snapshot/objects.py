"""The object half of the snapshot store: each file's bytes once, named by their digest.

Layout under ``<snapshots_dir>/objects/``::

    <alg>/<first two hex>/<digest>      a file stored with mode 0644, kept read-only (0444)
    <alg>/<first two hex>/<digest>.x    the same for an executable file (0555), so a tree of hard links
                                        to objects has the modes the snapshot records
    .tmp-<pid>-<random>                 an object being written (renamed into place when complete)

Objects are written atomically (temp file, then rename) and never changed in place: a reader sees a
whole object or none. The digest is BLAKE3 when the ``blake3`` package is installed (fast and
multi-threaded on big files) and SHA-256 otherwise; the algorithm is part of the path and of every
manifest, so digests of the two never mix.

Everything that reads an object back for a run checks it against its digest (``read_verified``): a damaged
or missing object is a ``SnapshotError`` naming the file, never a silently wrong file in a run.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.shards import mark_changed

OBJECTS_DIR = "objects"
CHUNK = 1 << 20
THREADED_HASH_BYTES = 8 << 20  # files at least this big are hashed by BLAKE3's own threads
# Files read (and hashed, and written) at once by the store and the materializer: two keep the disk busy while the
# other hashes, more than the cores only make the threads queue for the interpreter lock. On 2 cores here, 4
# threads took 884 ms to store 256 MB in 2,500 files and 2 took 781 (medians of 4); materializing, 1474 vs 1087.
FILE_THREADS = min(4, max(2, os.cpu_count() or 2))
TEMP_OBJECT = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+$")
T = TypeVar("T")

try:  # pragma: no branch - which one depends on the install
    import blake3 as _blake3

    DEFAULT_ALG = "blake3"
except ImportError:  # pragma: no cover - the extra is not installed
    _blake3 = None
    DEFAULT_ALG = "sha256"

ALGORITHMS = ("blake3", "sha256")


_PROC: list[int] = []


def _object_mode(mode: int) -> int:
    """Objects are read-only; executable files keep their execute bits (a tree of links shows them)."""
    return 0o555 if mode & 0o111 else 0o444


def _proc_fd() -> int:
    """An fd of /proc, opened once per process (``self`` is resolved by whoever uses it)."""
    if not _PROC:
        _PROC.append(os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    return _PROC[0]


def new_hasher(alg: str, size: int = 0) -> Any:
    """A fresh hash object of ``alg``; big files get BLAKE3's multi-threaded mode."""
    if alg == "blake3":
        if _blake3 is None:
            raise SnapshotError(
                "this snapshot was stored with BLAKE3 digests but the blake3 package is not installed here; "
                "pip install blake3 (or runconfig-jupyter[fast])"
            )
        if size >= THREADED_HASH_BYTES:
            return _blake3.blake3(max_threads=_blake3.blake3.AUTO)
        return _blake3.blake3()
    if alg == "sha256":
        import hashlib  # not at the top: a run's driver reading a BLAKE3 snapshot need not load OpenSSL (~2.5 ms)

        return hashlib.sha256()
    raise SnapshotError(f"unknown snapshot digest algorithm {alg!r}: this snapshot was written by a newer version")


class ObjectStore:
    """Content-addressed file objects of one snapshot store (``<snapshots_dir>/objects``)."""

    def __init__(self, snapshots_dir: Path, alg: str = DEFAULT_ALG):
        self.root = Path(snapshots_dir) / OBJECTS_DIR
        self.alg = alg
        self._root = str(self.root)
        self.alg_root = f"{self._root}/{alg}"  # the folder of this algorithm's 256 shard folders
        self.made: set[str] = set()  # object folders this instance created or found
        # Objects this instance put in place (rolled back if the snapshot fails); paths as strings, as they are
        # made: a Path per stored file cost more than its link (a first snapshot stores thousands).
        self.created: list[str] = []
        self._ready = False
        self._tmpfile = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd") and os.link in os.supports_dir_fd

    def path(self, digest: str, mode: int) -> Path:
        return Path(self.name(digest, mode))

    def name(self, digest: str, mode: int) -> str:
        """The object's path as a string (the hot path of a re-snapshot asks it once per file)."""
        return f"{self._root}/{self.alg}/{digest[:2]}/{digest}{'.x' if mode & 0o111 else ''}"

    def has(self, digest: str, mode: int, size: int) -> bool:
        """Present with the right size (one ``stat``); content is checked when a run reads it."""
        try:
            return os.stat(self.name(digest, mode)).st_size == size
        except OSError:
            return False

    def begin(self, mode: int) -> tuple[int, str | None]:
        """A new, still nameless object being written: (fd, temp path or None).

        Linux's ``O_TMPFILE`` gives a file with no name until ``commit`` links it into place, so an object is
        never visible half-written and a killed writer leaves nothing behind; elsewhere a named temp file
        (``.tmp-<pid>-<random>``, removed by the next writer once that pid is gone) does the same job.
        """
        if not self._ready:
            self.root.mkdir(parents=True, exist_ok=True)
            self._ready = True
        if self._tmpfile:
            try:
                # Read-only from birth: the fd may still write, nobody else can open it for writing.
                return os.open(self._root, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, _object_mode(mode)), None
            except OSError:  # a file system without O_TMPFILE: named temp files from now on
                self._tmpfile = False
        # os.urandom is what secrets.token_hex uses; importing secrets here (it loads hashlib through hmac) could
        # fail where the interpreter's own files are unreadable once privileges were dropped.
        tmp = f"{self._root}/.tmp-{os.getpid()}-{os.urandom(6).hex()}"
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp

    def commit(self, fd: int, tmp: str | None, digest: str, mode: int) -> bool:
        """Make a complete object read-only and give it its name; False when the object was already there.
        Closes ``fd``. An object in place is never replaced: whoever stored it first stored the same bytes."""
        final = self.name(digest, mode)
        folder = final.rsplit("/", 1)[0]
        try:
            if tmp is not None:
                os.fchmod(fd, _object_mode(mode))
            if folder not in self.made:
                os.makedirs(folder, exist_ok=True)
                self.made.add(folder)
            try:
                if tmp is None:  # linkat(AT_SYMLINK_FOLLOW) through /proc: Python asks that only with a dir fd
                    os.link(f"self/fd/{fd}", final, src_dir_fd=_proc_fd(), follow_symlinks=True)
                else:
                    os.link(tmp, final)
                self.created.append(final)
                return True
            except FileExistsError:
                return False
        finally:
            self.abort(fd, tmp)

    def abort(self, fd: int, tmp: str | None) -> None:
        """Close an object being written and drop its temp name (a nameless one simply vanishes)."""
        os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def open(self, digest: str, mode: int, label: str) -> int:
        """Open an object for reading (the caller closes the fd); SnapshotError naming ``label`` when missing."""
        path = self.path(digest, mode)
        try:
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            mark_changed(str(path.parent))  # the next snapshot then checks this shard's objects one by one
            raise SnapshotError(
                f"the stored content of {label} ({path}) is missing ({exc.strerror}): the snapshot store was changed "
                "by hand or garbage-collected too early; submit again from the source folder to store it anew"
            ) from None

    def damaged(self, digest: str, mode: int, label: str) -> SnapshotError:
        """The error for an object whose bytes no longer match its digest."""
        return SnapshotError(
            f"the stored content of {label} ({self.path(digest, mode)}) is damaged (it no longer matches its "
            "digest); delete that file and submit again from the source folder to store it anew"
        )

    def open_verified(self, digest: str, mode: int, size: int, label: str) -> int:
        """Open an object after reading it once against ``digest`` and ``size``; the caller closes the fd."""
        fd = self.open(digest, mode, label)
        try:
            hasher = new_hasher(self.alg, size)
            read = copy_hashing(fd, None, size + 1, hasher)
            if read != size or hasher.hexdigest() != digest:
                raise self.damaged(digest, mode, label)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def read_verified(self, digest: str, mode: int, size: int, label: str) -> Iterator[bytes]:
        """The object's bytes in chunks, only after the whole object matched its digest."""
        fd = self.open_verified(digest, mode, size, label)
        try:
            offset = 0
            while offset < size:
                chunk = os.pread(fd, min(CHUNK, size - offset), offset)
                if not chunk:
                    raise SnapshotError(f"the stored content of {label} shrank while it was read; submit again")
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)


def in_threads(work: Callable[[T], int], items: list[T], workers: int) -> int:
    """Run ``work`` on every item with up to ``workers`` threads; the sum of the results. The first
    exception stops the other threads from taking new items and is raised here.

    Plain ``threading`` (loaded anyway) rather than concurrent.futures: nothing more to import while a
    submit runs, which matters where the interpreter's own files are unreadable after dropping privileges.
    """
    pending = list(reversed(items))
    lock = threading.Lock()
    total = 0
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal total
        while True:
            with lock:
                if errors or not pending:
                    return
                item = pending.pop()
            try:
                result = work(item)
            except BaseException as exc:  # re-raised in the caller's thread
                with lock:
                    errors.append(exc)
                return
            with lock:
                total += result

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(workers, len(items)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as exc:  # Ctrl-C while waiting: let the workers finish their item, take no more
        with lock:
            errors.append(exc)
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
    return total


_BUFFERS = threading.local()


def _buffer() -> memoryview:
    """This thread's read buffer, made once. A fresh ``bytes`` per read costs page faults on new memory
    every time; for a folder of 100 KB files that was two thirds of reading it (122 vs 43 ms for 256 MB here)."""
    view = getattr(_BUFFERS, "view", None)
    if view is None:
        view = _BUFFERS.view = memoryview(bytearray(CHUNK))
    return view


def copy_hashing(
    src_fd: int, dst_fd: int | None, size: int, hasher: Any, advance: Callable[[int], None] | None = None
) -> int:
    """Copy up to ``size`` bytes from ``src_fd`` (from offset 0) to ``dst_fd`` while hashing; bytes copied.

    One read per byte: the chunk that is hashed is the chunk that is written. With ``dst_fd`` None it only
    hashes. pread, not mmap: a file truncated meanwhile would kill the process with SIGBUS. Reads go into
    the thread's one buffer (``_buffer``), which is why nothing here may keep a chunk past its loop turn.
    """
    buffer = _buffer()
    copied = 0
    while copied < size:
        wanted = min(CHUNK, size - copied)
        got = os.preadv(src_fd, [buffer[:wanted]], copied)
        if not got:
            break
        chunk = buffer[:got]
        hasher.update(chunk)
        if dst_fd is not None:
            while chunk:
                chunk = chunk[os.write(dst_fd, chunk) :]
        copied += got
        if advance is not None:
            advance(got)
    return copied
