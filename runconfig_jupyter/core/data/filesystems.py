"""Opening a datastore: the fsspec filesystem behind it and the root path of its data on that filesystem.

Credentials are read here, from the environment variables the datastore names, at the moment the store is
opened: nothing secret is ever kept in ``datastores.yaml``, a run record or a log, and a value that changed
(a rotated key) is picked up by the next run. Every failure is a typed error naming the datastore (or the
input that used it, via ``field``): an unset credential variable, a store that does not answer (checked with
a bounded TCP connect first, because the Azure and AWS SDKs retry a refused connection for minutes), refused
credentials, a missing container or bucket.

A local datastore is opened only when its folder is still what confinement allowed: not a system or
credential location, and inside a registered place (writable when the datastore is). A hand-edited
``datastores.yaml`` pointing at another folder is refused here.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.data.stores import DatastoreSpec, check_fsspec_url, check_storage_options
from runconfig_jupyter.core.errors import (
    ConfigError,
    DataError,
    DataPathMissing,
    DatastoreReadOnly,
    DatastoreUnreachable,
    RunConfigError,
)

if TYPE_CHECKING:
    import fsspec

CONNECT_SECONDS = float(os.environ.get("RUNCONFIG_DATASTORE_CONNECT_SECONDS", "5"))
PROBE_SECONDS = float(os.environ.get("RUNCONFIG_DATASTORE_PROBE_SECONDS", "20"))


def _field(spec: DatastoreSpec, field: str | None) -> str:
    return field or f"datastores.{spec.name}"


def _env(spec: DatastoreSpec, setting: str, field: str | None) -> str | None:
    """The value of the environment variable a ``*_env`` setting names (None when the setting is absent)."""
    variable = spec.settings.get(setting)
    if not variable:
        return None
    value = os.environ.get(str(variable))
    if not value:
        raise DatastoreUnreachable(
            f"datastore '{spec.name}' reads its credential from ${variable} ({setting}), which is not set in this "
            "process; set it (e.g. in the kernel before submitting, or in the server's environment)",
            field=_field(spec, field),
        )
    return value


def open_filesystem(
    spec: DatastoreSpec, *, field: str | None = None, writable: bool = False, probe: bool = True
) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(filesystem, root)``: the datastore's data is at ``root`` (a path on that filesystem).

    ``writable`` refuses a read-only datastore (DatastoreReadOnly) before anything is contacted; ``probe``
    lists the root once so an unreachable store, refused credentials or a missing container fail here.
    """
    if writable:
        require_writable(spec, field)
    opener = {
        "local": _open_local,
        "azure_blob": _open_azure,
        "adls_gen2": _open_azure,
        "s3": _open_s3,
        "fsspec": _open_url,
    }[spec.kind]
    fs, root = opener(spec, field, writable)
    if probe and spec.kind != "local":
        # the container or bucket must exist; a folder below it may be created by the first upload
        _probe(spec, fs, root if spec.kind == "fsspec" else root.split("/")[0], field)
    return fs, root


def require_writable(spec: DatastoreSpec, field: str | None = None) -> None:
    if spec.read_only:
        raise DatastoreReadOnly(
            f"datastore '{spec.name}' is registered read-only; register it again with writable=True (local) or "
            "read_only=False, or write to another datastore",
            field=_field(spec, field),
        )


def join(root: str, path: str | None, field: str = "path_on_datastore") -> str:
    """``root/path`` for a relative path on the datastore; '..' out of the root or a NUL byte is refused."""
    if path is None or path in ("", ".", "/"):
        return root.rstrip("/") or root
    if not isinstance(path, str) or "\0" in path:
        raise ConfigError("must be a path on the datastore (text)", field=field)
    clean = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    # '%2e%2e' is '..' to a web server (and to the URL library, which drops it with the folder before it)
    decoded = posixpath.normpath(urllib.parse.unquote(path).replace("\\", "/")).lstrip("/")
    if any(c == ".." or c.startswith("../") for c in (clean, decoded)):
        raise ConfigError(f"'{path}' leads out of the datastore; give a path inside it", field=field)
    return f"{root.rstrip('/')}/{clean}" if clean != "." else root


def safe_relative(name: str, field: str) -> str:
    """An object name from a store, as a relative local path: '..', absolute or NUL names are refused.

    Object stores allow keys such as ``a/../../x``; written below a download folder as they are, they would
    land outside it (a zip-slip through a bucket someone else can write to).
    """
    parts = name.replace("\\", "/").split("/")
    if "\0" in name or name.startswith("/") or any(part in ("..", "") for part in parts):
        raise DataError(
            f"the store holds an object named {name[:200]!r}, which would land outside the download folder; "
            "rename or remove it on the store",
            field=field,
        )
    return "/".join(p for p in parts if p != ".")


def inside_local_root(root: str, path: str, field: str) -> None:
    """A write into a local datastore lands inside its folder: a link placed in it (``out -> /etc``, or a file
    linked to ``~/.bashrc``) would otherwise carry the write out, as the user running the server."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise ConfigError(
            f"'{path}' resolves to {real}, outside the datastore's folder {real_root}; remove the link",
            field=field,
        )


# -- each kind ------------------------------------------------------------------------------------------------
def _open_local(spec: DatastoreSpec, field: str | None, writable: bool) -> tuple[Any, str]:
    from fsspec.implementations.local import LocalFileSystem

    from runconfig_jupyter.core.safety.confine import refuse_never_allowed, registered_places

    where = _field(spec, field)
    real = Path(os.path.realpath(str(spec.settings["path"])))
    refuse_never_allowed(real, where, spec.settings["path"])
    places = registered_places(spec.home)
    allowed = [p for p in places if (p.writable or not writable) and (real == p.path or p.path in real.parents)]
    if not allowed:
        raise ConfigError(
            f"datastore '{spec.name}' points at {real}, which is not a registered place"
            f"{' that is writable' if writable else ''}; register it again with Datastore.register_local",
            field=where,
        )
    if not real.is_dir():
        raise DataPathMissing(f"datastore '{spec.name}': folder {real} does not exist", field=where)
    return LocalFileSystem(), str(real)


def _driver(spec: DatastoreSpec, module: str, field: str | None) -> Any:
    """The fsspec driver package of a kind, or a typed error saying which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"datastore '{spec.name}' ({spec.kind}) needs the {module} package: pip install 'runconfig-jupyter[data]'",
            field=_field(spec, field),
        ) from None


def _open_azure(spec: DatastoreSpec, field: str | None, writable: bool) -> tuple[Any, str]:
    """adlfs for Blob and ADLS Gen2 (the same client reads both); ``endpoint`` for Azurite or sovereign clouds."""
    AzureBlobFileSystem = _driver(spec, "adlfs", field).AzureBlobFileSystem

    settings = spec.settings
    account = settings.get("account_name")
    container = settings.get("container_name") or settings.get("filesystem")
    key = _env(spec, "account_key_env", field)
    sas = _env(spec, "sas_token_env", field)
    connection_string = _env(spec, "connection_string_env", field)
    endpoint = str(settings["endpoint"]).rstrip("/") if settings.get("endpoint") else None
    options: dict[str, Any] = {"connection_timeout": int(CONNECT_SECONDS), "skip_instance_cache": True}
    if connection_string:
        options["connection_string"] = connection_string
    elif endpoint:
        # A custom endpoint (Azurite's http://127.0.0.1:PORT/devstoreaccount1) is only expressible as a
        # connection string; the credential goes in it, built here in memory and never written anywhere.
        parts = [f"BlobEndpoint={endpoint};"]
        if account:
            parts.insert(0, f"AccountName={account};")
        if key:
            parts.append(f"AccountKey={key};")
        if sas:
            parts.append(f"SharedAccessSignature={sas.lstrip('?')};")
        options["connection_string"] = "".join(parts)
    else:
        if not account:
            raise ConfigError(
                f"datastore '{spec.name}' needs account_name (or an endpoint or connection string)",
                field=_field(spec, field),
            )
        options.update(account_name=account, account_key=key, sas_token=sas, anon=not (key or sas) or None)
    if spec.kind == "adls_gen2" and settings.get("client_id"):
        options.update(
            tenant_id=settings.get("tenant_id"),
            client_id=settings.get("client_id"),
            client_secret=_env(spec, "client_secret_env", field),
        )
    try:
        fs = AzureBlobFileSystem(**{k: v for k, v in options.items() if v is not None})
    except ValueError as error:
        raise DatastoreUnreachable(
            f"datastore '{spec.name}' cannot be opened: {error}", field=_field(spec, field)
        ) from None
    return fs, join(str(container), settings.get("path"))


def _open_s3(spec: DatastoreSpec, field: str | None, writable: bool) -> tuple[Any, str]:
    S3FileSystem = _driver(spec, "s3fs", field).S3FileSystem

    settings = spec.settings
    key = _env(spec, "key_env", field)
    secret = _env(spec, "secret_env", field)
    token = _env(spec, "token_env", field)
    client: dict[str, Any] = {}
    if settings.get("endpoint_url"):
        client["endpoint_url"] = str(settings["endpoint_url"])
    if settings.get("region"):
        client["region_name"] = str(settings["region"])
    fs = S3FileSystem(
        key=key,
        secret=secret,
        token=token,
        anon=not (key or secret),
        client_kwargs=client,
        config_kwargs={"connect_timeout": CONNECT_SECONDS, "retries": {"max_attempts": 2}},
        skip_instance_cache=True,
    )
    return fs, join(str(settings["bucket"]), settings.get("path"))


def _open_url(spec: DatastoreSpec, field: str | None, writable: bool) -> tuple[Any, str]:
    import fsspec

    options = check_storage_options(spec.settings.get("storage_options"), f"{_field(spec, field)}.storage_options")
    from_env = spec.settings.get("options_env") or {}
    check_storage_options(dict.fromkeys(from_env, ""), f"{_field(spec, field)}.options_env", secrets=False)
    for option, variable in from_env.items():
        value = os.environ.get(variable)
        if not value:
            raise DatastoreUnreachable(
                f"datastore '{spec.name}' reads its option '{option}' from ${variable}, which is not set in this "
                "process; set it",
                field=_field(spec, field),
            )
        options[option] = value
    url = check_fsspec_url(spec.settings["url"], _field(spec, field))  # again: datastores.yaml can be edited
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError, TypeError) as error:
        raise ConfigError(
            f"datastore '{spec.name}': {url} cannot be opened ({error})", field=_field(spec, field)
        ) from None
    return fs, root


# -- reachability ---------------------------------------------------------------------------------------------
def _hosts(spec: DatastoreSpec, fs: Any) -> list[tuple[str, int]]:
    """Host and port of the store's endpoint when we know it (custom endpoints; the public clouds answer)."""
    urls = [spec.settings.get("endpoint"), spec.settings.get("endpoint_url")]
    connection_string = getattr(fs, "connection_string", None) or ""
    for part in str(connection_string).split(";"):
        if part.lower().startswith("blobendpoint="):
            urls.append(part.split("=", 1)[1])
    found = []
    for url in filter(None, urls):
        parsed = urllib.parse.urlsplit(str(url))
        if parsed.hostname:
            found.append((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)))
    return found


def _probe(spec: DatastoreSpec, fs: Any, root: str, field: str | None) -> None:
    """List the root once (bounded in time): typed errors instead of an SDK's retries and stack traces."""
    where = _field(spec, field)
    for host, port in _hosts(spec, fs):
        try:
            socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
        except OSError as error:
            raise DatastoreUnreachable(
                f"datastore '{spec.name}' does not answer at {host}:{port} ({error.strerror or error}); start the "
                "store or fix its endpoint",
                field=where,
            ) from None
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["exists"] = _authenticated_exists(fs, root)
        except Exception as error:  # an SDK's own error types: mapped below
            outcome["error"] = error

    worker = threading.Thread(target=attempt, daemon=True, name=f"probe-{spec.name}")
    worker.start()
    worker.join(PROBE_SECONDS)
    if worker.is_alive():
        raise DatastoreUnreachable(
            f"datastore '{spec.name}' did not answer within {PROBE_SECONDS:.0f} s; check the network and endpoint",
            field=where,
        )
    error = outcome.get("error")
    if error is not None:
        raise DatastoreUnreachable(
            f"datastore '{spec.name}' refused the request ({type(error).__name__}: {_short(error)}); check the "
            "credentials its variables hold, and its endpoint",
            field=where,
        ) from None
    if not outcome.get("exists"):
        raise DataPathMissing(
            f"datastore '{spec.name}': {root} does not exist on the store (create the container or bucket first)",
            field=where,
        )


def _authenticated_exists(fs: Any, root: str) -> bool:
    """Whether the container / bucket / root exists, by a request that fails on refused credentials.

    ``fs.exists`` is not enough: adlfs answers a 403 on a container with a warning and ``True``, s3fs may
    answer ``False``. S3 gets a HeadBucket, Azure a listing of at most one blob (both cost one request
    whatever the container holds); other filesystems list the root.
    """
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    try:
        if protocols & {"s3", "s3a"}:
            fs.call_s3("head_bucket", Bucket=root.split("/")[0])
            return True
        if protocols & {"abfs", "az", "abfss"}:
            from azure.core.exceptions import ResourceNotFoundError
            from fsspec.asyn import sync

            async def first_blob() -> None:  # list permission is what a datastore needs (a container SAS has it)
                async with fs.service_client.get_container_client(root.split("/")[0]) as container:
                    async for _page in container.list_blobs(results_per_page=1).by_page():
                        break

            try:
                sync(fs.loop, first_blob)
            except ResourceNotFoundError:
                return False
            return True
        fs.ls(root, detail=False)
        return True
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def store_errors(what: str, field: str) -> Iterator[None]:
    """An SDK's error during a transfer (a SAS without write permission, a dropped connection) as a typed one."""
    try:
        yield
    except RunConfigError:
        raise
    except Exception as error:
        raise DatastoreUnreachable(
            f"{what} failed ({type(error).__name__}: {_short(error)}); check the store is up and its credentials "
            "(and their permissions); files already transferred stay",
            field=field,
        ) from None


def _short(error: BaseException) -> str:
    """The first line of an SDK error, bounded: enough to act on, never a page of XML."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text[:300]
