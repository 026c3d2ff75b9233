"""A run started from its recorded launch (run.json ``launch``) gets exactly what its configuration would give.

The local target records, at submit, what its driver needs to start a plain run's script (core/target/interface.py
``recorded_launch``), so a fresh driver reaches the script without importing the config classes. These tests hold
the record to the configuration it replaces: the same argv for every command shape (interpreter slot, ``$NAME``
references, literal dollars), the same variables and deadline; no record where the configuration must be read
(data, several processes, an interpreter to build, secrets, a huge command); and a real run from a record that
sees its variables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runconfig_jupyter import Environment, Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import PyTorchConfiguration
from runconfig_jupyter.core.data.plan import DataOutput, DataPlan
from runconfig_jupyter.core.runs.launch import recorded_argv
from runconfig_jupyter.core.runs.submit import MAX_LAUNCH_BYTES
from runconfig_jupyter.targets.local.target import LocalTarget

ENV = {"X": "x value", "Y": "y$1", "NODE_RANK": "0", "PATH": "/usr/bin"}
PYTHON = "/opt/py $HOME/bin/python"  # a dollar in the interpreter's path stays literal

COMMANDS = [
    {"script": "train.py", "arguments": ["--lr", 0.1, "$X", "${NODE_RANK}", "\\$HOME", "a b", True]},
    {"script": "sub dir/train.py"},
    {"command": "python3 -c 'print(1)' $X \"${Y}\""},
    {"command": ["python", "-m", "pkg.mod", "--flag=${Y}", "'$X'"]},
    {"command": ["bash", "-c", "echo $X"]},
    {"command": "torchrun --nproc_per_node 1 train.py --rank $NODE_RANK"},
]


def _config(source: Path, **fields: object) -> ScriptRunConfig:
    config = ScriptRunConfig(str(source), **fields)  # type: ignore[arg-type]
    config.run_config.environment_variables = {"RUN_VAR": "r$1", "EMPTY": None}
    return config


@pytest.mark.parametrize("fields", COMMANDS, ids=lambda fields: str(fields)[:40])
def test_the_recorded_launch_gives_the_argv_variables_and_deadline_of_its_configuration(tmp_path, fields):
    config = _config(tmp_path, **fields)
    config.max_run_duration_seconds = 120
    record = json.loads(json.dumps(config.launch_record()))  # as run.json holds it
    assert recorded_argv(record, PYTHON, ENV) == config.argv(python=PYTHON, env=ENV)
    assert recorded_argv(record, "python", None) == config.argv()
    assert record["environment_variables"] == config.environment_variables() == {"RUN_VAR": "r$1", "EMPTY": ""}
    assert record["max_run_duration_seconds"] == 120


def test_the_local_target_records_a_launch_only_for_a_run_it_can_start_from_one(tmp_path):
    target = LocalTarget()
    plain = target.recorded_launch(_config(tmp_path, script="train.py"), DataPlan())
    assert plain is not None and plain["python"] == sys.executable
    user_python = _config(tmp_path, script="train.py")
    user_python.run_config.environment.python.user_managed_dependencies = True
    user_python.run_config.environment.python.interpreter_path = "/usr/bin/python3"
    assert target.recorded_launch(user_python, DataPlan())["python"] == "/usr/bin/python3"  # type: ignore[index]

    with_data = DataPlan(outputs=[DataOutput(name="out", datastore="d", kind="local", destination=str(tmp_path))])
    assert target.recorded_launch(_config(tmp_path, script="train.py"), with_data) is None  # paths go into argv
    distributed = _config(tmp_path, script="train.py", distributed_job_config=PyTorchConfiguration(process_count=2))
    assert target.recorded_launch(distributed, DataPlan()) is None
    to_build = _config(tmp_path, script="train.py")
    to_build.run_config.environment = Environment.from_pip_requirements("e", _requirements(tmp_path))
    assert target.recorded_launch(to_build, DataPlan()) is None  # a venv is built by the driver


def _requirements(folder: Path) -> Path:
    path = folder / "requirements.txt"
    path.write_text("rich\n")
    return path


def test_a_run_started_from_its_record_sees_its_variables_and_a_secret_run_is_started_from_its_config(
    run_home, tmp_path
):
    """Both real submits and drivers: the plain run is recorded with a launch, the run holding a secret is not
    (its record keeps only placeholders), and each script sees its own values."""
    (tmp_path / "show.py").write_text("import os, sys\nprint(sys.argv[1:], os.environ['SHOWN'])\n")
    experiment = Experiment("launch")
    plain_config = ScriptRunConfig(str(tmp_path), script="show.py", arguments=["$SHOWN", "\\$SHOWN"])
    plain_config.run_config.environment_variables = {"SHOWN": "plain value"}
    secret_config = ScriptRunConfig(str(tmp_path), script="show.py", arguments=["$API_TOKEN"])
    secret_config.run_config.environment_variables = {"SHOWN": "with a secret", "API_TOKEN": "s3cr3t-value"}
    plain, secret = experiment.submit(plain_config), experiment.submit(secret_config)
    assert plain.wait_for_completion(timeout=60)["status"] == "Completed"
    assert secret.wait_for_completion(timeout=60)["status"] == "Completed"

    plain_spec = json.loads((plain.run_dir / "run.json").read_text())
    assert plain_spec["launch"]["environment_variables"] == {"SHOWN": "plain value"}
    assert "['plain value', '$SHOWN'] plain value" in plain.get_log()
    secret_spec = (secret.run_dir / "run.json").read_text()
    assert "launch" not in json.loads(secret_spec) and "s3cr3t-value" not in secret_spec
    assert "['s3cr3t-value'] with a secret" in secret.get_log()


def test_a_run_with_a_huge_command_is_started_from_its_config_and_its_record_stays_readable(run_home, tmp_path):
    """The command and variables would be in run.json twice: above MAX_LAUNCH_BYTES the launch is left out."""
    (tmp_path / "size.py").write_text("import sys\nprint('argument of', len(sys.argv[1]), 'characters')\n")
    big = "x" * (MAX_LAUNCH_BYTES + 1)
    run = Experiment("launch").submit(ScriptRunConfig(str(tmp_path), script="size.py", arguments=[big]))
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    assert "launch" not in json.loads((run.run_dir / "run.json").read_text())
    assert f"argument of {len(big)} characters" in run.get_log()
