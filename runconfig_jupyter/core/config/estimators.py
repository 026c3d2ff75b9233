"""Azure ML v1's deprecated estimators: ``Estimator``, ``PyTorch``, ``TensorFlow`` and their
distributed-training settings ``Mpi``, ``Gloo``, ``Nccl``, ``ParameterServer``.

Old notebooks construct these; they keep working here, with the constructor
signatures of azureml-train-core, and each one says (DeprecationWarning) which
ScriptRunConfig does the same. An estimator IS a ScriptRunConfig (a subclass
that only adds the old constructor), so ``Experiment(...).submit(estimator)``,
``%submit`` and the driver need no special case. The mapping follows
azureml-train-core:

* ``script_params`` dict -> ``arguments`` in insertion order, values keeping
  their Python types; a ``None`` or ``""`` value keeps only the key (a flag).
* ``use_docker`` (default True, as in Azure) -> the environment's docker.enabled;
  on the default 'local' target that routes the run to the ``docker`` target.
  ``use_gpu`` -> GPU image + docker.gpu_support; ``custom_docker_image`` replaces
  the image; ``shm_size`` -> docker shm size.
* ``pip_packages``/``conda_packages``/requirement and conda files -> the
  environment's dependencies; ``environment_definition`` instead of all of those.
* ``distributed_training`` (or the older ``distributed_backend`` strings) with
  ``node_count``/``process_count_per_node`` -> PyTorchConfiguration,
  MpiConfiguration or TensorflowConfiguration.
* ``framework_version`` is checked against ``get_supported_versions()``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from runconfig_jupyter.core.config import (
    MAX_DURATION_SECONDS_DEFAULT,
    CondaDependencies,
    Environment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE
from runconfig_jupyter.core.data import bindings  # the module: core.data.bindings imports core.config too
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError

# Azure-only parameters: accepted so old code runs, but they mean nothing on machines you own.
CLOUD_ONLY = ("vm_size", "vm_priority", "source_directory_data_store")
ARGUMENT_TYPES = (str, int, float, bool)


# ---------------------------------------------------------------- distributed settings
class _DistributedTraining:
    """Base of the v1 settings objects; ``to_config`` gives the ScriptRunConfig-era equivalent."""

    replacement: ClassVar[str] = ""

    def __init__(self) -> None:
        warnings.warn(
            f"{type(self).__name__} is deprecated (as in Azure ML v1): use {self.replacement} as "
            "ScriptRunConfig(distributed_job_config=...)",
            DeprecationWarning,
            stacklevel=_caller_level(),
        )

    def to_config(self, node_count: int, process_count_per_node: int) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Mpi(_DistributedTraining):
    """MPI (e.g. Horovod): ``process_count_per_node`` processes on each node."""

    replacement = "MpiConfiguration(process_count_per_node, node_count)"

    def __init__(self, process_count_per_node: int = 1):
        super().__init__()
        self.process_count_per_node = process_count_per_node

    def to_config(self, node_count: int, process_count_per_node: int) -> MpiConfiguration:
        # The estimator's own (older) process_count_per_node counts when Mpi() was left at its default.
        per_node = self.process_count_per_node if self.process_count_per_node != 1 else process_count_per_node
        return MpiConfiguration(process_count_per_node=per_node, node_count=node_count)


class Gloo(_DistributedTraining):
    """torch.distributed with the Gloo backend (CPU)."""

    replacement = "PyTorchConfiguration(communication_backend='Gloo', process_count, node_count)"
    backend = "Gloo"

    def __init__(self) -> None:
        super().__init__()

    def to_config(self, node_count: int, process_count_per_node: int) -> PyTorchConfiguration:
        return PyTorchConfiguration(
            communication_backend=self.backend, process_count=node_count * process_count_per_node, node_count=node_count
        )


class Nccl(Gloo):
    """torch.distributed with the NCCL backend (GPUs)."""

    replacement = "PyTorchConfiguration(communication_backend='Nccl', process_count, node_count)"
    backend = "Nccl"


class ParameterServer(_DistributedTraining):
    """TensorFlow parameter-server training."""

    replacement = "TensorflowConfiguration(worker_count, parameter_server_count)"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1):
        super().__init__()
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    def to_config(self, node_count: int, process_count_per_node: int) -> TensorflowConfiguration:
        return TensorflowConfiguration(
            worker_count=self.worker_count, parameter_server_count=self.parameter_server_count
        )


def script_params_to_arguments(script_params: Mapping[str, Any] | None) -> list[Any]:
    """``{"--lr": 0.1, "--verbose": ""}`` -> ``["--lr", 0.1, "--verbose"]`` (insertion order, types kept)."""
    if script_params is None:
        return []
    if not isinstance(script_params, Mapping):
        raise ConfigError(
            f"must be a dict such as {{'--epochs': 10}}, got {type(script_params).__name__}", field="script_params"
        )
    arguments: list[Any] = []
    for key, value in script_params.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"keys must be non-empty text such as '--epochs', got {key!r}", field="script_params")
        arguments.append(key)
        if value is None or value == "":
            continue
        # A list value is several argv items (``{"--files": ["a", "b"]}`` -> ``--files a b``), as Azure passed it.
        for item in value if isinstance(value, list | tuple) else [value]:
            # data objects become placeholders (core/data/bindings.py); anything else its string form
            arguments.append(item if isinstance(item, ARGUMENT_TYPES) or bindings.is_data_object(item) else str(item))
    return arguments


# ---------------------------------------------------------------- estimators
class Estimator(ScriptRunConfig):
    """Azure ML v1's generic ``Estimator`` (deprecated there; kept here for old notebooks).

    It is a ScriptRunConfig built from the old arguments; ``to_script_run_config()``
    returns the plain equivalent, which is what new code should construct.
    """

    framework: ClassVar[str] = "Python"
    SUPPORTED_VERSIONS: ClassVar[tuple[str, ...]] = ()
    DEFAULT_VERSION: ClassVar[str | None] = None
    # Which v1 distributed settings this estimator accepts, and the old backend strings.
    accepted_distributed: ClassVar[tuple[type, ...]] = (Mpi, Gloo, Nccl, ParameterServer)
    backends: ClassVar[dict[str, type]] = {"mpi": Mpi, "gloo": Gloo, "nccl": Nccl, "ps": ParameterServer}

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        *,
        compute_target: Any = None,
        vm_size: str | None = None,
        vm_priority: str | None = None,
        entry_script: str | None = None,
        script_params: Mapping[str, Any] | None = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_backend: str | None = None,
        distributed_training: _DistributedTraining | None = None,
        use_gpu: bool = False,
        use_docker: bool = True,
        custom_docker_base_image: str | None = None,
        custom_docker_image: str | None = None,
        image_registry_details: Any = None,
        user_managed: bool = False,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        conda_dependencies_file_path: str | None = None,
        pip_requirements_file_path: str | None = None,
        conda_dependencies_file: str | None = None,
        pip_requirements_file: str | None = None,
        environment_variables: Mapping[str, Any] | None = None,
        environment_definition: Environment | None = None,
        inputs: list[Any] | None = None,
        source_directory_data_store: Any = None,
        shm_size: str | None = None,
        resume_from: str | None = None,
        max_run_duration_seconds: int | None = None,
        framework_version: str | None = None,
        _worker_count: int | None = None,
        _parameter_server_count: int | None = None,
        **ignored: Any,
    ):
        name = type(self).__name__
        unknown = [key for key in ignored if not key.startswith("_")]
        if unknown:
            raise UnknownKeyError(unknown[0], ESTIMATOR_PARAMETERS, section=name)
        warnings.warn(
            f"{name} is deprecated (as in Azure ML v1). Use ScriptRunConfig(source_directory, script=entry_script, "
            "arguments=[...], compute_target=..., environment=Environment(...)"
            f"{self._distributed_hint()}) instead; estimator.to_script_run_config() shows the equivalent.",
            DeprecationWarning,
            stacklevel=_caller_level(),
        )
        cloud = {
            "vm_size": vm_size,
            "vm_priority": vm_priority,
            "source_directory_data_store": source_directory_data_store,
        }
        unused = [key for key, value in cloud.items() if value is not None]
        if unused:
            warnings.warn(
                f"{name}: {', '.join(unused)} only meant something on Azure compute and is ignored here",
                UserWarning,
                stacklevel=_caller_level(),
            )
        self.script_params = dict(script_params or {})
        self.framework_version = self._check_version(framework_version)
        environment = self._environment(
            source_directory,
            environment_definition=environment_definition,
            use_gpu=use_gpu,
            use_docker=use_docker,
            custom_docker_base_image=custom_docker_base_image,
            custom_docker_image=custom_docker_image,
            image_registry_details=image_registry_details,
            user_managed=user_managed,
            conda_packages=conda_packages,
            pip_packages=pip_packages,
            conda_dependencies_file=_one_of(
                conda_dependencies_file, conda_dependencies_file_path, "conda_dependencies_file"
            ),
            pip_requirements_file=_one_of(pip_requirements_file, pip_requirements_file_path, "pip_requirements_file"),
            shm_size=shm_size,
        )
        distributed = self._distributed(
            node_count, process_count_per_node, distributed_backend, distributed_training,
            _worker_count, _parameter_server_count,
        )  # fmt: skip
        arguments = script_params_to_arguments(script_params)
        checkpoint = _checkpoint_reference(resume_from)
        if checkpoint is not None:  # v1: a script_params entry '--resume-from' with the mounted checkpoint folder
            arguments, resume_from = [*arguments, "--resume-from", checkpoint], None
        run_config = RunConfiguration()
        run_config.framework = self.framework
        run_config.docker.use_docker = bool(use_docker)
        if shm_size:
            run_config.docker.shm_size = shm_size
        if environment_variables:
            run_config.environment_variables = {str(k): v for k, v in environment_variables.items()}
        super().__init__(
            source_directory,
            script=entry_script,
            arguments=arguments,
            run_config=run_config,
            environment=environment,
            distributed_job_config=distributed,
            resume_from=resume_from,
            max_run_duration_seconds=MAX_DURATION_SECONDS_DEFAULT
            if max_run_duration_seconds is None
            else max_run_duration_seconds,
        )
        for index, item in enumerate(inputs or []):  # data the script reads from $AZUREML_DATAREFERENCE_<name>
            if not bindings.is_data_object(item):
                raise ConfigError(
                    f"inputs[{index}] is a {type(item).__name__}; inputs lists data references "
                    "(datastore.path('x').as_mount()) or dataset inputs (dataset.as_named_input('x').as_download())",
                    field="inputs",
                )
            bindings.bind(self.run_config, item, f"inputs[{index}]")
        if compute_target is not None:  # the estimator's own run_config is internal: its target follows
            self.compute_target = compute_target
        if self.framework != "Python":
            self.run_config.framework = self.framework  # Mpi() on a PyTorch estimator still runs PyTorch

    # -- pieces --------------------------------------------------------------
    @classmethod
    def _distributed_hint(cls) -> str:
        return ", distributed_job_config=MpiConfiguration(...) / PyTorchConfiguration(...)"

    @classmethod
    def get_supported_versions(cls) -> list[str]:
        """The framework versions this estimator accepts (Azure's list plus current releases)."""
        return list(cls.SUPPORTED_VERSIONS)

    def _check_version(self, version: str | None) -> str | None:
        if version is None:
            return self.DEFAULT_VERSION
        if not self.SUPPORTED_VERSIONS:
            raise ConfigError(
                f"{type(self).__name__} has no framework; pin the package in pip_packages instead",
                field="framework_version",
            )
        if str(version) not in self.SUPPORTED_VERSIONS:
            raise ConfigError(
                f"{type(self).__name__} framework version {version} is not supported. Supported versions: "
                f"{', '.join(self.SUPPORTED_VERSIONS)} (see {type(self).__name__}.get_supported_versions()); for "
                "another version use ScriptRunConfig with an environment that pins it",
                field="framework_version",
            )
        return str(version)

    def _framework_packages(self, version: str | None) -> list[str]:
        """pip packages an explicit framework_version adds (none by default: use what is installed)."""
        return []

    def _environment(
        self,
        source_directory: str | os.PathLike[str],
        *,
        environment_definition: Environment | None,
        use_gpu: bool,
        use_docker: bool,
        custom_docker_base_image: str | None,
        custom_docker_image: str | None,
        image_registry_details: Any,
        user_managed: bool,
        conda_packages: list[str] | None,
        pip_packages: list[str] | None,
        conda_dependencies_file: str | None,
        pip_requirements_file: str | None,
        shm_size: str | None,
    ) -> Environment:
        image = _one_of(custom_docker_image, custom_docker_base_image, "custom_docker_image")
        if environment_definition is not None:
            clashing = {
                "use_gpu": use_gpu,
                "custom_docker_image": image,
                "image_registry_details": image_registry_details,
                "user_managed": user_managed,
                "conda_packages": conda_packages,
                "pip_packages": pip_packages,
                "conda_dependencies_file": conda_dependencies_file,
                "pip_requirements_file": pip_requirements_file,
            }
            given = [key for key, value in clashing.items() if value]
            if given:
                raise ConfigError(
                    f"environment_definition already describes the environment; drop {', '.join(given)} or put "
                    "them into the Environment",
                    field="environment_definition",
                )
            if not isinstance(environment_definition, Environment):
                raise ConfigError("must be an Environment", field="environment_definition")
            return environment_definition
        if image and not use_docker:
            raise ConfigError(
                f"custom_docker_image {image!r} needs use_docker=True (the default); with use_docker=False the run "
                "is a plain process and the image would be silently unused. Drop one of them.",
                field="custom_docker_image",
            )
        environment = Environment(name=f"{type(self).__name__}-estimator")
        environment.python.user_managed_dependencies = bool(user_managed)
        environment.docker.enabled = bool(use_docker)
        environment.docker.gpu_support = bool(use_gpu)
        if use_docker or image:
            environment.docker.base_image = image or (DEFAULT_GPU_IMAGE if use_gpu else DEFAULT_CPU_IMAGE)
        if image_registry_details is not None:
            registry = _registry(image_registry_details)
            if registry.pop("password", None):
                warnings.warn(
                    f"{type(self).__name__}: the password of image_registry_details is not used or kept here (it "
                    "would end up in run records); the docker engine pulls "
                    f"{registry.get('address') or 'the image'} with this machine's 'docker login' credentials",
                    UserWarning,
                    stacklevel=_caller_level(),
                )
            environment.docker.base_image_registry = registry
        if shm_size:
            environment.docker.shm_size = shm_size
        source = Path(source_directory)
        conda = CondaDependencies()
        if conda_dependencies_file:
            conda = CondaDependencies.from_file(
                _in_source(source, conda_dependencies_file, "conda_dependencies_file"), "conda_dependencies_file"
            )
        for package in conda_packages or []:
            conda.add_conda_package(package)
        framework_pins = self._framework_packages(self.framework_version)
        if user_managed and framework_pins:  # v1 built nothing for a user-managed environment, pins included
            warnings.warn(
                f"{type(self).__name__}: framework_version={self.framework_version!r} installs nothing with "
                "user_managed=True; the environment's own packages are used",
                UserWarning,
                stacklevel=_caller_level(),
            )
            framework_pins = []
        requested = [*(pip_packages or []), *(conda_packages or [])]
        _refuse_conflicting_pins(framework_pins, requested, self.framework_version)
        for package in framework_pins:
            conda.add_pip_package(package)
        for package in pip_packages or []:
            conda.add_pip_package(package)
        if pip_requirements_file:
            path = _in_source(source, pip_requirements_file, "pip_requirements_file")
            if not path.is_file():
                raise ConfigError(f"'{path}' does not exist; check the path", field="pip_requirements_file")
            for package in Environment.from_pip_requirements(
                "requirements", path
            ).python.conda_dependencies.pip_packages:
                conda.add_pip_package(package)
        if conda.pip_packages or conda.conda_packages or conda_dependencies_file:
            if user_managed:
                raise ConfigError(
                    "user_managed=True means the packages are already installed; drop pip/conda packages or set "
                    "user_managed=False",
                    field="user_managed",
                )
            environment.python.conda_dependencies = conda
        return environment

    def _distributed(
        self,
        node_count: int,
        process_count_per_node: int,
        distributed_backend: str | None,
        distributed_training: _DistributedTraining | None,
        worker_count: int | None,
        parameter_server_count: int | None,
    ) -> Any:
        for value, field in ((node_count, "node_count"), (process_count_per_node, "process_count_per_node")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"must be a whole number >= 1, got {value!r}", field=field)
        if distributed_backend is not None and distributed_training is not None:
            raise ConfigError(
                "give distributed_training (e.g. Mpi()) or the older distributed_backend string, not both",
                field="distributed_backend",
            )
        if distributed_backend is not None:
            kind = self.backends.get(str(distributed_backend).lower())
            if kind is None:
                raise ConfigError(
                    f"unknown distributed_backend {distributed_backend!r} for {type(self).__name__}; use one of "
                    f"{', '.join(repr(k) for k in self.backends)}",
                    field="distributed_backend",
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                if kind is ParameterServer:
                    distributed_training = ParameterServer(
                        worker_count or node_count, 1 if parameter_server_count is None else parameter_server_count
                    )
                elif kind is Mpi:
                    distributed_training = Mpi(process_count_per_node)
                else:
                    distributed_training = kind()
        if distributed_training is None:
            if node_count > 1 or process_count_per_node > 1:
                raise ConfigError(
                    f"node_count={node_count}, process_count_per_node={process_count_per_node} needs "
                    f"distributed_training (one of {', '.join(c.__name__ for c in self.accepted_distributed)})",
                    field="distributed_training",
                )
            return None
        if isinstance(distributed_training, PyTorchConfiguration | MpiConfiguration | TensorflowConfiguration):
            return self._new_style(distributed_training, node_count, process_count_per_node)
        if not isinstance(distributed_training, self.accepted_distributed):
            raise ConfigError(
                f"{type(distributed_training).__name__} does not fit {type(self).__name__}; use one of "
                f"{', '.join(c.__name__ + '()' for c in self.accepted_distributed)}",
                field="distributed_training",
            )
        return distributed_training.to_config(node_count, process_count_per_node)

    def _new_style(self, config: Any, node_count: int, process_count_per_node: int) -> Any:
        """A ScriptRunConfig-era configuration given as ``distributed_training``: it fits if the old one would."""
        fits = {
            PyTorchConfiguration: (Gloo, Nccl),
            MpiConfiguration: (Mpi,),
            TensorflowConfiguration: (ParameterServer,),
        }[type(config)]
        if not any(kind in self.accepted_distributed for kind in fits):
            raise ConfigError(
                f"{type(config).__name__} does not fit {type(self).__name__}; use one of "
                f"{', '.join(c.__name__ + '()' for c in self.accepted_distributed)}",
                field="distributed_training",
            )
        config = config.copy()
        if process_count_per_node != 1:
            # v1 docs pair MpiConfiguration() with the estimator's process_count_per_node: adopt it unless they differ.
            if getattr(config, "process_count_per_node", None) not in (1, process_count_per_node):
                raise ConfigError(
                    f"{type(config).__name__} carries its own process counts; drop the estimator's "
                    "process_count_per_node or make them agree",
                    field="process_count_per_node",
                )
            config.process_count_per_node = process_count_per_node
        if node_count != 1 and hasattr(config, "node_count"):
            if config.node_count not in (1, node_count):
                raise ConfigError(
                    f"node_count={node_count} disagrees with {type(config).__name__}(node_count={config.node_count})",
                    field="node_count",
                )
            config.node_count = node_count
        return config

    def validate(self, check_files: bool = True, **kwargs: Any) -> Any:
        """As ScriptRunConfig's; a missing ``entry_script`` is refused here, at submit, as v1 did (an estimator
        built without one only to look at its ``run_config.environment`` is fine)."""
        if not self.script and not self.command:
            raise ConfigError("the script to run is missing: set entry_script='train.py'", field="entry_script")
        return super().validate(check_files, **kwargs)

    # -- the modern equivalent -------------------------------------------------
    def to_script_run_config(self) -> ScriptRunConfig:
        """The plain ScriptRunConfig this estimator stands for."""
        return ScriptRunConfig.from_dict(self.to_dict())

    @property
    def conda_dependencies(self) -> CondaDependencies | None:
        return self.environment.python.conda_dependencies

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source_directory={self.source_directory!r}, entry_script={self.script!r}, "
            f"script_params={self.script_params!r}, compute_target={self.target_name!r})"
        )


class PyTorch(Estimator):
    """Azure ML v1's ``PyTorch`` estimator (deprecated): an Estimator with framework PyTorch."""

    framework = "PyTorch"
    # Azure's own list (1.0-1.6) and the releases since. No default pin: the installed torch is used.
    SUPPORTED_VERSIONS = (
        *("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10", "1.11", "1.12", "1.13"),
        *(f"2.{minor}" for minor in range(14)),
    )
    DEFAULT_VERSION = None
    accepted_distributed = (Mpi, Gloo, Nccl)
    backends = {"mpi": Mpi, "gloo": Gloo, "nccl": Nccl}

    @classmethod
    def _distributed_hint(cls) -> str:
        return ", distributed_job_config=PyTorchConfiguration(communication_backend=..., process_count, node_count)"

    def _framework_packages(self, version: str | None) -> list[str]:
        return [f"torch=={version}.*"] if version else []


class TensorFlow(Estimator):
    """Azure ML v1's ``TensorFlow`` estimator (deprecated): framework TensorFlow, parameter servers or MPI."""

    framework = "TensorFlow"
    SUPPORTED_VERSIONS = ("1.10", "1.12", "1.13", "2.0", "2.1", "2.2", *(f"2.{minor}" for minor in range(3, 21)))
    DEFAULT_VERSION = None
    accepted_distributed = (Mpi, ParameterServer)
    backends = {"mpi": Mpi, "ps": ParameterServer, "parameterserver": ParameterServer}

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        *,
        worker_count: int = 1,
        parameter_server_count: int = 1,
        **kwargs: Any,
    ):
        super().__init__(
            source_directory, _worker_count=worker_count, _parameter_server_count=parameter_server_count, **kwargs
        )

    @classmethod
    def _distributed_hint(cls) -> str:
        return ", distributed_job_config=TensorflowConfiguration(worker_count, parameter_server_count)"

    def _framework_packages(self, version: str | None) -> list[str]:
        return [f"tensorflow=={version}.*"] if version else []


class Chainer(Estimator):
    """Azure ML v1's ``Chainer`` estimator (deprecated): a Python run; ChainerMN distributes over MPI only."""

    # Azure's own list (4.0.0-5.1.0, default 5.1.0 there) and the releases since. No default pin: the installed
    # chainer is used, as for the other estimators (a pinned 5.1.0 no longer installs on a current Python).
    SUPPORTED_VERSIONS = ("4.0.0", "4.1.0", "4.2.0", "5.0.0", "5.1.0", "6.0.0", "6.7.0", "7.0.0", "7.8.1")
    DEFAULT_VERSION = None
    accepted_distributed = (Mpi,)
    backends = {"mpi": Mpi}

    @classmethod
    def _distributed_hint(cls) -> str:
        return ", distributed_job_config=MpiConfiguration(process_count_per_node, node_count)"

    def _framework_packages(self, version: str | None) -> list[str]:
        return [f"chainer=={version}"] if version else []


class SKLearn(Estimator):
    """Azure ML v1's ``SKLearn`` estimator (deprecated): a single-process Python run with scikit-learn."""

    # Azure's own version (0.20.3) and the releases since. No default pin: the installed scikit-learn is used.
    SUPPORTED_VERSIONS = ("0.20.3", "0.21", "0.22", "0.23", "0.24", *(f"1.{minor}" for minor in range(8)))
    DEFAULT_VERSION = None
    accepted_distributed = ()
    backends = {}

    def __init__(self, source_directory: str | os.PathLike[str], **kwargs: Any):
        distributed = [k for k in SINGLE_NODE_ONLY if kwargs.get(k) not in (None, 1)]
        if distributed:
            raise ConfigError(
                f"SKLearn runs a single process and takes no {distributed[0]}; use Estimator or ScriptRunConfig "
                "with a distributed_job_config for several processes",
                field=distributed[0],
            )
        super().__init__(source_directory, **kwargs)

    @classmethod
    def _distributed_hint(cls) -> str:
        return ""

    def _framework_packages(self, version: str | None) -> list[str]:
        if not version:
            return []
        return [f"scikit-learn=={version}" if version.count(".") == 2 else f"scikit-learn=={version}.*"]


SINGLE_NODE_ONLY = ("node_count", "process_count_per_node", "distributed_training", "distributed_backend")


def _checkpoint_reference(resume_from: Any) -> Any:
    """A ``DataPath`` given as ``resume_from`` (``run._get_outputs_datapath()``), as a mounted data reference."""
    if isinstance(resume_from, str) or not hasattr(resume_from, "create_data_reference"):
        return None  # a run id or folder (or a (datastore, path) pair): the run configuration's resume_from
    from runconfig_jupyter.core.data.reference import DataPathComputeBinding

    return resume_from.create_data_reference(datapath_compute_binding=DataPathComputeBinding(mode="mount"))


def _refuse_conflicting_pins(framework_pins: list[str], requested: list[str], version: str | None) -> None:
    """``framework_version`` and a pinned package of the same name in pip/conda packages cannot both hold."""
    for pin in framework_pins:
        name = _package_name(pin)
        for package in requested:
            if _package_name(package) == name and package.strip() != name and package.strip() != pin:
                raise ConfigError(
                    f"framework_version={version!r} installs {pin} but the packages also pin {package!r}; keep one "
                    f"(drop framework_version, or the pin from pip_packages/conda_packages)",
                    field="framework_version",
                )


def _package_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _caller_level() -> int:
    """``stacklevel`` that points the warning at the user's line, past this module's own frames."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _one_of(new: Any, old: Any, field: str) -> Any:
    """Azure renamed some parameters; accept either name, refuse both."""
    if new is not None and old is not None and new != old:
        raise ConfigError(f"given twice under two names (old and new); keep only {field}", field=field)
    return new if new is not None else old


def _in_source(source: Path, file: str, field: str) -> Path:
    """A file the estimator names, relative to its source directory, through the confinement check."""
    from runconfig_jupyter.core.safety.confine import Confinement

    return Confinement.for_source(source).path(file, field, kind="file")


def _registry(details: Any) -> dict[str, Any]:
    """A ContainerRegistry-like object or dict as a dict; the caller takes the password out (it is never stored)."""
    if isinstance(details, Mapping):
        return dict(details)
    return {key: getattr(details, key) for key in ("address", "username", "password") if getattr(details, key, None)}


ESTIMATOR_PARAMETERS = (
    *(name for name in inspect.signature(Estimator.__init__).parameters if name not in ("self", "ignored")),
    "worker_count",
    "parameter_server_count",
)
