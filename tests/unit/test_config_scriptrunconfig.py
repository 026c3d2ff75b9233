"""ScriptRunConfig: signature, argv, validation errors, %%runconfig YAML, exact dict round trip."""

from __future__ import annotations

import inspect
import json

import pytest

from runconfig_jupyter.core.config import (
    MAX_DURATION_SECONDS_DEFAULT,
    CondaDependencies,
    DockerConfiguration,
    Environment,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "run.py").write_text("")
    return tmp_path


def test_signature_matches_azure():
    params = list(inspect.signature(ScriptRunConfig).parameters)
    assert params == [
        "source_directory", "script", "arguments", "run_config", "compute_target", "environment",
        "distributed_job_config", "resume_from", "max_run_duration_seconds", "command", "docker_runtime_config",
    ]  # fmt: skip
    assert MAX_DURATION_SECONDS_DEFAULT == ScriptRunConfig.MAX_DURATION_SECONDS_DEFAULT == 2592000
    config = ScriptRunConfig(".", script="train.py")
    assert config.max_run_duration_seconds == 2592000 and config.target_name == "local"


def test_arguments_keep_types_and_become_argv_strings(project):
    config = ScriptRunConfig(project, script="train.py", arguments=["--lr", 0.1, "--epochs", 2, "--flag", True])
    assert config.arguments == ["--lr", 0.1, "--epochs", 2, "--flag", True]
    assert config.argv() == ["python", "train.py", "--lr", "0.1", "--epochs", "2", "--flag", "True"]
    assert config.argv(python="/venv/bin/python")[0] == "/venv/bin/python"


def test_command_is_split_without_a_shell_and_gets_the_interpreter(project):
    config = ScriptRunConfig(project, command="python -c 'import sys; print(sys.argv)' a;b '$HOME'")
    assert config.argv(python="/x/python") == ["/x/python", "-c", "import sys; print(sys.argv)", "a;b", "$HOME"]
    assert ScriptRunConfig(project, command=["echo", 1]).argv() == ["echo", "1"]
    config.validate()


def test_command_with_script_or_arguments_is_an_error(project):
    with pytest.raises(ConfigError, match=r"command: give either command or script") as caught:
        ScriptRunConfig(project, script="train.py", command="python train.py")
    assert caught.value.field == "command"
    with pytest.raises(ConfigError, match=r"command"):
        ScriptRunConfig(project, arguments=[1], command="echo")
    config = ScriptRunConfig(project, command="echo hi")
    config.script = "train.py"
    with pytest.raises(ConfigError, match=r"not both"):
        config.validate()


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"script": "trian.py"}, "script", "Did you mean 'train.py'"),
        ({"script": "../train.py"}, "script", "relative to source_directory"),
        ({}, "script", "nothing to run"),
        ({"script": "train.py", "max_run_duration_seconds": 0}, "max_run_duration_seconds", "positive"),
        ({"script": "train.py", "max_run_duration_seconds": 1.5}, "max_run_duration_seconds", "whole number"),
        ({"script": "train.py", "arguments": ["--x", {"a": 1}]}, "arguments[1]", "text or a number"),
        ({"command": "echo 'unclosed"}, "command", "close the quote"),
        ({"script": "train.py", "compute_target": 3}, "compute_target", "target name"),
    ],
)
def test_validate_names_the_field(project, kwargs, field, message):
    config = ScriptRunConfig(project, **kwargs)
    with pytest.raises(ConfigError, match=message) as caught:
        config.validate()
    assert caught.value.field == field


def test_validate_checks_the_source_directory_and_can_skip_files(tmp_path):
    config = ScriptRunConfig(tmp_path / "missing", script="train.py")
    with pytest.raises(ConfigError, match=r"source_directory: .* is not a folder"):
        config.validate()
    config.validate(check_files=False)
    ScriptRunConfig(tmp_path, script="nope.py").validate(check_files=False)


def test_run_config_fields_are_shared_and_explicit_args_win(project):
    rc = RunConfiguration(script="pkg/run.py", max_run_duration_seconds=60, target="docker")
    config = ScriptRunConfig(project, run_config=rc)
    assert config.script == "pkg/run.py" and config.max_run_duration_seconds == 60 and config.target_name == "docker"
    with pytest.warns(UserWarning, match="compute_target 'local' is ignored because run_config was given"):
        config = ScriptRunConfig(project, script="train.py", run_config=rc, max_run_duration_seconds=30,
                                 compute_target="local")  # fmt: skip
    # Azure ML ignores compute_target next to run_config: the run goes to run_config.target
    assert rc.script == "train.py" and rc.max_run_duration_seconds == 30 and rc.target == "docker"
    assert config.target_name == "docker"
    env = Environment("e")
    docker = DockerConfiguration(use_docker=True, shm_size="4g")
    config = ScriptRunConfig(project, script="train.py", environment=env, docker_runtime_config=docker)
    assert config.run_config.environment is env and config.run_config.docker is docker
    assert config.effective_environment() is env


def test_target_name_variants(project):
    class Target:
        name = "gpu-box"

    assert ScriptRunConfig(project, script="train.py", compute_target="docker").target_name == "docker"
    assert ScriptRunConfig(project, script="train.py", compute_target=Target()).target_name == "gpu-box"
    assert ScriptRunConfig(project, script="train.py", run_config=RunConfiguration(target="ray")).target_name == "ray"


def test_environment_variables_merge_run_over_environment(project):
    env = Environment("e")
    env.environment_variables = {"A": "env", "B": 2}
    config = ScriptRunConfig(project, script="train.py", environment=env)
    config.run_config.environment_variables = {"A": "run", "C": None}
    assert config.environment_variables() == {"A": "run", "B": "2", "C": ""}


def full(project) -> ScriptRunConfig:
    env = Environment("torch")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["rich"])
    env.environment_variables = {"E": "1"}
    config = ScriptRunConfig(
        project,
        script="train.py",
        arguments=["--lr", 0.1, 3, False],
        compute_target="docker",
        environment=env,
        distributed_job_config=PyTorchConfiguration("gloo", process_count=2),
        resume_from="run_1_abc",
        max_run_duration_seconds=120,
        docker_runtime_config=DockerConfiguration(use_docker=True, shm_size="1g"),
    )
    config.run_config.extra["amlCompute"] = {"vmSize": "x"}
    return config


def test_dict_round_trip_is_exact_through_json(project):
    config = full(project)
    data = json.loads(json.dumps(config.to_dict()))
    again = ScriptRunConfig.from_dict(data)
    assert again.to_dict() == config.to_dict() and again == config
    assert again.arguments == ["--lr", 0.1, 3, False]
    assert again.distributed_job_config == PyTorchConfiguration("Gloo", 2)
    assert again.run_config.communicator == "Gloo" and again.target_name == "docker"
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'run_config'"):
        ScriptRunConfig.from_dict({**data, "runconfig": {}})


def test_yaml_round_trip(project):
    config = full(project)
    assert ScriptRunConfig.from_yaml(config.to_yaml(), source_directory="/elsewhere") == config


def test_from_yaml_cell_with_azure_and_scriptrunconfig_keys(project):
    text = """
source_directory: pkg
script: run.py
arguments: [--epochs, 2, --lr, 0.5, --fast, true]
compute_target: docker
environment:
  name: e
  python:
    conda_dependencies:
      dependencies: [{pip: [rich]}]
environmentVariables: {GREETING: s3cr3tvalue}
maxRunDurationSeconds: 60
distributed_job_config: {pytorch: {process_count: 2}}
"""
    config = ScriptRunConfig.from_yaml(text, source_directory=project)
    assert config.source_directory == str(project / "pkg")
    assert config.arguments == ["--epochs", 2, "--lr", 0.5, "--fast", True]
    assert config.target_name == "docker" and config.max_run_duration_seconds == 60
    assert config.environment.python.conda_dependencies.pip_packages == ["rich"]
    assert config.run_config.framework == "PyTorch" and config.run_config.pytorch.process_count == 2
    assert config.environment_variables() == {"GREETING": "s3cr3tvalue"}
    config.validate()
    summary = config.summary()
    assert "python run.py --epochs 2" in summary and "docker" in summary and "GREETING" in summary
    assert "s3cr3tvalue" not in summary  # variable values stay out of summaries


def test_from_yaml_defaults_and_other_forms(project):
    config = ScriptRunConfig.from_yaml("script: train.py\n", source_directory=project)
    assert config.source_directory == str(project) and config.max_run_duration_seconds == MAX_DURATION_SECONDS_DEFAULT
    assert config.target_name == "local"
    config = ScriptRunConfig.from_yaml(
        "command: python train.py --x 1\nenvironment: AzureML-Minimal\n"
        "distributed_job_config: {type: TensorFlow, worker_count: 2}\nmaxRunDurationSeconds: null\n",
        source_directory=project,
    )
    assert config.argv() == ["python", "train.py", "--x", "1"] and config.environment.name == "AzureML-Minimal"
    assert config.distributed_job_config == TensorflowConfiguration(2) and config.run_config.node_count == 2
    assert config.max_run_duration_seconds is None
    assert ScriptRunConfig.from_yaml("", source_directory=project).script is None


def test_from_yaml_environment_and_conda_files_relative_to_source(project):
    (project / "env.yml").write_text("name: fromfile\npython:\n  condaDependenciesFile: conda.yml\n")
    (project / "conda.yml").write_text("dependencies:\n- pip:\n  - rich\n")
    config = ScriptRunConfig.from_yaml("script: train.py\nenvironment: env.yml\n", source_directory=project)
    assert config.environment.name == "fromfile"
    assert config.environment.python.conda_dependencies.pip_packages == ["rich"]
    with pytest.raises(ConfigError, match=r"environment: 'nope.yml' is not a file.*\(line 2\)"):
        ScriptRunConfig.from_yaml("script: train.py\nenvironment: nope.yml\n", source_directory=project)


@pytest.mark.parametrize(
    "text, suggestion, line",
    [
        ("script: train.py\nmaxRunDurationSecond: 10\n", "maxRunDurationSeconds", 2),
        ("script: train.py\n\nsource_directroy: x\n", "source_directory", 3),
        ("script: train.py\ncompute_targt: docker\n", "compute_target", 2),
        ("script: train.py\nenvironment:\n  docker:\n    base_imag: x\n", "base_image", 4),
        ("distributed_job_config:\n  pytorch:\n    proces_count: 2\n", "process_count", 3),
    ],
)
def test_from_yaml_typos_suggest_and_name_the_line(project, text, suggestion, line):
    with pytest.raises(UnknownKeyError) as caught:
        ScriptRunConfig.from_yaml(text, source_directory=project)
    assert caught.value.suggestion == suggestion and caught.value.line == line
    assert f"(line {line})" in str(caught.value)


def test_from_yaml_validation_errors_carry_lines(project):
    config = ScriptRunConfig.from_yaml("script: train.py\nmax_run_duration_seconds: -5\n", source_directory=project)
    with pytest.raises(ConfigError, match=r"max_run_duration_seconds: .*\(line 2\)"):
        config.validate()
    config = ScriptRunConfig.from_yaml("script: train.py\narguments: [a, [b]]\n", source_directory=project)
    with pytest.raises(ConfigError, match=r"arguments\[1\]: .*\(line 2\)"):
        config.validate()
    config = ScriptRunConfig.from_yaml("script: train.py\n\nframework: Caffe\n", source_directory=project)
    with pytest.raises(ConfigError, match=r"run_config.framework: .*\(line 3\)"):
        config.validate()


@pytest.mark.parametrize(
    "text, message",
    [
        ("- script: train.py\n", "must be YAML keys"),
        ("script: train.py\ntarget: local\ncompute_target: docker\n", "disagree"),
        ("script: train.py\ncompute_target: 5\n", "target name"),
        ("script: train.py\ndistributed_job_config: {type: horovod}\n", "unknown type"),
        ("script: train.py\nscript: again.py\n", "given twice"),
        ("command: echo\nscript: train.py\n", "not both"),
    ],
)
def test_from_yaml_rejects_bad_cells(project, text, message):
    with pytest.raises(ConfigError, match=message):
        ScriptRunConfig.from_yaml(text, source_directory=project).validate()


def test_arguments_as_one_string_is_refused_with_the_fix(project):
    with pytest.raises(ConfigError, match=r"arguments: must be a list.*command=") as caught:
        ScriptRunConfig(project, script="train.py", arguments="--epochs 3")
    assert caught.value.field == "arguments"


def test_environment_given_by_name_or_dict(project):
    assert ScriptRunConfig(project, script="train.py", environment="myenv").environment.name == "myenv"
    config = ScriptRunConfig(project, script="train.py", environment={"python": {"userManagedDependencies": True}})
    assert config.environment.python.user_managed_dependencies is True


@pytest.mark.parametrize(
    "body, field, line",
    [
        ("environment:\n  docker:\n    enabled: maybe\n", "environment.docker.enabled", 3),
        ("environment:\n  docker:\n    baseImageRegistry: {address: r.io, password: hunter2}\n",
         "environment.docker.base_image_registry.password", 3),
        ("environment:\n  python:\n    interpreterPath: ''\n", "environment.python.interpreter_path", 3),
        ("docker:\n  shmSize: huge\n", "run_config.docker.shm_size", 2),
    ],
)  # fmt: skip
def test_environment_field_errors_name_field_and_line(project, body, field, line):
    config = ScriptRunConfig.from_yaml("script: train.py\n" + body, source_directory=project)
    with pytest.raises(ConfigError) as caught:
        config.validate()
    assert caught.value.field == field
    assert caught.value.line == line + 1


def test_empty_azure_keys_mean_the_default(project):
    config = ScriptRunConfig.from_yaml(
        "script: train.py\narguments:\ntarget:\nnodeCount:\nenvironment:\ndocker:\n", source_directory=project
    )
    assert config.arguments == [] and config.target_name == "local" and config.run_config.node_count == 1
    assert config.environment == Environment() and config.run_config.docker.shm_size == "2g"
    config.validate()


def test_unknown_sections_in_a_cell_are_kept_and_shown(project):
    config = ScriptRunConfig.from_yaml("script: train.py\nzzqx: {a: 1}\namlCompute: {vmSize: x}\n", project)
    assert config.run_config.extra == {"zzqx": {"a": 1}, "amlCompute": {"vmSize": "x"}}
    assert "kept as-is" in config.summary() and "zzqx" in config.summary()
    assert ScriptRunConfig.from_dict(config.to_dict()).run_config.extra == config.run_config.extra


def test_the_driver_path_imports_no_yaml_and_no_jupyter(project):
    """The detached driver only rebuilds a config from JSON: it must stay light."""
    import subprocess
    import sys

    code = (
        "import json, sys; from runconfig_jupyter.core.config import ScriptRunConfig as S; "
        f"S.from_dict(json.loads(json.dumps(S({str(project)!r}, script='train.py').to_dict()))).validate(); "
        "print(sorted(m for m in ('yaml', 'IPython', 'ipywidgets', 'tornado', 'jupyter_server') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
