"""``Environment``: what a run needs installed, in Azure ML v1's shape.

Targets build or pick an interpreter/image from it; ``content_hash`` is the
cache key, so it covers only what changes the build (packages, interpreter,
base image) and not the name or runtime variables - renaming an environment
or changing a variable must never trigger a rebuild.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from runconfig_jupyter.core.azure_only import azure_only
from runconfig_jupyter.core.config.serialization import LineMap, Section, dump_yaml, fail, parse_yaml
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.safety.bounded import read_text_bounded
from runconfig_jupyter.core.system.digest import sha256_hex
from runconfig_jupyter.core.system.records import field, record

DEFAULT_CONDA_ENV_NAME = "project_environment"
# Azure ML v1's default base images (they live on mcr.microsoft.com: load or build them for the docker target).
# v1 code names them (``azureml.core.runconfig.DEFAULT_CPU_IMAGE``); a ``None`` base image lets the target choose.
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.1-cudnn7-ubuntu18.04"


def refuse_package_credentials(conda: CondaDependencies | None) -> None:
    """A token in a pip index, pip package or conda channel URL is refused before the definition is written
    anywhere (run records, the registry, a Dockerfile): see core/safety/url_credentials.py."""
    if conda is None:
        return
    # Imported here: it is needed when a definition is checked, not by `from runconfig_jupyter import ...`
    # (tests/unit/test_cold_path.py keeps that import small).
    from runconfig_jupyter.core.safety.url_credentials import refuse_url_credentials

    prefix = "environment.python.conda_dependencies"
    refuse_url_credentials(conda.pip_options, f"{prefix}.pip_options")
    refuse_url_credentials(conda.pip_packages, f"{prefix}.pip")
    refuse_url_credentials(conda.channels, f"{prefix}.channels")


class CondaDependencies:
    """A conda environment spec (``name``, ``channels``, ``dependencies`` with a ``pip:`` list).

    Stored as conda writes it, so ``conda_dependencies.yml`` files from Azure ML projects load as-is.
    """

    def __init__(
        self,
        conda_packages: Iterable[str] | None = None,
        pip_packages: Iterable[str] | None = None,
        channels: Iterable[str] | None = None,
        name: str = DEFAULT_CONDA_ENV_NAME,
        pip_options: Iterable[str] | None = None,
        extra: Mapping[str, Any] | None = None,
        *,
        conda_dependencies_file_path: str | Path | None = None,
    ):
        # v1's only public argument is the spec file (keyword, or positional where this takes conda_packages).
        if isinstance(conda_packages, str | Path):
            conda_packages, conda_dependencies_file_path = None, conda_packages
        if conda_dependencies_file_path is not None:
            loaded = CondaDependencies.from_file(conda_dependencies_file_path, "conda_dependencies_file_path")
            conda_packages, pip_packages, channels = loaded.conda_packages, loaded.pip_packages, loaded.channels
            name, pip_options, extra = loaded.name, loaded.pip_options, loaded.extra
        self.name = name
        self.conda_packages: list[str] = list(conda_packages or [])
        self.pip_packages: list[str] = list(pip_packages or [])
        self.channels: list[str] = list(channels or [])
        self.pip_options: list[str] = list(pip_options or [])
        self.extra: dict[str, Any] = copy.deepcopy(dict(extra or {}))

    @classmethod
    def create(
        cls,
        pip_packages: Iterable[str] | None = None,
        conda_packages: Iterable[str] | None = None,
        python_version: str | None = None,
        pip_indexurl: str | None = None,
        channels: Iterable[str] | None = None,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        """Azure's factory. Unlike Azure it adds no azureml-defaults: nothing here talks to a workspace, so
        ``pin_sdk_version`` (which pinned those SDK packages) has nothing to pin and is accepted as is."""
        conda = list(conda_packages or [])
        if python_version:
            conda.insert(0, f"python={python_version}")
        options = [f"--index-url {pip_indexurl}"] if pip_indexurl else []
        return cls(conda_packages=conda, pip_packages=pip_packages, channels=channels, pip_options=options)

    # -- Azure's mutators -------------------------------------------------------
    def add_pip_package(self, package: str) -> None:
        if package not in self.pip_packages:
            self.pip_packages.append(package)

    def add_conda_package(self, package: str) -> None:
        if package not in self.conda_packages:
            self.conda_packages.append(package)

    def add_channel(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def add_tensorflow_pip_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        """v1's helper, still in Keras and TensorFlow deployment notebooks: TensorFlow as a pip package."""
        self.add_pip_package(_tensorflow_spec(core_type, version))

    def add_tensorflow_conda_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        """As ``add_tensorflow_pip_package``, as a conda package."""
        self.add_conda_package(_tensorflow_spec(core_type, version))

    def installed_pip_packages(self) -> list[str]:
        """The pip packages a target installs (every target that builds an environment asks this one list: the
        local venv, docker image, remote kernel and Ray): all but Azure ML SDK v1's own distributions
        (``azureml-sdk``, ``azureml-defaults``, ``azureml-dataset-runtime[fuse]``, ...; see
        ``azureml_sdk_packages``), with ``azureml-mlflow`` replaced by what it brought the script, ``mlflow-skinny``
        (``AZUREML_MLFLOW_REPLACEMENT``), unless the list names mlflow itself."""
        return installed_pip_packages(self.pip_packages)

    def remove_pip_package(self, package: str) -> None:
        self.pip_packages = [p for p in self.pip_packages if _package_name(p) != _package_name(package)]

    def remove_conda_package(self, package: str) -> None:
        self.conda_packages = [p for p in self.conda_packages if _package_name(p) != _package_name(package)]

    def get_python_version(self) -> str | None:
        """The ``python=`` pin among the conda packages, as v1 reports it (None when unpinned)."""
        pins = [
            p.split("=", 1)[1].lstrip("=") for p in self.conda_packages if _package_name(p) == "python" and "=" in p
        ]
        return pins[0] if pins else None

    def set_python_version(self, version: str) -> None:
        self.remove_conda_package("python")
        self.conda_packages.insert(0, f"python={version}")

    def save(self, path: str | Path) -> str:
        """Write the spec as conda YAML (v1's ``save``); returns the path written."""
        Path(path).write_text(self.serialize_to_string())
        return str(path)

    def save_to_file(self, base_directory: str | Path, conda_file_path: str | None = None) -> str:
        """v1's older spelling: ``base_directory/conda_file_path`` (default ``conda_dependencies.yml``)."""
        return self.save(Path(base_directory) / (conda_file_path or "conda_dependencies.yml"))

    def set_pip_option(self, option: str) -> None:
        if option not in self.pip_options:
            self.pip_options.append(option)

    # -- (de)serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        dependencies: list[Any] = list(self.conda_packages)
        if self.pip_packages or self.pip_options:
            dependencies.append({"pip": [*self.pip_options, *self.pip_packages]})
        out: dict[str, Any] = {"name": self.name}
        if self.channels:
            out["channels"] = list(self.channels)
        out["dependencies"] = dependencies
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: Any, path: tuple[Any, ...] = (), lines: LineMap | None = None) -> CondaDependencies:
        if isinstance(data, cls):
            return copy.deepcopy(data)
        if not isinstance(data, Mapping):
            raise fail("expected a conda environment mapping (name, channels, dependencies)", path, lines)
        extra = {k: v for k, v in data.items() if k not in ("name", "channels", "dependencies")}
        conda: list[str] = []
        pip: list[str] = []
        options: list[str] = []
        for index, item in enumerate(data.get("dependencies") or []):
            if isinstance(item, Mapping) and set(item) == {"pip"}:
                for entry in item["pip"] or []:
                    (options if str(entry).startswith("--") else pip).append(str(entry))
            elif isinstance(item, str | int | float):
                conda.append(str(item))
            else:
                raise fail(
                    f"a dependency must be a package spec or a 'pip:' list, got {item!r}",
                    (*path, "dependencies", index),
                    lines,
                )
        channels = data.get("channels") or []
        if not isinstance(channels, list):
            raise fail("channels must be a list", (*path, "channels"), lines)
        return cls(conda, pip, channels, str(data.get("name") or DEFAULT_CONDA_ENV_NAME), options, extra)

    def serialize_to_string(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_file(cls, file_path: str | Path, field_name: str = "file_path") -> CondaDependencies:
        from runconfig_jupyter.core.safety.confine import check_system_path  # not for a driver's recorded config

        path = check_system_path(file_path, field_name)
        if not path.is_file():
            raise ConfigError(f"conda specification '{file_path}' does not exist; check the path", field=field_name)
        data, lines = parse_yaml(
            read_text_bounded(path, "conda specification", field=field_name), what=f"conda specification {path.name}"
        )
        return cls.from_dict(data or {}, (), lines)

    def is_empty(self) -> bool:
        """True for v1's ready-made default (nothing added): it means "no conda dependencies" everywhere."""
        return not (self.conda_packages or self.pip_packages or self.channels or self.pip_options or self.extra) and (
            self.name == DEFAULT_CONDA_ENV_NAME
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"CondaDependencies(conda_packages={self.conda_packages!r}, pip_packages={self.pip_packages!r})"


def _tensorflow_spec(core_type: str, version: str | None) -> str:
    """The TensorFlow package v1's ``add_tensorflow_*_package(core_type, version)`` meant.

    v1 named ``tensorflow-gpu`` for ``core_type='gpu'``. That package only exists for releases before 2.1, after
    which the ``tensorflow`` package itself runs on GPUs (the later ``tensorflow-gpu`` uploads refuse to install):
    so a GPU request names ``tensorflow-gpu`` only for a version before 2.1, else ``tensorflow``. The version is
    pinned exactly, as v1 did.
    """
    kind = str(core_type).lower()
    if kind not in ("cpu", "gpu"):
        raise ConfigError(f"core_type must be 'cpu' or 'gpu', not {core_type!r}", field="core_type")
    name = "tensorflow-gpu" if kind == "gpu" and version is not None and _before_2_1(str(version)) else "tensorflow"
    return f"{name}=={version}" if version is not None else name


def _before_2_1(version: str) -> bool:
    """Whether a release number like ``1.13.1`` is before 2.1 (a part that is not a number counts as 0)."""
    parts = [int(part) if part.isdigit() else 0 for part in version.split(".")[:2]]
    return tuple(parts + [0] * (2 - len(parts))) < (2, 1)


def azureml_sdk_packages(pip_packages: Iterable[str]) -> list[str]:
    """The requirements for Azure ML SDK v1's own distributions (``azureml-*``): no target installs them.

    v1 environment files list them for the cloud's run context; here ``runconfig_jupyter`` is that context (a
    ported script imports it), and installing them pulled the whole Azure SDK into the run's environment: a
    minute and more per environment, other versions of numpy and friends under the script, and a failed run
    where PyPI is out of reach.
    """
    return [p for p in pip_packages if _is_azureml_sdk(p)]


# What ``azureml-mlflow`` brought a v1 script: the MLflow client without SQLAlchemy (its dependency, unversioned
# here: the run's store is MLflow's file store, which every mlflow-skinny release writes).
AZUREML_MLFLOW = "azureml-mlflow"
AZUREML_MLFLOW_REPLACEMENT = "mlflow-skinny"
MLFLOW_DISTRIBUTIONS = frozenset({"mlflow", "mlflow-skinny"})


def installed_pip_packages(pip_packages: Iterable[str]) -> list[str]:
    """``CondaDependencies.installed_pip_packages`` for a list: the one place the ``azureml-*`` distributions are
    left out and ``azureml-mlflow`` becomes ``mlflow-skinny`` (once, where ``azureml-mlflow`` was listed)."""
    packages = list(pip_packages)
    names = {_normal_name(p) for p in packages}
    wants_mlflow = AZUREML_MLFLOW in names and not names & MLFLOW_DISTRIBUTIONS
    installed: list[str] = []
    for spec in packages:
        if not _is_azureml_sdk(spec):
            installed.append(spec)
        elif wants_mlflow and _normal_name(spec) == AZUREML_MLFLOW:
            installed.append(AZUREML_MLFLOW_REPLACEMENT)
            wants_mlflow = False
    return installed


def _normal_name(spec: str) -> str:
    return _package_name(spec).replace("_", "-").replace(".", "-")


def _is_azureml_sdk(spec: str) -> bool:
    return _package_name(spec).replace("_", "-").replace(".", "-").startswith("azureml-")


def _package_name(spec: str) -> str:
    for separator in ("==", ">=", "<=", "~=", "!=", "=", ">", "<", "["):
        spec = spec.split(separator)[0]
    return spec.strip().lower()


@record(repr=False, eq=False)  # repr and eq: Section's
class PythonSection(Section):
    """``environment.python``: user-managed (use this interpreter as is) or built from conda/pip packages."""

    user_managed_dependencies: bool = False
    interpreter_path: str = "python"
    conda_dependencies_file: str | None = None
    conda_dependencies: CondaDependencies = field(default_factory=CondaDependencies)
    base_conda_environment: str | None = None

    _types: ClassVar[dict[str, Any]] = {"conda_dependencies": CondaDependencies}

    def __setattr__(self, name: str, value: Any) -> None:
        # v1 code calls env.python.conda_dependencies.add_pip_package(...) on a fresh environment: never None.
        if name == "conda_dependencies" and value is None:
            value = CondaDependencies()
        super().__setattr__(name, value)

    def to_dict(self) -> dict[str, Any]:
        """An untouched default writes as before (``condaDependencies: null``): same files, hashes and image keys."""
        out = super().to_dict()
        if self.conda_dependencies.is_empty():
            out["condaDependencies"] = None
        return out

    def has_conda(self) -> bool:
        """Whether packages were asked for (an empty default CondaDependencies is "none")."""
        return not self.conda_dependencies.is_empty()


@record(repr=False, eq=False)  # repr and eq: Section's
class RegistryIdentity(Section):
    """v1's ``RegistryIdentity``: the managed identity Azure pulled a base image with. Kept in the definition;
    locally the docker engine pulls with this machine's own credentials (``docker login``)."""

    resource_id: str | None = None
    client_id: str | None = None


@record(repr=False, eq=False)  # repr and eq: Section's
class ContainerRegistry(Section):
    """v1's ``ContainerRegistry`` (``environment.docker.base_image_registry``), set attribute by attribute.

    The address and user name are kept in the definition (they say where the base image comes from). The
    password is only held in memory: it is never written (files, run records, hashes), and a submit that
    carries one is refused, because the docker engine pulls with this machine's ``docker login`` instead.
    """

    address: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    registry_identity: RegistryIdentity | None = None

    _types: ClassVar[dict[str, Any]] = {"registry_identity": RegistryIdentity}

    def is_empty(self) -> bool:
        """Nothing set: v1's ready-made empty registry, written as ``baseImageRegistry: null`` like before."""
        return not (self.address or self.username or self.password or self.registry_identity or self.extra)

    def to_dict(self) -> dict[str, Any]:
        """The keys that were set, without the password (a secret never reaches a file)."""
        return {key: value for key, value in super().to_dict().items() if value is not None and key != "password"}

    @classmethod
    def coerce(cls, value: Any) -> ContainerRegistry:
        """What v1 code assigns: None (empty), this class, a dict of its keys, or an object with its attributes."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value  # the same object, so later attribute assignments show, as in v1
        if isinstance(value, Mapping):
            return cls.from_dict(value, ("environment", "docker", "base_image_registry"))
        if hasattr(value, "address"):
            return cls(**{name: getattr(value, name, None) for name in ("address", "username", "password")})
        raise ConfigError(
            f"expected a ContainerRegistry or a dict of its keys, got {type(value).__name__}",
            field="environment.docker.base_image_registry",
        )


@record(repr=False, eq=False)  # repr and eq: Section's
class DockerSection(Section):
    """``environment.docker``. ``base_image`` None lets the target pick its own default image."""

    enabled: bool = False
    base_image: str | None = None
    base_dockerfile: str | None = None
    base_image_registry: ContainerRegistry = field(default_factory=ContainerRegistry)
    shm_size: str | None = None
    gpu_support: bool = False
    shared_volumes: bool = True
    arguments: list[str] = field(default_factory=list)

    _types: ClassVar[dict[str, Any]] = {"base_image_registry": ContainerRegistry}
    _passthrough: ClassVar[frozenset[str]] = frozenset({"platform", "buildContext"})

    def __setattr__(self, name: str, value: Any) -> None:
        # v1 code sets env.docker.base_image_registry.address = ... on a fresh environment: never None.
        if name == "base_image_registry":
            value = ContainerRegistry.coerce(value)
        super().__setattr__(name, value)

    def to_dict(self) -> dict[str, Any]:
        """An untouched registry writes as before (``baseImageRegistry: null``): same files, hashes and image keys."""
        out = super().to_dict()
        if self.base_image_registry.is_empty():
            out["baseImageRegistry"] = None
        return out


@record(repr=False, eq=False)  # repr and eq: Section's
class SparkSection(Section):
    """``environment.spark``: Spark packages for Azure's Spark targets. Kept in the definition; no local effect."""

    repositories: list[str] = field(default_factory=list)
    packages: list[Any] = field(default_factory=list)
    precache_packages: bool = True


@record(repr=False, eq=False)  # repr and eq: Section's
class DatabricksSection(Section):
    """``environment.databricks``: libraries for Azure Databricks. Kept in the definition; no local effect."""

    maven_libraries: list[Any] = field(default_factory=list)
    pypi_libraries: list[Any] = field(default_factory=list)
    rcran_libraries: list[Any] = field(default_factory=list)
    jar_libraries: list[Any] = field(default_factory=list)
    egg_libraries: list[Any] = field(default_factory=list)


@record(repr=False, eq=False)  # repr and eq: Section's
class RCranPackage(Section):
    """v1's ``RCranPackage``: one CRAN package of an ``RSection`` (``name``, ``version``, ``repository``)."""

    name: str | None = None
    version: str | None = None
    repository: str | None = None


@record(repr=False, eq=False)  # repr and eq: Section's
class RGitHubPackage(Section):
    """v1's ``RGitHubPackage``: an R package from GitHub (``repository``, ``auth_token``)."""

    repository: str | None = None
    auth_token: str | None = None


_R_PACKAGE_LISTS: dict[str, type[Section]] = {"cran_packages": RCranPackage, "github_packages": RGitHubPackage}


@record(repr=False, eq=False)  # repr and eq: Section's
class RSection(Section):
    """``environment.r``: v1's R environment (``env.r = RSection()``, then ``r_version``, ``cran_packages``, ...).

    Kept in the definition and written back like Azure wrote it, so a ported notebook that builds or reads it, and
    a runconfig file that has it, keep working; submitting an environment with one raises NotSupportedLocally
    (core/config/runconfig.py ``check_environment``): no target here installs R packages or runs Rscript.
    """

    r_version: str | None = None
    user_managed: bool = False
    rscript_path: str | None = None
    snapshot_date: str | None = None
    cran_packages: list[Any] | None = None
    github_packages: list[Any] | None = None
    custom_url_packages: list[Any] | None = None
    bio_conductor_packages: list[Any] | None = None

    _keys: ClassVar[dict[str, str]] = {"github_packages": "gitHubPackages"}

    def to_dict(self) -> dict[str, Any]:
        """Package objects (``RCranPackage()``) written as their mappings, as v1's JSON had them."""
        out = super().to_dict()
        for attr, kind in _R_PACKAGE_LISTS.items():
            value = getattr(self, attr)
            if isinstance(value, list):
                out[self.disk_keys()[attr]] = [item.to_dict() if isinstance(item, kind) else item for item in value]
        return out

    @classmethod
    def from_dict(
        cls, data: Any, path: tuple[Any, ...] = (), lines: LineMap | None = None, also_valid: Iterable[str] = ()
    ) -> RSection:
        """Package mappings read back as the package objects a notebook made them from."""
        section = super().from_dict(data, path, lines, also_valid)
        for attr, kind in _R_PACKAGE_LISTS.items():
            value = getattr(section, attr)
            if isinstance(value, list):
                key = cls.disk_keys()[attr]
                setattr(
                    section,
                    attr,
                    [
                        kind.from_dict(item, (*path, key, index), lines) if isinstance(item, Mapping) else item
                        for index, item in enumerate(value)
                    ],
                )
        return section


@record(repr=False, eq=False)  # repr and eq: Section's
class Environment(Section):
    """Azure ML v1 ``Environment``: python, docker and runtime variables of a run."""

    name: str | None = None
    version: str | None = None
    python: PythonSection = field(default_factory=PythonSection)
    docker: DockerSection = field(default_factory=DockerSection)
    environment_variables: dict[str, Any] = field(default_factory=dict)
    spark: SparkSection = field(default_factory=SparkSection, repr=False)
    databricks: DatabricksSection = field(default_factory=DatabricksSection, repr=False)
    r: RSection | None = field(default=None, repr=False)  # v1's default: no R section

    _types: ClassVar[dict[str, Any]] = {
        "python": PythonSection,
        "docker": DockerSection,
        "spark": SparkSection,
        "databricks": DatabricksSection,
        "r": RSection,
    }
    _passthrough: ClassVar[frozenset[str]] = frozenset(
        {"inferencingStackVersion", "assetId", "autoRebuild", "registeredName"}
    )
    _azure_sections: ClassVar[tuple[str, ...]] = ("spark", "databricks")

    def to_dict(self) -> dict[str, Any]:
        """Untouched Azure-only sections (spark, databricks, an unset r) are left out: the same files as before
        they existed."""
        out = super().to_dict()
        for attr in self._azure_sections:
            section = getattr(self, attr)
            if section == type(section)():
                del out[attr]
        if self.r is None:
            del out["r"]
        return out

    @classmethod
    def from_dict(
        cls, data: Any, path: tuple[Any, ...] = (), lines: LineMap | None = None, also_valid: Iterable[str] = ()
    ) -> Environment:
        if isinstance(data, str):  # a name: Azure's Environment.get(ws, name); here an environment by that name
            return cls(name=data)
        return super().from_dict(data, path, lines, also_valid)

    # -- Azure's factories ------------------------------------------------------
    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str | Path, pip_version: str | None = None) -> Environment:
        """An environment whose pip packages are the requirements of a file, read as pip reads it.

        ``-r other.txt`` includes are read (relative to the file naming them, only inside the named file's folder:
        the path comes from a notebook cell) and option lines (``--index-url ...``) become ``pip_options``, where
        v1 put them too, instead of being packages pip cannot install (core/config/requirements.py).
        """
        from runconfig_jupyter.core.config.requirements import read_requirements
        from runconfig_jupyter.core.safety.confine import check_system_path

        path = check_system_path(file_path, "file_path")
        if not path.is_file():
            raise ConfigError(f"requirements file '{file_path}' does not exist; check the path", field="file_path")
        packages, options = read_requirements(path)
        conda = CondaDependencies(pip_packages=packages, pip_options=options)
        if pip_version:
            conda.add_conda_package(f"pip={pip_version}")
        environment = cls(name=name)
        environment.python.conda_dependencies = conda
        return environment

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str | Path) -> Environment:
        environment = cls(name=name)
        environment.python.conda_dependencies = CondaDependencies.from_file(file_path)
        return environment

    @classmethod
    def from_docker_image(
        cls, name: str, image: str, container_registry: Any = None, conda_specification=None
    ) -> Environment:
        environment = cls(name=name)
        environment.docker.enabled = True
        environment.docker.base_image = image
        environment.docker.base_image_registry = container_registry
        if conda_specification:
            environment.python.conda_dependencies = CondaDependencies.from_file(conda_specification)
        else:
            environment.python.user_managed_dependencies = True
        return environment

    @classmethod
    def from_dockerfile(cls, name: str, dockerfile: str | Path, conda_specification=None) -> Environment:
        """``dockerfile`` is the Dockerfile text or a path to one (read now, as Azure does)."""
        text = str(dockerfile)
        if "\n" not in text and Path(text).is_file():
            from runconfig_jupyter.core.safety.confine import check_system_path

            text = check_system_path(text, "dockerfile").read_text()
        environment = cls.from_docker_image(name, "", conda_specification=conda_specification)
        environment.docker.base_image = None
        environment.docker.base_dockerfile = text
        return environment

    def content_hash(self) -> str:
        """A stable hash of what builds this environment (not its name, version or variables)."""
        python = self.python.to_dict()
        python.pop("condaDependenciesFile", None)  # the file was read into condaDependencies
        docker = self.docker.to_dict()
        for runtime_only in ("arguments", "shmSize", "sharedVolumes"):
            docker.pop(runtime_only, None)
        canonical = json.dumps({"python": python, "docker": docker}, sort_keys=True, default=str)
        return sha256_hex(canonical.encode())  # not hashlib: OpenSSL's load costs a submit and a driver ~7 ms

    # -- the local environment registry (core/registries/environments.py) -------------------
    @staticmethod
    def _registry() -> Any:
        """The registry module, imported on the first registry call: building and submitting a config never use it."""
        from runconfig_jupyter.core.registries import environments

        return environments

    @classmethod
    def _registered(cls, definition: dict[str, Any], version: int) -> Environment:
        environment = cls.from_dict(definition)
        environment.version = str(version)
        return environment

    def register(self, workspace: Any = None) -> Environment:
        """Store this definition as the next version of its name in the workspace's run home (never with a
        feed's credentials in it: see ``refuse_package_credentials``)."""
        refuse_package_credentials(self.python.conda_dependencies)
        return self._registered(*self._registry().register_definition(workspace, self.name, self.to_dict()))

    @staticmethod
    def get(workspace: Any, name: str, version: str | int | None = None, label: str | None = None) -> Environment:
        """A registered environment (latest version unless ``version``); curated AzureML-* names say what to do."""
        return Environment._registered(*Environment._registry().get_definition(workspace, name, version))

    @staticmethod
    def list(workspace: Any = None) -> dict[str, Environment]:
        """Registered environments, name -> latest version."""
        found_all = Environment._registry().list_definitions(workspace)
        return {name: Environment._registered(*found) for name, found in found_all.items()}

    def save_to_directory(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the definition as ``azureml_environment.json`` in ``path`` (Azure's file name)."""
        import json as json_

        folder = Path(path)
        target = folder / "azureml_environment.json"
        if target.exists() and not overwrite:
            raise ConfigError(f"'{target}' exists; pass overwrite=True", field="path")
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(json_.dumps(self.to_dict(), indent=2))

    @classmethod
    def load_from_directory(cls, path: str | Path) -> Environment:
        import json as json_

        target = Path(path) / "azureml_environment.json"
        if not target.is_file():
            raise ConfigError(f"'{target}' does not exist; write it with env.save_to_directory()", field="path")
        return cls.from_dict(json_.loads(target.read_text()))

    _BUILT_BY_TARGET = (
        "The docker target builds the image from the environment on first submit and reuses it (see docs/docker.md); "
        "the local target makes a cached virtualenv. Submit a run to build it."
    )
    build = azure_only("Environment.build()", _BUILT_BY_TARGET)
    build_local = azure_only("Environment.build_local()", _BUILT_BY_TARGET)
    get_image_details = azure_only("Environment.get_image_details()", _BUILT_BY_TARGET)
    from_existing_conda_environment = azure_only(
        "Environment.from_existing_conda_environment()",
        "Export it with 'conda env export -n NAME > env.yml' and use "
        "Environment.from_conda_specification(name, 'env.yml').",
    )

    add_private_pip_wheel = azure_only(
        "Environment.add_private_pip_wheel()",
        "There is no workspace storage to upload to: list the wheel's absolute path on this machine in pip_packages.",
    )

    def clone(self, new_name: str) -> Environment:
        """A copy under ``new_name``, unregistered (no version), as v1's ``Environment.clone``."""
        twin = self.copy()
        twin.name, twin.version = new_name, None
        return twin

    def describe(self) -> str:
        """One line for summaries."""
        parts = [self.name or "default"]
        if self.python.user_managed_dependencies:
            parts.append(f"user-managed python '{self.python.interpreter_path}'")
        conda = self.python.conda_dependencies
        if conda is not None and conda.pip_packages:
            parts.append("pip: " + ", ".join(conda.pip_packages))
        if conda is not None and conda.conda_packages:
            parts.append("conda: " + ", ".join(conda.conda_packages))
        if self.docker.enabled:
            parts.append(f"docker image {self.docker.base_image or '(target default)'}")
        if self.docker.base_dockerfile:
            parts.append("custom Dockerfile")
        return "; ".join(parts)
