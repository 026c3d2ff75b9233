"""The normalised tar header of a snapshot member, shared by the archive writer and the store's tar stream.

Kept apart from archive.py (which needs the manifest walk and the ignore rules) so that a run's driver,
which only reads snapshots, imports nothing of the packer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # loaded by the first header built: a driver that only materializes a snapshot needs none
    import tarfile

FIXED_MTIME = 946684800  # 2000-01-01: constant for determinism, and not before 1980 (zipfile refuses that)


class Member(Protocol):
    """What a header needs of a file or link (``ManifestEntry`` of the walk, or a stored manifest's member)."""

    kind: str
    mode: int
    size: int
    link_target: str | None


def member_info(path: str, entry: Member | None) -> tarfile.TarInfo:
    """The header of one member: fixed mtime, no owner, normalised mode; ``entry`` None for a folder."""
    import tarfile

    info = tarfile.TarInfo(path)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind == "symlink":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.link_target or ""
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, entry.mode, entry.size
    return info
