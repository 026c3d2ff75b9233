"""A local, versioned asset registry (models, environments) under the run home.

    <home>/<kind>/<name>/<version>/meta.json   what was registered, when, from which run
    <home>/<kind>/<name>/<version>/...         the asset's files (models)

Versions count up from 1 per name, as in Azure ML. A version folder is assembled under a
temporary name and renamed into place while holding the kind's lock, so two processes
registering at once get two versions and a reader never sees a half-written one.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import AssetNotFound, ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
# Azure ML named datasets with spaces too ('diabetes dataset'); a space never starts or ends one.
DATASET_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_. \-]{0,253}[A-Za-z0-9_.\-])?$")
NAME_RULES = {"dataset": (DATASET_NAME, "letters, digits, spaces, '-', '_' or '.'")}
DEFAULT_RULE = (NAME, "letters, digits, '-', '_' or '.'")
META_FILE = "meta.json"


@dataclass(frozen=True)
class Asset:
    name: str
    version: int
    path: Path  # the version folder
    meta: dict[str, Any]


def check_name(name: Any, kind: str) -> str:
    pattern, allowed = NAME_RULES.get(kind, DEFAULT_RULE)
    if not isinstance(name, str) or not pattern.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not valid: use up to 255 {allowed}, starting with a letter or digit",
            field="name",
        )
    return name


class AssetRegistry:
    """One kind of asset (``models``, ``environments``) in one run home."""

    def __init__(self, home: Path, kind: str):
        self.kind = kind
        self.root = Path(home) / kind

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        pattern = NAME_RULES.get(self.kind[:-1], DEFAULT_RULE)[0]
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and pattern.match(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        folder = self.root / check_name(name, self.kind[:-1])
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / META_FILE).is_file())

    def register(self, name: str, meta: dict[str, Any], fill: Callable[[Path], None] | None = None) -> Asset:
        """A new version: ``fill(folder)`` writes the asset's files, then ``meta`` is recorded with it."""
        check_name(name, self.kind[:-1])
        with self._lock():
            version = max(self.versions(name), default=0) + 1
            (self.root / name).mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self.root / name, prefix=".new-"))
            try:
                if fill is not None:
                    fill(staging)
                meta = {**meta, "name": name, "version": version, "created_time": time.time()}
                (staging / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
                os.replace(staging, self.root / name / str(version))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return Asset(name, version, self.root / name / str(version), meta)

    def get(self, name: str, version: int | str | None = None) -> Asset:
        versions = self.versions(name)
        kind = self.kind[:-1]
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise AssetNotFound(f"no {kind} named '{name}' is registered in {self.root} (registered: {known})")
        if version is None:
            number = versions[-1]
        else:
            try:
                number = int(version)
            except (TypeError, ValueError):
                raise ConfigError(f"version must be a number, got {version!r}", field="version") from None
            if number not in versions:
                raise AssetNotFound(
                    f"{kind} '{name}' has no version {version} (versions: {', '.join(map(str, versions))})"
                )
        folder = self.root / name / str(number)
        return Asset(name, number, folder, json.loads((folder / META_FILE).read_text()))

    def all(self, name: str | None = None, latest: bool = False) -> list[Asset]:
        names = [name] if name else self.names()
        assets = []
        for each in names:
            versions = self.versions(each)
            for number in versions[-1:] if latest else versions:
                assets.append(self.get(each, number))
        return assets

    def update_meta(self, name: str, version: int, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Edit a version's metadata (tags, description) under the lock; written atomically."""
        with self._lock():
            asset = self.get(name, version)
            meta = dict(asset.meta)
            change(meta)
            fd, tmp = tempfile.mkstemp(dir=asset.path, prefix=".meta.")
            with os.fdopen(fd, "w") as out:
                json.dump(meta, out, indent=1, default=str)
            os.replace(tmp, asset.path / META_FILE)
        return meta

    def delete(self, name: str, version: int) -> None:
        with self._lock():
            asset = self.get(name, version)
            trash = asset.path.with_name(f".deleted-{version}-{os.getpid()}")
            os.replace(asset.path, trash)  # gone for readers at once
            shutil.rmtree(trash, ignore_errors=True)
