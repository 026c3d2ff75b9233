"""The same v1 scripts on the targets that cannot reach the run folder while running: a remote Jupyter
kernel and a Ray cluster (both real, from the integration fixtures). Images and uploads travel in the
log stream; ``$AZ_BATCHAI_TASK_INDEX`` / ``$NODE_RANK`` expand per process on each.
"""

from __future__ import annotations

import json

import pytest

from runconfig_jupyter import Experiment, PyTorchConfiguration, ScriptRunConfig
from tests.integration.kernel.servers import register
from tests.v1.scripts_launch import ECHO_ARGS
from tests.v1.scripts_logging import LOGGING_API_SCRIPT
from tests.v1.test_v1script_inscript import _check_logging_run


@pytest.fixture
def remote_kernel(jupyter_server, monkeypatch):
    """A remote server whose python lacks the package, as usual: the in-script shim is shipped (shim=always)."""
    return register(jupyter_server, monkeypatch, "v1-kernel", shim="always")


def test_logging_api_script_on_a_remote_kernel(make_project, remote_kernel):
    project = make_project({"train.py": LOGGING_API_SCRIPT})
    run = Experiment("v1-remote").submit(ScriptRunConfig(str(project), script="train.py", compute_target=remote_kernel))
    _check_logging_run(run, with_plot=False)


def test_arguments_expand_on_a_remote_kernel(make_project, remote_kernel):
    project = make_project({"echo.py": ECHO_ARGS})
    config = ScriptRunConfig(
        str(project), script="echo.py", compute_target=remote_kernel, arguments=["--who", "${GREETING}-$UNSET!"]
    )
    config.run_config.environment_variables = {"GREETING": "hi"}
    run = Experiment("v1-remote").submit(config)
    assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log()
    assert json.loads(run.get_log().split("ARGV ", 1)[1].splitlines()[0]) == ["--who", "hi-!"]


@pytest.mark.ray
def test_logging_api_and_per_node_variables_on_ray(make_project, ray_target):
    project = make_project({"train.py": LOGGING_API_SCRIPT, "echo.py": ECHO_ARGS})
    run = Experiment("v1-remote").submit(ScriptRunConfig(str(project), script="train.py", compute_target=ray_target))
    _check_logging_run(run, with_plot=False)
    config = ScriptRunConfig(
        str(project),
        command="python echo.py --node $NODE_RANK --task $AZ_BATCHAI_TASK_INDEX --of $AZUREML_NODE_COUNT",
        compute_target=ray_target,
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", node_count=2),
    )
    ranks = Experiment("v1-remote").submit(config)
    assert ranks.wait_for_completion(timeout=300)["status"] == "Completed", ranks.get_log()
    argvs = sorted(json.loads(line.split("ARGV ", 1)[1]) for line in ranks.get_log().splitlines() if "ARGV " in line)
    assert argvs == [["--node", "0", "--task", "0", "--of", "2"], ["--node", "1", "--task", "1", "--of", "2"]]
