"""Data objects in a run configuration: from v1 Python objects to the v1 runconfig schema and back to requests.

Azure ML v1 let a script's ``arguments`` hold data objects (``DataReference``, ``datastore.path(...).as_mount()``,
``dataset.as_named_input('x').as_download()``, ``OutputFileDatasetConfig``): at submit each became an entry of the
run configuration (``dataReferences`` / ``data`` / ``outputData``) and a placeholder token in the arguments. This
module does the same as soon as the objects are given, so the configuration stays plain data (it is recorded as JSON
and read by a detached driver). The reverse direction, :func:`input_requests` / :func:`output_requests`, reads those
three sections, whatever their key spelling (camelCase as Azure wrote them, or snake_case), into small requests the
plan resolves (core/data/plan.py). Errors name the section and entry (``data.<name>.mechanism``).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.config.serialization import norm
from runconfig_jupyter.core.data.plan import (
    DATA_NAME,
    ENV_PREFIX,
    MODES,
    OUTPUT_MODES,
    argument_placeholder,
    placeholder_names,
)
from runconfig_jupyter.core.errors import ConfigError

NAME = re.compile(rf"^{DATA_NAME}$")
SECTION_KEYS = {"data_references": "dataReferences", "data": "data", "output_data": "outputData"}
ORIGIN_ATTRIBUTE = "data_object_fields"  # set on a RunConfiguration by bind(); not part of its schema
DEFAULT_OUTPUT_DESTINATION = "dataset/{run-id}/{output-name}"  # v1's default for OutputFileDatasetConfig
URI_FORMS = (
    re.compile(r"^azureml://datastores/(?P<store>[^/]+)/paths/(?P<path>.*)$"),
    re.compile(r"^datastore://(?P<store>[^/]+)/(?P<path>.*)$"),
)


@dataclass(frozen=True)
class DataBinding:
    """What a data object adds to a run configuration: an entry of one section, and its argument token."""

    section: str  # data_references | data | output_data
    name: str
    entry: dict[str, Any]
    placeholder: str


@dataclass(frozen=True)
class InputRequest:
    """An input as the configuration names it, before the plan resolves datastore, dataset and path."""

    name: str
    field: str  # where it came from, for errors: "dataReferences.<name>" or "data.<name>"
    mode: str
    datastore: str | None = None
    path: str = ""
    dataset: dict[str, Any] | None = None  # {"id"|"name", "version"} of a registered dataset
    options: dict[str, Any] = field(default_factory=dict)  # a dataset's type and reading options
    path_on_compute: str | None = None
    env_name: str | None = None


@dataclass(frozen=True)
class OutputRequest:
    name: str
    field: str
    mode: str
    datastore: str | None
    destination: str
    path_on_compute: str | None = None
    env_name: str | None = None
    overwrite: bool = False
    register_as: str | None = None


# -- objects -> entries ---------------------------------------------------------------------------------------
def binding_of(value: Any) -> DataBinding | None:
    """The binding of a data object (ours, or the datastores' ``DataReference``); None for anything else."""
    to_binding = getattr(value, "to_binding", None)
    if callable(to_binding):
        return to_binding()
    to_config, name = getattr(value, "to_config", None), getattr(value, "data_reference_name", None)
    if callable(to_config) and isinstance(name, str):  # core/data/reference.DataReference
        return DataBinding("data_references", name, dict(to_config()), f"${ENV_PREFIX}{name}")
    return None


def is_data_object(value: Any) -> bool:
    return not isinstance(value, str | int | float | bool) and binding_of(value) is not None


def bind(run_config: Any, value: Any, field_name: str) -> DataBinding:
    """Add ``value``'s entry to ``run_config`` (the same object twice is fine; two objects under one name are not)."""
    binding = binding_of(value)
    if binding is None:
        raise ConfigError(
            f"must be a DataReference (datastore.path('x').as_mount()), a dataset input "
            f"(dataset.as_named_input('x')) or an OutputFileDatasetConfig, got {type(value).__name__}",
            field=field_name,
        )
    check_name(binding.name, field_name)
    for section in SECTION_KEYS:
        existing = getattr(run_config, section).get(binding.name)
        if existing is not None and (section != binding.section or existing != binding.entry):
            raise ConfigError(
                f"two different data objects are named '{binding.name}'; give each its own name "
                "(as_named_input('...'), data_reference_name=..., OutputFileDatasetConfig(name=...))",
                field=field_name,
            )
    getattr(run_config, binding.section)[binding.name] = binding.entry
    # Errors about this data then name where the object was given (arguments[i], inputs[i]), not the entry we made.
    given = dict(getattr(run_config, ORIGIN_ATTRIBUTE, None) or {})
    given.setdefault(binding.name, field_name)
    setattr(run_config, ORIGIN_ATTRIBUTE, given)
    return binding


def origin_fields(run_config: Any) -> dict[str, str]:
    """Name -> where a data object was given (``arguments[i]``, ``inputs[i]``), for objects bound in this process."""
    return dict(getattr(run_config, ORIGIN_ATTRIBUTE, None) or {})


def lift_arguments(run_config: Any) -> None:
    """Data objects in ``run_config.arguments`` (or a command list) become entries plus their placeholder (idempotent).

    Objects put straight into a section (v1: ``run_config.data = {"x": dataset.as_named_input("x")}``) become
    their entries too.
    """
    for section in SECTION_KEYS:
        entries = getattr(run_config, section)
        if isinstance(entries, dict):
            for name, value in list(entries.items()):
                binding = None if isinstance(value, dict) else binding_of(value)
                if binding is not None:
                    entries[name] = binding.entry
    for field_name in ("arguments", "command"):  # a command given as a list of words may hold them too
        words = getattr(run_config, field_name)
        if isinstance(words, list) and any(is_data_object(word) for word in words):
            setattr(
                run_config,
                field_name,
                [
                    bind(run_config, item, f"{field_name}[{index}]").placeholder if is_data_object(item) else item
                    for index, item in enumerate(words)
                ],
            )


def check_name(name: Any, field_name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a usable data name: use letters, digits, '_' and '-' (at most 128); it becomes the "
            "environment variable AZUREML_DATAREFERENCE_<name>",
            field=field_name,
        )
    return name


def datastore_name(datastore: Any, field: str) -> str:
    """A ``Datastore`` object (v1 passed those) or its name."""
    name = datastore if isinstance(datastore, str) else getattr(datastore, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"must be a Datastore (or its name), got {type(datastore).__name__}", field=field)
    return name


def check_relative(path: str, field: str) -> str:
    """A path on a datastore: relative, no '..' (it may never leave the datastore's root), also not spelled
    '%2e%2e', which a web datastore's server and URL library take for '..'."""
    clean = path.replace("\\", "/").strip("/")
    # Checked decoded: a literal '..' stays one, and '%2e%2e' becomes one.
    if "\0" in clean or ".." in urllib.parse.unquote(clean).replace("\\", "/").split("/"):
        raise ConfigError(f"'{path}' leaves the datastore ('..'); name a path inside it", field=field)
    return clean


# -- entries -> requests ---------------------------------------------------------------------------------------
def _get(entry: dict[str, Any], *names: str) -> Any:
    """A key of a v1 entry in any spelling (``pathOnCompute``, ``path_on_compute``)."""
    wanted = {norm(n) for n in names}
    return next((value for key, value in entry.items() if norm(key) in wanted), None)


def _mapping(value: Any, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("must be a mapping of keys", field=field_name)
    return value


def _text(value: Any, field_name: str, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ConfigError("is missing", field=field_name)
        return None
    if not isinstance(value, str) or "\0" in value:
        raise ConfigError(f"must be text, got {value!r}", field=field_name)
    return value


def _flag(value: Any, field_name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}", field=field_name)
    return value


def _section(run_config: Any, section: str) -> dict[str, Any]:
    value = getattr(run_config, section)
    if not isinstance(value, dict):
        raise ConfigError("must be a mapping of name: entry", field=SECTION_KEYS[section])
    return value


def parse_uri(uri: str, field_name: str) -> tuple[str, str]:
    """``azureml://datastores/<name>/paths/<path>`` or ``datastore://<name>/<path>`` -> (datastore, path)."""
    for form in URI_FORMS:
        match = form.match(uri)
        if match:
            return match.group("store"), match.group("path")
    raise ConfigError(
        f"'{uri}' names no datastore: use azureml://datastores/<name>/paths/<path> (or datastore://<name>/<path>); "
        "for any other URL register a datastore first (Datastore.register_fsspec(ws, name, url))",
        field=field_name,
    )


def input_requests(run_config: Any) -> list[InputRequest]:
    """Every input of ``dataReferences`` (modes mount/download) and ``data``, in order; names are unique."""
    found: list[InputRequest] = []
    for name, entry in _section(run_config, "data_references").items():
        where = f"dataReferences.{name}"
        check_name(name, where)
        entry = _mapping(entry, where)
        mode = str(_get(entry, "mode") or "mount").lower()
        if mode == "upload":
            continue  # an output (output_requests)
        if mode not in MODES:
            raise ConfigError(f"mode must be mount, download or upload, got {mode!r}", field=f"{where}.mode")
        found.append(
            InputRequest(
                name,
                where,
                mode,
                datastore=_text(_get(entry, "dataStoreName", "datastoreName"), f"{where}.dataStoreName", True),
                path=_text(_get(entry, "pathOnDataStore"), f"{where}.pathOnDataStore") or "",
                path_on_compute=_text(_get(entry, "pathOnCompute"), f"{where}.pathOnCompute"),
            )
        )
    for name, entry in _section(run_config, "data").items():
        where = f"data.{name}"
        check_name(name, where)
        if any(r.name == name for r in found):
            raise ConfigError(f"'{name}' is also a data reference; give each input its own name", field=where)
        found.append(_data_request(name, where, _mapping(entry, where)))
    return found


def _data_request(name: str, where: str, entry: dict[str, Any]) -> InputRequest:
    location = _mapping(_get(entry, "dataLocation"), f"{where}.dataLocation")
    mode = str(_get(entry, "mechanism") or "direct").lower()
    if mode == "direct":  # a tabular dataset read by the script: the files are made available as with mount
        mode = "mount"
    if mode not in MODES:
        raise ConfigError(f"mechanism must be mount, download or direct, got {mode!r}", field=f"{where}.mechanism")
    options = _mapping(_get(entry, "options"), f"{where}.options")
    common = {
        "path_on_compute": _text(_get(entry, "pathOnCompute"), f"{where}.pathOnCompute"),
        "env_name": _text(_get(entry, "environmentVariableName"), f"{where}.environmentVariableName"),
        "options": dict(options),
    }
    dataset = _mapping(_get(location, "dataset"), f"{where}.dataLocation.dataset")
    datapath = _mapping(_get(location, "datapath", "dataPath"), f"{where}.dataLocation.datapath")
    uri = _mapping(_get(location, "uri"), f"{where}.dataLocation.uri")
    if dataset:
        ident = _text(_get(dataset, "id"), f"{where}.dataLocation.dataset.id")
        named = _text(_get(dataset, "name"), f"{where}.dataLocation.dataset.name")
        if not ident and not named:
            raise ConfigError("give the dataset's id or name", field=f"{where}.dataLocation.dataset")
        version = _get(dataset, "version")
        return InputRequest(name, where, mode, dataset={"id": ident, "name": named, "version": version}, **common)
    if datapath:
        store = _text(_get(datapath, "datastoreName", "dataStoreName"), f"{where}.dataLocation.datapath.datastoreName")
        path = _text(_get(datapath, "relativePath"), f"{where}.dataLocation.datapath.relativePath") or ""
        return InputRequest(name, where, mode, datastore=store, path=path, **common)
    if uri:
        text = _text(_get(uri, "path"), f"{where}.dataLocation.uri.path", True) or ""
        store, path = parse_uri(text, f"{where}.dataLocation.uri.path")
        return InputRequest(name, where, mode, datastore=store, path=path, **common)
    raise ConfigError(
        "say where the data is: dataLocation.dataset (a registered dataset), dataLocation.datapath "
        "{datastoreName, relativePath} or dataLocation.uri.path",
        field=f"{where}.dataLocation",
    )


def output_requests(run_config: Any) -> list[OutputRequest]:
    """Every output of ``outputData`` and of ``dataReferences`` in mode upload."""
    found: list[OutputRequest] = []
    for name, entry in _section(run_config, "data_references").items():
        entry = _mapping(entry, f"dataReferences.{name}")
        if str(_get(entry, "mode") or "").lower() != "upload":
            continue
        where = f"dataReferences.{name}"
        found.append(
            OutputRequest(
                name,
                where,
                "upload",
                _text(_get(entry, "dataStoreName", "datastoreName"), f"{where}.dataStoreName", True),
                _text(_get(entry, "pathOnDataStore"), f"{where}.pathOnDataStore") or name,
                path_on_compute=_text(_get(entry, "pathOnCompute"), f"{where}.pathOnCompute"),
                overwrite=_flag(_get(entry, "overwrite"), f"{where}.overwrite"),
            )
        )
    inputs = {r.name for r in input_requests(run_config)}
    for name, entry in _section(run_config, "output_data").items():
        where = f"outputData.{name}"
        check_name(name, where)
        if name in inputs or any(o.name == name for o in found):
            raise ConfigError(f"'{name}' is also the name of another input or output; rename one", field=where)
        found.append(_output_request(name, where, _mapping(entry, where)))
    return found


def _output_request(name: str, where: str, entry: dict[str, Any]) -> OutputRequest:
    location = _mapping(_get(entry, "outputLocation"), f"{where}.outputLocation")
    mode = str(_get(entry, "mechanism") or "upload").lower()
    if mode not in OUTPUT_MODES:
        raise ConfigError(f"mechanism must be upload or mount, got {mode!r}", field=f"{where}.mechanism")
    options = _mapping(_get(entry, "additionalOptions"), f"{where}.additionalOptions")
    upload = _mapping(_get(options, "uploadOptions"), f"{where}.additionalOptions.uploadOptions")
    registration = _mapping(_get(options, "registrationOptions"), f"{where}.additionalOptions.registrationOptions")
    datapath = _mapping(_get(location, "datapath", "dataPath"), f"{where}.outputLocation.datapath")
    uri = _mapping(_get(location, "uri"), f"{where}.outputLocation.uri")
    store: str | None
    if datapath:
        named = _get(datapath, "datastoreName", "dataStoreName")
        store = _text(named, f"{where}.outputLocation.datapath.datastoreName")
        destination = _text(_get(datapath, "relativePath"), f"{where}.outputLocation.datapath.relativePath")
    elif uri:
        text = _text(_get(uri, "path"), f"{where}.outputLocation.uri.path", True) or ""
        store, destination = parse_uri(text, f"{where}.outputLocation.uri.path")
    else:  # v1: the default datastore, dataset/{run-id}/{output-name}
        store, destination = None, None
    return OutputRequest(
        name,
        where,
        mode,
        store,
        destination or DEFAULT_OUTPUT_DESTINATION,
        path_on_compute=_text(_get(options, "pathOnCompute"), f"{where}.additionalOptions.pathOnCompute"),
        env_name=_text(_get(entry, "environmentVariableName"), f"{where}.environmentVariableName"),
        overwrite=_flag(_get(upload, "overwrite"), f"{where}.additionalOptions.uploadOptions.overwrite"),
        register_as=_text(_get(registration, "name"), f"{where}.additionalOptions.registrationOptions.name"),
    )


def check_placeholders(arguments: Any, known: set[str], field_name: str = "arguments") -> None:
    """Every placeholder in the arguments (or command) names an input or output of the configuration."""
    items = arguments if isinstance(arguments, list) else [arguments] if arguments else []
    for index, item in enumerate(items):
        for name in placeholder_names(item):
            if name not in known:
                where = f"{field_name}[{index}]" if isinstance(arguments, list) else field_name
                listed = ", ".join(sorted(known)) or "none"
                raise ConfigError(
                    f"'{item}' names the data '{name}', which is no input or output of this run (known: {listed}); "
                    "add it under data / dataReferences / outputData or pass the data object itself",
                    field=where,
                )


def describe_entries(run_config: Any) -> str:
    """One line for a configuration summary: each input with its mode, each output; '' when there is no data."""
    try:
        inputs, outputs = input_requests(run_config), output_requests(run_config)
    except ConfigError as error:
        return f"(not usable: {error})"
    parts = [f"{r.name} ({r.mode})" for r in inputs] + [f"-> {o.name} ({o.mode})" for o in outputs]
    return ", ".join(parts)


def output_placeholder(name: str) -> str:
    return argument_placeholder(name, output=True)
