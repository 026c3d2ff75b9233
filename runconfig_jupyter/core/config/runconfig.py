"""``RunConfiguration``: every field of Azure ML v1's class, and its on-disk files.

Files live where Azure ML puts them - ``<project>/.azureml/<name>.runconfig``,
or ``<project>/aml_config/`` when that legacy folder exists - with the conda
spec in a ``conda_dependencies.yml`` side file (and the environment in
``environment.yml`` when asked to keep it separate). Sections this project
does not use (amlCompute, databricks, ...) are kept and written back.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from runconfig_jupyter.core.config.amlcompute import AmlComputeView, ContainerInstanceView
from runconfig_jupyter.core.config.distributed_config import (
    MpiConfiguration,
    PyTorchConfiguration,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.environment import (
    AZUREML_MLFLOW_REPLACEMENT,
    CondaDependencies,
    Environment,
    azureml_sdk_packages,
    refuse_package_credentials,
)
from runconfig_jupyter.core.config.input_checks import check_texts, parse_size
from runconfig_jupyter.core.config.input_checks import check_variables as check_exec_variables
from runconfig_jupyter.core.config.serialization import Section, dump_yaml, parse_yaml
from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally
from runconfig_jupyter.core.safety.bounded import load_yaml, read_text_bounded
from runconfig_jupyter.core.safety.secret_env import refuse_secret_docker_env
from runconfig_jupyter.core.system.records import field, record

if TYPE_CHECKING:  # the annotation's name only: records read "InitVar[...]" from its text (core/system/records.py)
    from dataclasses import InitVar

FRAMEWORKS = ("Python", "PySpark", "TensorFlow", "PyTorch", "CNTK")
COMMUNICATORS = ("None", "ParameterServer", "OpenMpi", "IntelMpi", "Gloo", "Nccl", "Mpi", "AllReduce")
SUFFIX = ".runconfig"
AZUREML_DIR = ".azureml"
LEGACY_DIR = "aml_config"
CONDA_FILE = "conda_dependencies.yml"
MAX_NODES = 256  # the largest distributed world (core/distributed.py) fits on this many nodes
ENVIRONMENT_FILE = "environment.yml"


def _canonical(value: Any, choices: tuple[str, ...]) -> Any:
    """``value`` spelled as in ``choices`` when it matches one ignoring case; anything else unchanged (and refused)."""
    if isinstance(value, str):
        return next((choice for choice in choices if choice.lower() == value.lower()), value)
    return value


@record(repr=False, eq=False)  # repr and eq: Section's
class DockerConfiguration(Section):
    """How the container runs (``docker`` section; Azure's ``DockerConfiguration``)."""

    use_docker: bool = False
    shared_volumes: bool = True
    shm_size: str = "2g"
    arguments: list[str] = field(default_factory=list)


@record(repr=False, eq=False)  # repr and eq: Section's
class HistoryConfiguration(Section):
    output_collection: bool = True
    directories_to_watch: list[str] = field(default_factory=lambda: ["logs"])
    enable_mlflow_tracking: bool = True
    snapshot_project: bool = True

    _keys: ClassVar[dict[str, str]] = {"enable_mlflow_tracking": "enableMLflowTracking"}


@record(repr=False, eq=False)  # repr and eq: Section's
class SparkConfiguration(Section):
    configuration: dict[str, Any] = field(
        default_factory=lambda: {"spark.app.name": "Azure ML Experiment", "spark.yarn.maxAppAttempts": 1}
    )


@record(repr=False, eq=False)  # repr and eq: Section's
class HdiConfiguration(Section):
    yarn_deploy_mode: str = "cluster"


@record(repr=False, eq=False)  # repr and eq: Section's
class ParallelTaskConfiguration(Section):
    max_retries_per_worker: int = 0
    worker_count_per_node: int = 1
    terminal_exit_codes: list[int] | None = None
    configuration: dict[str, Any] = field(default_factory=dict)


@record(repr=False, eq=False)  # repr and eq: Section's
class RunConfiguration(Section):
    """Azure ML v1 ``RunConfiguration``.

    The first positional parameters are Azure's (script, arguments, framework, communicator,
    conda_dependencies); everything else is keyword. ``conda_dependencies`` is a shortcut for
    ``environment.python.conda_dependencies``, as in Azure.
    """

    script: str | None = None
    arguments: list[Any] = field(default_factory=list)
    framework: str = "Python"
    communicator: str = "None"
    conda_dependencies: InitVar[CondaDependencies | None] = None
    command: str | list[str] | None = None
    target: str = "local"
    max_run_duration_seconds: int | None = None
    node_count: int = 1
    priority: int | None = None
    environment: Environment = field(default_factory=Environment)
    environment_variables: dict[str, Any] = field(default_factory=dict)
    history: HistoryConfiguration = field(default_factory=HistoryConfiguration)
    spark: SparkConfiguration = field(default_factory=SparkConfiguration)
    hdi: HdiConfiguration = field(default_factory=HdiConfiguration)
    docker: DockerConfiguration = field(default_factory=DockerConfiguration)
    tensorflow: TensorflowConfiguration = field(default_factory=TensorflowConfiguration)
    mpi: MpiConfiguration = field(default_factory=MpiConfiguration)
    pytorch: PyTorchConfiguration = field(default_factory=PyTorchConfiguration)
    paralleltask: ParallelTaskConfiguration = field(default_factory=ParallelTaskConfiguration)
    data_references: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    output_data: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)

    _keys: ClassVar[dict[str, str]] = {"pytorch": "pyTorch", "paralleltask": "parallelTask"}
    _types: ClassVar[dict[str, Any]] = {
        "environment": Environment,
        "history": HistoryConfiguration,
        "spark": SparkConfiguration,
        "hdi": HdiConfiguration,
        "docker": DockerConfiguration,
        "tensorflow": TensorflowConfiguration,
        "mpi": MpiConfiguration,
        "pytorch": PyTorchConfiguration,
        "paralleltask": ParallelTaskConfiguration,
    }
    # Azure sections with no meaning on machines you own: kept verbatim so files round-trip.
    _passthrough: ClassVar[frozenset[str]] = frozenset(
        {
            "amlCompute",
            "aiSuperComputer",
            "kubernetesCompute",
            "containerInstance",
            "cmk8sCompute",
            "globalJobDispatcher",
            "commandReturnCodeConfig",
            "exposedPorts",
            "applicationEndpoints",
            "parameters",
            "datacaches",
            "sourceDirectoryDataStore",
            "credentialPassthrough",
            "identity",
            "autoPrepareEnvironment",
            "instanceTypes",
            "databricks",
        }
    )

    @property
    def amlcompute(self) -> AmlComputeView:
        """v1's ``run_config.amlcompute``: kept in the ``amlCompute`` section, no local effect."""
        return AmlComputeView(self.extra)

    @property
    def container_instance(self) -> ContainerInstanceView:
        """v1's ``run_config.container_instance`` (2018, for Azure container instance training): kept in the
        ``containerInstance`` section, no local effect."""
        return ContainerInstanceView(self.extra)

    def __post_init__(self, conda_dependencies: CondaDependencies | None) -> None:
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies

    def __setattr__(self, name: str, value: Any) -> None:
        # v1 code assigns the ComputeTarget object itself (run_config.target = compute_target): keep its name.
        if name == "target" and not isinstance(value, str) and isinstance(getattr(value, "name", None), str):
            value = value.name
        super().__setattr__(name, value)

    # -- validation -----------------------------------------------------------------
    def check(self, prefix: str = "run_config") -> None:
        """Type and range checks of the fields this project acts on; raises ``ConfigError`` naming the field."""
        # Azure accepts any case ("python" is common in v1 samples); keep the canonical spelling for comparisons.
        self.framework = _canonical(self.framework, FRAMEWORKS)
        self.communicator = _canonical(self.communicator, COMMUNICATORS)
        if self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"unknown framework {self.framework!r}; use one of {', '.join(FRAMEWORKS)}", field=f"{prefix}.framework"
            )
        if str(self.communicator) not in COMMUNICATORS:
            raise ConfigError(
                f"unknown communicator {self.communicator!r}; use one of {', '.join(COMMUNICATORS)}",
                field=f"{prefix}.communicator",
            )
        if isinstance(self.node_count, bool) or not isinstance(self.node_count, int) or self.node_count < 1:
            raise ConfigError(f"must be a positive whole number, got {self.node_count!r}", field=f"{prefix}.node_count")
        if not isinstance(self.target, str) or not self.target:
            raise ConfigError(f"must be a target name, got {self.target!r}", field=f"{prefix}.target")
        check_variables(self.environment_variables, f"{prefix}.environment_variables")
        check_variables(self.environment.environment_variables, "environment.environment_variables")
        parse_size(self.docker.shm_size, f"{prefix}.docker.shm_size")
        if not isinstance(self.docker.arguments, list):
            raise ConfigError("must be a list of docker run flags", field=f"{prefix}.docker.arguments")
        check_texts(self.docker.arguments, f"{prefix}.docker.arguments", "docker flag")
        if self.node_count > MAX_NODES:
            raise ConfigError(f"at most {MAX_NODES} nodes, got {self.node_count}", field=f"{prefix}.node_count")
        if self.priority is not None and (isinstance(self.priority, bool) or not isinstance(self.priority, int)):
            raise ConfigError(f"must be a whole number, got {self.priority!r}", field=f"{prefix}.priority")
        refuse_secret_docker_env(self.docker.arguments, f"{prefix}.docker.arguments")
        check_environment(self.environment)

    # -- files ----------------------------------------------------------------------
    def save(
        self,
        path: str | os.PathLike[str] | None = None,
        name: str | None = None,
        separate_environment_yaml: bool = False,
    ) -> Path:
        """Write ``<path>/.azureml/<name>.runconfig`` (+ side files); missing folders are created.

        ``path`` may also be the full ``.runconfig`` file path. Returns the file written.
        With neither ``path`` nor ``name``, a configuration that ``load`` read is written back to the
        very file it came from (as Azure ML does), wherever the current folder is now.
        """
        loaded_from: Path | None = getattr(self, "_loaded_from", None)
        if path is None and name in (None, getattr(self, "_name", None)) and loaded_from is not None:
            target = loaded_from
        else:
            path = Path(path or ".")
            if name is None and path.suffix != SUFFIX:
                name = getattr(self, "_name", None)  # saving back what load() read
            target = _file_for_save(path, name)
        folder, project = target.parent, _project_of(target.parent)
        folder.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        environment = data["environment"]
        conda = self.environment.python.conda_dependencies
        if self.environment.python.has_conda():
            conda_file = _side_file(folder, CONDA_FILE, target.stem, conda.serialize_to_string())
            environment["python"]["condaDependencies"] = None
            environment["python"]["condaDependenciesFile"] = os.path.relpath(conda_file, project)
        if separate_environment_yaml:
            env_file = _side_file(folder, ENVIRONMENT_FILE, target.stem, dump_yaml(environment))
            data["environment"] = os.path.relpath(env_file, project)
        target.write_text(dump_yaml(data))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = ".", name: str | None = None) -> RunConfiguration:
        """Read what ``save`` (or Azure ML) wrote; camelCase or snake_case keys. ``path=None``: the current folder."""
        found = find_runconfig(Path(path if path is not None else "."), name)
        project = _project_of(found.parent)
        data, lines = parse_yaml(read_text_bounded(found, "run configuration"), what=f"run configuration {found.name}")
        data = data if data is not None else {}
        environment = data.get("environment") if isinstance(data, dict) else None
        if isinstance(environment, str) and environment.endswith((".yml", ".yaml")):
            env_path = _resolve(environment, project, found.parent, field="environment")
            if env_path is None:
                raise ConfigError(f"environment file '{environment}' is missing next to {found}", field="environment")
            data["environment"], env_lines = parse_yaml(
                read_text_bounded(env_path, "environment file"), what=f"environment {env_path.name}"
            )
            config = cls.from_dict({**data, "environment": None}, (), lines)
            config.environment = Environment.from_dict(data["environment"], ("environment",), env_lines)
        else:
            config = cls.from_dict(data, (), lines)
        config.environment.python = read_conda_file(config.environment, (project, found.parent))
        config._name = found.stem if found.name.endswith(SUFFIX) else found.name
        config._loaded_from = found.resolve()
        return config

    @staticmethod
    def delete(path: str | os.PathLike[str], name: str) -> None:
        """Remove a saved run configuration and the side files no other run configuration uses."""
        found = find_runconfig(Path(path), name)
        project = _project_of(found.parent)
        referenced = _references(found, project)
        found.unlink()
        for side in referenced:
            if (
                side.parent == found.parent.resolve()
                and side.exists()
                and not _referenced_by_others(found.parent, side)
            ):
                side.unlink()


IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+\-]{0,511}")


def check_environment(environment: Environment) -> None:
    """Types of the environment fields targets act on; a literal registry password is refused."""
    python, docker = environment.python, environment.docker
    if not isinstance(python.interpreter_path, str) or not python.interpreter_path:
        raise ConfigError("must be a path or command name", field="environment.python.interpreter_path")
    for name, value in (
        ("python.user_managed_dependencies", python.user_managed_dependencies),
        ("docker.enabled", docker.enabled),
        ("docker.gpu_support", docker.gpu_support),
    ):
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", field=f"environment.{name}")
    for name, value in (("docker.base_image", docker.base_image), ("docker.base_dockerfile", docker.base_dockerfile)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"must be text, got {value!r}", field=f"environment.{name}")
    if docker.base_image and not IMAGE_REFERENCE.fullmatch(docker.base_image):
        # It becomes the FROM line of a generated Dockerfile: a newline would add build steps, '-' an option.
        raise ConfigError(
            f"{docker.base_image[:100]!r} is not an image name such as 'python:3.11-slim' or "
            "'registry:5000/team/image@sha256:...' (no spaces, newlines or leading '-'; at most 512 characters)",
            field="environment.docker.base_image",
        )
    if docker.shm_size is not None:
        parse_size(docker.shm_size, "environment.docker.shm_size")
    if not isinstance(docker.arguments, list):
        raise ConfigError("must be a list of docker run flags", field="environment.docker.arguments")
    check_texts(docker.arguments, "environment.docker.arguments", "docker flag")
    if environment.r is not None:  # kept in the definition (env.r = RSection()); no target here runs R
        raise NotSupportedLocally(
            "An R environment (environment.r, RSection)",
            "Set env.r = None and run R yourself: a ScriptRunConfig(command=['Rscript', 'train.R']) in an "
            "environment or Docker image that has R and the packages installed.",
        )
    conda = python.conda_dependencies
    if conda is not None:  # pip and conda receive these as arguments
        check_texts(list(conda.pip_packages), "environment.python.conda_dependencies.pip", "package")
        check_texts(list(conda.conda_packages), "environment.python.conda_dependencies.dependencies", "package")
    refuse_secret_docker_env(docker.arguments, "environment.docker.arguments")
    refuse_package_credentials(conda)
    if docker.base_image_registry.password:
        raise ConfigError(
            "a registry password is not used or kept here (it would end up in run records); remove it and run "
            "'docker login' on this machine instead: the docker engine pulls the base image with those credentials",
            field="environment.docker.base_image_registry.password",
        )
    conda = python.conda_dependencies
    if conda is not None:
        for kind, packages in (("pip_packages", conda.pip_packages), ("conda_packages", conda.conda_packages)):
            bad = [p for p in packages if not isinstance(p, str) or not p.strip()]
            if bad:
                raise ConfigError(f"package specs must be text, got {bad!r}", field=f"environment.python.{kind}")
        skipped = [] if python.user_managed_dependencies else azureml_sdk_packages(conda.pip_packages)
        if skipped:
            replaced = [p for p in conda.installed_pip_packages() if p == AZUREML_MLFLOW_REPLACEMENT]
            instead = f" ({AZUREML_MLFLOW_REPLACEMENT} is installed for azureml-mlflow)" if replaced else ""
            warnings.warn(  # said at submit, where the run is made: no target installs them
                f"environment '{environment.name}' lists {', '.join(skipped)}, "
                f"which will not be installed: runconfig_jupyter takes the Azure ML SDK's part in the run{instead}",
                UserWarning,
                stacklevel=2,
            )


def check_variables(variables: Any, field_name: str) -> None:
    if not isinstance(variables, dict):
        raise ConfigError("must be a mapping of NAME: value", field=field_name)
    for key, value in variables.items():
        if isinstance(value, dict | list):
            raise ConfigError("must be text or a number, not a list or mapping", field=f"{field_name}.{key}")
    check_exec_variables(variables, field_name)


def read_conda_file(environment: Environment, bases: tuple[Path, ...]) -> Any:
    """Load ``python.condaDependenciesFile`` into ``conda_dependencies`` (the file is an on-disk detail)."""
    python = environment.python
    if python.conda_dependencies_file and not python.has_conda():
        resolved = _resolve(python.conda_dependencies_file, *bases, field="environment.python.conda_dependencies_file")
        if resolved is None:
            raise ConfigError(
                f"'{python.conda_dependencies_file}' does not exist (looked in {', '.join(map(str, bases))}); "
                "fix the path or list packages under condaDependencies",
                field="environment.python.conda_dependencies_file",
            )
        python.conda_dependencies = CondaDependencies.from_file(resolved, "environment.python.conda_dependencies_file")
        python.conda_dependencies_file = None
    return python


def find_runconfig(path: Path, name: str | None) -> Path:
    """The file for ``(path, name)``: a direct file path, or ``<path>/{aml_config,.azureml}/<name>[.runconfig]``."""
    if name is None:
        if path.is_file():
            return path
        available = list_runconfigs(path)
        if len(available) == 1:
            return available[0]
        raise ConfigError(
            f"say which run configuration to use; found {', '.join(p.stem for p in available) or 'none'} in {path}",
            field="name",
        )
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    candidates = [
        path / folder / f"{stem}{suffix}" for folder in (LEGACY_DIR, AZUREML_DIR, "") for suffix in (SUFFIX, "")
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = ", ".join(p.stem for p in list_runconfigs(path)) or "none"
    raise ConfigError(
        f"no run configuration '{stem}' under {path} (looked in {LEGACY_DIR}/ and {AZUREML_DIR}/); "
        f"available: {available}",
        field="name",
    )


def list_runconfigs(path: Path) -> list[Path]:
    return sorted(p for folder in (LEGACY_DIR, AZUREML_DIR) for p in (path / folder).glob(f"*{SUFFIX}"))


def _file_for_save(path: Path, name: str | None) -> Path:
    if name is None:
        if path.suffix == SUFFIX:
            return path
        raise ConfigError("give a name to save under (e.g. save(path, 'train'))", field="name")
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"{name!r} is not a file name", field="name")
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    folder = path / LEGACY_DIR if (path / LEGACY_DIR).is_dir() else path / AZUREML_DIR
    return folder / f"{stem}{SUFFIX}"


def _project_of(folder: Path) -> Path:
    return folder.parent if folder.name in (LEGACY_DIR, AZUREML_DIR) else folder


def _resolve(relative: str, *bases: Path, field: str) -> Path | None:
    """The first existing file among ``bases``, accepted by the confinement check against the first base."""
    from runconfig_jupyter.core.safety.confine import Confinement

    candidate = Path(relative)
    found = next((base / candidate for base in bases if (base / candidate).is_file()), None)
    if found is None:
        return None
    return Confinement.for_source(bases[0]).path(found, field, kind="file")


def _side_file(folder: Path, default: str, stem: str, content: str) -> Path:
    """``conda_dependencies.yml`` unless another run configuration there uses a different one."""
    shared = folder / default
    if not shared.exists() or shared.read_text() == content or not _referenced_by_others(folder, shared, stem):
        shared.write_text(content)
        return shared
    own = folder / f"{stem}.{default}"
    own.write_text(content)
    return own


def _references(runconfig: Path, project: Path) -> set[Path]:
    """Side files a saved run configuration points at (conda spec, separate environment)."""
    try:
        data = load_yaml(read_text_bounded(runconfig), what=runconfig.name) or {}
    except (OSError, ConfigError):
        return set()
    found: set[Path] = set()
    environment = data.get("environment") if isinstance(data, dict) else None
    if isinstance(environment, str):
        env_path = _resolve_or_none(environment, project, runconfig.parent)
        if env_path is not None:
            found.add(env_path.resolve())
            try:
                environment = load_yaml(read_text_bounded(env_path), what=env_path.name) or {}
            except (OSError, ConfigError):
                environment = {}
    if isinstance(environment, dict):
        python = environment.get("python") or {}
        conda = python.get("condaDependenciesFile") or python.get("conda_dependencies_file")
        if isinstance(conda, str):
            conda_path = _resolve_or_none(conda, project, runconfig.parent)
            if conda_path is not None:
                found.add(conda_path.resolve())
    return found


def _resolve_or_none(relative: str, *bases: Path) -> Path | None:
    """For bookkeeping only: a side file outside the confinement is simply not one of ours."""
    try:
        return _resolve(relative, *bases, field="environment")
    except ConfigError:
        return None


def _referenced_by_others(folder: Path, side: Path, stem: str | None = None) -> bool:
    project = _project_of(folder)
    return any(
        side.resolve() in _references(other, project) for other in folder.glob(f"*{SUFFIX}") if other.stem != stem
    )
