"""Dataset definitions as the run engine reads them: globs, ids and the local registry of datasets.

Both the v1 ``Dataset`` classes (dataset.py) and the data plan (resolve.py) read definitions. This module is the
part they share, so the engine never imports the v1 classes, nor the ``Workspace`` they hang on.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import AssetNotFound
from runconfig_jupyter.core.registries.versioned import Asset, AssetRegistry

GLOB_CHARS = set("*?[")
EVERYTHING = ("**", "**/*")
REGISTRY_KIND = "datasets"


def split_glob(path: str) -> tuple[str, str | None]:
    """``'train/**/*.csv'`` -> (``'train'``, ``'**/*.csv'``); no glob -> (path, None); everything below -> None."""
    parts = path.split("/") if path else []
    static: list[str] = []
    for index, part in enumerate(parts):
        if GLOB_CHARS & set(part):
            pattern = "/".join(parts[index:])
            return "/".join(static), None if pattern in EVERYTHING else pattern
        static.append(part)
    return path, None


def definition_id(definition: dict[str, Any]) -> str:
    """The same definition always has the same id (v1 kept one id per saved definition too)."""
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def dataset_registry(home: Path) -> AssetRegistry:
    return AssetRegistry(home, REGISTRY_KIND)


def registered_by_id(registry: AssetRegistry, id: str) -> Asset:
    for asset in registry.all():
        if asset.meta.get("id") == id:
            return asset
    raise AssetNotFound(f"no registered dataset has the id '{id}' in {registry.root}")
