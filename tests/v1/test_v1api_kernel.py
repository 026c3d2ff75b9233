"""v1 code against a remote Jupyter kernel target (a real ``jupyter server`` on 127.0.0.1): the cluster name is
an alias of the kernel target, and the script's run history comes back as marker lines the driver applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter import ComputeTarget, Experiment, Model, ScriptRunConfig, Workspace
from tests.integration.kernel.servers import launch, stop
from tests.v1.helpers import aliased_target

TOKEN_ENV = "RCJ_V1_KERNEL_TOKEN"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    # The remote machine has this checkout's package installed (the shim path is covered on docker).
    server = launch("server", tmp_path_factory.mktemp("v1-jupyter-server"), extra_env={"PYTHONPATH": str(REPO)})
    yield server
    stop(server)


@pytest.fixture
def remote_cluster(jupyter_server, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, jupyter_server.token)
    spec = {"type": "kernel", "url": jupyter_server.url, "token_env": TOKEN_ENV, "grace_seconds": 2}
    with aliased_target("remote-cluster", "v1-remote-box", **spec) as alias:
        yield alias


def test_v1_script_on_an_aliased_kernel_target(v1_project, remote_cluster):
    ws = Workspace.from_config()
    cluster = ComputeTarget(workspace=ws, name=remote_cluster)
    assert (cluster.type, cluster.alias_of) == ("kernel", "v1-remote-box")
    config = ScriptRunConfig(".", script="train.py", arguments=["--alpha", 0.75], compute_target=cluster)
    run = Experiment(workspace=ws, name="on-kernel").submit(config)
    run.wait_for_completion(raise_on_error=False, timeout=300)
    assert run.get_status() == "Completed", run.get_log()
    assert run.get_details()["target"] == "remote-cluster" and run.record.target_type == "kernel"
    assert run.get_tags() == {"stage": "train"} and run.get_properties()["alpha"] == "0.75"
    children = list(run.get_children())
    assert len(children) == 3 and all(c.get_status() == "Completed" for c in children)
    assert sorted(c.get_metrics().get("fold_score", -1) for c in children) == [-1, 0.5, 0.6]
    assert Model(ws, "from-script").run_id == run.id
    assert "\x1e@runconfig" not in run.get_log()
