"""The data plan: what a run reads and writes, resolved once at submit and recorded in its folder.

Why a plan and not the configuration itself: the configuration names data loosely (a datastore name, a dataset
name with "latest", a glob, ``{run-id}`` in a destination). Everything that can be wrong with those names (a store
that does not exist or cannot be reached, a path that is missing, a folder outside the registered places, an
output to a read-only store) is found while building the plan, *before* anything is recorded, and the error names
the input (``data.<name>``, ``dataReferences.<name>``, ``arguments[i]``). What is left is a small, exact,
secret-free description every target reads the same way from ``data_plan.json`` (``ctx.data_plan``).

Targets turn the plan into paths the script sees (a host folder, a cache copy, a bind mount, an upload) and then
use :func:`substitute` for the placeholders in the script's arguments and :func:`script_environment` for the
variables (``AZUREML_DATAREFERENCE_<name>`` as on Azure, plus what ``Run.input_datasets`` reads in the script).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.data.mentions import (  # noqa: F401 - DATA_NAME, names_data, placeholder_names: from here too
    DATA_NAME,
    ENV_PREFIX,
    INPUT_PLACEHOLDER,
    OUTPUT_PLACEHOLDER,
    PLAN_FILE,
    names_data,
    placeholder_expression,
    placeholder_names,
)
from runconfig_jupyter.core.runs.input_datasets import INPUT_DATASETS_ENV, OUTPUT_DATASETS_ENV
from runconfig_jupyter.core.system.atomic import read_json, write_json_atomically

MODES = ("mount", "download")
OUTPUT_MODES = ("upload", "mount")
_PLACEHOLDER = placeholder_expression()


@dataclass(frozen=True)
class DataInput:
    """One input, resolved: where it lives and how the script wants it.

    ``path`` is the path on the datastore (for kind ``local`` the absolute, already confined host path).
    ``path_on_compute`` is what the configuration asked for (None: the target picks one). ``pattern`` is a glob
    relative to ``path`` when a file dataset named one (only matching files are copied for ``download``);
    ``dataset`` carries what ``Run.input_datasets`` needs for a dataset input (type, id, name, version, and the
    reading options of a tabular one), None for a plain data reference.
    """

    name: str
    datastore: str
    kind: str
    path: str
    mode: str = "mount"
    path_on_compute: str | None = None
    env_name: str = ""
    is_file: bool = False
    pattern: str | None = None
    dataset: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.env_name:
            object.__setattr__(self, "env_name", ENV_PREFIX + self.name)


@dataclass(frozen=True)
class DataOutput:
    """One output: a folder the script writes, uploaded to ``destination`` on ``datastore`` when the run ends.

    ``destination`` has ``{run-id}`` and ``{output-name}`` already replaced. ``register_as`` is the dataset name
    from ``register_on_complete`` (registered once the upload is done), None otherwise.
    """

    name: str
    datastore: str
    kind: str
    destination: str
    path_on_compute: str | None = None
    env_name: str = ""
    mode: str = "upload"
    overwrite: bool = False
    register_as: str | None = None

    def __post_init__(self) -> None:
        if not self.env_name:
            object.__setattr__(self, "env_name", ENV_PREFIX + self.name)


@dataclass
class DataPlan:
    """Every input and output of one run; empty for a run that names no data."""

    inputs: list[DataInput] = field(default_factory=list)
    outputs: list[DataOutput] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [asdict(i) for i in self.inputs], "outputs": [asdict(o) for o in self.outputs]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DataPlan:
        data = data or {}
        inputs = [DataInput(**_known(DataInput, entry)) for entry in data.get("inputs") or []]
        outputs = [DataOutput(**_known(DataOutput, entry)) for entry in data.get("outputs") or []]
        return cls(inputs, outputs)

    @classmethod
    def from_json(cls, text: str) -> DataPlan:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, run_dir: Path) -> DataPlan:
        """The plan recorded in ``run_dir``; an empty plan when the run names no data (or predates plans)."""
        data = read_json(Path(run_dir) / PLAN_FILE)
        return cls.from_dict(data if isinstance(data, dict) else None)

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / PLAN_FILE
        write_json_atomically(path, self.to_dict())
        return path

    def run_details(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """v1's ``inputDatasets`` / ``outputDatasets`` of ``run.get_details()``: what the run read and wrote."""
        keys = ("id", "name", "version")
        inputs = [
            {
                "dataset": {"datastore": i.datastore, **{k: (i.dataset or {}).get(k) for k in keys}},
                "consumptionDetails": {"type": "RunInput", "inputName": i.name, "mechanism": i.mode.capitalize()},
                "path": i.path,
            }
            for i in self.inputs
        ]
        outputs = [
            {
                "identifier": {"datastore": o.datastore, "path": o.destination, "registeredAs": o.register_as},
                "outputType": "RunOutput",
                "outputDetails": {"outputName": o.name, "mechanism": o.mode.capitalize()},
            }
            for o in self.outputs
        ]
        return inputs, outputs

    def input(self, name: str) -> DataInput:
        return next(i for i in self.inputs if i.name == name)

    def output(self, name: str) -> DataOutput:
        return next(o for o in self.outputs if o.name == name)


def _known(klass: type, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Fields this version knows (a plan written by a newer version still loads)."""
    names = set(klass.__dataclass_fields__)  # type: ignore[attr-defined]
    return {key: value for key, value in entry.items() if key in names}


# -- what the script sees -----------------------------------------------------------------------------------
def argument_placeholder(name: str, output: bool = False) -> str:
    """The token put into a script's arguments for an input (or output), replaced by each target with its path.

    These are the tokens Azure ML v1 itself wrote into a run's arguments, so a runconfig file saved by v1 works.
    ``$AZUREML_DATAREFERENCE_<name>`` (v1's token for a ``DataReference``) is recognised by :func:`substitute` too.
    """
    return f"{OUTPUT_PLACEHOLDER if output else INPUT_PLACEHOLDER}{name}"


def substitute(arguments: list[Any] | str, paths: Mapping[str, str]) -> Any:
    """``arguments`` (a list or a command line) with every placeholder of a name in ``paths`` replaced by its path.

    Placeholders of names not in ``paths`` stay as they are (the plan was checked at submit: that cannot happen
    for a recorded run). Non-text items (numbers) are kept.
    """

    def one(value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def path_of(match: re.Match[str]) -> str:
            name = next(g for g in match.groups() if g)
            return str(paths[name]) if name in paths else match.group(0)

        return _PLACEHOLDER.sub(path_of, value)

    if isinstance(arguments, str):
        return one(arguments)
    return [one(item) for item in arguments]


def script_environment(plan: DataPlan, paths: Mapping[str, str]) -> dict[str, str]:
    """Variables for the script: ``AZUREML_DATAREFERENCE_<name>`` = the path it sees, and the dataset descriptions.

    ``paths`` maps input and output names to the paths the script sees on the target (after materialisation).
    """
    env: dict[str, str] = {}
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for inp in plan.inputs:
        if inp.name not in paths:
            continue
        env[inp.env_name] = str(paths[inp.name])
        inputs[inp.name] = {"path": str(paths[inp.name]), "is_file": inp.is_file, **(inp.dataset or {})}
    for out in plan.outputs:
        if out.name not in paths:
            continue
        env[out.env_name] = str(paths[out.name])
        outputs[out.name] = {"path": str(paths[out.name]), "destination": out.destination, "datastore": out.datastore}
    if inputs:
        env[INPUT_DATASETS_ENV] = json.dumps(inputs, sort_keys=True)
    if outputs:
        env[OUTPUT_DATASETS_ENV] = json.dumps(outputs, sort_keys=True)
    return env


def apply_paths(config: Any, paths: Mapping[str, str]) -> None:
    """Replace the placeholders in ``config``'s arguments and command by the paths the script sees (in place).

    For the driver's copy of the configuration, just before a target builds the script's command line. The
    paths are inserted as literal text: a ``$`` in a path is never expanded as a variable reference.
    """
    if not paths:
        return
    run_config = config.run_config
    literal = {name: str(path).replace("$", "\\$") for name, path in paths.items()}
    run_config.arguments = substitute(list(run_config.arguments), literal)
    if isinstance(run_config.command, list):
        run_config.command = substitute(run_config.command, literal)
    elif isinstance(run_config.command, str):
        run_config.command = substitute(run_config.command, {n: shlex.quote(str(p)) for n, p in paths.items()})
