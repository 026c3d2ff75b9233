"""``resume_from`` naming a datastore path: checkpoints that outlive the machine that wrote them.

A run's outputs uploaded to a datastore (``OutputFileDatasetConfig(destination=(ds, 'ckpt/{run-id}'))``)
are where the next run resumes from, so ``resume_from`` takes, besides a run id or a folder:

* ``(datastore, 'ckpt/run-1')`` - a ``Datastore`` object or its name, and the path on it;
* a ``DataReference`` / ``DataPath`` (``ds.path('ckpt/run-1')``);
* the text ``datastore://<name>/<path>`` - the form it is kept in (run.json, YAML), never holding secrets.

At submit the store must answer and the path exist (typed errors naming ``resume_from``); in the driver the
folder is fetched through the download cache (a local datastore's folder is used in place) and mounted
read-only where ``resume_from`` always went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError

SCHEME = "datastore://"
FIELD = "resume_from"


def resume_text(value: Any) -> Any:
    """``value`` in the form kept in the config: a datastore path becomes ``datastore://name/path``.

    Anything else is returned unchanged (a run id or folder; ScriptRunConfig.validate judges it).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        store, path = value
        return _text(_store_name(store), path)
    store = getattr(value, "datastore", None)
    path = getattr(value, "path_on_datastore", None)
    if path is None:
        path = getattr(value, "path", None)
    if store is not None and isinstance(path, str):
        return _text(_store_name(store), path)
    return value


def _store_name(store: Any) -> str:
    name = store if isinstance(store, str) else getattr(store, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError("must be (datastore, 'path') with a Datastore or its name", field=FIELD)
    return name


def _text(name: str, path: Any) -> str:
    if not isinstance(path, str) or not path.strip("/"):
        raise ConfigError(f"give the checkpoint folder on datastore '{name}', e.g. (ds, 'ckpt/run-1')", field=FIELD)
    return f"{SCHEME}{name}/{path.strip('/')}"


def parse(value: Any) -> tuple[str, str] | None:
    """``(datastore name, path)`` of a ``datastore://`` text, else None."""
    if not isinstance(value, str) or not value.startswith(SCHEME):
        return None
    name, _, path = value[len(SCHEME) :].partition("/")
    if not name or not path.strip("/") or ".." in path.split("/"):
        raise ConfigError(f"'{value}' is not datastore://<name>/<path> (no '..')", field=FIELD)
    return name, path.strip("/")


def resume_input(value: str) -> Any:
    """The ``resume_from`` datastore path as a download-mode input of the plan's kind (core/data/plan.py)."""
    import posixpath

    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.plan import DataInput
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    parsed = parse(value)
    assert parsed is not None
    name, path = parsed
    spec = get_datastore_spec(name)
    if spec.kind == "local":
        _fs, root = open_filesystem(spec)
        path = posixpath.join(root, path)
    return DataInput(
        name=FIELD,
        datastore=name,
        kind=spec.kind,
        path=path,
        mode="download",
        path_on_compute=None,
        env_name="RUNCONFIG_RESUME_FROM",
        is_file=False,
    )


def check_resume(value: str) -> None:
    """At submit: the datastore exists, answers, and holds the folder (typed errors naming resume_from)."""
    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec
    from runconfig_jupyter.core.errors import DataPathMissing

    parsed = parse(value)
    assert parsed is not None
    name, path = parsed
    spec = get_datastore_spec(name)
    fs, root = open_filesystem(spec)
    full = f"{root.rstrip('/')}/{path}" if root else path
    if not fs.isdir(full):
        raise DataPathMissing(f"datastore '{name}' has no folder '{path}' to resume from", field=FIELD)


def fetch_resume(value: str, progress: Any = None) -> Path:
    """In the driver: the checkpoint folder on this machine (cached copy, or a local datastore's folder)."""
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.materialize import host_source

    inp = resume_input(value)
    cache = None if inp.kind == "local" else DownloadCache()
    return Path(host_source(inp, cache, progress))
