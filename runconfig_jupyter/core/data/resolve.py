"""Building a run's data plan at submit: every check that can refuse the data, before anything is recorded.

For each input: the dataset (registered name/version or id) exists; its datastore is registered; the store
answers (bounded probe, core/data/filesystems.py) and the path exists on it; a local datastore's path resolves
inside a registered place (links out of the datastore are judged by where they lead). For each output: the
datastore exists, is not read-only, answers. ``{run-id}`` / ``{output-name}`` are replaced in destinations.
Every refusal is a typed error naming the input (``data.<name>``, ``dataReferences.<name>``,
``outputData.<name>``, or ``arguments[i]`` / ``inputs[i]`` for an object passed there in this process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.data.bindings import (
    InputRequest,
    OutputRequest,
    check_placeholders,
    check_relative,
    input_requests,
    lift_arguments,
    origin_fields,
    output_requests,
)
from runconfig_jupyter.core.data.definitions import (
    dataset_registry,
    definition_id,
    listed_pattern,
    one_place,
    registered_by_id,
    split_glob,
)
from runconfig_jupyter.core.data.materialize import LOCAL, confined_host_path
from runconfig_jupyter.core.data.plan import DataInput, DataOutput, DataPlan
from runconfig_jupyter.core.errors import AssetNotFound, ConfigError, DataPathMissing
from runconfig_jupyter.core.runs.input_datasets import TABULAR, listed_paths
from runconfig_jupyter.core.system.paths import run_home


@dataclass(frozen=True)
class Located:
    """An input's datastore, path and reading details before its store is contacted."""

    datastore: str
    path: str  # static part on the datastore
    pattern: str | None
    dataset: dict[str, Any] | None


def build_plan(config: Any, run_id: str, home: Path | None = None) -> DataPlan:
    """The plan of ``config`` (a ScriptRunConfig) for run ``run_id``; empty when it names no data."""
    run_config = config.run_config
    lift_arguments(run_config)
    inputs, outputs = input_requests(run_config), output_requests(run_config)
    if not inputs and not outputs:
        check_placeholders(run_config.arguments, set())
        check_placeholders(run_config.command, set(), "command")
        return DataPlan()
    known = {r.name for r in inputs} | {o.name for o in outputs}
    check_placeholders(run_config.arguments, known)
    check_placeholders(run_config.command, known, "command")
    where = origin_fields(run_config)
    planned = [plan_input(r, where.get(r.name, r.field), home) for r in inputs]
    written = [plan_output(o, where.get(o.name, o.field), run_id, home) for o in outputs]
    return DataPlan(planned, written)


def locate(request: InputRequest, field: str, home: Path | None) -> Located:
    """Datastore and path of an input: from the registered dataset, or as the configuration gave them."""
    if request.dataset:
        registry = dataset_registry(home or run_home())
        wanted = request.dataset
        try:
            if wanted.get("name"):
                version = wanted.get("version")
                asset = registry.get(wanted["name"], None if version in (None, "latest") else version)
            else:
                asset = registered_by_id(registry, wanted["id"])
        except AssetNotFound as error:
            hint = "register the dataset first (dataset.register(ws, name))"
            raise ConfigError(f"{error}; {hint}", field=field) from None
        definition = asset.meta["definition"]
        datastore, static, pattern = one_place(str(asset.name), definition["paths"], field)
        about = {
            "type": definition.get("type"),
            "id": definition_id(definition),
            "name": asset.name,
            "version": asset.version,
        }
        return Located(datastore, static, pattern, {**about, "pattern": pattern, **_options(definition)})
    if request.datastore is None:
        raise ConfigError("name the datastore of this input", field=field)
    static, pattern = split_glob(check_relative(request.path, field))
    options = dict(request.options)
    kind = options.pop("datasetType", None)
    listed = options.pop("listedPaths", None)
    if listed is not None:  # an unregistered dataset of several paths (consumption.py): those below the folder
        pattern = listed_pattern(listed, field)
    dataset = None
    if kind is not None or pattern is not None:
        dataset = {"type": kind or "file", "pattern": pattern, "options": options}
    return Located(request.datastore, static, pattern, dataset)


def _options(definition: dict[str, Any]) -> dict[str, Any]:
    return {"options": definition.get("options") or {}} if definition.get("type") == TABULAR else {}


def plan_input(request: InputRequest, field: str, home: Path | None) -> DataInput:
    from runconfig_jupyter.core.data.filesystems import join, open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    check_compute_path(request.path_on_compute, field)
    located = locate(request, field, home)
    spec = get_datastore_spec(located.datastore, home, field=field)
    fs, root = open_filesystem(spec, field=field)
    full = join(root, located.path, field)
    listed = listed_paths(located.pattern)
    for path, where in [(full, located.path)] if listed is None else [(join(full, p, field), p) for p in listed]:
        if not fs.exists(path):  # a web store may have no folder to ask about: each listed file is asked for
            raise DataPathMissing(
                f"'{where or '/'}' does not exist on datastore '{spec.name}'; upload the data first "
                "(datastore.upload(...)) or fix the path",
                field=field,
            )
    path = str(confined_host_path(full, field, home)) if spec.kind == LOCAL else located.path
    mode = request.mode
    if located.dataset and located.dataset.get("type") == TABULAR and request.mode not in ("mount", "download"):
        mode = "mount"
    return DataInput(
        name=request.name,
        datastore=spec.name,
        kind=spec.kind,
        path=path,
        mode=mode,
        path_on_compute=request.path_on_compute,
        is_file=listed is None and bool(fs.isfile(full)),
        pattern=located.pattern,
        dataset=_with_root(located),
    )


def _with_root(located: Located) -> dict[str, Any] | None:
    """A tabular input's description also names its folder on the datastore (``root``): the script reads the files'
    datastore paths from it for ``partition_format`` / ``include_path`` (core/runs/input_datasets.py)."""
    if not located.dataset or located.dataset.get("type") != TABULAR:
        return located.dataset
    return {**located.dataset, "root": located.path}


def plan_output(request: OutputRequest, field: str, run_id: str, home: Path | None) -> DataOutput:
    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.stores import default_datastore_name, get_datastore_spec

    check_compute_path(request.path_on_compute, field)
    name = request.datastore or default_datastore_name(home)
    spec = get_datastore_spec(name, home, field=field)
    open_filesystem(spec, field=field, writable=True)  # read-only, unreachable or missing: refused now
    destination = request.destination.replace("{run-id}", run_id).replace("{output-name}", request.name)
    return DataOutput(
        name=request.name,
        datastore=spec.name,
        kind=spec.kind,
        destination=check_relative(destination, field),
        path_on_compute=request.path_on_compute,
        mode=request.mode,
        overwrite=request.overwrite,
        register_as=request.register_as,
    )


def check_compute_path(path: str | None, field: str) -> None:
    """``pathOnCompute``: text without '..' (absolute is fine: a container path; the local target re-roots it)."""
    if path is None:
        return
    if not isinstance(path, str) or "\0" in path or ".." in path.replace("\\", "/").split("/"):
        raise ConfigError(f"'{path}' is not a usable path on the compute (no '..')", field=f"{field}.pathOnCompute")
