"""The one rule for what a snapshot member may be called and where a link in it may point.

The packer (manifest.py, which decides what goes into an archive) and the extractor (extract.py,
which refuses anything that could write outside its folder) both ask these functions, so a file the
packer accepts is one the extractor will write: a run is never recorded with a snapshot that cannot be
unpacked. Names are '/'-separated and relative; a backslash counts as a separator too, because the
archive may be unpacked on Windows (a Linux file called ``a\\..\\b`` would climb out there).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from runconfig_jupyter.core.errors import UnsafeArchive

MAX_TREE_DEPTH = 128  # folders below the source root; deeper trees are refused, never walked recursively
_DRIVE = re.compile(r"^[A-Za-z]:")


def _parts(name: str) -> list[str]:
    return name.replace("\\", "/").split("/")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an archive member (or a hard-link target), or None when it can."""
    if not name:
        return "is empty"
    if (  # the common case, decided without splitting: no NUL, relative, no '..' at all, shallow enough
        "\0" not in name
        and ".." not in name
        and not name.startswith(("/", "\\"))
        and not _DRIVE.match(name)
        and name.count("/") + name.count("\\") <= MAX_TREE_DEPTH
    ):
        return None
    if "\0" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "is an absolute path"
    if ".." in _parts(name):
        return "contains a '..' component (a backslash counts as a separator)"
    if len([p for p in _parts(name) if p]) > MAX_TREE_DEPTH + 1:
        return f"is more than {MAX_TREE_DEPTH} folders deep"
    return None


def link_problem(name: str, target: str) -> str | None:
    """Why a symlink ``name -> target`` cannot be a member, or None: the target must be relative and stay inside."""
    if not target:
        return "has an empty target"
    if "\0" in target:
        return "has a target containing a NUL byte"
    if target.startswith(("/", "\\")) or _DRIVE.match(target):
        return f"points at an absolute path ({target})"
    if "\\" in target:
        return f"has a backslash in its target ({target})"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.normpath(name)), target))
    if joined == ".." or joined.startswith("../"):
        return f"points outside the folder ({target})"
    return None


def inside_link_target(name: str, resolved_relative: str) -> str:
    """The target to record for a link that stays inside: the shortest relative path from its folder.

    ``proj/link -> ../proj/x`` (valid on disk, but written through a parent the extractor cannot see)
    becomes ``x``; both sides then agree on it.
    """
    return posixpath.relpath(resolved_relative, posixpath.dirname(name) or ".")


class Member(Protocol):
    """What the checks ask of a member: a ``tarfile.TarInfo`` answers it, and so does ``StoredShape``."""

    name: str
    linkname: str

    def isfile(self) -> bool: ...
    def isdir(self) -> bool: ...
    def issym(self) -> bool: ...
    def islnk(self) -> bool: ...


class StoredShape:
    """A stored snapshot's member as the checks see it (``kind``: "file", "dir" or "symlink").

    A manifest is checked with these rather than tar headers, so a run's driver materializing a stored
    snapshot never loads ``tarfile`` (~1 ms, on the path between the submit and the script's first line).
    """

    __slots__ = ("kind", "linkname", "name")

    def __init__(self, name: str, kind: str, linkname: str = ""):
        self.name, self.kind, self.linkname = name, kind, linkname

    def isfile(self) -> bool:
        return self.kind == "file"

    def isdir(self) -> bool:
        return self.kind == "dir"

    def issym(self) -> bool:
        return self.kind == "symlink"

    def islnk(self) -> bool:
        return False  # a manifest has no hard links


def check_members(members: Sequence[Member], tar_path: Path | str = "archive") -> None:
    """Raise UnsafeArchive for the first member that could write outside the extraction folder.

    Names and link targets follow the rule the packer uses (above). The tar extractor and the store's
    materializer (stream.py) both check with it.
    """
    symlinks: set[str] = set()
    for member in members:
        name = member.name
        _refuse(name_problem(name), "member", name, tar_path)
        norm = posixpath.normpath(name)
        parts = norm.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in symlinks:
                raise UnsafeArchive(f"{tar_path}: member {name!r} is reached through a symlink member; refusing")
        if member.issym():
            _refuse(link_problem(name, member.linkname), "symlink", name, tar_path)
            symlinks.add(norm)
        elif member.islnk():
            _refuse(name_problem(member.linkname), "hard link target", member.linkname, tar_path)
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"{tar_path}: member {name!r} is a device or fifo; refusing")


def _refuse(problem: str | None, what: str, name: str, tar_path: Path | str) -> None:
    if problem:
        raise UnsafeArchive(f"{tar_path}: {what} {name!r} {problem}; refusing")
