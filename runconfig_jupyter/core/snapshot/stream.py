"""What targets get from a stored snapshot: the run's tree, or a tar stream, built from manifest + objects.

A run folder holds its snapshot as ``snapshot.json`` (a hard link to ``<home>/snapshots/manifests/<id>.json``)
or, when written by an earlier version, as ``snapshot.tar``. Both are accepted everywhere:

- ``materialize(path, dest)``  the tree, written into ``dest`` (copies: a run may change its files)
- ``tar_stream(path)``         the tar bytes, generated on the fly (remote engines, kernel upload), the
                               same bytes the tar packer writes for that content
- ``member_infos(path)``       the members as tar headers (for the checks a target makes before it starts)

A manifest is treated as untrusted input like an archive: every name and link is checked by the extractor's
own rule (extract.check_members) before anything is written, and every object is checked against its
digest before its bytes are used (objects.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import SnapshotError, UnsafeArchive
from runconfig_jupyter.core.snapshot.member_names import StoredShape, check_members
from runconfig_jupyter.core.snapshot.objects import (
    ALGORITHMS,
    CHUNK,
    FILE_THREADS,
    ObjectStore,
    copy_hashing,
    in_threads,
    new_hasher,
)
from runconfig_jupyter.core.snapshot.tar_members import FIXED_MTIME, member_info
from runconfig_jupyter.core.system.records import record

if TYPE_CHECKING:  # tar headers and files only where tar bytes are read or made: materialize needs neither
    import tarfile

MANIFEST_SUFFIX = ".json"
WRITE_THREADS = FILE_THREADS  # files copied or checked at once (objects.py)


@record(frozen=True)
class StoredMember:
    """A file or link of a stored manifest (the walk's StoredMember without what only the packer needs)."""

    path: str
    kind: str  # "file" | "symlink"
    mode: int
    size: int = 0
    digest: str | None = None
    link_target: str | None = None

    def __init__(  # written out: one is made per file of a manifest, and the records' shared __init__ is slower
        self,
        path: str,
        kind: str,
        mode: int,
        size: int = 0,
        digest: str | None = None,
        link_target: str | None = None,
    ):
        fill = object.__setattr__  # frozen: set as dataclasses' generated __init__ sets a frozen instance
        fill(self, "path", path)
        fill(self, "kind", kind)
        fill(self, "mode", mode)
        fill(self, "size", size)
        fill(self, "digest", digest)
        fill(self, "link_target", link_target)


Member = tuple[str, "StoredMember | None"]  # (path, entry); entry None for a folder


def is_stored(path: Path | str) -> bool:
    """True for a stored snapshot (a manifest), False for a tar written by the archive packer."""
    return Path(path).suffix == MANIFEST_SUFFIX


def store_dir_for(manifest_path: Path) -> Path:
    """The snapshot store a manifest belongs to: its own folder's parent, or for a run folder's link
    (``<home>/runs/<id>/snapshot.json``) the home's ``snapshots`` folder."""
    if manifest_path.parent.name == "manifests":
        return manifest_path.parent.parent
    return manifest_path.parent.parent.parent / "snapshots"


@record(frozen=True)
class StoredManifest:
    path: Path
    alg: str
    members: list[Member]
    objects: ObjectStore

    @property
    def file_bytes(self) -> int:
        return sum(e.size for _p, e in self.members if e is not None and e.kind == "file")


def load_manifest(path: Path | str, store_dir: Path | None = None) -> StoredManifest:
    """Read and check a manifest (names, links, types); SnapshotError / UnsafeArchive when it is not sound."""
    path = Path(path)
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise SnapshotError(f"snapshot manifest {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"snapshot manifest {path} is not readable JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != "runconfig-snapshot-manifest-v1":
        raise SnapshotError(f"{path} is not a snapshot manifest this version can read")
    alg = document.get("hash")
    if alg not in ALGORITHMS:
        raise SnapshotError(f"{path}: unknown digest algorithm {alg!r}")
    members: list[Member] = []
    try:
        for item in document["members"]:
            kind, name = item[0], item[1]
            if not isinstance(name, str):
                raise TypeError("name")
            if kind == "d":
                members.append((name, None))
            elif kind == "l":
                members.append((name, StoredMember(name, "symlink", 0o777, link_target=str(item[2]))))
            elif kind == "f":
                mode, size, digest = int(item[2]), int(item[3]), str(item[4])
                if mode not in (0o644, 0o755) or size < 0 or not digest.isalnum():
                    raise ValueError(f"file {name!r}")
                members.append((name, StoredMember(name, "file", mode, size, digest)))
            else:
                raise ValueError(f"member type {kind!r}")
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot manifest {path} is malformed ({exc}); refusing") from None
    check_members([_shape(name, entry) for name, entry in members], path)
    objects = ObjectStore(store_dir or store_dir_for(path), alg)
    return StoredManifest(path, alg, members, objects)


def _shape(name: str, entry: StoredMember | None) -> StoredShape:
    """What the member checks see of a manifest's member (the same answers as its tar header's)."""
    if entry is None:
        return StoredShape(name, "dir")
    return StoredShape(name, entry.kind, entry.link_target or "")


def member_infos(path: Path | str) -> list[tarfile.TarInfo]:
    """The snapshot's members as tar headers, from a manifest or a tar."""
    if is_stored(path):
        return [member_info(name, entry) for name, entry in load_manifest(path).members]
    import tarfile

    with tarfile.open(path) as archive:
        return archive.getmembers()


def tar_stream(path: Path | str, end: bool = True) -> Iterator[bytes]:
    """The snapshot as tar bytes; ``end=False`` leaves out the end-of-archive blocks (to append more).

    For a manifest, each object is checked against its digest before its first byte is sent.
    """
    if not is_stored(path):
        yield from _tar_file_stream(Path(path), end)
        return
    for piece, _member in tar_pieces(path, end):
        yield piece


def tar_pieces(path: Path | str, end: bool = True) -> Iterator[tuple[bytes, StoredMember | None]]:
    """A stored snapshot's tar bytes (``tar_stream``'s), each piece with the member whose content it is:
    a file's content comes in one or more pieces paired with its member, headers and padding with None.
    An upload that can leave out content the other side already holds needs to know which bytes are whose
    (targets/kernel/delta.py)."""
    import tarfile

    stored = load_manifest(path)
    offset = 0
    for name, entry in stored.members:
        header = member_info(name, entry).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        offset += len(header)
        yield header, None
        if entry is None or entry.kind != "file":
            continue
        assert entry.digest is not None
        for chunk in stored.objects.read_verified(entry.digest, entry.mode, entry.size, name):
            yield chunk, entry
        padding = b"\0" * (-entry.size % tarfile.BLOCKSIZE)
        offset += entry.size + len(padding)
        yield padding, None
    if end:
        closing = offset + 2 * tarfile.BLOCKSIZE
        yield b"\0" * (2 * tarfile.BLOCKSIZE + (-closing) % tarfile.RECORDSIZE), None


def _tar_file_stream(path: Path, end: bool) -> Iterator[bytes]:
    """A stored tar's bytes; without ``end``, only up to just past its last member."""
    import tarfile

    with tarfile.open(path) as archive:
        for _member in archive:
            pass
        stop = archive.offset  # just past the last member's data and padding
    if end:
        stop = path.stat().st_size
    with open(path, "rb") as source:
        remaining = stop
        while remaining > 0:
            block = source.read(min(CHUNK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block


def tar_bytes(path: Path | str) -> bytes:
    """The whole snapshot tar in memory (uploads that need one body: the kernel target)."""
    if not is_stored(path):
        return Path(path).read_bytes()
    return b"".join(tar_stream(path))


def snapshot_files(path: Path | str) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every regular file, from a manifest (content checked) or a tar."""
    if is_stored(path):
        stored = load_manifest(path)
        for name, entry in stored.members:
            if entry is not None and entry.kind == "file" and entry.digest:
                yield name, b"".join(stored.objects.read_verified(entry.digest, entry.mode, entry.size, name))
        return
    import tarfile

    with tarfile.open(path, "r:") as tar:
        for member in tar.getmembers():
            source = tar.extractfile(member) if member.isfile() else None
            if source is not None:
                yield member.name, source.read()


def materialize(path: Path | str, dest: Path | str) -> None:
    """Write the snapshot's tree into ``dest`` (created if missing), checking names first and digests as
    each file is copied; a file whose object does not match is removed and the call raises SnapshotError."""
    stored = load_manifest(path)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files: list[StoredMember] = []
    links: list[StoredMember] = []
    for name, entry in stored.members:
        if entry is None:
            target = dest / name
            if target.is_symlink():
                raise UnsafeArchive(f"{path}: folder {name!r} is a symlink in {dest}; refusing")
            target.mkdir(parents=True, exist_ok=True)
        elif entry.kind == "symlink":
            links.append(entry)
        else:
            files.append(entry)

    def write(entry: StoredMember) -> int:
        _write_file(stored.objects, entry, dest)
        return entry.size

    in_threads(write, files, WRITE_THREADS)
    for entry in links:
        target = dest / entry.path
        if target.is_symlink() or target.is_file():
            target.unlink()
        os.symlink(entry.link_target or "", target)
    for name, entry in stored.members:
        if entry is None or entry.kind == "file":
            os.utime(dest / name, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


def link_tree(path: Path | str, dest: Path | str) -> StoredManifest:
    """The snapshot's tree in ``dest`` as hard links to its (checked) read-only objects, for a consumer that
    cannot write through them (a read-only bind mount); files are copied where a link is impossible.
    Returns the manifest it read, so the consumer learns the members (e.g. which are executable) without
    reading it again.

    Objects of executable files are 0555 and the others 0444, so the tree has the snapshot's modes minus the
    write bits. No byte is written, but each object is read once against its digest - in threads, as
    ``materialize`` copies (the hash releases the GIL): this check is on a docker run's path before its
    container is created, ~0.5 ms a MB on one core.
    """
    stored = load_manifest(path)
    dest = Path(dest)
    if dest.exists():
        raise SnapshotError(f"{dest} already exists; a snapshot tree is only built into a new folder")
    dest.mkdir(parents=True)
    files: list[StoredMember] = []
    links: list[StoredMember] = []
    for name, entry in stored.members:
        if entry is None:
            (dest / name).mkdir(parents=True, exist_ok=True)
        else:
            (links if entry.kind == "symlink" else files).append(entry)

    def place(entry: StoredMember) -> int:
        assert entry.digest is not None
        os.close(stored.objects.open_verified(entry.digest, entry.mode, entry.size, entry.path))
        try:
            os.link(stored.objects.path(entry.digest, entry.mode), dest / entry.path)
        except OSError:  # another file system, or links not allowed: a copy
            _write_file(stored.objects, entry, dest)
        return entry.size

    in_threads(place, files, WRITE_THREADS)
    for entry in links:  # after the files, as materialize does: no file is ever placed through a link
        os.symlink(entry.link_target or "", dest / entry.path)
    return stored


def _write_file(objects: ObjectStore, entry: StoredMember, dest: Path) -> None:
    """Copy one object to ``dest/entry.path`` (never through a link), hashing what is written."""
    assert entry.digest is not None
    target = dest / entry.path
    if target.is_symlink() or target.exists():
        target.unlink()  # like tar: a member replaces what is there; a folder in the way fails below
    src = objects.open(entry.digest, entry.mode, entry.path)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, entry.mode)
        try:
            hasher = new_hasher(objects.alg, entry.size)
            copied = copy_hashing(src, dst, entry.size + 1, hasher)
            os.fchmod(dst, entry.mode)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if copied != entry.size or hasher.hexdigest() != entry.digest:
        target.unlink(missing_ok=True)
        raise objects.damaged(entry.digest, entry.mode, entry.path)
