"""Constructor and estimator fidelity: v1 constructor calls behave as Azure ML documented them.

The runs are real (local target); the rest checks what the constructors build, since that is what a
ported notebook sees before anything runs.
"""

from __future__ import annotations

import json
import warnings

import pytest

from runconfig_jupyter import (
    Estimator,
    Experiment,
    Gloo,
    Mpi,
    MpiConfiguration,
    PyTorch,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorFlow,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.distributed import plan_for

ARGV_SCRIPT = "import json, os, sys\nprint('ARGV ' + json.dumps(sys.argv[1:]))\nprint('RANK', os.environ.get('RANK'))\n"


@pytest.fixture
def source(tmp_path):
    (tmp_path / "train.py").write_text(ARGV_SCRIPT)
    (tmp_path / "sub").mkdir()
    return tmp_path


def _argv(run) -> list[str]:
    assert run.wait_for_completion(timeout=60)["status"] == "Completed", run.get_log()
    return json.loads(run.get_log().split("ARGV ", 1)[1].splitlines()[0])


def _quiet(factory, source, **kwargs):
    """An estimator on ``train.py`` (no docker unless asked). Estimators warn that they are deprecated
    (as Azure did); these tests look at what they build."""
    kwargs.setdefault("entry_script", "train.py")
    kwargs.setdefault("use_docker", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return factory(str(source), **kwargs)


def test_compute_target_next_to_run_config_is_ignored_with_a_warning(source):
    run_config = RunConfiguration()  # target 'local'
    with pytest.warns(UserWarning, match="compute_target 'docker' is ignored because run_config was given"):
        config = ScriptRunConfig(str(source), script="train.py", run_config=run_config, compute_target="docker")
    assert config.target_name == "local"
    run = Experiment("v1-ctor").submit(config)
    assert _argv(run) == [] and run.get_details()["target"] == "local"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same name, or no run_config: nothing to say
        ScriptRunConfig(str(source), script="train.py", run_config=RunConfiguration(), compute_target="local")
        assert ScriptRunConfig(str(source), script="train.py", compute_target="docker").target_name == "docker"


def test_docker_runtime_config_as_a_dict(source):
    config = ScriptRunConfig(
        str(source), script="train.py", docker_runtime_config={"use_docker": True, "shm_size": "1g"}
    )
    assert config.run_config.docker.use_docker is True and config.run_config.docker.shm_size == "1g"
    with pytest.raises(ConfigError) as info:
        ScriptRunConfig(str(source), script="train.py", docker_runtime_config={"shm_sise": "1g"})
    assert "shm_sise" in str(info.value) and info.value.field.startswith("docker_runtime_config")
    with pytest.raises(ConfigError, match="DockerConfiguration or a dict"):
        ScriptRunConfig(str(source), script="train.py", docker_runtime_config="--shm-size 1g")


def test_runconfiguration_load_none_and_save_back(source, tmp_path_factory, monkeypatch):
    RunConfiguration(script="train.py", arguments=["--lr", 0.1]).save(str(source), "train")
    monkeypatch.chdir(source)
    loaded = RunConfiguration.load(None, "train")  # v1: path=None is the current folder
    assert loaded.arguments == ["--lr", 0.1]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    loaded.arguments = ["--lr", 0.2]
    written = loaded.save()  # back where it was loaded from, not into the new current folder
    assert written == (source / ".azureml" / "train.runconfig").resolve()
    assert RunConfiguration.load(str(source), "train").arguments == ["--lr", 0.2]
    assert not (elsewhere / ".azureml").exists()
    copy = loaded.save(str(elsewhere), "copy")  # an explicit place still wins
    assert copy.parent.parent == elsewhere


def test_script_path_is_normalised(source):
    config = ScriptRunConfig(str(source), script="./sub/../train.py", arguments=["--x", 1])
    assert config.script == "train.py"
    assert _argv(Experiment("v1-ctor").submit(config)) == ["--x", "1"]
    with pytest.raises(ConfigError) as info:
        ScriptRunConfig(str(source), script="sub/../../train.py").validate()
    assert info.value.field == "script"


def test_script_params_list_values_become_several_arguments(source):
    estimator = _quiet(
        Estimator,
        source,
        script_params={"--files": ["a.csv", "b.csv"], "--lr": 0.5, "--verbose": ""},
    )
    assert estimator.arguments == ["--files", "a.csv", "b.csv", "--lr", 0.5, "--verbose"]
    assert _argv(Experiment("v1-ctor").submit(estimator)) == ["--files", "a.csv", "b.csv", "--lr", "0.5", "--verbose"]


def test_custom_docker_image_needs_docker(source):
    with pytest.raises(ConfigError) as info:
        _quiet(Estimator, source, custom_docker_image="my/img:1")
    assert info.value.field == "custom_docker_image"
    estimator = _quiet(Estimator, source, use_docker=True, custom_docker_image="my/img:1")
    assert estimator.environment.docker.base_image == "my/img:1"


def test_pytorch_estimator_process_counts(source):
    gloo = _quiet(
        PyTorch,
        source,
        node_count=2,
        process_count_per_node=2,
        distributed_training=Gloo(),
    )
    plan = plan_for(gloo)
    assert (plan.framework, plan.node_count, plan.processes_per_node, plan.world_size) == ("pytorch", 2, 2, 4)
    mpi = _quiet(PyTorch, source, node_count=2, distributed_training=Mpi(3))
    plan = plan_for(mpi)
    assert (plan.framework, plan.node_count, plan.processes_per_node) == ("mpi", 2, 3)


def test_conflicting_framework_pins_are_refused(source):
    with pytest.raises(ConfigError) as info:
        _quiet(PyTorch, source, framework_version="1.13", pip_packages=["torch==2.1"])
    assert info.value.field == "framework_version" and "torch==2.1" in str(info.value)
    same = _quiet(PyTorch, source, framework_version="1.13", pip_packages=["torch"])
    assert "torch==1.13.*" in same.environment.python.conda_dependencies.pip_packages


def test_new_style_configurations_as_distributed_training(source):
    estimator = _quiet(
        PyTorch,
        source,
        distributed_training=PyTorchConfiguration(communication_backend="Gloo", process_count=2),
    )
    assert plan_for(estimator).world_size == 2
    run = Experiment("v1-ctor").submit(estimator)
    assert run.wait_for_completion(timeout=60)["status"] == "Completed", run.get_log()
    assert {"RANK 0", "RANK 1"} <= {line.split("] ", 1)[-1] for line in run.get_log().splitlines()}
    tf = _quiet(
        TensorFlow, source, distributed_training=TensorflowConfiguration(worker_count=2, parameter_server_count=1)
    )
    assert plan_for(tf).world_size == 3
    mpi = _quiet(Estimator, source, node_count=2, distributed_training=MpiConfiguration(process_count_per_node=2))
    assert (plan_for(mpi).node_count, plan_for(mpi).world_size) == (2, 4)
    with pytest.raises(ConfigError, match="does not fit TensorFlow"):
        _quiet(TensorFlow, source, distributed_training=PyTorchConfiguration())
    with pytest.raises(ConfigError) as info:
        _quiet(PyTorch, source, node_count=3, distributed_training=PyTorchConfiguration(node_count=2))
    assert info.value.field == "node_count"
