"""Azure ML v1's ``Datastore``, on storage the user owns: register, get, and the upload / download verbs.

The v1 signatures are kept (``Datastore.register_azure_blob_container(ws, datastore_name, container_name,
account_name, sas_token=None, account_key=None, ...)``) and the same verbs work on every kind: a local folder,
Azure Blob / ADLS Gen2 (adlfs), S3 (s3fs) and any fsspec URL.

Secrets: ``datastores.yaml`` never holds one. A secret passed as a value (``account_key=...``) is recorded by
the *name* of the environment variable that holds it when exactly one variable of this process does (v1
notebooks usually pass ``os.environ["..."]``); otherwise registering is refused with the ``*_env`` argument
to use. The value itself is read from that variable whenever the store is opened (core/data/filesystems.py).

Writability: the v1 Azure registrations stay writable as in v1 (the credential is the guard there; pass
``read_only=True`` to protect a store); the local, S3 and fsspec registrations added here are read-only
unless ``writable=True``. A write to a read-only datastore raises DatastoreReadOnly before any byte moves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.azure_only import OTHER_STORES, azure_only
from runconfig_jupyter.core.data import filesystems, stores
from runconfig_jupyter.core.data.reference import DataReference
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.registries.home import WorkspaceLike

AZURE_SUFFIX = "core.windows.net"
MIN_SECRET_LENGTH = 8


def _home(workspace: Any) -> Path | None:
    """The run home of a Workspace (or None: the current one) - core never needs the Workspace class itself."""
    return getattr(workspace, "home", None)


def _secret_env(value: str | None, argument: str, env_argument: str, field: str) -> str | None:
    """The name of the one environment variable holding ``value``; refused when there is none (or several)."""
    if value is None:
        return None
    holders = sorted(name for name, held in os.environ.items() if held == value)
    if len(holders) == 1 and len(value) >= MIN_SECRET_LENGTH:  # a short value matching a variable is a coincidence
        return holders[0]
    raise ConfigError(
        f"{argument} is never stored (datastores.yaml is read by every process and copied with the workspace): "
        f"put it in an environment variable and pass {env_argument}='THAT_VARIABLE' instead",
        field=field,
    )


def _endpoint_url(account_name: str | None, protocol: str | None, endpoint: str | None, service: str) -> str | None:
    """v1's ``endpoint`` is a suffix (``core.windows.net``); a full URL (Azurite's) is taken as it is."""
    if not endpoint or (endpoint == AZURE_SUFFIX and (protocol or "https") == "https"):
        return None
    if "://" in endpoint:
        return endpoint.rstrip("/")
    return f"{protocol or 'https'}://{account_name}.{service}.{endpoint}"


class Datastore:
    """A registered datastore of a workspace (v1: ``Datastore(ws, name)`` = ``Datastore.get(ws, name)``)."""

    def __init__(self, workspace: WorkspaceLike | None = None, name: str | None = None):
        self.workspace = workspace
        home = _home(workspace)
        self._spec = stores.get_datastore_spec(name or stores.default_datastore_name(home), home)

    @classmethod
    def _from_spec(cls, workspace: Any, spec: stores.DatastoreSpec) -> Datastore:
        datastore = cls.__new__(cls)
        datastore.workspace = workspace
        datastore._spec = spec
        return datastore

    # -- what it is ------------------------------------------------------------------------------------------
    @property
    def spec(self) -> stores.DatastoreSpec:
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def kind(self) -> str:
        return self._spec.kind

    @property
    def datastore_type(self) -> str:
        return self._spec.datastore_type

    @property
    def read_only(self) -> bool:
        return self._spec.read_only

    @property
    def container_name(self) -> str | None:
        settings = self._spec.settings
        return settings.get("container_name") or settings.get("filesystem") or settings.get("bucket")

    @property
    def account_name(self) -> str | None:
        return self._spec.settings.get("account_name")

    @property
    def bucket_name(self) -> str | None:
        return self._spec.settings.get("bucket")

    @property
    def path_on_host(self) -> str | None:
        """A local datastore's folder (None for remote kinds)."""
        return self._spec.settings.get("path") if self.kind == "local" else None

    @property
    def endpoint(self) -> str | None:
        return self._spec.settings.get("endpoint") or self._spec.settings.get("endpoint_url")

    @property
    def protocol(self) -> str | None:
        return self._spec.settings.get("protocol")

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"Datastore(name='{self.name}', type='{self.datastore_type}', {mode})"

    # -- getting one ----------------------------------------------------------------------------------------
    @staticmethod
    def get(workspace: WorkspaceLike | None, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: WorkspaceLike | None) -> Datastore:
        return Datastore(workspace)

    @staticmethod
    def list(workspace: WorkspaceLike | None = None) -> list[Datastore]:
        return [Datastore._from_spec(workspace, spec) for spec in stores.list_datastores(_home(workspace))]

    def set_as_default(self) -> None:
        stores.set_default_datastore(self.name, _home(self.workspace))

    def unregister(self) -> None:
        """Forget the datastore (its data stays where it is)."""
        stores.unregister_datastore(self.name, _home(self.workspace))

    # -- registering ----------------------------------------------------------------------------------------
    @staticmethod
    def _register(
        workspace: Any,
        name: str,
        kind: str,
        read_only: bool,
        overwrite: bool,
        validate: bool = True,
        create: bool = False,
        **settings: Any,
    ) -> Datastore:
        """Check, probe (unless ``validate`` is False), then write: a store that fails is never registered."""
        home = _home(workspace)
        spec = stores.build_spec(name, kind, read_only, home=home, **settings)
        if not overwrite and any(s.name == name for s in stores.list_datastores(home)):
            existing = stores.get_datastore_spec(name, home)
            if existing.to_dict() == spec.to_dict():
                return Datastore._from_spec(workspace, existing)  # v1: registering the same again returns it
            raise ConfigError(
                f"datastore '{name}' is already registered with other settings; pass overwrite=True to replace it",
                field="datastore_name",
            )
        if create and kind != "local":
            fs, root = filesystems.open_filesystem(spec, probe=False)
            bucket = root.split("/")[0]
            if not fs.exists(bucket):
                fs.mkdir(bucket)
        if validate and kind != "local":  # a local folder was checked by build_spec; it is a place only once written
            filesystems.open_filesystem(spec)
        spec = stores.register_datastore(name, kind, read_only, home=home, overwrite=True, **spec.settings)
        return Datastore._from_spec(workspace, spec)

    @staticmethod
    def register_azure_blob_container(
        workspace: WorkspaceLike | None,
        datastore_name: str,
        container_name: str,
        account_name: str | None = None,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        blob_cache_timeout: int | None = None,
        grant_workspace_access: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        *,
        account_key_env: str | None = None,
        sas_token_env: str | None = None,
        connection_string_env: str | None = None,
        read_only: bool = False,
        path: str | None = None,
    ) -> Datastore:
        """v1's signature; ``*_env`` name the variables holding credentials (see the module docstring)."""
        field = f"datastores.{datastore_name}"
        return Datastore._register(
            workspace,
            datastore_name,
            "azure_blob",
            read_only,
            overwrite,
            validate=not skip_validation,
            create=create_if_not_exists,
            account_name=account_name,
            container_name=container_name,
            protocol=protocol,
            endpoint=_endpoint_url(account_name, protocol, endpoint, "blob"),
            path=path,
            account_key_env=account_key_env or _secret_env(account_key, "account_key", "account_key_env", field),
            sas_token_env=sas_token_env or _secret_env(sas_token, "sas_token", "sas_token_env", field),
            connection_string_env=connection_string_env,
        )

    @staticmethod
    def register_azure_data_lake_gen2(
        workspace: WorkspaceLike | None,
        datastore_name: str,
        filesystem: str,
        account_name: str | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        resource_url: str | None = None,
        authority_url: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        grant_workspace_access: bool = False,
        *,
        client_secret_env: str | None = None,
        account_key_env: str | None = None,
        sas_token_env: str | None = None,
        connection_string_env: str | None = None,
        read_only: bool = False,
        skip_validation: bool = False,
        path: str | None = None,
    ) -> Datastore:
        """v1's signature (service principal), plus account key / SAS / connection string by variable name."""
        field = f"datastores.{datastore_name}"
        return Datastore._register(
            workspace,
            datastore_name,
            "adls_gen2",
            read_only,
            overwrite,
            validate=not skip_validation,
            account_name=account_name,
            filesystem=filesystem,
            protocol=protocol,
            endpoint=_endpoint_url(account_name, protocol, endpoint, "blob"),
            tenant_id=tenant_id,
            client_id=client_id,
            path=path,
            client_secret_env=client_secret_env
            or _secret_env(client_secret, "client_secret", "client_secret_env", field),
            account_key_env=account_key_env,
            sas_token_env=sas_token_env,
            connection_string_env=connection_string_env,
        )

    @staticmethod
    def register_local(
        workspace: WorkspaceLike | None,
        datastore_name: str,
        path: str | os.PathLike[str],
        writable: bool = False,
        overwrite: bool = False,
    ) -> Datastore:
        """A host folder: the only way one reaches a run (a container gets it bind-mounted, read-only unless
        ``writable``). System and credential locations, and the run home's own records, are refused."""
        return Datastore._register(workspace, datastore_name, "local", not writable, overwrite, path=str(path))

    @staticmethod
    def register_s3(
        workspace: WorkspaceLike | None,
        datastore_name: str,
        bucket: str,
        endpoint_url: str | None = None,
        key_env: str | None = None,
        secret_env: str | None = None,
        token_env: str | None = None,
        region: str | None = None,
        path: str | None = None,
        writable: bool = False,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
    ) -> Datastore:
        """An S3 bucket (AWS or any S3-compatible server: MinIO, Ceph, moto) through s3fs."""
        return Datastore._register(
            workspace,
            datastore_name,
            "s3",
            not writable,
            overwrite,
            validate=not skip_validation,
            create=create_if_not_exists,
            bucket=bucket,
            endpoint_url=endpoint_url,
            key_env=key_env,
            secret_env=secret_env,
            token_env=token_env,
            region=region,
            path=path,
        )

    @staticmethod
    def register_fsspec(
        workspace: WorkspaceLike | None,
        datastore_name: str,
        url: str,
        storage_options: dict[str, Any] | None = None,
        options_env: dict[str, str] | None = None,
        writable: bool = False,
        overwrite: bool = False,
        skip_validation: bool = False,
    ) -> Datastore:
        """Any fsspec URL (``gcs://bucket/data``, ``sftp://host/path``, ...); secret options by variable name."""
        return Datastore._register(
            workspace,
            datastore_name,
            "fsspec",
            not writable,
            overwrite,
            validate=not skip_validation,
            url=url,
            storage_options=storage_options or None,
            options_env=options_env or None,
        )

    register_azure_file_share = azure_only("Datastore.register_azure_file_share()", OTHER_STORES)
    register_azure_data_lake = azure_only("Datastore.register_azure_data_lake() (Gen1, retired)", OTHER_STORES)
    register_azure_sql_database = azure_only("Datastore.register_azure_sql_database()", OTHER_STORES)
    register_azure_postgre_sql = azure_only("Datastore.register_azure_postgre_sql()", OTHER_STORES)
    register_azure_my_sql = azure_only("Datastore.register_azure_my_sql()", OTHER_STORES)
    register_dbfs = azure_only("Datastore.register_dbfs()", OTHER_STORES)
    register_hdfs = azure_only("Datastore.register_hdfs()", OTHER_STORES)

    # -- using one ------------------------------------------------------------------------------------------
    def open(self, writable: bool = False, field: str | None = None) -> tuple[Any, str]:
        """``(fsspec filesystem, root)`` of the data (typed errors when it cannot be reached or written)."""
        return filesystems.open_filesystem(self._spec, field=field, writable=writable)

    def remote_path(self, path_on_datastore: str | None, field: str = "path_on_datastore") -> str:
        """The path on the filesystem of ``path_on_datastore`` (relative to the datastore; '..' refused)."""
        _fs, root = self.open()
        return filesystems.join(root, path_on_datastore, field)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        return DataReference(self, data_reference_name, path_on_datastore=path)

    def as_mount(self) -> DataReference:
        return self.path().as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_download(path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_upload(path_on_compute)

    def upload(
        self,
        src_dir: str | os.PathLike[str],
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Every file below ``src_dir`` to ``target_path``; existing files are kept unless ``overwrite``."""
        from runconfig_jupyter.core.data import transfer  # fsspec (~50 ms): imported when bytes move
        from runconfig_jupyter.core.safety.confine import check_system_path

        source = check_system_path(src_dir, "src_dir")
        if not source.is_dir():
            raise ConfigError(f"'{src_dir}' is not a folder; use upload_files for single files", field="src_dir")
        files = [Path(folder) / name for folder, _dirs, names in os.walk(source) for name in names]
        transfer.upload(self._spec, files, source, target_path, overwrite, _say if show_progress else None)
        return DataReference(self, path_on_datastore=target_path)

    def upload_files(
        self,
        files: Iterable[str | os.PathLike[str]],
        relative_root: str | os.PathLike[str] | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """v1: each file lands at ``target_path/<its path relative to relative_root>`` (default: their common
        folder); a file outside ``relative_root`` is refused."""
        from runconfig_jupyter.core.data import transfer  # fsspec (~50 ms): imported when bytes move
        from runconfig_jupyter.core.safety.confine import check_system_path

        paths = [check_system_path(f, "files") for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(f"not a file: {', '.join(missing[:5])}", field="files")
        if not paths:
            return DataReference(self, path_on_datastore=target_path)
        base = (
            check_system_path(relative_root, "relative_root")
            if relative_root is not None
            else Path(os.path.commonpath([str(p.parent) for p in paths]))
        )
        outside = [str(p) for p in paths if base not in p.parents]
        if outside:
            raise ConfigError(
                f"{outside[0]} is not below relative_root {base}; give a folder that holds every file",
                field="relative_root",
            )
        transfer.upload(self._spec, paths, base, target_path, overwrite, _say if show_progress else None)
        return DataReference(self, path_on_datastore=target_path)

    def download(
        self,
        target_path: str | os.PathLike[str],
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """v1: the files whose path starts with ``prefix`` go to ``target_path/<their path>``; returns how many
        were downloaded (existing local files are kept unless ``overwrite``). A prefix matching nothing raises
        DataPathMissing."""
        from runconfig_jupyter.core.data import transfer  # fsspec (~50 ms): imported when bytes move
        from runconfig_jupyter.core.safety.confine import check_system_path

        target = check_system_path(target_path, "target_path")
        return transfer.download(self._spec, target, prefix, overwrite, _say if show_progress else None)


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
