"""The form's logic without any widget: field values <-> ScriptRunConfig, and errors -> form fields.

Kept apart from ``form.py`` so the mapping (the part that can be wrong) is
plain Python, and the widget module stays about layout and events.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError, RunConfigError

if TYPE_CHECKING:
    from runconfig_jupyter.core.target.interface import TargetInfo

DEFAULT_MAX_DURATION = 2592000  # Azure ML's default, 30 days
FORM_ENVIRONMENT = "form-environment"
BACKENDS = {
    "None": "single process",
    "PyTorch (Nccl)": "PyTorchConfiguration, NCCL",
    "PyTorch (Gloo)": "PyTorchConfiguration, Gloo",
    "MPI": "MpiConfiguration",
}
FIELD_KEYS = (
    "experiment",
    "source_directory",
    "script",
    "command",
    "arguments",
    "data",
    "target",
    "gpu",
    "image",
    "shm_size",
    "pip_packages",
    "requirements_file",
    "env_vars",
    "max_duration",
    "distributed",
    "yaml",
    "general",
)
# ConfigError.field (a dotted path in the config) -> form field; first match wins, so order matters.
FIELD_RULES = (
    ("yaml", "yaml"),
    ("datareferences", "data"),
    ("outputdata", "data"),
    ("data.", "data"),
    ("experiment", "experiment"),
    ("source_directory", "source_directory"),
    ("max_run_duration", "max_duration"),
    ("environment_variables", "env_vars"),
    ("shm_size", "shm_size"),
    ("gpu", "gpu"),
    ("base_image", "image"),
    ("base_dockerfile", "image"),
    ("docker", "image"),
    ("requirements", "requirements_file"),
    ("pip", "pip_packages"),
    ("conda", "pip_packages"),
    ("distributed", "distributed"),
    ("node_count", "distributed"),
    ("process_count", "distributed"),
    ("communicator", "distributed"),
    ("pytorch", "distributed"),
    ("mpi", "distributed"),
    ("tensorflow", "distributed"),
    ("compute_target", "target"),
    ("target", "target"),
    ("script", "script"),
    ("command", "command"),
    ("arguments", "arguments"),
)
SKIP_DIRS = {"__pycache__", "node_modules", "outputs", "logs", "venv", "env", "site-packages"}


def field_key(config_field: str | None) -> str:
    """Which form field shows an error about ``config_field`` (``general`` when none fits).

    Compared without case and underscores: the YAML names fields in Azure's camelCase
    (``maxRunDurationSeconds``), the Python API in snake_case (``max_run_duration_seconds``).
    """
    if not config_field:
        return "general"
    lowered = config_field.lower().replace("_", "")
    for needle, key in FIELD_RULES:
        if needle.replace("_", "") in lowered:
            return key
    return "general"


@dataclass
class FormValues:
    """What the form holds, as typed. Strings stay strings until ``build_config`` parses them."""

    source_directory: str = ""
    experiment: str = "notebook"
    script: str = ""
    command: str = ""
    arguments: str = ""
    data: str = ""  # dataReferences / data / outputData as YAML (the v1 runconfig schema)
    target: str = "local"
    image: str = ""
    shm_size: str = "2g"
    gpu: bool = False
    pip_packages: str = ""
    requirements_file: str = ""
    env_vars: str = ""
    max_duration: int = DEFAULT_MAX_DURATION
    distributed: str = "None"
    node_count: int = 1
    process_count: int = 1


def target_label(info: TargetInfo) -> str:
    """How the dropdown shows a target: name, type, what it can do, and whether it is reachable."""
    flags = [flag for flag in ("gpu", "distributed") if getattr(info.capabilities, flag, False)]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{info.name} ({info.type}){extra}" + ("" if info.available else " - unavailable")


def target_choices(extra: dict[str, dict[str, Any]] | None = None, check: bool = True) -> list[TargetInfo]:
    """Every configured target with its capabilities (``check`` asks each whether it is reachable now)."""
    from runconfig_jupyter.core.target.configured import list_targets
    from runconfig_jupyter.core.target.interface import Capabilities, TargetInfo

    try:
        return list_targets(extra, check=check)
    except RunConfigError as error:  # a broken targets.yaml must not break the form: offer local, say why
        return [TargetInfo("local", "local", Capabilities(), True, f"targets.yaml ignored: {error}")]


def missing_target(name: str) -> TargetInfo:
    from runconfig_jupyter.core.target.interface import Capabilities, TargetInfo

    return TargetInfo(name, "?", Capabilities(), False, f"'{name}' is not a configured target")


def find_scripts(source_directory: str, limit: int = 200, depth: int = 3) -> list[str]:
    """Python files under the source directory (relative paths), skipping hidden folders and environments."""
    root = Path(source_directory).expanduser()
    if not root.is_dir():
        return []
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and len(relative.parts) < depth - 1
        )
        for name in sorted(files):
            if name.endswith(".py"):
                found.append(str(relative / name) if relative.parts else name)
                if len(found) >= limit:
                    return found
    return found


# -- parsing the fields ----------------------------------------------------------
DATA_SECTIONS = {"datareferences": "data_references", "data": "data", "outputdata": "output_data"}


def parse_data(text: str, run_config: Any) -> None:
    """The Data field: the run configuration's data sections, in YAML as a ``.runconfig`` file spells them."""
    from runconfig_jupyter.core.data.bindings import input_requests, output_requests
    from runconfig_jupyter.core.safety.bounded import load_yaml

    if not text.strip():
        return
    sections = load_yaml(text, what="data sections")
    if not isinstance(sections, dict):
        raise ConfigError("give dataReferences:, data: and/or outputData: mappings", field="data")
    for key, value in sections.items():
        attribute = DATA_SECTIONS.get(str(key).replace("_", "").lower())
        if attribute is None:
            raise ConfigError(f"'{key}' is not a data section; use dataReferences, data or outputData", field="data")
        setattr(run_config, attribute, value if value is not None else {})
    input_requests(run_config)  # entry errors name the section and entry (data.<name>.mechanism, ...)
    output_requests(run_config)


def data_text(run_config: Any) -> str:
    """The Data field's text for a configuration (empty when it names no data)."""
    from runconfig_jupyter.core.config.serialization import dump_yaml

    named = {
        camel: getattr(run_config, attribute)
        for camel, attribute in (("dataReferences", "data_references"), ("data", "data"), ("outputData", "output_data"))
        if getattr(run_config, attribute)
    }
    return dump_yaml(named) if named else ""


def parse_env_vars(text: str) -> dict[str, str]:
    variables: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(
                f"line {number} '{line}' is not KEY=VALUE (KEY: letters, digits, '_'); e.g. GREETING=hello",
                field="environment_variables",
            )
        variables[key] = value.strip()
    return variables


def parse_packages(text: str) -> list[str]:
    return [item for line in text.splitlines() for item in line.split() if not item.startswith("#")]


def _check_fields(values: FormValues, target: TargetInfo | None) -> list[ConfigError]:
    """Cheap checks of every field at once, so the user sees all problems, not the first."""
    errors: list[ConfigError] = []
    source = Path(values.source_directory).expanduser()
    if not values.source_directory.strip() or not source.is_dir():
        errors.append(
            ConfigError(
                f"'{values.source_directory}' is not a folder; give the folder that holds your training code",
                field="source_directory",
            )
        )
    if not values.script.strip() and not values.command.strip():
        errors.append(ConfigError("give a script (e.g. train.py) or a command", field="script"))
    try:
        shlex.split(values.arguments)
    except ValueError as error:
        errors.append(ConfigError(f"cannot split the arguments ({error}); check the quotes", field="arguments"))
    try:
        parse_env_vars(values.env_vars)
    except ConfigError as error:
        errors.append(error)
    if values.requirements_file.strip() and source.is_dir():
        path = source / values.requirements_file.strip()
        if not path.is_file():
            errors.append(ConfigError(f"no file '{values.requirements_file}' in {source}", field="requirements_file"))
    if values.max_duration <= 0:
        errors.append(
            ConfigError(
                f"{values.max_duration} is not a duration; give a positive number of seconds "
                f"(default {DEFAULT_MAX_DURATION} = 30 days)",
                field="max_run_duration_seconds",
            )
        )
    if values.distributed != "None" and (values.node_count < 1 or values.process_count < 1):
        errors.append(ConfigError("nodes and processes per node must be at least 1", field="distributed_job_config"))
    if target is None:
        errors.append(ConfigError(f"no compute target named '{values.target}'", field="compute_target"))
    elif not target.available:
        errors.append(ConfigError(f"target '{target.name}' is unavailable: {target.detail}", field="compute_target"))
    return errors


# -- values -> config --------------------------------------------------------------
def _with_pip(environment: Any, packages: list[str]) -> None:
    from runconfig_jupyter.core.config import CondaDependencies

    conda = environment.python.conda_dependencies
    if conda is None:
        conda = CondaDependencies.create() if hasattr(CondaDependencies, "create") else CondaDependencies()
        environment.python.conda_dependencies = conda
    for package in packages:
        if package not in conda.pip_packages:
            if hasattr(conda, "add_pip_package"):
                conda.add_pip_package(package)
            else:
                conda.pip_packages.append(package)


def _distributed(values: FormValues) -> Any:
    from runconfig_jupyter.core.config import MpiConfiguration, PyTorchConfiguration

    nodes, per_node = values.node_count, values.process_count
    if values.distributed.startswith("PyTorch"):
        backend = "Gloo" if "Gloo" in values.distributed else "Nccl"
        return PyTorchConfiguration(communication_backend=backend, process_count=nodes * per_node, node_count=nodes)
    if values.distributed == "MPI":
        return MpiConfiguration(process_count_per_node=per_node, node_count=nodes)
    return None


def _make_config(values: FormValues, target: TargetInfo) -> Any:
    from runconfig_jupyter.core.config import Environment, RunConfiguration, ScriptRunConfig

    source = Path(values.source_directory).expanduser()
    run_config = RunConfiguration()
    run_config.environment_variables = parse_env_vars(values.env_vars)
    environment = None
    if values.requirements_file.strip():
        from runconfig_jupyter.core.safety.confine import Confinement

        # The same confinement check as every configuration path: a file in the source directory (or allowed).
        requirements = Confinement.for_source(source).path(values.requirements_file.strip(), "requirements_file")
        environment = Environment.from_pip_requirements(FORM_ENVIRONMENT, str(requirements))
    packages = parse_packages(values.pip_packages)
    if packages:
        environment = environment or Environment(FORM_ENVIRONMENT)
        _with_pip(environment, packages)
    is_docker = target.type == "docker"
    if (is_docker and values.image.strip()) or values.gpu:
        environment = environment or Environment(FORM_ENVIRONMENT)
        if is_docker and values.image.strip():
            environment.docker.base_image = values.image.strip()
        environment.docker.gpu_support = bool(values.gpu)
    if is_docker and values.shm_size.strip() and getattr(run_config, "docker", None) is not None:
        run_config.docker.shm_size = values.shm_size.strip()
    distributed = _distributed(values)
    if distributed is not None:
        run_config.node_count = values.node_count
    parse_data(values.data, run_config)
    config = ScriptRunConfig(
        str(source),
        script=values.script.strip() or None,
        arguments=shlex.split(values.arguments) or None,
        run_config=run_config,
        environment=environment,
        distributed_job_config=distributed,
        max_run_duration_seconds=int(values.max_duration),
        command=values.command.strip() or None,
    )
    config.compute_target = values.target  # the form's run_config is its own: the chosen target applies
    return config


def build_config(
    values: FormValues, extra_targets: dict[str, dict[str, Any]] | None, targets: list[TargetInfo]
) -> tuple[Any, list[RunConfigError]]:
    """(config, []) when valid; (None, errors) otherwise. Nothing is packaged or recorded either way.

    Every check ``submit`` makes runs here too (experiment name, the config's own validation, the
    target's ``validate``), and all of them run even when an earlier one failed, so Check shows
    every problem at once. A later check's error on a field that already has one is left out:
    it is usually the same problem seen again.
    """
    from runconfig_jupyter.core.runs.submit import check_experiment_name
    from runconfig_jupyter.core.target.configured import resolve_target

    target = next((t for t in targets if t.name == values.target), None)
    errors: list[RunConfigError] = list(_check_fields(values, target))
    try:
        check_experiment_name(values.experiment.strip() or "notebook")
    except ConfigError as error:
        errors.append(error)
    if target is None:
        return None, errors

    def add(error: RunConfigError) -> None:
        taken = {field_key(getattr(e, "field", None)) for e in errors}
        if field_key(getattr(error, "field", None)) not in taken:
            errors.append(error)

    config = None
    try:
        config = _make_config(values, target)
    except RunConfigError as error:
        add(error)
    except (TypeError, ValueError) as error:  # a value the config classes refuse without a typed error
        add(ConfigError(str(error)))
    if config is not None:
        for check in (config.validate, lambda: resolve_target(values.target, extra_targets).validate(config)):
            try:
                check()
            except RunConfigError as error:
                add(error)
            except (TypeError, ValueError) as error:
                add(ConfigError(str(error)))
    return (None, errors) if errors else (config, [])


def check_snapshot(source_directory: str, store: Any = None) -> list[RunConfigError]:
    """What packaging the folder at Submit would refuse (size and file-count limits), told before Submit.

    Only sizes are read (the manifest), nothing is archived; the run home is left out as Submit leaves it.
    """
    from runconfig_jupyter.core.runs.store import RunStore
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits, build_manifest

    limits = SnapshotLimits.from_env()
    try:
        home = (store or RunStore()).home
        build_manifest(Path(source_directory).expanduser(), limits, extra_excludes=[home]).check(limits)
    except RunConfigError as error:
        return [ConfigError(str(error), field="source_directory")]
    return []


def minimal_yaml(config: Any, notebook_dir: str | os.PathLike[str] | None = None) -> str:
    """The ``%%runconfig`` body of ``config`` with only what differs from a default ScriptRunConfig.

    A full export repeats ~80 lines of defaults nobody chose; this one reads like what the user
    typed and ``ScriptRunConfig.from_yaml`` fills the rest back in. ``source_directory`` is left out
    when it is the notebook's folder (what ``%%runconfig`` assumes), and ``compute_target: local``
    (the default target) is too.
    """
    import yaml

    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.config.serialization import dump_yaml

    full = yaml.safe_load(config.to_yaml())
    default = yaml.safe_load(ScriptRunConfig(config.source_directory).to_yaml())
    kept = {"source_directory": full.get("source_directory"), **_differences(full, default)}
    base = Path(notebook_dir or os.getcwd()).expanduser().resolve()
    if Path(str(config.source_directory)).expanduser().resolve() == base:
        kept.pop("source_directory")
    if kept.get("compute_target") == "local":
        kept.pop("compute_target")
    return dump_yaml(kept) if kept else ""


def _differences(value: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, item in value.items():
        base = default.get(key) if isinstance(default, dict) else None
        if isinstance(item, dict) and isinstance(base, dict):
            nested = _differences(item, base)
            if nested:
                kept[key] = nested
        elif key not in default or item != base:
            kept[key] = item
    return kept


# -- config -> values ---------------------------------------------------------------
def _join_command(command: Any) -> str:
    if not command:
        return ""
    return command if isinstance(command, str) else shlex.join(str(part) for part in command)


def values_from_config(config: Any) -> FormValues:
    environment = config.effective_environment()
    conda = getattr(environment.python, "conda_dependencies", None)
    docker = getattr(environment, "docker", None)
    run_docker = getattr(config.run_config, "docker", None)
    distributed = config.distributed_job_config
    kind, nodes, per_node = "None", 1, 1
    if distributed is not None:
        name = type(distributed).__name__
        nodes = int(getattr(distributed, "node_count", 1) or 1)
        if name.startswith("PyTorch"):
            backend = str(getattr(distributed, "communication_backend", "Nccl") or "Nccl")
            kind = "PyTorch (Gloo)" if backend.lower() == "gloo" else "PyTorch (Nccl)"
            total = getattr(distributed, "process_count", None) or nodes
            per_node = max(1, int(total) // max(nodes, 1))
        elif name.startswith("Mpi"):
            kind = "MPI"
            per_node = int(getattr(distributed, "process_count_per_node", 1) or 1)
    variables = config.environment_variables()
    return FormValues(
        source_directory=str(config.source_directory),
        script=config.script or "",
        command=_join_command(config.command),
        arguments=shlex.join(str(a) for a in (config.arguments or [])),
        data=data_text(config.run_config),
        target=config.target_name or "local",
        image=str(getattr(docker, "base_image", "") or ""),
        shm_size=str(getattr(run_docker, "shm_size", "") or ""),
        gpu=bool(getattr(docker, "gpu_support", False)),
        pip_packages="\n".join(conda.pip_packages) if conda is not None else "",
        env_vars="\n".join(f"{key}={value}" for key, value in variables.items()),
        max_duration=int(config.max_run_duration_seconds or DEFAULT_MAX_DURATION),
        distributed=kind,
        node_count=nodes,
        process_count=per_node,
    )
