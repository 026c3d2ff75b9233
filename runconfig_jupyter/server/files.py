"""A run's files, read-only and confined to its run folder.

The run view lists and downloads what a run wrote (``outputs/``, ``logs/``, ``artifacts/``) straight from
the run folder instead of copying it under the server root (copies landed in the user's source folder and
were packaged into the next snapshot). A run is untrusted input: its script chose every name and may have
left symlinks (``outputs/x -> /etc/shadow``) or symlinked folders (``outputs/d -> /``). So:

- listing never descends into a symlinked folder and lists a symlinked file only when its target is a
  regular file inside one of the served folders of the same run; it stops at a file count and a time limit
  and says ``truncated``;
- opening walks the path one component at a time with ``O_NOFOLLOW`` relative to the previous folder's
  descriptor, so no folder on the way can be a link (even one swapped in after a check); a final component
  that is a link is resolved once and must land inside a served folder of the run, then walked the same way.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, RunNotFound
from runconfig_jupyter.core.runs.folder import FILE_FOLDERS

SERVED_FOLDERS = FILE_FOLDERS  # outputs, logs, artifacts (upload_file, log_image: core/artifacts.py)
MAX_LIST_FILES = 2000
MAX_LIST_SECONDS = 3.0
MAX_DEPTH = 32
MAX_PATH_CHARS = 1024
# Served inline (the browser may show them in the page): images and plain data. Anything else, HTML and
# SVG's script-capable siblings included, is sent as an attachment so a run cannot run script in the
# Jupyter origin; every answer also carries a sandboxing Content-Security-Policy.
INLINE_TYPES = {
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "image/bmp",
    "text/plain", "text/csv", "application/json", "application/pdf",
}  # fmt: skip
TEXT_SUFFIXES = {".log", ".txt", ".out", ".err", ".yaml", ".yml", ".md", ".jsonl", ".py", ".cfg", ".ini", ".toml"}
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def content_type(name: str) -> str:
    """The type a browser should get for ``name``: by extension, text for log-like files, else bytes."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "text/plain"
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def split_request_path(path: str) -> list[str]:
    """The components of a requested path, refusing anything that is not a plain relative path in a served folder.

    Tornado has already decoded ``%2e%2e`` to ``..`` once; a second layer of encoding is a literal name and
    simply does not exist. Backslashes, NUL, absolute paths, ``.``/``..`` and empty components are refused.
    """
    if not isinstance(path, str) or not path:
        raise ConfigError("give a file path such as outputs/model.pt", field="path")
    if len(path) > MAX_PATH_CHARS or "\x00" in path or "\\" in path:
        raise ConfigError("the file path has a NUL byte, a backslash or is too long", field="path")
    if path.startswith("/"):
        raise ConfigError(f"'{path}' is absolute; give a path relative to the run folder", field="path")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ConfigError(f"'{path}' has an empty, '.' or '..' component; give a plain relative path", field="path")
    if parts[0] not in SERVED_FOLDERS or len(parts) < 2:
        raise ConfigError(
            f"'{path}' is not in a served folder; files are served from {', '.join(SERVED_FOLDERS)}", field="path"
        )
    if len(parts) > MAX_DEPTH:
        raise ConfigError(f"'{path}' is nested deeper than {MAX_DEPTH} folders", field="path")
    return parts


@dataclass
class OpenedFile:
    """An open, regular, confined file: read it from ``fd`` (the caller closes it)."""

    fd: int
    name: str
    size: int
    content_type: str


class RunFiles:
    """Read-only access to one run folder's served files."""

    def __init__(self, run_dir: Path, run_id: str):
        self.run_id = run_id
        self.run_dir = Path(run_dir).resolve()

    # -- listing ---------------------------------------------------------
    def listing(self, max_files: int = MAX_LIST_FILES, max_seconds: float = MAX_LIST_SECONDS) -> dict[str, Any]:
        files: list[dict[str, Any]] = []
        truncated = False
        deadline = time.monotonic() + max_seconds
        for entry in self._walk():
            if len(files) >= max_files or time.monotonic() > deadline:
                truncated = True
                break
            files.append(entry)
        return {"run_id": self.run_id, "files": files, "truncated": truncated, "max_files": max_files}

    def _walk(self) -> Iterator[dict[str, Any]]:
        for folder in SERVED_FOLDERS:
            top = self.run_dir / folder
            if top.is_symlink() or not top.is_dir():
                continue
            yield from self._walk_dir(top, folder, 1)

    def _walk_dir(self, directory: Path, relative: str, depth: int) -> Iterator[dict[str, Any]]:
        if depth > MAX_DEPTH:
            return
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return  # unreadable or vanished: nothing to list there
        for entry in entries:
            name = f"{relative}/{entry.name}"
            try:
                if entry.is_symlink():
                    target = self._link_target(Path(entry.path))
                    if target is not None:
                        yield {"path": name, "size": target.stat().st_size, "type": content_type(name), "link": True}
                elif entry.is_dir(follow_symlinks=False):
                    yield from self._walk_dir(Path(entry.path), name, depth + 1)
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    yield {"path": name, "size": size, "type": content_type(name)}
            except OSError:
                continue  # removed while listing

    def _link_target(self, link: Path) -> Path | None:
        """The regular file a link points to when it stays inside a served folder of this run, else None."""
        try:
            target = link.resolve(strict=True)
            regular = stat.S_ISREG(target.stat().st_mode)
        except (OSError, RuntimeError):  # dangling, a loop, or removed meanwhile
            return None
        return target if regular and self._served(target) else None

    def _served(self, path: Path) -> bool:
        return any(path.is_relative_to(self.run_dir / folder) for folder in SERVED_FOLDERS)

    # -- reading ---------------------------------------------------------
    def open(self, path: str) -> OpenedFile:
        parts = split_request_path(path)
        try:
            fd = self._open_parts(parts)
        except _IsLink:
            target = self._link_target(self.run_dir.joinpath(*parts))
            if target is None:
                raise self._missing(path) from None
            try:
                fd = self._open_parts(list(target.relative_to(self.run_dir).parts))
            except _IsLink:  # swapped for a link since it was resolved
                raise self._missing(path) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise self._missing(path)
        return OpenedFile(fd, parts[-1], info.st_size, content_type(parts[-1]))

    def _open_parts(self, parts: list[str]) -> int:
        """Walk ``parts`` below the run folder without following any link; the open descriptor of the last one."""
        try:
            current = os.open(self.run_dir, _DIR_FLAGS)
        except OSError:
            raise self._missing("/".join(parts)) from None
        try:
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                try:
                    following = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=current)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.EMLINK) and last:
                        raise _IsLink() from None
                    # ENOTDIR / ELOOP on a folder on the way: a file or a symlinked folder there
                    raise self._missing("/".join(parts)) from None
                os.close(current)
                current = following
            return current
        except BaseException:
            os.close(current)
            raise

    def _missing(self, path: str) -> RunNotFound:
        return RunNotFound(
            f"run {self.run_id} has no file '{path}' (links out of the run and linked folders are not served); "
            f"list the run's files with GET /runconfig/api/runs/{self.run_id}/files"
        )


class _IsLink(Exception):
    """The last component is a symbolic link; the caller decides whether its target may be served."""
