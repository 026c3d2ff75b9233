"""Registered environments, kept locally and versioned (``<home>/environments``).

``env.register(ws)`` stores the environment's definition as the next version of its name, unless
the definition is the same as the latest version (then that version is returned, as Azure ML
does: registering twice does not make a new version). ``Environment.get(ws, name, version=)`` and
``Environment.list(ws)`` read it back. Azure's curated ``AzureML-*`` environments live in Azure;
asking for one says how to define an equivalent here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import AssetNotFound, ConfigError
from runconfig_jupyter.core.registries.versioned import AssetRegistry
from runconfig_jupyter.core.system.paths import run_home

CURATED_PREFIX = "AzureML-"
# Framework words in curated names -> the pip package that provides them.
CURATED_FRAMEWORKS = {
    "sklearn": "scikit-learn",
    "scikit": "scikit-learn",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "minimal": None,
    "tutorial": None,
}


# The registry stores definitions (``Environment.to_dict()`` without its version) and hands them back
# with the version they were registered as; ``Environment`` turns them into objects. So this module
# knows neither the Environment class nor the Workspace: only a workspace's ``home`` folder.
Definition = dict[str, Any]


def _registry(workspace: Any) -> AssetRegistry:
    home = Path(workspace.home) if workspace is not None else run_home()  # None: the default workspace's
    return AssetRegistry(home, "environments")


def is_curated(name: str) -> bool:
    """Azure's curated names: ``AzureML-...`` and, since 2022, ``azureml-...`` (e.g. ``azureml-sklearn-1.5``)."""
    return name.lower().startswith(CURATED_PREFIX.lower())


def register_definition(workspace: Any, name: str | None, definition: Definition) -> tuple[Definition, int]:
    """Store ``definition`` as the next version of ``name``, unless the latest version is the same
    definition (then that version is returned, as Azure ML does)."""
    if not name:
        raise ConfigError("give the environment a name before registering it: Environment(name='my-env')", field="name")
    if is_curated(name):
        raise ConfigError(
            f"names starting with '{CURATED_PREFIX}' are Azure's curated environments; choose your own name",
            field="name",
        )
    definition = {key: value for key, value in definition.items() if key != "version"}
    registry = _registry(workspace)
    if registry.versions(name):
        latest = registry.get(name)
        if latest.meta.get("definition") == definition:
            return latest.meta["definition"], latest.version
    asset = registry.register(name, {"definition": definition})
    return definition, asset.version


def get_definition(workspace: Any, name: str, version: str | int | None = None) -> tuple[Definition, int]:
    """A registered definition (latest version unless ``version``); curated AzureML-* names say what to do."""
    registry = _registry(workspace)
    if is_curated(name) and not registry.versions(name):
        raise AssetNotFound(curated_message(name))
    asset = registry.get(name, version)
    return asset.meta["definition"], asset.version


def list_definitions(workspace: Any) -> dict[str, tuple[Definition, int]]:
    """Name -> (definition, version) of the latest version of each, as Azure's ``Environment.list`` lists."""
    return {asset.name: (asset.meta["definition"], asset.version) for asset in _registry(workspace).all(latest=True)}


def curated_message(name: str) -> str:
    """How to define, locally, what a curated Azure environment provided."""
    words = re.split(r"[-_.]", name[len(CURATED_PREFIX) :].lower())
    packages = [CURATED_FRAMEWORKS[w] for w in words if CURATED_FRAMEWORKS.get(w)]
    python = next((w[2:] for w in words if re.fullmatch(r"py3\d+", w)), None)
    pip = ", ".join(repr(p) for p in dict.fromkeys(packages)) or "<your packages>"
    python_hint = f", python_version='3.{python[1:]}'" if python else ""
    return (
        f"'{name}' is one of Azure ML's curated environments, which live in Azure. Define an equivalent and "
        f"register it once: env = Environment('{name[len(CURATED_PREFIX) :]}'); "
        f"env.python.conda_dependencies = CondaDependencies.create(pip_packages=[{pip}]{python_hint}); "
        "env.register(ws). Or set env.python.user_managed_dependencies = True to use the kernel's own Python."
    )
