"""Azure ML v1's ``DataReference`` and ``DataPath``: a path on a datastore and how a run should see it.

``ds.path('train').as_mount()`` is passed in a ScriptRunConfig's ``arguments`` (or listed in a run
configuration's ``data_references``); at submit the data layer (core/data/plan.py) resolves it and each
target replaces it by the path the script sees. As in v1, ``str(reference)`` is
``$AZUREML_DATAREFERENCE_<name>``, the environment variable the script also gets.
"""

from __future__ import annotations

from typing import Any, Protocol

from runconfig_jupyter.core.errors import ConfigError


class NamedStore(Protocol):
    """What a reference needs of its ``Datastore`` (core/data/datastore.py): the name it is registered under."""

    name: str


MODES = ("mount", "download", "upload")
ENV_PREFIX = "AZUREML_DATAREFERENCE_"


def _entry_key(key: str) -> property:
    def read(entry: dict[str, Any]) -> Any:
        return entry[key]

    def write(entry: dict[str, Any], value: Any) -> None:
        entry[key] = value

    return property(read, write)


class DataReferenceConfiguration(dict):
    """v1's ``runconfig.DataReferenceConfiguration``: one entry of a run configuration's ``data_references``
    (``run_config.data_references = {ds.name: DataReferenceConfiguration(datastore_name=ds.name, ...)}``).

    It is the entry itself, the mapping of camelCase keys the run configuration keeps and writes, with v1's
    attributes over those keys; the script finds the data at ``$AZUREML_DATAREFERENCE_<its name there>``.
    """

    def __init__(
        self,
        datastore_name: str | None = None,
        mode: str = "mount",
        path_on_datastore: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ):
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
        super().__init__(
            dataStoreName=datastore_name,
            mode=mode,
            pathOnDataStore=path_on_datastore,
            pathOnCompute=path_on_compute,
            overwrite=bool(overwrite),
        )

    datastore_name = _entry_key("dataStoreName")
    mode = _entry_key("mode")
    path_on_datastore = _entry_key("pathOnDataStore")
    path_on_compute = _entry_key("pathOnCompute")
    overwrite = _entry_key("overwrite")


class DataReference:
    """A path on a datastore plus the mode a run gets it in (v1 signature)."""

    def __init__(
        self,
        datastore: NamedStore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ):
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.data_reference_name = data_reference_name or datastore.name
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = bool(overwrite)

    def _copy(self, **changes: Any) -> DataReference:
        values = {
            "data_reference_name": self.data_reference_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
            **changes,
        }
        return DataReference(self.datastore, **values)

    def as_mount(self) -> DataReference:
        return self._copy(mode="mount")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._copy(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._copy(mode="upload", path_on_compute=path_on_compute, overwrite=overwrite)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """A path below this one (v1: relative to the reference's own path)."""
        base = (self.path_on_datastore or "").rstrip("/")
        joined = f"{base}/{path.lstrip('/')}" if base and path else (path or base or None)
        return self._copy(path_on_datastore=joined, data_reference_name=data_reference_name)

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.data_reference_name

    def to_config(self) -> dict[str, Any]:
        """The ``dataReferences`` entry of a v1 run configuration (no secret: the datastore is named)."""
        entry = DataReferenceConfiguration(
            self.datastore.name, self.mode, self.path_on_datastore, self.path_on_compute, self.overwrite
        )
        return dict(entry)

    def __str__(self) -> str:
        return f"${self.env_name}"

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore='{self.datastore.name}', name='{self.data_reference_name}', "
            f"path_on_datastore={self.path_on_datastore!r}, mode='{self.mode}')"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DataReference)
            and (self.datastore.name, self.data_reference_name)
            == (
                other.datastore.name,
                other.data_reference_name,
            )
            and self.to_config() == other.to_config()
        )

    def __hash__(self) -> int:
        return hash((self.datastore.name, self.data_reference_name, self.path_on_datastore, self.mode))


class DataPath:
    """v1's ``DataPath(datastore, path_on_datastore)``: a path on a datastore, for datasets and pipelines."""

    def __init__(
        self, datastore: NamedStore | None = None, path_on_datastore: str | None = None, name: str | None = None
    ):
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.name = name

    @property
    def datastore_name(self) -> str | None:
        return self.datastore.name if self.datastore is not None else None

    def create_data_reference(self, data_reference_name: str | None = None, datapath_compute_binding: Any = None):
        """A DataReference to this path (mount unless the binding says download)."""
        if self.datastore is None:
            raise ConfigError("a DataPath without a datastore cannot be referenced", field="datastore")
        binding = datapath_compute_binding
        mode = getattr(binding, "mode", None) or "mount"
        where = getattr(binding, "path_on_compute", None)
        overwrite = bool(getattr(binding, "overwrite", False))
        return DataReference(self.datastore, data_reference_name, self.path_on_datastore, mode, where, overwrite)

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore_name!r}, path_on_datastore={self.path_on_datastore!r})"


class DataPathComputeBinding:
    """v1's ``DataPathComputeBinding(mode, path_on_compute, overwrite)``: how a ``DataPath`` reaches the run."""

    def __init__(self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False):
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = bool(overwrite)
