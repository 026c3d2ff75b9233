"""The deprecated v1 estimators: mapping onto ScriptRunConfig, warnings, typed errors."""

from __future__ import annotations

import warnings

import pytest

from runconfig_jupyter import Estimator, Gloo, Mpi, Nccl, ParameterServer, PyTorch, TensorFlow
from runconfig_jupyter.core.config import (
    Environment,
    MpiConfiguration,
    PyTorchConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.estimators import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, script_params_to_arguments
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError
from runconfig_jupyter.core.runs.distributed import plan_for


@pytest.fixture
def src(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "requirements.txt").write_text("# pinned\neinops==0.8.0\n")
    (tmp_path / "ckpt").mkdir()  # resume_from must name a folder in an allowed place (core/confine.py)
    return tmp_path


def quiet(factory, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return factory(*args, **kwargs)


def test_script_params_keep_order_types_and_bare_flags():
    params = {"--epochs": 10, "--lr": 0.01, "--verbose": "", "--data": "/d", "--dry-run": None, "--on": True}
    expected = ["--epochs", 10, "--lr", 0.01, "--verbose", "--data", "/d", "--dry-run", "--on", True]
    assert script_params_to_arguments(params) == expected
    with pytest.raises(ConfigError) as info:
        script_params_to_arguments(["--epochs", 1])  # type: ignore[arg-type]
    assert info.value.field == "script_params"


def test_estimator_warns_naming_script_run_config_and_maps_fields(src):
    with pytest.warns(DeprecationWarning, match=r"Estimator is deprecated.*ScriptRunConfig\(source_directory") as seen:
        est = Estimator(
            str(src),
            entry_script="train.py",
            script_params={"--epochs": 3, "--fast": ""},
            compute_target="local",
            use_docker=False,
            pip_packages=["einops"],
            environment_variables={"SEED": 1},
            max_run_duration_seconds=600,
            resume_from="ckpt",
        )
    assert seen[0].filename == __file__  # points at the user's line, not at our module
    assert isinstance(est, ScriptRunConfig)
    assert est.script == "train.py" and est.arguments == ["--epochs", 3, "--fast"]
    assert est.argv() == ["python", "train.py", "--epochs", "3", "--fast"]
    assert est.target_name == "local" and est.max_run_duration_seconds == 600 and est.resume_from == "ckpt"
    assert est.environment_variables()["SEED"] == "1"
    assert est.environment.python.conda_dependencies.pip_packages == ["einops"]
    assert est.environment.docker.enabled is False and est.run_config.docker.use_docker is False
    plain = est.to_script_run_config()
    assert type(plain) is ScriptRunConfig and plain.to_dict() == est.to_dict()
    plain.validate()


def test_use_docker_defaults_to_azure_images_and_gpu(src):
    est = quiet(Estimator, str(src), entry_script="train.py")
    assert est.environment.docker.enabled and est.environment.docker.base_image == DEFAULT_CPU_IMAGE
    gpu = quiet(Estimator, str(src), entry_script="train.py", use_gpu=True, shm_size="8g")
    assert gpu.environment.docker.base_image == DEFAULT_GPU_IMAGE and gpu.environment.docker.gpu_support
    assert gpu.run_config.docker.shm_size == "8g"
    custom = quiet(Estimator, str(src), entry_script="train.py", custom_docker_image="mine:1")
    assert custom.environment.docker.base_image == "mine:1"
    with pytest.raises(ConfigError, match="two names"):
        quiet(Estimator, str(src), entry_script="train.py", custom_docker_image="a", custom_docker_base_image="b")


def test_requirement_files_and_conda_packages(src):
    est = quiet(
        Estimator,
        str(src),
        entry_script="train.py",
        use_docker=False,
        pip_requirements_file="requirements.txt",
        pip_packages=["rich"],
        conda_packages=["numpy"],
    )
    conda = est.conda_dependencies
    assert conda.pip_packages == ["rich", "einops==0.8.0"] and conda.conda_packages == ["numpy"]
    with pytest.raises(ConfigError) as info:
        quiet(Estimator, str(src), entry_script="train.py", pip_requirements_file_path="missing.txt")
    assert info.value.field == "pip_requirements_file"


def test_environment_definition_excludes_other_environment_parameters(src):
    environment = Environment("mine")
    est = quiet(Estimator, str(src), entry_script="train.py", environment_definition=environment)
    assert est.environment.name == "mine"
    with pytest.raises(ConfigError, match="pip_packages") as info:
        quiet(Estimator, str(src), entry_script="train.py", environment_definition=environment, pip_packages=["x"])
    assert info.value.field == "environment_definition"


def test_pytorch_distributed_training_maps_to_pytorch_configuration(src):
    with pytest.warns(DeprecationWarning) as seen:
        est = PyTorch(
            str(src),
            entry_script="train.py",
            node_count=2,
            process_count_per_node=2,
            distributed_training=Gloo(),
            use_docker=False,
        )
    messages = " ".join(str(w.message) for w in seen)
    assert "PyTorchConfiguration" in messages and "Gloo is deprecated" in messages
    assert all(w.filename == __file__ for w in seen)
    job = est.distributed_job_config
    assert isinstance(job, PyTorchConfiguration)
    assert (job.communication_backend, job.process_count, job.node_count) == ("Gloo", 4, 2)
    assert est.run_config.framework == "PyTorch"
    plan = plan_for(est.to_script_run_config())
    assert plan is not None and plan.world_size == 4 and plan.node_count == 2


def test_distributed_backend_strings_and_mpi(src):
    est = quiet(PyTorch, str(src), entry_script="train.py", distributed_backend="nccl", node_count=2, use_docker=False)
    assert est.distributed_job_config.communication_backend == "Nccl"
    est = quiet(
        PyTorch, str(src), entry_script="train.py", distributed_training=quiet(Mpi, 3), node_count=2, use_docker=False
    )
    assert isinstance(est.distributed_job_config, MpiConfiguration)
    assert (est.distributed_job_config.process_count_per_node, est.distributed_job_config.node_count) == (3, 2)
    assert est.run_config.framework == "PyTorch" and est.run_config.communicator == "IntelMpi"
    est = quiet(Estimator, str(src), entry_script="train.py", distributed_backend="mpi", process_count_per_node=2)
    assert est.distributed_job_config.process_count_per_node == 2
    with pytest.raises(ConfigError, match="unknown distributed_backend 'horovod'") as info:
        quiet(PyTorch, str(src), entry_script="train.py", distributed_backend="horovod")
    assert info.value.field == "distributed_backend"
    with pytest.raises(ConfigError, match="not both"):
        quiet(PyTorch, str(src), entry_script="train.py", distributed_backend="nccl", distributed_training=quiet(Nccl))


def test_tensorflow_parameter_server(src):
    est = quiet(
        TensorFlow, str(src), entry_script="train.py", distributed_training=quiet(ParameterServer, 2, 1), use_docker=0
    )
    job = est.distributed_job_config
    assert isinstance(job, TensorflowConfiguration) and (job.worker_count, job.parameter_server_count) == (2, 1)
    assert est.run_config.framework == "TensorFlow" and est.run_config.communicator == "ParameterServer"
    old = quiet(
        TensorFlow,
        str(src),
        entry_script="train.py",
        distributed_backend="ps",
        worker_count=3,
        parameter_server_count=2,
    )
    assert (old.distributed_job_config.worker_count, old.distributed_job_config.parameter_server_count) == (3, 2)
    with pytest.raises(ConfigError, match="Gloo does not fit TensorFlow") as info:
        quiet(TensorFlow, str(src), entry_script="train.py", distributed_training=quiet(Gloo))
    assert info.value.field == "distributed_training"


def test_framework_version_is_checked_against_supported_versions(src):
    assert "1.6" in PyTorch.get_supported_versions() and "2.13" in PyTorch.get_supported_versions()
    est = quiet(PyTorch, str(src), entry_script="train.py", framework_version="2.13", use_docker=False)
    assert est.framework_version == "2.13" and "torch==2.13.*" in est.conda_dependencies.pip_packages
    with pytest.raises(
        ConfigError, match=r"framework version 0\.4 is not supported\. Supported versions: 1\.0, "
    ) as info:
        quiet(PyTorch, str(src), entry_script="train.py", framework_version="0.4")
    assert info.value.field == "framework_version"
    assert "2.2" in TensorFlow.get_supported_versions()
    with pytest.raises(ConfigError, match="framework_version"):
        quiet(Estimator, str(src), entry_script="train.py", framework_version="1.0")


def test_typed_errors_for_bad_input(src):
    with pytest.raises(ConfigError) as info:  # v1 built an estimator without one; it is refused when checked
        quiet(Estimator, str(src)).validate()
    assert info.value.field == "entry_script"
    with pytest.raises(ConfigError, match="needs distributed_training") as info:
        quiet(Estimator, str(src), entry_script="train.py", node_count=2)
    assert info.value.field == "distributed_training"
    with pytest.raises(ConfigError) as info:
        quiet(Estimator, str(src), entry_script="train.py", node_count=0)
    assert info.value.field == "node_count"
    with pytest.raises(ConfigError, match="data references") as info:
        quiet(Estimator, str(src), entry_script="train.py", inputs=["ds"])
    assert info.value.field == "inputs"
    with pytest.raises(UnknownKeyError, match="Did you mean 'entry_script'"):
        quiet(Estimator, str(src), entrie_script="train.py")
    with pytest.warns(UserWarning, match="vm_size only meant something on Azure"):
        quiet(Estimator, str(src), entry_script="train.py", vm_size="STANDARD_NC6", _disable_validation=True)
