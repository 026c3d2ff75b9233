"""Workspace and compute names, written as an Azure ML v1 notebook would call them (azureml.core docs)."""

from __future__ import annotations

import re

import pytest
import yaml

from runconfig_jupyter import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    Experiment,
    NotSupportedLocally,
    ScriptRunConfig,
    Workspace,
    register_target,
)
from runconfig_jupyter.core.errors import ConfigError, UnknownTarget
from runconfig_jupyter.core.target.configured import unregister_target


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield
    for name in ("cpu-cluster", "gpu-cluster", "local-alias"):
        unregister_target(name)


def test_from_config_get_and_constructor_return_the_local_workspace(v1_project, run_home):
    ws = Workspace.from_config()
    assert (ws.name, ws.resource_group, ws.home) == ("ml-workspace", "rg-ml", run_home)
    assert ws.config_path == v1_project / ".azureml" / "config.json"
    assert Workspace.get("other", subscription_id="sub", resource_group="rg").home == run_home
    assert Workspace("sub", "rg", "named").name == "named"
    nested = v1_project / "deep" / "folder"
    nested.mkdir(parents=True)
    assert Workspace.from_config(path=str(nested)).name == "local"  # an explicit folder without config.json


def test_experiment_takes_the_workspace_by_keyword_and_lists(v1_project):
    ws = Workspace.from_config()
    exp = Experiment(workspace=ws, name="kw-exp")
    assert exp.workspace is ws and exp.name == "kw-exp" and Experiment(ws, "kw-exp") == exp
    with exp.start_logging() as run:
        run.log("a", 1)
    assert [e.name for e in Experiment.list(ws)] == ["kw-exp"] and list(ws.experiments) == ["kw-exp"]
    assert run.experiment.name == "kw-exp" and run.experiment.workspace.home == ws.home


def test_unknown_cluster_says_how_to_alias_it_and_provisioning_is_refused(v1_project):
    ws = Workspace.from_config()
    with pytest.raises(ComputeTargetException) as caught:
        ComputeTarget(workspace=ws, name="cpu-cluster")
    assert "aliases: {cpu-cluster: local}" in str(caught.value) and "alias_of='local'" in str(caught.value)
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
    with pytest.raises(NotSupportedLocally, match=r"ComputeTarget\.create"):
        ComputeTarget.create(ws, "cpu-cluster", config)
    with pytest.raises(ComputeTargetException, match=re.escape("aliases: {gpu-cluster: local}")):
        ws.compute_targets["gpu-cluster"]
    with pytest.raises(KeyError):  # code that catches KeyError on the dict still does
        ws.compute_targets["gpu-cluster"]
    assert ws.compute_targets.get("gpu-cluster") is None
    assert ws.datasets == {}  # the local dataset registry (tests/data), empty in a new run home
    # datastores are local now (tests/data): the default one is a writable folder of the run home
    assert list(ws.datastores) == ["workspaceblobstore"]
    default = ws.get_default_datastore()
    assert (default.name, default.datastore_type, default.read_only) == ("workspaceblobstore", "Local", False)


def test_alias_in_targets_yaml_runs_ported_code_on_the_local_target(v1_project, run_home):
    """compute_target='cpu-cluster' from a v1 notebook runs once targets.yaml maps the name."""
    (run_home / "targets.yaml").write_text(yaml.safe_dump({"aliases": {"cpu-cluster": "local"}}))
    ws = Workspace.from_config()
    cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
    cluster.wait_for_completion(show_output=True)
    assert (cluster.type, cluster.alias_of, cluster.get_status()) == ("local", "local", "Succeeded")
    assert ws.compute_targets["cpu-cluster"].alias_of == "local"
    config = ScriptRunConfig(".", script="train.py", arguments=["--alpha", 0.3], compute_target=cluster)
    run = Experiment(workspace=ws, name="aliased").submit(config)
    run.wait_for_completion(raise_on_error=True)
    details = run.get_details()
    assert details["target"] == "cpu-cluster" and details["targetType"] == "local"
    assert run.get_metrics()["alpha"] == 0.3


def test_register_target_alias_is_checked_when_made(v1_project):
    register_target("gpu-cluster", alias_of="docker")
    assert ComputeTarget(name="gpu-cluster").type == "docker"
    with pytest.raises(UnknownTarget, match="not a configured target"):
        register_target("cpu-cluster", alias_of="nowhere")
    with pytest.raises(ConfigError, match="name of a configured target"):
        register_target("local", alias_of="docker")
    with pytest.raises(ConfigError, match="either type"):
        register_target("local-alias", type="local", alias_of="local")
    with pytest.raises(ComputeTargetException):  # the refused alias was not kept
        ComputeTarget(name="cpu-cluster")


def test_a_broken_alias_is_listed_with_its_error_and_hides_nothing(v1_project, run_home):
    from runconfig_jupyter import list_targets

    (run_home / "targets.yaml").write_text(yaml.safe_dump({"aliases": {"cpu-cluster": "local", "old": "gone"}}))
    infos = {info.name: info for info in list_targets(check=False)}
    assert infos["cpu-cluster"].available and infos["cpu-cluster"].settings == {"alias_of": "local"}
    assert not infos["old"].available and "not a configured target" in infos["old"].detail
    assert {"local", "docker"} <= set(infos)
    assert ComputeTarget(name="cpu-cluster").alias_of == "local"  # a broken alias does not block the others
    with pytest.raises(UnknownTarget, match="points at 'gone'"):
        ComputeTarget(name="old")


def test_a_script_reaches_the_whole_workspace_through_its_run(v1_project, tmp_path):
    """``ws = run.experiment.workspace`` in a training script (v1 samples do it to find datastores and models).

    The in-script context gets ``Experiment`` handed in by ``Run.get_context()`` rather than importing it; this
    checks, in a real local run, that what it builds is the full workspace, not a stand-in with a home only.
    """
    ws = Workspace.from_config()
    model_file = tmp_path / "weights.txt"
    model_file.write_text("w")
    from runconfig_jupyter import Model

    registered = Model.register(ws, model_path=str(model_file), model_name="in-script-model")
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(
        "from runconfig_jupyter import Model, Run\n"
        "run = Run.get_context()\n"
        "ws = run.experiment.workspace\n"
        "print('kind', type(ws).__name__, run.experiment.name)\n"
        "print('store', ws.get_default_datastore().name)\n"
        "print('models', sorted(ws.models))\n"
        "print('path', Model.get_model_path('in-script-model'))\n"
        "print('this run', ws.get_run(run.id).id == run.id)\n"
    )
    run = Experiment(ws, "through-run").submit(ScriptRunConfig(str(source), script="train.py"))
    run.wait_for_completion(timeout=120, raise_on_error=True)
    log = run.get_log()
    assert "kind Workspace through-run" in log
    assert "store workspaceblobstore" in log and "models ['in-script-model']" in log
    assert f"path {registered.path}" in log and "this run True" in log


def test_create_of_a_mapped_cluster_name_gives_the_mapped_target(v1_project):
    """v1 samples test the cluster's class (``type(target) is AmlCompute``) and create it when the test fails, which
    it does here for a name mapped to a local target: create() then gives that target, and the sample goes on."""
    ws = Workspace.from_config()
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
    register_target("cpu-cluster", alias_of="local")
    cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    cluster.wait_for_completion(show_output=False)
    assert (cluster.name, cluster.alias_of, cluster.get_status()) == ("cpu-cluster", "local", "Succeeded")
    assert ComputeTarget.create(ws, "local", config).name == "local"
    with pytest.raises(NotSupportedLocally, match=r"'gpu-cluster'"):
        ComputeTarget.create(ws, "gpu-cluster", config)
