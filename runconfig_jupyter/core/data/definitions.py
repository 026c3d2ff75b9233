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

from runconfig_jupyter.core.errors import AssetNotFound, ConfigError
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


def one_place(name: str, paths: list[dict[str, str]], field: str) -> tuple[str, str, str | None]:
    """``(datastore, folder, pattern)`` of a dataset's paths as one run input.

    One path is its static folder and glob. Several paths (v1's ``from_files([url, url, ...])``, mounted on Azure
    as one folder) become their common folder with a file-list pattern (``{a.gz,b.gz}``, input_datasets.py), so
    the run is given, and a remote store is asked for, those files only.
    """
    if len(paths) == 1:
        return (paths[0]["datastore"], *split_glob(paths[0]["path"]))
    stores = {p["datastore"] for p in paths}
    globbed = [p["path"] for p in paths if split_glob(p["path"])[1] is not None or p["path"] in ("", "**")]
    odd = [p["path"] for p in paths if set(p["path"]) & set(",{}")]
    if len(stores) > 1 or globbed or odd:
        why = (
            f"its paths are on {len(stores)} datastores"
            if len(stores) > 1
            else f"'{(globbed or odd)[0]}' is a glob or holds ',', '{{' or '}}'"
        )
        raise ConfigError(
            f"dataset '{name}' names {len(paths)} paths and {why}; a run input is one place (one dataset per "
            "datastore, or a glob below one folder)",
            field=field,
        )
    parents = [p["path"].split("/")[:-1] for p in paths]
    common: list[str] = []
    for parts in zip(*parents, strict=False):  # the shortest parent bounds the common folder
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    folder = "/".join(common)
    listed = [p["path"][len(folder) :].lstrip("/") for p in paths]
    return stores.pop(), folder, listed_pattern(listed, field)


def listed_pattern(listed: Any, field: str) -> str:
    """The file-list pattern of paths below one folder (``{a.gz,b/c.gz}``, read by input_datasets.listed_paths):
    each relative, without '..', a glob or the list's own ',', '{', '}'."""
    if not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
        raise ConfigError("listedPaths must be a list of paths below the folder", field=field)
    for path in listed:
        if not path or path.startswith("/") or ".." in path.split("/") or set(path) & set(",{}*?[\0"):
            raise ConfigError(f"'{path}' is not a plain path below the folder", field=field)
    return "{" + ",".join(listed) + "}"
