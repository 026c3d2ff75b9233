"""Call patterns of Microsoft's v1 dataset and datastore samples (train-with-datasets, scriptrun with data input and
output), ported by imports only and run on the real local target with a cluster name aliased to ``local``.

Each test is one break those samples hit, fixed in the owning module: a workspace without config.json still has
text names (samples concatenate them), and ``get_status().serialize()`` of a compute target.
"""

from __future__ import annotations

import pytest

from runconfig_jupyter.core import Dataset, Experiment, ScriptRunConfig, Workspace
from runconfig_jupyter.core.compute import AmlCompute, ComputeTarget
from runconfig_jupyter.core.compute_target import ComputeTargetException
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.data import OutputFileDatasetConfig
from tests.v1.helpers import aliased_target

COPY = """
import os, sys
print("Argument 1: %s" % sys.argv[1])
with open(sys.argv[1]) as source, open(os.path.join(sys.argv[2], "output.csv"), "w") as copy:
    copy.write(source.read())
"""


def test_cluster_status_serializes_and_a_dataset_copy_reaches_the_output(make_project, tmp_path):
    ws = Workspace.from_config()
    with aliased_target("cpu-cluster", "local"):
        try:
            compute_target = ComputeTarget(workspace=ws, name="cpu-cluster")
        except ComputeTargetException:
            config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
            compute_target = ComputeTarget.create(ws, "cpu-cluster", config)
        status = compute_target.get_status()
        serialized = status.serialize()
        assert status == "Succeeded" and serialized["provisioningState"] == "Succeeded" and serialized["errors"] is None
        (tmp_path / "iris.csv").write_text("a,b\n1,2\n")
        store = ws.get_default_datastore()
        store.upload_files(files=[str(tmp_path / "iris.csv")], target_path="script-run/", overwrite=True)
        input_data = Dataset.File.from_files(store.path("script-run/iris.csv")).as_named_input("input").as_mount()
        output = OutputFileDatasetConfig(destination=(store, "sample/outputdataset"))
        project = make_project({"dummy_train.py": COPY})
        src = ScriptRunConfig(
            source_directory=str(project),
            script="dummy_train.py",
            arguments=[input_data, output],
            compute_target=compute_target,
        )
        run = Experiment(ws, "ScriptRun_sample").submit(config=src)
        run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed"
    copied = ws.home / "datastores" / "workspaceblobstore" / "sample" / "outputdataset" / "output.csv"
    assert copied.read_text() == "a,b\n1,2\n"
    assert run.get_details()["target"] == "cpu-cluster"


def test_status_of_an_unavailable_target_serializes_its_reason():
    from runconfig_jupyter.core.compute import ComputeStatus

    status = ComputeStatus("Unavailable: the engine does not answer", False)
    serialized = status.serialize()
    assert serialized["provisioningState"] == "Failed" and serialized["currentNodeCount"] == 0
    assert serialized["errors"] == ["Unavailable: the engine does not answer"]
    with pytest.raises(AttributeError):
        status.provisioning_errors_typo  # noqa: B018 - a typo still fails as a typo


def test_run_configuration_takes_the_compute_target_object_and_v1_image_names(make_project):
    import runconfig_jupyter.core.runconfig
    from runconfig_jupyter.core.environment import DEFAULT_GPU_IMAGE
    from runconfig_jupyter.core.runconfig import RunConfiguration

    ws = Workspace.from_config()
    project = make_project({"train.py": "print('trained')\n"})
    with aliased_target("your cluster name", "local"):
        compute_target = ws.compute_targets["your cluster name"]
        run_config = RunConfiguration(framework="python")
        run_config.target = compute_target  # the object, as v1 samples assign it
        assert run_config.target == "your cluster name"
        run_config.environment.docker.enabled = True
        run_config.environment.docker.base_image = runconfig_jupyter.core.runconfig.DEFAULT_CPU_IMAGE
        assert DEFAULT_GPU_IMAGE.startswith("mcr.microsoft.com/azureml/")
        experiment = Experiment(ws, "training-datasets")
        with pytest.raises(ConfigError, match=r"register_target\('your cluster name', alias_of='docker'\)"):
            experiment.submit(ScriptRunConfig(str(project), script="train.py", run_config=run_config))
        run_config.environment.docker.enabled = False
        run = experiment.submit(ScriptRunConfig(str(project), script="train.py", run_config=run_config))
        run.wait_for_completion()
    assert run.get_status() == "Completed" and run.get_details()["target"] == "your cluster name"


def test_register_model_remembers_its_datasets(make_project, tmp_path):
    """train-with-datasets registers the best model with datasets=[('training data', dataset)]."""
    ws = Workspace.from_config()
    store = ws.get_default_datastore()
    (tmp_path / "features.csv").write_text("x\n1\n")
    store.upload_files([str(tmp_path / "features.csv")], target_path="diabetes", overwrite=True)
    files = Dataset.File.from_files(path=[(store, "diabetes/")])
    registered = Dataset.Tabular.from_delimited_files((store, "diabetes/features.csv")).register(ws, "diabetes table")
    project = make_project({"train.py": "import os\nos.makedirs('outputs')\nopen('outputs/m.pkl', 'w').write('m')\n"})
    run = Experiment(ws, "lineage").submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion()
    model = run.register_model(
        model_name="sklearn_diabetes",
        model_path="outputs/m.pkl",
        datasets=[("training data", files), ("training data", registered), ("validation", registered)],
    )
    from runconfig_jupyter.core.model import Model

    found = Model(ws, "sklearn_diabetes").datasets
    assert sorted(found) == ["training data", "validation"] and model.version == 1
    assert [d.to_path() for d in found["training data"]] == [["/features.csv"], ["/features.csv"]]
    assert found["validation"][0].name == "diabetes table" and found["validation"][0].version == 1
    with pytest.raises(ConfigError, match="scenario"):
        run.register_model(model_name="bad", model_path="outputs/m.pkl", datasets=[files])
