"""Environments and models kept locally (using-environments and train-within-notebook samples)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import CondaDependencies, Environment, Experiment, Model, Workspace
from runconfig_jupyter.core.errors import AssetConflict, AssetNotFound, ConfigError, RunNotFound


def test_environment_register_get_list_versions(v1_project):
    ws = Workspace.from_config()
    env = Environment(name="myenv")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
    first = env.register(workspace=ws)
    assert first.version == "1" and env.register(ws).version == "1"  # same definition: same version
    env.python.conda_dependencies.add_pip_package("pandas")
    assert env.register(ws).version == "2"
    restored = Environment.get(workspace=ws, name="myenv", version="1")
    assert restored.python.conda_dependencies.pip_packages == ["scikit-learn"]
    assert Environment.get(ws, "myenv").python.conda_dependencies.pip_packages == ["scikit-learn", "pandas"]
    assert list(Environment.list(workspace=ws)) == ["myenv"] and list(ws.environments) == ["myenv"]
    with pytest.raises(AssetNotFound, match="has no version 7"):
        Environment.get(ws, "myenv", version=7)
    with pytest.raises(ConfigError, match="name"):
        Environment().register(ws)
    with pytest.raises(ConfigError, match="not valid"):
        Environment(name="../escape").register(ws)


def test_curated_environment_names_say_how_to_define_one(v1_project):
    with pytest.raises(AssetNotFound) as caught:
        Environment.get(Workspace.from_config(), "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu")
    message = str(caught.value)
    assert "curated" in message and "'scikit-learn'" in message and "python_version='3.7'" in message


def test_models_from_runs_and_files_are_versioned_and_remember_their_run(v1_project, tmp_path):
    ws = Workspace.from_config()
    exp = Experiment(workspace=ws, name="train-in-notebook")
    (v1_project / "outputs").mkdir()
    with exp.start_logging(outputs="outputs") as run:
        (v1_project / "outputs" / "ridge.pkl").write_text("coefficients")
        run.log("mse", 0.3)
    model = run.register_model(model_name="ridge", model_path="outputs/ridge.pkl", tags={"area": "diabetes"})
    assert (model.name, model.version, model.id, model.run_id) == ("ridge", 1, "ridge:1", run.id)
    assert model.run.get_metrics() == {"mse": 0.3} and model.experiment_name == "train-in-notebook"
    local_file = tmp_path / "ridge-v2.pkl"
    local_file.write_text("better coefficients")
    second = Model.register(workspace=ws, model_path=str(local_file), model_name="ridge", properties={"mse": 0.2})
    assert second.version == 2 and second.run_id is None
    assert Model(ws, "ridge").version == 2 and Model(ws, name="ridge", version=1).tags == {"area": "diabetes"}
    assert Model(ws, id="ridge:1").run_id == run.id and Model(ws, "ridge", tags={"area": "diabetes"}).version == 1
    path = Model.get_model_path("ridge", version=1, _workspace=ws)
    assert Path(path).read_text() == "coefficients"
    copied = Model(ws, "ridge").download(target_dir=str(tmp_path / "dl"), exist_ok=True)
    assert Path(copied).read_text() == "better coefficients"
    with pytest.raises(ConfigError, match="exist_ok"):
        Model(ws, "ridge").download(target_dir=str(tmp_path / "dl"))
    assert [m.id for m in Model.list(ws)] == ["ridge:1", "ridge:2"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["ridge:2"]
    assert [m.id for m in Model.list(ws, run_id=run.id)] == ["ridge:1"]
    with pytest.raises(AssetConflict):
        second.add_properties({"mse": 0.9})
    second.add_tags({"stage": "prod"})
    assert Model(ws, "ridge").tags == {"stage": "prod"}
    with pytest.raises(RunNotFound):
        run.register_model("ridge", model_path="outputs/missing.pkl")
    with pytest.raises(ConfigError, match="outside"):
        run.register_model("ridge", model_path="../../runs.db")
    Model(ws, "ridge", version=1).delete()
    assert [m.id for m in Model.list(ws)] == ["ridge:2"]


def test_two_processes_registering_at_once_get_two_versions(v1_project, tmp_path):
    (tmp_path / "m.txt").write_text("weights")
    code = textwrap.dedent(
        f"""
        from runconfig_jupyter import Model, Workspace
        print(Model.register(Workspace(), {str(tmp_path / "m.txt")!r}, "shared").version)
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    versions = sorted(int(p.communicate(timeout=60)[0]) for p in processes)
    assert versions == [1, 2, 3, 4]
    assert [m.version for m in Model.list(Workspace(), name="shared")] == [1, 2, 3, 4]
