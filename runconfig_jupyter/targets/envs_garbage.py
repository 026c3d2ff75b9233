"""The environment caches under ``<home>/envs`` as a garbage source (core/runs/garbage.py).

The local target (targets/local/env.py) and conda_prefix.py keep there, by the first 16 characters of the
environment's content hash: ``<hash>/`` (a virtualenv with the pip packages), ``conda-<hash>/`` (a conda
prefix), ``stage-<hash>/`` (a prefix staged for a docker build, normally removed after it) and
``conda-pkgs/`` (py-rattler's package cache, shared by every install). Each folder has a ``<folder>.lock``
that its builder holds while it builds or checks it: an item whose lock is held is busy, and a removal takes
the lock itself (without waiting) and holds it while the folder goes, so a run that then takes the lock finds
no ready marker and builds again, never a half-removed environment. Lock files stay: removing one while
another process waits on it would let two builders in at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runconfig_jupyter.core.errors import RunStateError
from runconfig_jupyter.core.runs.garbage import GarbageItem
from runconfig_jupyter.core.runs.garbage_refs import env_key

PACKAGE_CACHE = "conda-pkgs"
_KINDS = {"": "venv", "conda-": "conda-prefix", "stage-": "conda-stage"}
_NAME = re.compile(r"^(conda-|stage-)?([0-9a-f]{16})$")


class EnvsSource:
    """Virtualenvs and conda prefixes our targets built under ``<home>/envs``."""

    name = "envs"

    def __init__(self, envs_dir: Path):
        self.envs_dir = envs_dir

    def items(self) -> Iterator[GarbageItem]:
        try:
            entries = sorted(os.scandir(self.envs_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            match = _NAME.match(entry.name)
            if match:
                kind, keys = _KINDS[match.group(1) or ""], frozenset({env_key(match.group(2))})
                busy = None if _lock_free(self._lock_path(entry.name)) else "being built or checked by a run"
            elif entry.name == PACKAGE_CACHE:
                kind, keys, busy = "conda-packages", frozenset(), self._any_install_running()
            else:
                continue  # not ours to judge
            path = Path(entry.path)
            yield GarbageItem(kind, entry.name, entry.path, _freed_bytes(path), _last_used(path), keys, busy, path)

    def remove(self, item: GarbageItem) -> None:
        path = Path(item.handle)
        if path.name == PACKAGE_CACHE:
            busy = self._any_install_running()
            if busy:
                raise RunStateError(f"not removed: {busy}")
            shutil.rmtree(path)
            return
        with held_now(self._lock_path(path.name)):
            shutil.rmtree(path)

    def _lock_path(self, name: str) -> Path:
        return self.envs_dir / f"{name}.lock"

    def _any_install_running(self) -> str | None:
        """The package cache is shared: it is busy while any environment is being built."""
        for lock in self.envs_dir.glob("*.lock"):
            if not _lock_free(lock):
                return f"an environment is being built ({lock.name} is held)"
        return None


def _lock_free(lock: Path) -> bool:
    try:
        with held_now(lock):
            return True
    except RunStateError:
        return False


@contextmanager
def held_now(lock: Path) -> Iterator[None]:
    """The builder's lock of a cache entry, taken without waiting; RunStateError when a run holds it."""
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunStateError(f"{lock.name} is held by a run building or using this environment") from None
        yield


def _freed_bytes(path: Path) -> int:
    """Bytes of the files only this folder holds (a file hard-linked from the package cache stays there)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.st_nlink <= 1:
                total += stat.st_size
    return total


def _last_used(path: Path) -> float:
    try:
        return max(p.stat().st_mtime for p in (path, *path.glob(".runconfig-*")))
    except OSError:
        return 0.0
