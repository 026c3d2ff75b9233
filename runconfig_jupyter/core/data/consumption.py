"""A dataset or a folder as a run's input or output: v1's ``DatasetConsumptionConfig`` and ``OutputFileDatasetConfig``.

Both are what a ScriptRunConfig's ``arguments`` may hold: ``to_binding()`` gives the entry of the run configuration
(v1 schema: ``data`` / ``outputData``) and the placeholder token the script's argument becomes
(core/data/bindings.py). A registered dataset is named by id, name and version (resolved at submit); an unregistered
one by its datastore path, so the configuration stays self-contained.
"""

from __future__ import annotations

import uuid
from typing import Any

from runconfig_jupyter.core.data.bindings import DataBinding, check_name, output_placeholder
from runconfig_jupyter.core.data.definitions import one_place
from runconfig_jupyter.core.data.plan import argument_placeholder
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.registries.versioned import check_name as check_asset_name
from runconfig_jupyter.core.runs.input_datasets import TABULAR, listed_paths


def input_place(name: str, paths: list[dict[str, str]], field: str) -> tuple[str, str, list[str] | None]:
    """(datastore, path, listed) of a dataset's paths as one run input: one path as it is (a glob stays in it);
    several as their common folder and the files below it (``listed``, None for one path)."""
    store, folder, pattern = one_place(name, paths, field)
    if len(paths) == 1:
        return store, paths[0]["path"], None
    return store, folder, listed_paths(pattern)


class DatasetConsumptionConfig:
    """v1's ``DatasetConsumptionConfig``: a dataset as a run's named input (``direct``, ``mount`` or ``download``)."""

    def __init__(self, name: str, dataset: Any, mode: str = "direct", path_on_compute: str | None = None):
        self.name = check_name(name, "name")
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        self._file_only("as_mount")
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        self._file_only("as_download")
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _file_only(self, verb: str) -> None:
        if self.dataset.definition.get("type") == TABULAR:
            raise ConfigError(
                f"{verb}() is for file datasets; a tabular dataset is read in the script with "
                "run.input_datasets[name].to_pandas_dataframe() (pass it as dataset.as_named_input(name))",
                field="mode",
            )

    def to_binding(self) -> DataBinding:
        """The ``data`` entry (v1 runconfig schema) and the argument token of this input."""
        dataset = self.dataset
        entry: dict[str, Any] = {"mechanism": self.mode, "environmentVariableName": self.name, "overwrite": False}
        if self.path_on_compute is not None:
            entry["pathOnCompute"] = self.path_on_compute
        if dataset.is_registered:
            location = {"dataset": {"id": dataset.id, "name": dataset.name, "version": dataset.version}}
        else:
            store, relative, listed = input_place("(unregistered)", dataset.definition["paths"], f"data.{self.name}")
            location = {"datapath": {"datastoreName": store, "relativePath": relative}}
            options = dataset.definition.get("options")
            if dataset.definition["type"] == TABULAR:
                entry["options"] = {"datasetType": TABULAR, **(options or {})}
            if listed is not None:  # several files of one datastore: their folder, those files only (resolve.py)
                entry["options"] = {"datasetType": dataset.definition["type"], **entry.get("options", {})}
                entry["options"]["listedPaths"] = listed
        entry["dataLocation"] = location
        return DataBinding("data", self.name, entry, argument_placeholder(self.name))

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r}, dataset={self.dataset!r})"


class OutputFileDatasetConfig:
    """v1's ``OutputFileDatasetConfig``: a folder the script writes, uploaded to ``destination`` when the run ends.

    ``destination`` is ``(datastore, 'path')``; ``{run-id}`` and ``{output-name}`` in the path are replaced at
    submit. Without one, v1's default: the default datastore, ``dataset/{run-id}/{output-name}``.
    """

    def __init__(self, name: str | None = None, destination: Any = None, source: str | None = None, **_azure: Any):
        self.name = check_name(name or f"output_{uuid.uuid4().hex[:8]}", "name")
        self.destination: dict[str, str] | None = None
        if destination is not None:
            if not isinstance(destination, tuple) or len(destination) != 2:
                raise ConfigError("must be (datastore, 'path/{run-id}')", field="destination")
            store, path = destination
            self.destination = {
                "datastore": store if isinstance(store, str) else getattr(store, "name", ""),
                "path": str(path),
            }
        self.source = source
        self.mode = "mount"
        self.overwrite = False
        self.source_globs: list[str] | None = None
        self.registration: dict[str, Any] | None = None

    def as_upload(self, overwrite: bool = False, source_globs: list[str] | None = None) -> OutputFileDatasetConfig:
        copy = self._copy()
        copy.mode, copy.overwrite, copy.source_globs = "upload", bool(overwrite), source_globs
        return copy

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        copy = self._copy()
        copy.mode = "mount"
        return copy

    def register_on_complete(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> OutputFileDatasetConfig:
        """Register what was uploaded as a file dataset named ``name`` once the run completed."""
        copy = self._copy()
        copy.registration = {"name": check_asset_name(name, "dataset"), "description": description, "tags": tags}
        return copy

    def _copy(self) -> OutputFileDatasetConfig:
        clone = object.__new__(OutputFileDatasetConfig)
        clone.__dict__.update(self.__dict__)
        return clone

    def to_binding(self) -> DataBinding:
        entry: dict[str, Any] = {"mechanism": self.mode, "environmentVariableName": self.name}
        if self.destination is not None:
            store, path = self.destination["datastore"], self.destination["path"]
            entry["outputLocation"] = {"datapath": {"datastoreName": store, "relativePath": path}}
        options: dict[str, Any] = {"pathOnCompute": self.source} if self.source else {}
        options["uploadOptions"] = {"overwrite": self.overwrite, "sourceGlobs": self.source_globs}
        if self.registration:
            options["registrationOptions"] = {k: v for k, v in self.registration.items() if v is not None}
        entry["additionalOptions"] = options
        return DataBinding("output_data", self.name, entry, output_placeholder(self.name))

    def __repr__(self) -> str:
        return f"OutputFileDatasetConfig(name={self.name!r}, destination={self.destination!r}, mode={self.mode!r})"
