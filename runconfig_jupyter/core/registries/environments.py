"""Registered environments, kept locally and versioned (``<home>/environments``).

``env.register(ws)`` stores the environment's definition as the next version of its name, unless
the definition is the same as the latest version (then that version is returned, as Azure ML
does: registering twice does not make a new version). ``Environment.get(ws, name, version=)`` and
``Environment.list(ws)`` read it back. Azure's curated ``AzureML-*`` environments live in Azure;
asking for one says how to define an equivalent here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import AssetNotFound, ConfigError
from runconfig_jupyter.core.registries.versioned import AssetRegistry

if TYPE_CHECKING:
    from runconfig_jupyter.core.config.environment import Environment
    from runconfig_jupyter.core.workspace import Workspace

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


def _registry(workspace: Workspace | None) -> AssetRegistry:
    from runconfig_jupyter.core.workspace import Workspace

    return AssetRegistry((workspace or Workspace()).home, "environments")


def _definition(environment: Environment) -> dict[str, Any]:
    data = environment.to_dict()
    data.pop("version", None)
    return data


def register_environment(environment: Environment, workspace: Workspace | None) -> Environment:
    """Store ``environment`` under its name; returns it with its registered version set."""
    from runconfig_jupyter.core.config.environment import Environment

    if not environment.name:
        raise ConfigError("give the environment a name before registering it: Environment(name='my-env')", field="name")
    if environment.name.startswith(CURATED_PREFIX):
        raise ConfigError(
            f"names starting with '{CURATED_PREFIX}' are Azure's curated environments; choose your own name",
            field="name",
        )
    registry = _registry(workspace)
    definition = _definition(environment)
    if registry.versions(environment.name):
        latest = registry.get(environment.name)
        if latest.meta.get("definition") == definition:
            return _load(latest.meta, latest.version)
    asset = registry.register(environment.name, {"definition": definition})
    registered = Environment.from_dict(definition)
    registered.version = str(asset.version)
    return registered


def _load(meta: dict[str, Any], version: int) -> Environment:
    from runconfig_jupyter.core.config.environment import Environment

    environment = Environment.from_dict(meta["definition"])
    environment.version = str(version)
    return environment


def get_environment(workspace: Workspace | None, name: str, version: str | int | None = None) -> Environment:
    registry = _registry(workspace)
    if name.startswith(CURATED_PREFIX) and not registry.versions(name):
        raise AssetNotFound(curated_message(name))
    asset = registry.get(name, version)
    return _load(asset.meta, asset.version)


def list_environments(workspace: Workspace | None) -> dict[str, Environment]:
    """Name -> latest version, as Azure's ``Environment.list`` returns."""
    registry = _registry(workspace)
    return {asset.name: _load(asset.meta, asset.version) for asset in registry.all(latest=True)}


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
