"""RunConfiguration: every Azure section, its on-disk files, save/load/delete."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from runconfig_jupyter.core.config import (
    CondaDependencies,
    DockerConfiguration,
    Environment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError
from runconfig_jupyter.core.runconfig import (
    HdiConfiguration,
    HistoryConfiguration,
    ParallelTaskConfiguration,
    SparkConfiguration,
)


def full_config() -> RunConfiguration:
    """Every section away from its default, so a round trip that drops anything shows."""
    env = Environment("full")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["rich==13.7"], conda_packages=["libgomp"])
    env.docker.enabled = True
    env.docker.base_image = "python:3.11-slim"
    env.docker.gpu_support = True
    env.environment_variables = {"FROM_ENV": "1"}
    return RunConfiguration(
        script="train.py",
        arguments=["--lr", 0.1, "--epochs", 2, "--flag", True],
        target="docker",
        framework="PyTorch",
        communicator="Gloo",
        max_run_duration_seconds=600,
        node_count=2,
        priority=5,
        environment=env,
        environment_variables={"RUN_VAR": "x"},
        history=HistoryConfiguration(output_collection=False, directories_to_watch=["logs", "tb"]),
        spark=SparkConfiguration(configuration={"spark.executor.cores": 2}),
        hdi=HdiConfiguration(yarn_deploy_mode="client"),
        docker=DockerConfiguration(use_docker=True, shm_size="8g", arguments=["--ipc=host"]),
        tensorflow=TensorflowConfiguration(3, 2),
        mpi=MpiConfiguration(4, 2),
        pytorch=PyTorchConfiguration("Gloo", 4, 2),
        paralleltask=ParallelTaskConfiguration(max_retries_per_worker=2, terminal_exit_codes=[3]),
        data_references={"input": {"dataStoreName": "ds", "mode": "mount", "pathOnDataStore": "d"}},
        data={"train": {"dataLocation": {"dataset": {"id": "x"}}, "mechanism": "Mount"}},
        output_data={"out": {"outputLocation": {"uri": {"path": "p"}}, "mechanism": "Upload"}},
        services={"tb": {"endpoint": "http://127.0.0.1:6006"}},
    )


def test_azure_defaults():
    rc = RunConfiguration()
    assert (rc.target, rc.framework, rc.communicator, rc.node_count) == ("local", "Python", "None", 1)
    assert rc.docker == DockerConfiguration(use_docker=False, shm_size="2g", arguments=[])
    assert rc.arguments == [] and rc.script is None and rc.command is None and rc.max_run_duration_seconds is None
    assert list(rc.to_dict())[:4] == ["script", "arguments", "framework", "communicator"]


def test_azure_positional_order_and_conda_shortcut():
    conda = CondaDependencies.create(pip_packages=["rich"])
    rc = RunConfiguration("train.py", ["--x", 1], "PyTorch", "Nccl", conda)
    assert (rc.script, rc.arguments, rc.framework, rc.communicator) == ("train.py", ["--x", 1], "PyTorch", "Nccl")
    assert rc.environment.python.conda_dependencies == conda
    assert "conda_dependencies" not in RunConfiguration.attrs()


def test_every_section_round_trips_through_save_and_load(tmp_path):
    config = full_config()
    written = config.save(tmp_path, "train")
    assert written == tmp_path / ".azureml" / "train.runconfig"
    loaded = RunConfiguration.load(tmp_path, "train")
    assert loaded == config
    assert loaded.arguments == ["--lr", 0.1, "--epochs", 2, "--flag", True]  # types survive
    on_disk = yaml.safe_load(written.read_text())
    assert on_disk["maxRunDurationSeconds"] == 600 and on_disk["pyTorch"]["processCount"] == 4
    assert on_disk["environment"]["python"]["condaDependenciesFile"] == ".azureml/conda_dependencies.yml"
    conda = yaml.safe_load((tmp_path / ".azureml" / "conda_dependencies.yml").read_text())
    assert {"pip": ["rich==13.7"]} in conda["dependencies"]


def test_separate_environment_yaml(tmp_path):
    config = full_config()
    written = config.save(tmp_path, "sep", separate_environment_yaml=True)
    on_disk = yaml.safe_load(written.read_text())
    assert on_disk["environment"] == ".azureml/environment.yml"
    env = yaml.safe_load((tmp_path / ".azureml" / "environment.yml").read_text())
    assert env["docker"]["baseImage"] == "python:3.11-slim"
    assert RunConfiguration.load(tmp_path, "sep") == config


def test_save_creates_folders_and_prefers_legacy_aml_config(tmp_path):
    deep = tmp_path / "not" / "yet"
    RunConfiguration(script="a.py").save(deep, "x")
    assert (deep / ".azureml" / "x.runconfig").is_file()
    (tmp_path / "aml_config").mkdir()
    path = RunConfiguration(script="b.py").save(tmp_path, "y.runconfig")
    assert path == tmp_path / "aml_config" / "y.runconfig"
    assert RunConfiguration.load(tmp_path, "y").script == "b.py"
    loaded = RunConfiguration.load(path)  # a file path, no name
    assert loaded.script == "b.py"
    loaded.script = "c.py"
    assert loaded.save(tmp_path) == path  # saved back under the name it was loaded from
    assert loaded.save(tmp_path / "elsewhere.runconfig") == tmp_path / "elsewhere.runconfig"
    assert RunConfiguration.load(tmp_path / "elsewhere.runconfig").script == "c.py"


def test_suffix_optional_on_load_and_delete(tmp_path):
    RunConfiguration(script="a.py").save(tmp_path, "a")
    assert RunConfiguration.load(tmp_path, "a.runconfig").script == "a.py"
    RunConfiguration.delete(tmp_path, "a.runconfig")
    assert not (tmp_path / ".azureml" / "a.runconfig").exists()


def test_delete_removes_side_files_nobody_else_uses(tmp_path):
    full_config().save(tmp_path, "one", separate_environment_yaml=True)
    other = RunConfiguration(script="b.py")
    other.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["other"])
    other.save(tmp_path, "two")
    folder = tmp_path / ".azureml"
    # 'two' has different packages: it gets its own conda file instead of overwriting one's
    assert (folder / "two.conda_dependencies.yml").is_file()
    assert RunConfiguration.load(tmp_path, "one").environment.python.conda_dependencies.pip_packages == ["rich==13.7"]
    RunConfiguration.delete(tmp_path, "one")
    assert sorted(p.name for p in folder.iterdir()) == ["two.conda_dependencies.yml", "two.runconfig"]
    RunConfiguration.delete(tmp_path, "two")
    assert list(folder.iterdir()) == []


def test_missing_runconfig_lists_what_exists(tmp_path):
    RunConfiguration().save(tmp_path, "exists")
    with pytest.raises(ConfigError, match=r"no run configuration 'nope'.*available: exists") as caught:
        RunConfiguration.load(tmp_path, "nope")
    assert caught.value.field == "name"
    with pytest.raises(ConfigError, match=r"no run configuration"):
        RunConfiguration.delete(tmp_path, "nope")
    assert RunConfiguration.load(tmp_path).target == "local"  # the only one: no name needed
    with pytest.raises(ConfigError, match=r"give a name"):
        RunConfiguration().save(tmp_path)


def test_azure_written_file_with_comments_and_snake_case_loads(tmp_path):
    folder = tmp_path / ".azureml"
    folder.mkdir()
    (folder / "conda_dependencies.yml").write_text("name: project_environment\ndependencies:\n- pip:\n  - rich\n")
    (folder / "azure.runconfig").write_text(
        textwrap.dedent(
            """\
            # The script to run.
            script: train.py
            arguments: [--epochs, 3]
            target: local
            framework: Python
            communicator: None
            node_count: 1
            environment:
              name: project
              python:
                user_managed_dependencies: false
                interpreter_path: python
                conda_dependencies_file: .azureml/conda_dependencies.yml
              docker:
                enabled: false
                baseImageRegistry:
                  address:
            amlcompute:
              vmSize: STANDARD_D2
            sourceDirectoryDataStore:
            history:
              outputCollection: true
            """
        )
    )
    rc = RunConfiguration.load(tmp_path, "azure")
    assert rc.arguments == ["--epochs", 3] and rc.environment.name == "project"
    assert rc.environment.python.conda_dependencies.pip_packages == ["rich"]
    assert rc.extra["amlcompute"] == {"vmSize": "STANDARD_D2"} and "sourceDirectoryDataStore" in rc.extra
    rc.save(tmp_path, "again")
    assert RunConfiguration.load(tmp_path, "again") == rc


def test_typo_in_a_file_names_key_suggestion_and_line(tmp_path):
    folder = tmp_path / ".azureml"
    folder.mkdir()
    (folder / "bad.runconfig").write_text("script: a.py\ndocker:\n  shmSzie: 1g\n")
    with pytest.raises(UnknownKeyError, match=r"docker.shmSzie: .*Did you mean 'shmSize'.*\(line 3\)"):
        RunConfiguration.load(tmp_path, "bad")


def test_missing_conda_file_is_a_clear_error(tmp_path):
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "c.runconfig").write_text("environment:\n  python:\n    condaDependenciesFile: gone.yml\n")
    with pytest.raises(ConfigError, match=r"gone.yml' does not exist") as caught:
        RunConfiguration.load(tmp_path, "c")
    assert caught.value.field == "environment.python.conda_dependencies_file"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"framework": "Caffe"}, "run_config.framework"),
        ({"communicator": "Pigeon"}, "run_config.communicator"),
        ({"node_count": 0}, "run_config.node_count"),
        ({"docker": DockerConfiguration(shm_size="lots")}, "run_config.docker.shm_size"),
        ({"environment_variables": {"A": [1]}}, "run_config.environment_variables.A"),
    ],
)
def test_check_names_the_field(change, field):
    rc = RunConfiguration(**change)
    with pytest.raises(ConfigError) as caught:
        rc.check()
    assert caught.value.field == field
