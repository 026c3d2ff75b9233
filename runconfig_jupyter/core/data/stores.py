"""The registry of datastores: ``<run home>/datastores.yaml``, name -> {kind, settings, read_only}.

A datastore is a named place where data lives (a local folder, an Azure Blob container, an S3 bucket, any
fsspec URL). The file is read by every process of the workspace (kernels, the server, run drivers) and is
copied around with the run home, so it never holds a secret: credentials are *named* by environment
variables (``account_key_env``, ``sas_token_env``, ``connection_string_env``, ``key_env``, ``secret_env``,
``client_secret_env``, ...) and read only when the filesystem is opened (core/data/filesystems.py). A setting
whose name says it is a secret is refused here, with the ``*_env`` setting to use instead.

A local datastore's folder is also registered as a place (core/safety/confine.register_place), read-only
unless the datastore is writable: that is the only way a host folder reaches a run. The default datastore,
``workspaceblobstore`` (Azure ML v1's name), is a writable folder under ``<home>/datastores/``; it exists
without being registered. So does ``workspaceartifactstore`` (v1's name for where run outputs live): the run
home's ``runs`` folder, read-only, so ``run._get_outputs_datapath()`` is ``<run id>/outputs`` on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, UnknownDatastore
from runconfig_jupyter.core.safety.confine import DATASTORES_FOLDER
from runconfig_jupyter.core.system.paths import run_home

DATASTORES_FILE = "datastores.yaml"
DEFAULT_DATASTORE = "workspaceblobstore"
ARTIFACT_DATASTORE = "workspaceartifactstore"
KINDS = ("local", "azure_blob", "adls_gen2", "s3", "fsspec")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")  # v1: letters, digits and underscores; we allow '-'
PLACE_PREFIX = "datastore-"
# Settings each kind accepts (besides the ``*_env`` names of credentials, checked by SECRET_ENV_SETTINGS).
KIND_SETTINGS: dict[str, tuple[str, ...]] = {
    "local": ("path",),
    "azure_blob": ("account_name", "container_name", "endpoint", "protocol", "path"),
    "adls_gen2": ("account_name", "filesystem", "endpoint", "protocol", "tenant_id", "client_id", "path"),
    "s3": ("bucket", "endpoint_url", "region", "path"),
    "fsspec": ("url", "storage_options"),
}
# Settings that name an environment variable holding a credential, per kind.
SECRET_ENV_SETTINGS: dict[str, tuple[str, ...]] = {
    "local": (),
    "azure_blob": ("account_key_env", "sas_token_env", "connection_string_env"),
    "adls_gen2": ("account_key_env", "sas_token_env", "connection_string_env", "client_secret_env"),
    "s3": ("key_env", "secret_env", "token_env"),
    "fsspec": ("options_env",),  # {storage option name: environment variable}
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "local": ("path",),
    "azure_blob": ("container_name",),
    "adls_gen2": ("filesystem",),
    "s3": ("bucket",),
    "fsspec": ("url",),
}
# A setting (or storage option) whose name holds one of these words is a secret value: refused, never stored.
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "connection_string", "sas")
# fsspec protocols that read or write this machine's files (or wrap another filesystem that may): a host path
# reaches runs only as a local datastore, through confinement, never through an fsspec URL.
HOST_PROTOCOLS = frozenset(
    {
        "file", "local", "asynclocal", "dir", "blockcache", "cached", "filecache", "simplecache", "reference",
        "zip", "tar", "libarchive", "generic", "async_wrapper", "asyncwrapper", "git", "dvc",
    }
)  # fmt: skip
# Options that point a filesystem at another one, or at a host folder (caches, archives, references).
WRAPPING_OPTIONS = frozenset(
    {"target_protocol", "target_options", "fs", "fo", "cache_storage", "remote_protocol", "remote_options"}
)
DATASTORE_TYPES = {
    "local": "Local",
    "azure_blob": "AzureBlob",
    "adls_gen2": "AzureDataLakeGen2",
    "s3": "S3",
    "fsspec": "Fsspec",
}


@dataclass(frozen=True)
class DatastoreSpec:
    """One registered datastore, as read from ``datastores.yaml`` (no secret in it, ever)."""

    name: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    read_only: bool = True
    home: Path | None = None  # the run home it was read from (local datastores check their place there)

    @property
    def datastore_type(self) -> str:
        return DATASTORE_TYPES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The entry written to ``datastores.yaml`` and shown by front ends."""
        return {"kind": self.kind, "settings": dict(self.settings), "read_only": self.read_only}


def _file(home: Path | None) -> Path:
    return (home or run_home()) / DATASTORES_FILE


def default_folder(home: Path | None = None) -> Path:
    """The folder of the default datastore (``<home>/datastores/workspaceblobstore``)."""
    return (home or run_home()) / DATASTORES_FOLDER / DEFAULT_DATASTORE


def _read(home: Path | None) -> dict[str, Any]:
    """The file's content; an unreadable file is an error (never silently 'no datastores')."""
    file = _file(home)
    if not file.is_file():
        return {"default": None, "datastores": {}}
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")[:1_000_000]) or {}
        if not isinstance(data, dict) or not isinstance(data.get("datastores", {}), dict):
            raise ValueError("expected 'datastores:' followed by a mapping of names")
        return {"default": data.get("default"), "datastores": dict(data.get("datastores") or {})}
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ConfigError(
            f"{file} cannot be read ({error}); fix it or remove it and register the datastores again",
            field="datastores",
        ) from None


def _write(home: Path | None, data: dict[str, Any]) -> None:
    import yaml

    file = _file(home)
    file.parent.mkdir(parents=True, exist_ok=True)
    temp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    temp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    temp.replace(file)


@contextlib.contextmanager
def _updating(home: Path | None) -> Iterator[dict[str, Any]]:
    """Read, change and write the registry under an exclusive lock: two kernels registering at once both count."""
    file = _file(home)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_name(f".{file.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = _read(home)
            yield data
            _write(home, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_name(name: object, field: str = "datastore_name") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{str(name)[:80]!r} is not a datastore name (letters, digits, '_' and '-', starting with a letter "
            "or digit)",
            field=field,
        )
    return name


def is_secret_setting(name: str) -> bool:
    """``account_key``, ``sas_token``, ``aws_secret_access_key``...: a value that must never be stored."""
    lowered = name.lower()
    return not lowered.endswith("_env") and any(w in lowered for w in _SECRET_WORDS)


def _check_settings(name: str, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Known settings only, the required ones present, no secret value, ``*_env`` names as text."""
    field = f"datastores.{name}"
    allowed = set(KIND_SETTINGS[kind]) | set(SECRET_ENV_SETTINGS[kind])
    kept: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if is_secret_setting(key):
            raise ConfigError(
                f"'{key}' would store a secret in {DATASTORES_FILE}; put it in an environment variable and give "
                f"its name instead ({', '.join(SECRET_ENV_SETTINGS[kind]) or 'this kind takes no credential'})",
                field=f"{field}.{key}",
            )
        if key not in allowed:
            raise ConfigError(
                f"unknown setting '{key}' for a {kind} datastore; valid settings: {', '.join(sorted(allowed))}",
                field=f"{field}.{key}",
            )
        kept[key] = value
    for key in REQUIRED[kind]:
        if not kept.get(key):
            raise ConfigError(f"a {kind} datastore needs '{key}'", field=f"{field}.{key}")
    if kind == "fsspec":
        check_fsspec_url(kept["url"], f"{field}.url")
    for key in SECRET_ENV_SETTINGS[kind]:
        value = kept.get(key)
        if key == "options_env":
            _check_options_env(field, value)
        elif value is not None and not (isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
            raise ConfigError(f"'{key}' names an environment variable (e.g. MY_STORAGE_KEY)", field=f"{field}.{key}")
    if kind == "fsspec":
        check_storage_options(kept.get("storage_options"), f"{field}.storage_options")
        if "options_env" in kept:
            check_storage_options(dict.fromkeys(kept["options_env"], ""), f"{field}.options_env", secrets=False)
    return kept


def check_storage_options(options: object, field: str, secrets: bool = True) -> dict[str, Any]:
    """fsspec options without a secret value and without one that wraps another filesystem or a host folder."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ConfigError("must be a mapping of fsspec options", field=field)
    for key in options:
        if str(key) in WRAPPING_OPTIONS:
            raise ConfigError(
                f"storage option '{key}' makes the filesystem wrap another one or use a host folder; register the "
                "remote store by its own URL",
                field=f"{field}.{key}",
            )
        if secrets and is_secret_setting(str(key)):
            raise ConfigError(
                f"storage option '{key}' would store a secret in {DATASTORES_FILE}; give "
                f"options_env={{'{key}': 'ENV_VAR_NAME'}} instead",
                field=f"{field}.{key}",
            )
    return dict(options)


def check_fsspec_url(url: object, field: str) -> str:
    """A URL of a remote filesystem: no chained (``a::b``) URL, no protocol that reaches this machine's files."""
    if not isinstance(url, str) or "\0" in url:
        raise ConfigError("must be an fsspec URL such as gcs://bucket/path", field=field)
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if "::" in url or protocol in HOST_PROTOCOLS:
        raise ConfigError(
            f"'{url[:200]}' reaches this machine's files (or chains filesystems); register a host folder with "
            "Datastore.register_local, which confines it, and remote stores by their own URL",
            field=field,
        )
    return url


def _check_options_env(field: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v)
        for k, v in value.items()
    ):
        raise ConfigError(
            "must map fsspec option names to environment variable names, e.g. {'token': 'GCS_TOKEN'}",
            field=f"{field}.options_env",
        )


def build_spec(
    name: str, kind: str, read_only: bool = True, *, home: Path | None = None, **settings: Any
) -> DatastoreSpec:
    """A checked DatastoreSpec that is not registered yet (so it can be probed before anything is written)."""
    check_name(name)
    if kind not in KINDS:
        raise ConfigError(f"unknown datastore kind '{kind}'; one of {', '.join(KINDS)}", field="kind")
    if name == DEFAULT_DATASTORE:
        raise ConfigError(
            f"'{DEFAULT_DATASTORE}' is the workspace's own folder; register yours under another name and make it "
            "the default with ws.set_default_datastore(name)",
            field="datastore_name",
        )
    kept = _check_settings(name, kind, dict(settings))
    if kind == "local":
        from runconfig_jupyter.core.safety.confine import check_system_path

        real = check_system_path(str(kept["path"]), f"datastores.{name}.path")
        if not real.is_dir():
            raise ConfigError(
                f"'{kept['path']}' is not a folder; register the folder that holds the data",
                field=f"datastores.{name}.path",
            )
        _refuse_run_home(name, real, home)
        kept["path"] = str(real)
    return DatastoreSpec(name, kind, kept, bool(read_only), home or run_home())


def _refuse_run_home(name: str, real: Path, home: Path | None) -> None:
    """The run home holds every run's records and secret values: only its ``datastores/`` folder may be used."""
    home_real = Path(os.path.realpath(home or run_home()))
    allowed = home_real / DATASTORES_FOLDER
    holds_home = real == home_real or real in home_real.parents
    in_home = home_real in real.parents
    if holds_home or (in_home and allowed not in real.parents):
        raise ConfigError(
            f"'{real}' is or holds the run home {home_real} (every run's records and secret values); register a "
            f"data folder elsewhere, or one under {allowed}",
            field=f"datastores.{name}.path",
        )


def register_datastore(
    name: str,
    kind: str,
    read_only: bool = True,
    *,
    home: Path | None = None,
    overwrite: bool = True,
    **settings: Any,
) -> DatastoreSpec:
    """Register (or, with ``overwrite``, replace) a datastore; a local one's folder becomes a place too."""
    spec = build_spec(name, kind, read_only, home=home, **settings)
    with _updating(home) as data:
        if name in data["datastores"] and not overwrite:
            raise ConfigError(
                f"datastore '{name}' is already registered; pass overwrite=True to replace it", field="datastore_name"
            )
        if kind == "local":
            from runconfig_jupyter.core.safety.confine import register_place

            register_place(spec.settings["path"], name=PLACE_PREFIX + name, writable=not read_only, home=home)
        data["datastores"][name] = spec.to_dict()
    return spec


def unregister_datastore(name: str, home: Path | None = None) -> bool:
    """Forget a datastore (its data stays where it is); a local one's place is forgotten too."""
    with _updating(home) as data:
        entry = data["datastores"].pop(name, None)
        if data.get("default") == name:
            data["default"] = None
    if entry is None:
        return False
    if entry.get("kind") == "local":
        from runconfig_jupyter.core.safety.confine import unregister_place

        unregister_place(PLACE_PREFIX + name, home=home)
    return True


def _default_spec(home: Path | None) -> DatastoreSpec:
    """The workspace's own writable folder; created and allowed as a place on first use."""
    return _builtin_spec(DEFAULT_DATASTORE, default_folder(home), True, home)


def _builtin_spec(name: str, folder: Path, writable: bool, home: Path | None) -> DatastoreSpec:
    """A local datastore of the run home that exists unregistered: created and allowed as a place on first use."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
    from runconfig_jupyter.core.safety.confine import register_place, registered_places

    real = Path(os.path.realpath(folder))
    if not any(p.path == real and p.writable == writable for p in registered_places(home)):
        register_place(real, name=PLACE_PREFIX + name, writable=writable, home=home)
    return DatastoreSpec(name, "local", {"path": str(real)}, not writable, home or run_home())


def get_datastore_spec(name: str, home: Path | None = None, field: str | None = None) -> DatastoreSpec:
    """The datastore registered under ``name``; UnknownDatastore (naming ``field``) lists the known ones."""
    if name == DEFAULT_DATASTORE:
        return _default_spec(home)
    if name == ARTIFACT_DATASTORE and name not in _read(home)["datastores"]:
        return _builtin_spec(name, (home or run_home()) / "runs", False, home)
    entry = _read(home)["datastores"].get(name)
    if entry is None:
        known = ", ".join(sorted([DEFAULT_DATASTORE, *_read(home)["datastores"]]))
        raise UnknownDatastore(
            f"no datastore named '{name}' in this workspace (registered: {known}); register it with "
            "Datastore.register_local / register_azure_blob_container / register_s3 / register_fsspec",
            field=field or "datastore_name",
        )
    kind = entry.get("kind")
    settings = entry.get("settings") or {}
    if kind not in KINDS or not isinstance(settings, dict):
        raise ConfigError(f"entry '{name}' of {_file(home)} is damaged; register it again", field=f"datastores.{name}")
    return DatastoreSpec(name, kind, settings, bool(entry.get("read_only", True)), home or run_home())


def list_datastores(home: Path | None = None) -> list[DatastoreSpec]:
    """Every datastore of the workspace, the default folder first."""
    names = [n for n in _read(home)["datastores"] if n != DEFAULT_DATASTORE]
    return [_default_spec(home), *(get_datastore_spec(n, home) for n in names)]


def datastore_serving(url: str, field: str, home: Path | None = None) -> tuple[str, str]:
    """``(datastore name, path on it)`` of a web URL (``https://host/mnist/train.gz``) given to a dataset, as v1's
    ``Dataset.File.from_files(path=[urls])`` took them: the registered fsspec datastore whose URL is the longest
    prefix of it. A URL no datastore serves is refused, naming the registration that makes the same call work, so
    data is only ever read from places registered on purpose (a dataset definition cannot name an arbitrary host).
    """
    serving = [
        (str(spec.settings.get("url", "")).rstrip("/") + "/", spec.name)
        for spec in list_datastores(home)
        if spec.kind == "fsspec" and spec.settings.get("url")
    ]
    matches = [(prefix, name) for prefix, name in serving if url.startswith(prefix)]
    if matches:
        prefix, name = max(matches, key=lambda match: len(match[0]))
        return name, url[len(prefix) :]
    folder = url.split("?", 1)[0].rsplit("/", 1)[0] + "/"
    raise ConfigError(
        f"'{url[:200]}' is on no registered datastore: register where it is served once, "
        f"Datastore.register_fsspec(ws, 'web-data', '{folder[:200]}'), and the same call reads it from there "
        "(a URL is read only from a datastore you registered)",
        field=field,
    )


def default_datastore_name(home: Path | None = None) -> str:
    """What ``ws.get_default_datastore()`` returns: the one set by ``set_default_datastore``, else v1's name."""
    chosen = _read(home).get("default")
    if isinstance(chosen, str) and (chosen == DEFAULT_DATASTORE or chosen in _read(home)["datastores"]):
        return chosen
    return DEFAULT_DATASTORE


def set_default_datastore(name: str, home: Path | None = None) -> None:
    get_datastore_spec(name, home)  # UnknownDatastore when it does not exist
    with _updating(home) as data:
        data["default"] = name
