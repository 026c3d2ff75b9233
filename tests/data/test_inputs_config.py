"""Data in the run configuration: v1 objects become v1 runconfig entries, which round-trip through YAML and files."""

from __future__ import annotations

import warnings

import pytest

from runconfig_jupyter import Dataset, Datastore, Estimator, RunConfiguration, ScriptRunConfig
from runconfig_jupyter.core.data.bindings import input_requests, output_requests
from runconfig_jupyter.core.data.plan import apply_paths, substitute
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.data import OutputFileDatasetConfig

V1_YAML = """
script: report.py
arguments: [--refs, $AZUREML_DATAREFERENCE_refs, --train, 'DatasetConsumptionConfig:train', --out,
  'DatasetOutputConfig:model']
dataReferences:
  refs: {dataStoreName: trainingdata, mode: download, pathOnDataStore: train, pathOnCompute: /data/refs,
    overwrite: false}
data:
  train:
    dataLocation:
      dataset: {id: null, name: table, version: 2}
      datapath: null
    mechanism: mount
    environmentVariableName: train
    pathOnCompute: null
    overwrite: false
outputData:
  model:
    outputLocation:
      uri: {path: 'azureml://datastores/workspaceblobstore/paths/models/{run-id}', isFile: false}
    mechanism: upload
    additionalOptions:
      pathOnCompute: /out/model
      uploadOptions: {overwrite: true, sourceGlobs: null}
      registrationOptions: {name: trained}
"""


def test_v1_yaml_round_trips_and_reads_as_requests(project):
    config = ScriptRunConfig.from_yaml(V1_YAML, source_directory=str(project))
    again = ScriptRunConfig.from_yaml(config.to_yaml(), source_directory=str(project))
    assert again.to_dict() == config.to_dict()
    [refs, train] = input_requests(config.run_config)
    assert (refs.name, refs.mode, refs.datastore, refs.path, refs.path_on_compute) == (
        "refs",
        "download",
        "trainingdata",
        "train",
        "/data/refs",
    )
    assert (train.field, train.mode, train.dataset) == (
        "data.train",
        "mount",
        {"id": None, "name": "table", "version": 2},
    )
    [model] = output_requests(config.run_config)
    assert (model.datastore, model.destination, model.path_on_compute) == (
        "workspaceblobstore",
        "models/{run-id}",
        "/out/model",
    )
    assert model.overwrite is True and model.register_as == "trained"


def test_objects_in_arguments_become_entries_saved_and_loaded_as_a_runconfig_file(project, datastore, tmp_path):
    files = Dataset.File.from_files((datastore, "train/**"))
    output = OutputFileDatasetConfig("model", destination=(datastore, "out/{run-id}/{output-name}"))
    config = ScriptRunConfig(
        str(project),
        script="report.py",
        arguments=[
            "--in",
            files.as_named_input("files").as_download("/d"),
            "--ref",
            datastore.path("single.txt"),
            output,
        ],
    )
    assert config.arguments == [
        "--in",
        "DatasetConsumptionConfig:files",
        "--ref",
        "$AZUREML_DATAREFERENCE_trainingdata",
        "DatasetOutputConfig:model",
    ]
    rc = config.run_config
    assert rc.data["files"]["dataLocation"] == {
        "datapath": {"datastoreName": "trainingdata", "relativePath": "train/**"}
    }
    assert rc.data["files"]["mechanism"] == "download" and rc.data["files"]["pathOnCompute"] == "/d"
    assert rc.data_references["trainingdata"]["pathOnDataStore"] == "single.txt"
    assert rc.output_data["model"]["outputLocation"]["datapath"]["relativePath"] == "out/{run-id}/{output-name}"
    saved = rc.save(str(tmp_path / "proj"), name="withdata")
    loaded = RunConfiguration.load(str(tmp_path / "proj"), name="withdata")
    assert saved.name == "withdata.runconfig" and loaded.to_dict() == rc.to_dict()
    assert "dataReferences:" in saved.read_text() and "outputData:" in saved.read_text()


def test_estimator_inputs_are_data_references(project, datastore):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = Estimator(
            str(project),
            entry_script="report.py",
            script_params={"--data": datastore.path("train").as_mount()},
            inputs=[datastore.path("single.txt", data_reference_name="single").as_download()],
            use_docker=False,
        )
    assert estimator.arguments == ["--data", "$AZUREML_DATAREFERENCE_trainingdata"]
    assert set(estimator.run_config.data_references) == {"trainingdata", "single"}
    with pytest.raises(ConfigError, match="data references") as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Estimator(str(project), entry_script="report.py", inputs=["not data"], use_docker=False)
    assert caught.value.field == "inputs"


def test_two_objects_under_one_name_and_bad_entries_are_refused(project, datastore):
    with pytest.raises(ConfigError, match="two different data objects") as caught:
        ScriptRunConfig(
            str(project),
            script="report.py",
            arguments=[datastore.path("train").as_mount(), datastore.path("single.txt").as_mount()],
        )
    assert caught.value.field == "arguments[1]"
    config = ScriptRunConfig(str(project), script="report.py")
    config.run_config.data = {"x": {"dataLocation": {"datapath": {"datastoreName": "s"}}, "mechanism": "stream"}}
    with pytest.raises(ConfigError, match="mechanism") as caught:
        input_requests(config.run_config)
    assert caught.value.field == "data.x.mechanism"
    config.run_config.data = {"bad name": {}}
    with pytest.raises(ConfigError, match="not a usable data name") as caught:
        input_requests(config.run_config)
    assert caught.value.field == "data.bad name"


def test_substitution_is_literal(project):
    """A path with '$' or spaces reaches the script as it is: never expanded as a variable, never split."""
    config = ScriptRunConfig(str(project), script="report.py", arguments=["--a", "DatasetConsumptionConfig:a", 3])
    apply_paths(config, {"a": "/data/$HOME/x y"})
    assert config.argv(python="python", env={"HOME": "/root"}) == ["python", "report.py", "--a", "/data/$HOME/x y", "3"]
    command = ScriptRunConfig(str(project), command="python report.py --a DatasetConsumptionConfig:a")
    apply_paths(command, {"a": "/data/$HOME/x y"})
    assert command.argv(python="python", env={"HOME": "/root"})[-1] == "/data/$HOME/x y"
    assert substitute(["--x=DatasetOutputConfig:o", "${AZUREML_DATAREFERENCE_o}/f"], {"o": "/out"}) == [
        "--x=/out",
        "/out/f",
    ]


def test_a_reference_named_after_a_hyphenated_datastore(project, workspace, tmp_path):
    """A DataReference is named after its datastore by default; datastore names may hold '-'."""
    (tmp_path / "hy").mkdir()
    store = Datastore.register_local(workspace, "my-data", str(tmp_path / "hy"))
    config = ScriptRunConfig(str(project), script="report.py", arguments=[store.path().as_mount()])
    assert config.arguments == ["$AZUREML_DATAREFERENCE_my-data"]
    apply_paths(config, {"my-data": "/mnt/x"})
    assert config.argv(python="python", env={}) == ["python", "report.py", "/mnt/x"]
    with pytest.raises(ConfigError, match="not a usable data name"):
        ScriptRunConfig(str(project), script="report.py", arguments=[store.path(data_reference_name="a b").as_mount()])


def test_objects_put_straight_into_the_sections(project, datastore):
    """v1 code also assigned data objects to run_config.data / data_references / output_data by name."""
    config = ScriptRunConfig(str(project), script="report.py", arguments=["DatasetConsumptionConfig:files"])
    config.run_config.data = {"files": Dataset.File.from_files((datastore, "train/**")).as_named_input("files")}
    config.run_config.data_references = {"ref": datastore.path("single.txt", data_reference_name="ref").as_download()}
    config.run_config.output_data = {"model": OutputFileDatasetConfig("model")}
    config.validate()
    assert config.run_config.data["files"]["dataLocation"]["datapath"]["relativePath"] == "train/**"
    assert config.run_config.data_references["ref"]["mode"] == "download"
    assert [r.name for r in input_requests(config.run_config)] == ["ref", "files"]
    assert [o.name for o in output_requests(config.run_config)] == ["model"]
    assert ScriptRunConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
