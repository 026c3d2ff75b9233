"""How another machine (a remote kernel's, a Ray worker) opens a datastore without receiving its secret.

The filesystem is opened here as usual (core/data/filesystems.py) and described in the form fsspec's
``from_json`` reads - the class and its storage options, exactly what the driver of that store needs. Every
credential value in that text (read from the environment variables the datastore names: ``key_env``,
``sas_token_env``, ...) is then replaced by ``${env:NAME}``, so only the variable's *name* travels. The
other side puts its own value of ``NAME`` back and calls ``fsspec.AbstractFileSystem.from_json``; when it
lacks the variable or the library, it says so and the data is fetched here and uploaded instead.

A recipe in which any credential value would still appear is never produced (``None``): a secret embedded
in a form we did not expect must not leave this process.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def credential_variables(settings: Mapping[str, Any]) -> list[str]:
    """Names of the environment variables a datastore's settings point at.

    ``key_env: NAME`` names one; ``options_env: {option: NAME}`` (fsspec kind) names one per option.
    """
    names: list[str] = []
    for key, value in settings.items():
        if str(key).endswith("_env") and isinstance(value, Mapping):
            names += [str(name) for name in value.values() if name]
        elif isinstance(value, Mapping):
            names += credential_variables(value)
        elif str(key).endswith("_env") and isinstance(value, str) and value:
            names.append(value)
    return sorted(set(names))


def filesystem_recipe(spec: Any) -> dict[str, Any] | None:
    """``{"json", "root", "env", "protocol"}`` to open ``spec``'s store elsewhere; None when not portable.

    A local datastore is not portable (its folder is on this machine); nor is a filesystem fsspec cannot
    serialise, or one whose serialised form would carry a secret we cannot name.
    """
    if spec.kind == "local":
        return None
    from runconfig_jupyter.core.data.filesystems import open_filesystem

    fs, root = open_filesystem(spec)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    described = {
        "cls": f"{type(fs).__module__}:{type(fs).__name__}",
        "protocol": protocol,
        "args": list(fs.storage_args),
        **fs.storage_options,
    }
    try:  # fsspec's own to_json cannot write None options (s3fs's token=None); its from_json reads this form
        text = json.dumps(described)
    except (TypeError, ValueError):  # an option that is not JSON (an object): not portable
        return None
    names = credential_variables(spec.settings)
    for name in names:
        value = os.environ.get(name)
        if value:
            text = text.replace(json.dumps(value)[1:-1], f"${{env:{name}}}")
    if any(os.environ.get(name) and json.dumps(os.environ[name])[1:-1] in text for name in names):
        return None
    return {"json": text, "root": root, "env": names, "protocol": protocol}


def missing_variables(recipe: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables the recipe needs that ``environ`` (default: this process's) does not set."""
    environ = os.environ if environ is None else environ
    return [name for name in ENV_REFERENCE.findall(recipe["json"]) if not environ.get(name)]


def open_recipe(recipe: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Any:
    """The filesystem described by ``recipe``, with this side's values of the named variables."""
    import fsspec

    environ = os.environ if environ is None else environ
    missing = missing_variables(recipe, environ)
    if missing:
        raise KeyError(f"environment variable(s) {', '.join(missing)} not set on this machine")
    text = ENV_REFERENCE.sub(lambda match: json.dumps(environ[match.group(1)])[1:-1], recipe["json"])
    return fsspec.AbstractFileSystem.from_json(text)
