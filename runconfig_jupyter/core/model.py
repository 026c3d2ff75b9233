"""Azure ML v1's ``Model``, over a local versioned model registry (``<home>/models``).

``run.register_model("name", model_path="outputs/model.pkl")`` copies that file (or folder) of
the run into the registry as the next version of ``name`` and remembers the run it came from;
``Model.register(ws, model_path, model_name)`` does the same for a file on this machine.
``Model(ws, "name")``, ``Model.get_model_path("name")``, ``model.download(dir)`` and
``Model.list(ws)`` read it back. Deployment needs Azure and says so.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.azure_only import azure_only, azure_only_class
from runconfig_jupyter.core.errors import AssetNotFound, ConfigError, RunNotFound
from runconfig_jupyter.core.model_framework import Framework
from runconfig_jupyter.core.registries.home import HomeWorkspace, WorkspaceLike
from runconfig_jupyter.core.registries.versioned import Asset, AssetRegistry
from runconfig_jupyter.core.resource_configuration import ResourceConfiguration
from runconfig_jupyter.core.runs.run_history import tags_match
from runconfig_jupyter.core.system.paths import run_home

FILES_DIR = "files"
SERVE_LOCALLY = (
    "Load the model where you serve it: Model.get_model_path(name, version, _workspace=ws) gives its local path "
    "(e.g. for a FastAPI or MLflow server you run yourself)."
)


def _workspace_or_home(workspace: WorkspaceLike | None) -> WorkspaceLike:
    """The workspace given, else the run home's (v1 always passes one; ``Model.get_model_path(name)`` may not)."""
    return workspace if workspace is not None else HomeWorkspace(run_home())


def _registry(workspace: WorkspaceLike | None) -> AssetRegistry:
    return AssetRegistry(_workspace_or_home(workspace).home, "models")


def _text_map(value: Mapping[str, Any] | None, field: str) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("must be a dict of names to values", field=field)
    return {str(k): None if v is None else str(v) for k, v in value.items()}


def _copy_into(source: Path, folder: Path, children: list[Path] | None = None) -> None:
    """Copy the model's file or folder; with ``children`` (checked by ``_child_paths``) only those paths of it."""
    files = folder / FILES_DIR
    files.mkdir()
    if children is not None:
        for child in children:
            target = files / source.name / child.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            if child.is_dir():
                shutil.copytree(child, target, symlinks=False, dirs_exist_ok=True)
            else:
                shutil.copy2(child, target)
    elif source.is_dir():
        shutil.copytree(source, files / source.name, symlinks=False)
    else:
        shutil.copy2(source, files / source.name)


def _child_paths(source: Path, child_paths: Any) -> list[Path] | None:
    """v1's ``child_paths``: the files (or folders) of the ``model_path`` folder to bundle, relative to it; each
    must exist inside that folder, so a registration never copies more, or other, than was named."""
    if child_paths is None:
        return None
    if isinstance(child_paths, (str, Path)):
        child_paths = [child_paths]
    if not source.is_dir():
        raise ConfigError("child_paths name files in a model_path folder; model_path is a file", field="child_paths")
    root = source.resolve()
    children = []
    for relative in child_paths:
        child = (root / relative).resolve()
        if child == root or not child.is_relative_to(root):
            raise ConfigError(f"'{relative}' is outside the model_path folder '{source}'", field="child_paths")
        if not child.exists():
            raise ConfigError(f"'{relative}' does not exist in the model_path folder '{source}'", field="child_paths")
        children.append(child)
    return children


def _framework(framework: str | None, version: str | None, resources: Any) -> dict[str, Any]:
    """The model's framework and v1's ``resource_configuration`` (no local effect; kept so it reads back)."""
    if isinstance(resources, Mapping):  # an in-script register_model's, serialized on its way to the driver
        resources = ResourceConfiguration.deserialize(dict(resources))
    if resources is not None and not isinstance(resources, ResourceConfiguration):
        raise ConfigError(
            f"expected a ResourceConfiguration(cpu=, memory_in_gb=, gpu=), got {type(resources).__name__}",
            field="resource_configuration",
        )
    kept = resources.serialize() if resources is not None else None
    return {"model_framework": framework, "model_framework_version": version, "resource_configuration": kept}


def _dataset_links(datasets: Any) -> dict[str, Any]:
    """v1's ``datasets=[('training data', dataset), ...]``: which datasets a model was made from, by scenario
    (``{"datasets": [...]}`` for the model's meta, nothing when none was given)."""
    links = []
    for index, item in enumerate(datasets or []):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError("must be a list of ('scenario', dataset) pairs", field=f"datasets[{index}]")
        scenario, dataset = item
        definition = getattr(dataset, "definition", None)
        if not isinstance(definition, dict):
            raise ConfigError(f"{type(dataset).__name__} is not a dataset", field=f"datasets[{index}]")
        link = {"scenario": scenario, "id": dataset.id, "name": dataset.name, "version": dataset.version}
        links.append({**link, "definition": definition})
    return {"datasets": links} if links else {}


def _register(
    workspace: WorkspaceLike | None,
    name: str,
    source: Path,
    meta: dict[str, Any],
    children: list[Path] | None = None,
) -> Model:
    """Copy ``source`` (or only its ``children``) into the next version of ``name``; tags and properties are
    stored as text."""
    meta = {**meta, "tags": _text_map(meta.get("tags"), "tags")}
    meta["properties"] = _text_map(meta.get("properties"), "properties")
    asset = _registry(workspace).register(name, meta, lambda folder: _copy_into(source, folder, children))
    return Model._from_asset(workspace, asset)


def _uploaded(run: Any, model_path: str) -> Path:
    """An uploaded file or folder listed under its own name (``upload_file``/``upload_folder``, or what the script
    logged through MLflow: ``log_model(..., "model")`` is the folder ``model``), as stored under ``artifacts/``;
    RunNotFound when the run has no such file."""
    from runconfig_jupyter.core.runs.artifacts import ArtifactNameError, confined, run_relative_path

    try:
        folder = confined(run.run_dir, run_relative_path(model_path))
    except ArtifactNameError:
        folder = None
    if folder is not None and folder.is_dir():
        return folder
    return run._resolve_file(model_path)


class Model:
    """A registered model version: ``Model(ws, name)`` (latest), ``Model(ws, name, version=2)`` or ``id="n:2"``."""

    Framework = Framework

    def __init__(
        self,
        workspace: WorkspaceLike | None = None,
        name: str | None = None,
        id: str | None = None,
        tags: Any = None,
        properties: Any = None,
        version: int | str | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **_azure_kwargs: Any,
    ):
        self.workspace = _workspace_or_home(workspace)
        if id is not None:
            name, _, number = str(id).partition(":")
            version = number or version
        if name is None:
            raise ConfigError("Model needs a name (or id='name:version')", field="name")
        registry = _registry(self.workspace)
        candidates = [registry.get(name, version)] if version is not None else registry.all(name)[::-1]
        for asset in candidates:
            meta = asset.meta
            if (
                tags_match(meta.get("tags") or {}, tags)
                and tags_match(meta.get("properties") or {}, properties)
                and (run_id is None or meta.get("run_id") == run_id)
                and (model_framework is None or meta.get("model_framework") == model_framework)
            ):
                self._load(asset)
                return
        raise AssetNotFound(f"no version of model '{name}' matches tags={tags!r} properties={properties!r}")

    def _load(self, asset: Asset) -> None:
        meta = asset.meta
        self._asset = asset
        self.name: str = asset.name
        self.version: int = asset.version
        self.id = f"{asset.name}:{asset.version}"
        self.tags: dict[str, str | None] = dict(meta.get("tags") or {})
        self.properties: dict[str, str | None] = dict(meta.get("properties") or {})
        self.description: str | None = meta.get("description")
        self.run_id: str | None = meta.get("run_id")
        self.experiment_name: str | None = meta.get("experiment_name")
        self.model_framework: str | None = meta.get("model_framework")
        self.model_framework_version: str | None = meta.get("model_framework_version")
        self.resource_configuration = ResourceConfiguration.deserialize(meta.get("resource_configuration"))
        self.created_time = datetime.fromtimestamp(meta["created_time"], tz=timezone.utc)
        self.url = str(self.path)

    @property
    def datasets(self) -> dict[str, list[Any]]:
        """Scenario -> the datasets given at registration (``datasets=[('training data', dataset)]``), as in v1."""
        from runconfig_jupyter.core.data.dataset import dataset_from_link

        found: dict[str, list[Any]] = {}
        for link in self._asset.meta.get("datasets") or []:
            found.setdefault(link["scenario"], []).append(dataset_from_link(link, self.workspace))
        return found

    @classmethod
    def _from_asset(cls, workspace: WorkspaceLike | None, asset: Asset) -> Model:
        model = cls.__new__(cls)
        model.workspace = _workspace_or_home(workspace)
        model._load(asset)
        return model

    @property
    def path(self) -> Path:
        """The registered file or folder (what ``get_model_path`` returns)."""
        entries = sorted((self._asset.path / FILES_DIR).iterdir())
        return entries[0]

    @property
    def run(self) -> Any:
        """The run the model was registered from (``ws.get_run``), when there is one.

        Asked of the workspace, the root of v1's object graph, as Azure does: a model found without a workspace
        (``Model(None, name)``, which v1 itself refuses) knows its ``run_id`` but gives no run object.
        """
        get_run = getattr(self.workspace, "get_run", None)
        return get_run(self.run_id) if self.run_id and get_run is not None else None

    # -- registration -----------------------------------------------------------------
    @staticmethod
    def register(
        workspace: WorkspaceLike,
        model_path: str | Path,
        model_name: str,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        description: str | None = None,
        datasets: Any = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: ResourceConfiguration | None = None,
        **_azure_kwargs: Any,
    ) -> Model:
        """Register a local file or folder as the next version of ``model_name``."""
        source = Path(model_path).expanduser()
        if not source.exists():
            raise ConfigError(f"'{model_path}' does not exist on this machine", field="model_path")
        children = _child_paths(source, child_paths)
        about = {"tags": tags, "properties": properties, "description": description}
        framework = _framework(model_framework, model_framework_version, resource_configuration)
        meta = {**about, **framework, "source": str(source), **_dataset_links(datasets)}
        if children is not None:
            meta["child_paths"] = [str(child.relative_to(source.resolve())) for child in children]
        return _register(workspace, model_name, source.resolve(), meta, children)

    @staticmethod
    def register_from_run(
        run: Any,
        model_name: str,
        model_path: str | None = None,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: Any = None,
        resource_configuration: ResourceConfiguration | None = None,
        **_azure_kwargs: Any,
    ) -> Model:
        """``run.register_model``: ``model_path`` names a file or folder of the run (e.g. ``outputs/model.pkl``)."""
        if not model_path:
            raise ConfigError("name the run's file or folder to register, e.g. 'outputs/model.pkl'", field="model_path")
        source = (run.run_dir / model_path).resolve()
        if not source.is_relative_to(run.run_dir.resolve()):
            raise ConfigError(f"'{model_path}' is outside the run's files", field="model_path")
        if not source.exists():
            source = _uploaded(run, model_path)
        about = {"tags": tags, "properties": properties, "description": description}
        framework = _framework(model_framework, model_framework_version, resource_configuration)
        origin = {"run_id": run.id, "experiment_name": run.record.experiment, "source": model_path}
        lineage = _dataset_links(datasets)
        return _register(run.experiment.workspace, model_name, source, {**about, **framework, **origin, **lineage})

    # -- reading ----------------------------------------------------------------------
    @staticmethod
    def get_model_path(
        model_name: str, version: int | str | None = None, _workspace: WorkspaceLike | None = None
    ) -> str:
        """Local path of a registered model's file or folder (latest version unless given)."""
        return str(Model(_workspace, model_name, version=version).path)

    def download(self, target_dir: str | Path = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Copy the model's file or folder into ``target_dir``; returns the copied path."""
        overwrite = exist_ok if exists_ok is None else exists_ok
        destination = Path(target_dir) / self.path.name
        if destination.exists() and not overwrite:
            raise ConfigError(f"'{destination}' exists; pass exist_ok=True to overwrite it", field="target_dir")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            shutil.copytree(self.path, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(self.path, destination)
        return str(destination)

    @staticmethod
    def list(
        workspace: WorkspaceLike,
        name: str | None = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        latest: bool = False,
        model_framework: str | None = None,
        **_azure_kwargs: Any,
    ) -> list[Model]:
        """Registered models (every version unless ``latest``), filtered like Azure's (``model_framework`` too: left
        to ``**kwargs`` it listed every framework's models)."""
        models = []
        for asset in _registry(workspace).all(name, latest=latest):
            meta = asset.meta
            wanted = tags_match(meta.get("tags") or {}, tags) and tags_match(meta.get("properties") or {}, properties)
            framework = model_framework is None or meta.get("model_framework") == model_framework
            if wanted and framework and (run_id is None or meta.get("run_id") == run_id):
                models.append(Model._from_asset(workspace, asset))
        return models

    # -- editing -------------------------------------------------------------------------
    def _edit(self, change: Any) -> None:
        meta = _registry(self.workspace).update_meta(self.name, self.version, change)
        self._load(Asset(self.name, self.version, self._asset.path, meta))

    def add_tags(self, tags: Mapping[str, Any]) -> None:
        self._edit(lambda meta: meta.setdefault("tags", {}).update(_text_map(tags, "tags")))

    def remove_tags(self, tags: list[str]) -> None:
        self._edit(lambda meta: [meta.setdefault("tags", {}).pop(str(t), None) for t in tags])

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        """Properties, unlike tags, cannot change once set (as in Azure ML)."""
        from runconfig_jupyter.core.errors import AssetConflict

        new = _text_map(properties, "properties")
        for key, value in new.items():
            if key in self.properties and self.properties[key] != value:
                raise AssetConflict(
                    f"model property '{key}' is already '{self.properties[key]}'; properties are immutable"
                )
        self._edit(lambda meta: meta.setdefault("properties", {}).update(new))

    def update(self, tags: Mapping[str, Any] | None = None, description: str | None = None, **_: Any) -> None:
        if tags is not None:
            self.add_tags(tags)
        if description is not None:
            self._edit(lambda meta: meta.__setitem__("description", description))

    def delete(self) -> None:
        _registry(self.workspace).delete(self.name, self.version)

    def serialize(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "tags": self.tags,
            "properties": self.properties,
            "description": self.description,
            "runId": self.run_id,
            "experimentName": self.experiment_name,
            "modelFramework": self.model_framework,
            "modelFrameworkVersion": self.model_framework_version,
            "resourceConfiguration": self.resource_configuration.serialize() if self.resource_configuration else None,
            "createdTime": self.created_time.isoformat(),
            "url": self.url,
        }

    deploy = azure_only("Model.deploy()", SERVE_LOCALLY)
    package = azure_only("Model.package()", SERVE_LOCALLY)
    profile = azure_only("Model.profile()", SERVE_LOCALLY)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.id == self.id and other.workspace.home == self.workspace.home

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        origin = f", run_id={self.run_id!r}" if self.run_id else ""
        return f"Model(name={self.name!r}, version={self.version}{origin})"


InferenceConfig = azure_only_class("InferenceConfig", "InferenceConfig (model deployment)", SERVE_LOCALLY, __name__)

__all__ = ["AssetNotFound", "InferenceConfig", "Model", "RunNotFound"]
