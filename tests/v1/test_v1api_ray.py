"""v1 code on a real Ray cluster (head + worker on 127.0.0.1): an Azure cluster name aliased to the Ray target,
with the script's tags, properties, child runs and in-script model registration coming back as marker lines."""

from __future__ import annotations

import pytest

from runconfig_jupyter import Experiment, Model, ScriptRunConfig, Workspace
from tests.v1.helpers import aliased_target


@pytest.fixture
def aml_cluster(ray_cluster):  # the session's cluster (tests/conftest.py)
    with aliased_target("gpu-cluster", "v1-ray", type="ray", address=ray_cluster.address) as alias:
        yield alias


def test_v1_script_on_an_aliased_ray_cluster(v1_project, aml_cluster):
    ws = Workspace.from_config()
    config = ScriptRunConfig(".", script="train.py", arguments=["--alpha", 0.5], compute_target=aml_cluster)
    run = Experiment(workspace=ws, name="on-ray").submit(config)
    run.wait_for_completion(raise_on_error=False, timeout=300)
    assert run.get_status() == "Completed", run.get_log()
    assert run.record.target_type == "ray" and run.get_details()["target"] == "gpu-cluster"
    assert run.get_tags() == {"stage": "train"} and run.get_properties()["author"] == "script"
    children = list(run.get_children())
    assert len(children) == 3 and sorted(c.get_metrics().get("fold_score", -1) for c in children) == [-1, 0.5, 0.6]
    assert Model(ws, "from-script").run_id == run.id
