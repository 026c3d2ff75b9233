"""Azure ML v1's ``Dataset`` (``FileDataset`` / ``TabularDataset``) over datastores you own.

A dataset is a *definition*: a list of ``(datastore, path or glob)`` plus, for a tabular one, how to read the files.
Nothing is copied when it is made. It is read in the notebook (``to_path``, ``download``, ``mount``,
``to_pandas_dataframe``), or handed to a run with ``.as_named_input(name).as_mount()`` / ``.as_download()``: the
run's data plan (core/data/plan.py) resolves it at submit and the target makes it a path the script sees.

Registered datasets are versions in the local registry ``<home>/datasets/<name>/<version>`` (the same versioned
registry as models). A dataset's ``id`` is derived from its definition, so the same definition always has the same
id (v1 kept one id per saved definition too). Reading options of tabular formats other than delimited text and
JSON lines, SQL sources and pandas registration stay Azure-only and say so.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.azure_only import DATA_LAYER, azure_only
from runconfig_jupyter.core.data.bindings import URI_FORMS, check_relative, datastore_name, parse_uri
from runconfig_jupyter.core.data.consumption import DatasetConsumptionConfig, input_place
from runconfig_jupyter.core.data.definitions import (
    dataset_registry,
    definition_id,
    registered_by_id,
    split_glob,
)
from runconfig_jupyter.core.data.stores import datastore_serving
from runconfig_jupyter.core.errors import AssetConflict, AssetNotFound, ConfigError
from runconfig_jupyter.core.registries.home import HomeWorkspace, WorkspaceLike
from runconfig_jupyter.core.registries.versioned import AssetRegistry
from runconfig_jupyter.core.runs.input_datasets import (
    PARQUET,
    PARQUET_NEEDS,
    TABULAR,
    TabularTransforms,
    datastore_path,
    read_table,
)
from runconfig_jupyter.core.runs.partitions import PartitionFormat
from runconfig_jupyter.core.system.paths import run_home

FILE = "file"
SPARK = "Read the table with to_pandas_dataframe() and hand it to Spark or Dask yourself."
FILTER = (
    "Keep rows with take, skip, take_sample, random_split or time_before/time_after, or filter the data frame "
    "from to_pandas_dataframe()."
)
FILE_SUBSETS = (
    "Name the files with a glob (Dataset.File.from_files((datastore, 'folder/*.png'))), or one dataset per "
    "folder, and pick files in the script from the input folder."
)
PROFILE = "Describe the data frame from to_pandas_dataframe() with pandas (frame.describe())."


# -- paths ----------------------------------------------------------------------------------------------------
def normalize_paths(path: Any, field: str = "path") -> list[dict[str, str]]:
    """v1's ``path=`` argument: ``(datastore, 'glob')``, a ``DataPath``, a datastore URI, a web URL on a registered
    datastore, or a list of those."""
    items = path if isinstance(path, list) else [path]
    if not items:
        raise ConfigError("give at least one (datastore, 'path') pair", field=field)
    found = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]" if isinstance(path, list) else field
        if isinstance(item, tuple) and len(item) == 2:
            store, relative = datastore_name(item[0], where), item[1]
        elif isinstance(item, str) and "://" in item and not any(form.match(item) for form in URI_FORMS):
            store, relative = datastore_serving(item, where)  # v1 took web URLs: from a registered datastore
        elif isinstance(item, str):
            store, relative = parse_uri(item, where)
        elif hasattr(item, "datastore") and (hasattr(item, "path_on_datastore") or hasattr(item, "path")):
            store = datastore_name(item.datastore, where)
            relative = getattr(item, "path_on_datastore", None) or getattr(item, "path", None) or ""
        else:
            raise ConfigError(
                f"must be (datastore, 'folder/**'), a DataPath or 'azureml://datastores/<name>/paths/<path>', "
                f"got {type(item).__name__}",
                field=where,
            )
        if not isinstance(relative, str):
            raise ConfigError(f"the path on the datastore must be text, got {relative!r}", field=where)
        found.append({"datastore": store, "path": check_relative(relative, where)})
    return found


def _registry(workspace: WorkspaceLike | None) -> AssetRegistry:
    return dataset_registry(workspace.home if workspace is not None else run_home())


# -- datasets -------------------------------------------------------------------------------------------------
class Dataset:
    """v1's ``Dataset``: the factories (``Dataset.File``, ``Dataset.Tabular``) and the registry look-ups."""

    File: Any  # set below: FileDatasetFactory
    Tabular: Any

    def __init__(self, definition: dict[str, Any], workspace: WorkspaceLike | None = None, **registration: Any):
        self._definition = definition
        self.workspace = workspace
        self.name: str | None = registration.get("name")
        self.version: int | None = registration.get("version")
        self.description: str | None = registration.get("description")
        self.tags: dict[str, Any] = dict(registration.get("tags") or {})

    # -- what it is ------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return definition_id(self._definition)

    @property
    def definition(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._definition))

    @property
    def is_registered(self) -> bool:
        return self.name is not None

    def __repr__(self) -> str:
        where = ", ".join(f"({p['datastore']}, {p['path']!r})" for p in self._definition["paths"])
        named = f"name={self.name!r}, version={self.version}, " if self.name else ""
        return f"{type(self).__name__}({named}paths=[{where}])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and other._definition == self._definition

    __hash__ = None  # type: ignore[assignment]

    # -- registry --------------------------------------------------------------------------------------------
    def register(
        self,
        workspace: WorkspaceLike,
        name: str,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        create_new_version: bool = False,
    ) -> Dataset:
        """A new registered version; the same definition as the latest version returns that version, as v1 did."""
        registry = _registry(workspace)
        versions = registry.versions(check_name_for_registry(name))
        if versions:
            latest = registry.get(name)
            if latest.meta.get("definition") == self._definition:
                return _from_asset(latest, workspace)
            if not create_new_version:
                raise AssetConflict(
                    f"a dataset named '{name}' is already registered (version {latest.version}) with another "
                    "definition; pass create_new_version=True to add a version, or choose another name"
                )
        meta = {"definition": self._definition, "id": self.id, "description": description, "tags": dict(tags or {})}
        return _from_asset(registry.register(name, meta), workspace)

    @staticmethod
    def get_by_name(workspace: WorkspaceLike, name: str, version: int | str = "latest") -> Dataset:
        asset = _registry(workspace).get(name, None if version in (None, "latest") else version)
        return _from_asset(asset, workspace)

    @staticmethod
    def get_by_id(workspace: WorkspaceLike, id: str) -> Dataset:
        return _from_asset(registered_by_id(_registry(workspace), id), workspace)

    @staticmethod
    def get(workspace: WorkspaceLike, name: str | None = None, id: str | None = None) -> Dataset:
        """v1's older look-up: the latest version of ``name``, or the dataset of ``id``."""
        if name is None and id is None:
            raise ConfigError("give the dataset's name or id", field="name")
        return Dataset.get_by_name(workspace, name) if name is not None else Dataset.get_by_id(workspace, str(id))

    # -- a registered version's metadata ----------------------------------------------------------------------
    def _registered(self) -> tuple[str, int]:
        if self.name is None or self.version is None:
            raise ConfigError("this dataset is not registered: register it first (dataset.register(ws, name))")
        return self.name, self.version

    def _edit(self, change: Any) -> Dataset:
        meta = _registry(self.workspace).update_meta(*self._registered(), change)
        self.description, self.tags = meta.get("description"), dict(meta.get("tags") or {})
        return self

    def add_tags(self, tags: dict[str, Any]) -> Dataset:
        return self._edit(lambda meta: meta.setdefault("tags", {}).update(dict(tags)))

    def remove_tags(self, tags: list[str]) -> Dataset:
        return self._edit(lambda meta: [meta.setdefault("tags", {}).pop(key, None) for key in tags])

    def update(self, description: str | None = None, tags: dict[str, Any] | None = None) -> Dataset:
        """Replace the description and/or the tags of this registered version."""

        def change(meta: dict[str, Any]) -> None:
            if description is not None:
                meta["description"] = description
            if tags is not None:
                meta["tags"] = dict(tags)

        return self._edit(change)

    def unregister_all_versions(self) -> None:
        """Remove every registered version of this dataset's name (the data stays on its datastore)."""
        name, _version = self._registered()
        registry = _registry(self.workspace)
        for asset in registry.all(name):
            registry.delete(asset.name, asset.version)

    @staticmethod
    def get_all(workspace: WorkspaceLike) -> dict[str, Dataset]:
        """Name -> latest version of every registered dataset (v1's ``Dataset.get_all``)."""
        return {asset.name: _from_asset(asset, workspace) for asset in _registry(workspace).all(latest=True)}

    # -- a run's input ---------------------------------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def _consumption(self, mode: str, path_on_compute: str | None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(f"input_{self.id[:8]}", self, mode, path_on_compute)

    # -- reading in the notebook -----------------------------------------------------------------------------
    def _files(self) -> list[tuple[Any, str, str]]:
        """``(filesystem, full path, path relative to its dataset root)`` of every file the definition covers."""
        return [(fs, full, relative) for fs, full, relative, _on_store in self._stored_files()]

    def _stored_files(self) -> list[tuple[Any, str, str, str]]:
        """As ``_files``, plus each file's path on its datastore ('/folder/file.csv')."""
        from runconfig_jupyter.core.data.filesystems import join, open_filesystem
        from runconfig_jupyter.core.data.stores import get_datastore_spec

        home = self.workspace.home if self.workspace is not None else None
        found: list[tuple[Any, str, str, str]] = []
        for index, source in enumerate(self._definition["paths"]):
            spec = get_datastore_spec(source["datastore"], home, field=f"paths[{index}]")
            fs, root = open_filesystem(spec)
            static, pattern = split_glob(source["path"])
            base = join(root, static, f"paths[{index}]").rstrip("/")  # a registered definition is checked again
            if pattern is None and fs.isfile(base):
                found.append((fs, base, base.rsplit("/", 1)[-1], datastore_path(static)))
                continue
            if not fs.exists(base):
                from runconfig_jupyter.core.errors import DataPathMissing

                raise DataPathMissing(
                    f"'{source['path']}' does not exist on datastore '{source['datastore']}'", field=f"paths[{index}]"
                )
            names = fs.glob(f"{base}/{pattern}") if pattern else fs.find(base)
            for full in sorted(names):
                if fs.isfile(full):
                    relative = full[len(base) :].lstrip("/")
                    found.append((fs, full, relative, datastore_path(static, relative)))
        return found

    def to_path(self) -> list[str]:
        """The files' paths relative to the dataset, each with a leading '/', as v1 listed them."""
        return ["/" + relative for _fs, _full, relative in self._files()]

    def download(self, target_path: str | os.PathLike[str] | None = None, overwrite: bool = False) -> list[str]:
        """Copy the files into ``target_path`` (a new temp folder by default); the local paths."""
        target = Path(target_path) if target_path is not None else Path(tempfile.mkdtemp(prefix="dataset-"))
        written = []
        for fs, full, relative in self._files():
            local = target / relative
            if local.exists() and not overwrite:
                raise ConfigError(f"'{local}' already exists; pass overwrite=True to replace it", field="target_path")
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get(full, str(local))
            written.append(str(local))
        return written

    def mount(self, mount_point: str | os.PathLike[str] | None = None) -> MountContext:
        """v1's mount context: ``with ds.mount(folder):`` or ``m = ds.mount(folder); m.start(); ...; m.stop()``.

        No FUSE: a local datastore's folder itself, else the cached copy; a ``mount_point`` becomes a link to it.
        A dataset naming some files of a folder (a glob, or several paths on one datastore) is a folder of links
        to those files only (removed by ``stop()``), so the mount point shows the dataset, as v1's did.
        """
        return MountContext(self._mount_source, mount_point)

    def _mount_source(self) -> tuple[Path, Any]:
        """The data's folder on this machine and what releases it (the cache's lease of a remote copy, the view)."""
        import shutil

        from runconfig_jupyter.core.data.bindings import InputRequest
        from runconfig_jupyter.core.data.cache import DownloadCache
        from runconfig_jupyter.core.data.materialize import host_source, view_input
        from runconfig_jupyter.core.data.resolve import plan_input

        store, path, listed = input_place(self.name or "dataset", self._definition["paths"], "paths")
        options = {"listedPaths": listed} if listed is not None else {}
        request = InputRequest("mount", "paths", "mount", datastore=store, path=path, options=options)
        inp = plan_input(request, "paths", self.workspace.home if self.workspace is not None else None)
        cache = DownloadCache()
        local = host_source(inp, cache, None)
        leased = inp.kind != "local"
        if not (inp.pattern and local.is_dir()):
            return local, (lambda: cache.release(local)) if leased else (lambda: None)
        view = Path(tempfile.mkdtemp(prefix="runconfig-mount-"))
        try:
            view_input(local, view, inp.pattern, "paths")
        except BaseException:
            shutil.rmtree(view, ignore_errors=True)
            if leased:
                cache.release(local)
            raise

        def release() -> None:
            shutil.rmtree(view, ignore_errors=True)  # links only: the data stays where it is
            if leased:
                cache.release(local)

        return view, release


def check_name_for_registry(name: Any) -> str:
    from runconfig_jupyter.core.registries.versioned import check_name as check_asset_name

    return check_asset_name(name, "dataset")


class MountContext:
    """What v1's ``dataset.mount()`` returned: ``start()`` / ``stop()`` (or a ``with`` block), ``mount_point``.

    A ``mount_point`` asked for becomes a symbolic link to the data (nothing is copied); an existing empty folder
    there (v1 samples create the mount point first) is set aside while mounted and put back by ``stop()``.
    Without one, the data's own folder is the mount point.
    """

    def __init__(self, fetch: Any, mount_point: str | os.PathLike[str] | None):
        self._fetch = fetch
        self._link = Path(mount_point) if mount_point is not None else None
        self.mount_point: str | None = str(self._link) if self._link is not None else None
        self._release: Any = None
        self._was_folder = False

    def start(self) -> MountContext:
        if self._release is not None:
            return self
        link = self._link
        if link is not None and (link.is_symlink() or (link.exists() and not link.is_dir())):
            raise ConfigError(f"mount point '{link}' exists and is not a folder", field="mount_point")
        if link is not None and link.is_dir() and any(link.iterdir()):
            raise ConfigError(f"mount point '{link}' is not empty: give an empty or new folder", field="mount_point")
        source, self._release = self._fetch()
        if link is None:
            self.mount_point = str(source)
            return self
        self._was_folder = link.is_dir()
        if self._was_folder:
            link.rmdir()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source, target_is_directory=source.is_dir())
        return self

    def stop(self) -> None:
        if self._link is not None and self._link.is_symlink():
            self._link.unlink()
            if self._was_folder:
                self._link.mkdir()
        if self._release is not None:
            release, self._release = self._release, None
            release()

    def __enter__(self) -> MountContext:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()


class FileDataset(Dataset):
    """Files on datastores; ``as_mount()`` / ``as_download()`` make them a run's input."""

    take = azure_only("FileDataset.take()", FILE_SUBSETS)
    skip = azure_only("FileDataset.skip()", FILE_SUBSETS)
    take_sample = azure_only("FileDataset.take_sample()", FILE_SUBSETS)
    random_split = azure_only("FileDataset.random_split()", FILE_SUBSETS)
    filter = azure_only("FileDataset.filter()", FILE_SUBSETS)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self._consumption("mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self._consumption("download", path_on_compute)


class TabularDataset(TabularTransforms, Dataset):
    """Delimited (or JSON lines) files read as one table: ``to_pandas_dataframe()``; in a run,
    ``run.input_datasets[name].to_pandas_dataframe()``. ``take``, ``skip``, ``keep_columns``, ``time_before``...
    return a new (unregistered) dataset whose definition records the transformation, as in v1, so a run given it
    reads the same rows."""

    @property
    def _options(self) -> dict[str, Any]:  # type: ignore[override]
        return self._definition.get("options") or {}

    def _with_options(self, options: dict[str, Any]) -> TabularDataset:
        return TabularDataset({**self.definition, "options": options}, self.workspace)

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        files = self._stored_files()
        opened = [fs.open(full, "rb") for fs, full, _relative, _on_store in files]
        try:
            return read_table(opened, self._options, [on_store for *_file, on_store in files])
        finally:
            for handle in opened:
                handle.close()

    to_spark_dataframe = azure_only("TabularDataset.to_spark_dataframe()", SPARK)
    to_dask_dataframe = azure_only("TabularDataset.to_dask_dataframe()", SPARK)
    filter = azure_only("TabularDataset.filter()", FILTER)
    get_profile = azure_only("TabularDataset.get_profile()", PROFILE)
    submit_profile_run = azure_only("TabularDataset.submit_profile_run()", PROFILE)


def _kind(definition: dict[str, Any]) -> type[Dataset]:
    return TabularDataset if definition.get("type") == TABULAR else FileDataset


def dataset_from_link(link: dict[str, Any], workspace: WorkspaceLike | None) -> Dataset:
    """A dataset a model recorded (core/model.py): its registered version while it exists, else its definition."""
    if link.get("name") and link.get("version"):
        try:
            return Dataset.get_by_name(workspace, link["name"], link["version"])  # type: ignore[arg-type]
        except AssetNotFound:
            pass
    return _kind(link["definition"])(link["definition"], workspace)


def _from_asset(asset: Any, workspace: WorkspaceLike | None) -> Dataset:
    definition = asset.meta["definition"]
    return _kind(definition)(
        definition,
        workspace,
        name=asset.name,
        version=asset.version,
        description=asset.meta.get("description"),
        tags=asset.meta.get("tags"),
    )


# -- factories ------------------------------------------------------------------------------------------------
class FileDatasetFactory:
    """``Dataset.File``."""

    @staticmethod
    def from_files(path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False):
        """``path``: ``(datastore, 'folder/**')``, a ``DataPath``, a datastore URI or a list of them."""
        dataset = FileDataset({"type": FILE, "paths": normalize_paths(path)})
        if validate:
            dataset._files()  # a missing path or unreachable store fails now, as in v1
        return dataset

    @staticmethod
    def upload_directory(
        src_dir: str | os.PathLike[str],
        target: Any,
        pattern: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> FileDataset:
        """Upload ``src_dir`` to ``(datastore, path)`` and return a file dataset of what was uploaded."""
        if not isinstance(target, tuple) or len(target) != 2:
            raise ConfigError("must be (datastore, 'path')", field="target")
        datastore, path = target
        datastore.upload(str(src_dir), target_path=path, overwrite=overwrite, show_progress=show_progress)
        glob = f"{check_relative(path, 'target')}/{pattern or '**'}".lstrip("/")
        return FileDatasetFactory.from_files((datastore, glob))


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: Any = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> TabularDataset:
        if not isinstance(separator, str) or not separator:
            raise ConfigError("must be the column separator, e.g. ',' or '\\t'", field="separator")
        options = {"format": "delimited", "separator": separator, "header": _header(header), "encoding": encoding}
        return _tabular(path, options, validate, set_column_types, partition_format, include_path)

    @staticmethod
    def from_json_lines_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: Any = None,
        partition_format: str | None = None,
        **_azure: Any,
    ) -> TabularDataset:
        options = {"format": "json_lines"}
        return _tabular(path, options, validate, set_column_types, partition_format, include_path)

    @staticmethod
    def from_parquet_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: Any = None,
        partition_format: str | None = None,
        **_azure: Any,
    ) -> TabularDataset:
        """Parquet files, read with pandas (and pyarrow) like the delimited ones."""
        return _tabular(path, {"format": PARQUET}, validate, set_column_types, partition_format, include_path)

    @staticmethod
    def register_pandas_dataframe(
        dataframe: Any,
        target: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        show_progress: bool = True,
        **_azure: Any,
    ) -> TabularDataset:
        """v1 wrote the frame to the datastore as parquet, in a new folder below ``target``, and registered a tabular
        dataset of that file: the same here. ``target`` is ``(datastore, 'folder')``, a ``DataPath`` or a datastore
        (then the folder is ``managed-dataset``, as in v1)."""
        if not hasattr(dataframe, "to_parquet"):
            raise ConfigError(f"must be a pandas DataFrame, got {type(dataframe).__name__}", field="dataframe")
        datastore, folder = _upload_target(target)
        name = check_name_for_registry(name)
        placed = f"{folder}/{uuid.uuid4()}".lstrip("/")
        with tempfile.TemporaryDirectory(prefix="register-dataframe-") as staging:
            try:
                dataframe.to_parquet(Path(staging, "part-00000.parquet"), index=False)
            except ImportError as error:
                raise ImportError(f"{PARQUET_NEEDS} ({error})") from None
            datastore.upload(staging, target_path=placed, overwrite=False, show_progress=show_progress)
        dataset = TabularDatasetFactory.from_parquet_files((datastore, f"{placed}/part-00000.parquet"))
        return dataset.register(getattr(datastore, "workspace", None), name, description=description, tags=tags)

    from_sql_query = azure_only("Dataset.Tabular.from_sql_query()", DATA_LAYER)


def _tabular(
    path: Any,
    options: dict[str, Any],
    validate: bool,
    set_column_types: Any,
    partition_format: str | None,
    include_path: bool,
) -> TabularDataset:
    """A tabular dataset of ``path`` read in the format ``options`` names, with the reading options every format
    shares; ``validate`` checks now that its files exist."""
    options = {**options, **_column_types(set_column_types), **_path_columns(partition_format, include_path)}
    dataset = TabularDataset({"type": TABULAR, "paths": normalize_paths(path), "options": options})
    if validate:
        dataset._files()
    return dataset


def _upload_target(target: Any) -> tuple[Any, str]:
    """(datastore object, folder on it) from v1's ``target``: what ``upload`` is then called on."""
    if isinstance(target, tuple) and len(target) == 2:
        datastore, folder = target
    elif hasattr(target, "datastore") and hasattr(target, "path_on_datastore"):  # a DataPath
        datastore, folder = target.datastore, target.path_on_datastore or ""
    else:
        datastore, folder = target, "managed-dataset"
    if not hasattr(datastore, "upload") or not isinstance(folder, str):
        raise ConfigError("must be (datastore, 'folder'), a DataPath or a datastore", field="target")
    return datastore, check_relative(folder, "target")


class DataType:
    """v1's ``DataType`` for ``set_column_types={'column': DataType.to_float()}``: the column is converted when read
    (a value that does not convert becomes null), in the notebook and in the script alike."""

    def __init__(self, kind: str, *args: Any):
        self.kind, self.args = kind, list(args)

    def __repr__(self) -> str:
        return f"DataType({self.kind!r})"

    @staticmethod
    def to_string() -> DataType:
        return DataType("string")

    @staticmethod
    def to_long() -> DataType:
        return DataType("long")

    @staticmethod
    def to_float(decimal_mark: str = ".") -> DataType:
        if decimal_mark != ".":
            raise ConfigError("only '.' is read as the decimal mark locally", field="decimal_mark")
        return DataType("float")

    @staticmethod
    def to_bool(true_values: Any = None, false_values: Any = None, mismatch_as: str = "error") -> DataType:
        return DataType("bool")

    @staticmethod
    def to_datetime(formats: str | list[str] | None = None) -> DataType:
        """``formats`` are strftime patterns (``'%Y-%m-%d'``), tried in turn; none: pandas infers the format."""
        listed = [formats] if isinstance(formats, str) else list(formats or [])
        return DataType("datetime", listed) if listed else DataType("datetime")

    to_stream = azure_only("DataType.to_stream()", "Use a file dataset (Dataset.File.from_files) for file contents.")


def _column_types(types: Any) -> dict[str, Any]:
    if not types:
        return {}
    if not isinstance(types, dict) or not all(isinstance(t, DataType) for t in types.values()):
        raise ConfigError("must be {'column': DataType.to_float(), ...}", field="set_column_types")
    return {"column_types": {str(column): [t.kind, *t.args] for column, t in types.items()}}


def _path_columns(partition_format: str | None, include_path: bool) -> dict[str, Any]:
    """The reading options that add columns from each file's path; none when not asked, so a definition (and its
    id) is what it was before these options existed."""
    options: dict[str, Any] = {}
    if partition_format is not None:
        try:
            PartitionFormat(partition_format)
        except ValueError as error:
            raise ConfigError(str(error), field="partition_format") from None
        options["partition_format"] = partition_format
    if include_path:
        options["include_path"] = True
    return options


def _header(header: Any) -> bool:
    """v1 accepted True/False or a PromoteHeadersBehavior; locally only 'has a header row or not' matters."""
    if isinstance(header, bool):
        return header
    text = str(getattr(header, "name", header)).lower()
    return "no_header" not in text and text not in ("0", "false")


Dataset.File = FileDatasetFactory
Dataset.Tabular = TabularDatasetFactory


# -- the 2019 preview API --------------------------------------------------------------------------------------
# azureml-core 1.0.x (2019 notebooks) made datasets on the Dataset class itself and kept "definitions" (dataprep
# Dataflows) per dataset. A call that has a modern equivalent (Dataset.Tabular / Dataset.File) runs as that one;
# the rest raise NotSupportedLocally naming the call and its replacement: never an AttributeError.
DEFINITIONS = (
    "A dataset's definition is the dataset itself here: register a changed one as a new version with "
    "dataset.register(ws, name, create_new_version=True) and read a version with "
    "Dataset.get_by_name(ws, name, version)."
)
_PREVIEW_DEFAULTS: dict[str, Any] = {
    "quoting": False,
    "skip_rows": 0,
    "skip_mode": None,
    "comment": None,
    "archive_options": None,
}


def _preview_delimited_files(
    path: Any,
    separator: str = ",",
    header: Any = True,
    encoding: Any = "utf8",
    infer_column_types: bool = True,
    include_path: bool = False,
    partition_format: str | None = None,
    **options: Any,
) -> TabularDataset:
    """2019's ``Dataset.from_delimited_files``: ``Dataset.Tabular.from_delimited_files`` with the same reading.

    ``encoding`` was a ``FileEncoding`` (``UTF8``); the dataprep-only options (``skip_rows``, ``comment``, quoting,
    archives) raise NotSupportedLocally when given a value other than their default, rather than being ignored.
    """
    from runconfig_jupyter.core.errors import NotSupportedLocally

    for name, value in options.items():
        if name not in _PREVIEW_DEFAULTS:
            raise TypeError(f"Dataset.from_delimited_files() got an unexpected keyword argument '{name}'")
        if value not in (_PREVIEW_DEFAULTS[name], None) and not (name == "skip_mode" and "no" in str(value).lower()):
            raise NotSupportedLocally(
                f"Dataset.from_delimited_files({name}=...)",
                "Use Dataset.Tabular.from_delimited_files(path) and drop or fix the rows in the data frame.",
            )
    text_encoding = str(getattr(encoding, "name", encoding) or "utf8").lower().replace("-", "")
    return TabularDatasetFactory.from_delimited_files(
        path,
        include_path=include_path,
        infer_column_types=infer_column_types,
        separator=separator,
        header=header,
        partition_format=partition_format,
        encoding=text_encoding,
    )


def _auto_read_files(path: Any, include_path: bool = False, partition_format: str | None = None) -> TabularDataset:
    """2019's ``Dataset.auto_read_files``: the format was detected; here parquet files (by their suffix) are read
    as ``Dataset.Tabular.from_parquet_files``, anything else as delimited text with a header row."""
    paths = path if isinstance(path, (list, tuple)) else [path]
    names = [str(p[1] if isinstance(p, tuple) else getattr(p, "path_on_datastore", p)) for p in paths]
    if names and all(name.lower().endswith(".parquet") for name in names):
        return TabularDatasetFactory.from_parquet_files(
            path, include_path=include_path, partition_format=partition_format
        )
    return TabularDatasetFactory.from_delimited_files(
        path, include_path=include_path, partition_format=partition_format
    )


def _preview_list(workspace: WorkspaceLike) -> list[Dataset]:
    """2019's ``Dataset.list(ws)``: the latest version of every registered dataset."""
    return list(Dataset.get_all(workspace).values())


Dataset.from_delimited_files = staticmethod(_preview_delimited_files)  # type: ignore[attr-defined]
Dataset.auto_read_files = staticmethod(_auto_read_files)  # type: ignore[attr-defined]
Dataset.from_parquet_files = staticmethod(TabularDatasetFactory.from_parquet_files)  # type: ignore[attr-defined]
Dataset.from_binary_files = staticmethod(FileDatasetFactory.from_files)  # type: ignore[attr-defined]
Dataset.list = staticmethod(_preview_list)  # type: ignore[attr-defined]
Dataset.from_json_files = azure_only(  # type: ignore[attr-defined]
    "Dataset.from_json_files()", "Use Dataset.Tabular.from_json_lines_files(path) (one JSON object per line)."
)
Dataset.from_excel_files = azure_only(  # type: ignore[attr-defined]
    "Dataset.from_excel_files()", "Save the sheet as CSV and use Dataset.Tabular.from_delimited_files(path)."
)
Dataset.from_pandas_dataframe = azure_only(  # type: ignore[attr-defined]
    "Dataset.from_pandas_dataframe()", "Use Dataset.Tabular.register_pandas_dataframe(frame, target, name)."
)
Dataset.from_sql_query = azure_only(  # type: ignore[attr-defined]
    "Dataset.from_sql_query()", "Query the database in the training script and register the result as a file."
)
Dataset.get_definition = azure_only("dataset.get_definition()", DEFINITIONS)  # type: ignore[attr-defined]
Dataset.get_definitions = azure_only("dataset.get_definitions()", DEFINITIONS)  # type: ignore[attr-defined]
Dataset.update_definition = azure_only("dataset.update_definition()", DEFINITIONS)  # type: ignore[attr-defined]


def register_outputs(plan: Any, home: Path) -> list[Dataset]:
    """After a completed run's outputs were uploaded: each one with ``register_on_complete`` as a file dataset."""
    registered = []
    for out in plan.outputs:
        if out.register_as:
            where = {"datastore": out.datastore, "path": f"{out.destination}/**"}
            dataset = FileDataset({"type": FILE, "paths": [where]})
            registered.append(dataset.register(HomeWorkspace(home), out.register_as, create_new_version=True))
    return registered
