"""Data a run may not have is refused at submit, before anything is recorded or any target contacted.

Each refusal is a typed error naming the input (``arguments[i]`` for an object passed in the arguments,
``data.<name>`` / ``dataReferences.<name>`` / ``outputData.<name>`` for runconfig entries); afterwards the run
home holds no run row, no run folder and no snapshot.
"""

from __future__ import annotations

import socket

import pytest

from runconfig_jupyter import Dataset, Datastore, ScriptRunConfig
from runconfig_jupyter.core.data.materialize import host_source
from runconfig_jupyter.core.data.plan import DataInput
from runconfig_jupyter.core.errors import (
    ConfigError,
    DataPathMissing,
    DatastoreReadOnly,
    DatastoreUnreachable,
    UnknownDatastore,
)
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.data import OutputFileDatasetConfig

SECRET = "the-secret-outside-every-place"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def refused(project, arguments, error_type=ConfigError, **run_config):  # type: ignore[no-untyped-def]
    """Submit and expect a refusal; then check that nothing was recorded."""
    config = ScriptRunConfig(str(project), script="report.py", arguments=arguments)
    for key, value in run_config.items():
        setattr(config.run_config, key, value)
    with pytest.raises(error_type) as caught:
        submit(config, "refused")
    store = RunStore()
    assert store.count() == 0
    assert not store.runs_dir.exists() or list(store.runs_dir.iterdir()) == []
    assert not store.snapshots_dir.exists() or list(store.snapshots_dir.iterdir()) == []
    return caught.value


def test_missing_path_names_the_argument(project, datastore):
    error = refused(project, ["--data", datastore.path("nothing-here").as_mount()], DataPathMissing)
    assert error.field == "arguments[1]" and "nothing-here" in str(error)


def test_unknown_datastore_and_missing_dataset_name_the_entry(project, datastore):
    error = refused(
        project,
        [],
        UnknownDatastore,
        data_references={"refs": {"dataStoreName": "nosuchstore", "pathOnDataStore": "train"}},
    )
    assert error.field == "dataReferences.refs" and "trainingdata" in str(error)  # the registered ones are listed
    error = refused(
        project,
        ["DatasetConsumptionConfig:ds"],
        data={"ds": {"dataLocation": {"dataset": {"name": "never-registered"}}, "mechanism": "mount"}},
    )
    assert error.field == "data.ds" and "register the dataset" in str(error)  # the entry, not its placeholder


def test_unreachable_store_is_refused_with_the_input_named(project, workspace, monkeypatch):
    monkeypatch.setenv("TEST_S3_KEY", "k")
    monkeypatch.setenv("TEST_S3_SECRET", "s")
    store = Datastore.register_s3(
        workspace,
        "offline",
        bucket="b",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        key_env="TEST_S3_KEY",
        secret_env="TEST_S3_SECRET",
        skip_validation=True,
    )
    error = refused(project, ["--data", store.path("train").as_download()], DatastoreUnreachable)
    assert error.field == "arguments[1]"


def test_output_to_a_read_only_datastore_is_refused(project, datastore):
    output = OutputFileDatasetConfig("model", destination=(datastore, "out/{run-id}"))
    error = refused(project, ["--out", output], DatastoreReadOnly)
    assert error.field == "arguments[1]" and "read-only" in str(error)


def test_placeholder_of_data_the_run_does_not_have(project, datastore):
    error = refused(project, ["--data", "DatasetConsumptionConfig:ghost"])
    assert error.field == "arguments[1]" and "ghost" in str(error)


def test_paths_leaving_the_datastore_are_refused(project, datastore):
    error = refused(
        project, [], data_references={"up": {"dataStoreName": "trainingdata", "pathOnDataStore": "../outside"}}
    )
    assert error.field == "dataReferences.up" and "leaves the datastore" in str(error)
    error = refused(
        project,
        [datastore.path("train", data_reference_name="deep").as_download(path_on_compute="../../escape")],
    )
    assert error.field == "arguments[0].pathOnCompute"


def test_a_link_out_of_a_registered_datastore_is_refused_and_the_script_never_reads_it(project, datastore, tmp_path):
    """Security: a datastore folder holding a link to a file elsewhere does not make that file readable."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (tmp_path / "data" / "train" / "leak").symlink_to(outside)
    error = refused(project, ["--data", datastore.path("train/leak", data_reference_name="leak").as_download()])
    assert error.field == "arguments[1]" and "outside every registered place" in str(error)
    home = RunStore().home
    for file in home.rglob("*"):  # the secret went nowhere the run home keeps (no run, no copy, no record)
        if file.is_file():
            assert SECRET not in file.read_text(errors="replace"), file


def test_a_hand_edited_datastore_pointing_at_an_unregistered_folder_is_refused(project, datastore, tmp_path):
    """Security: datastores.yaml is not a way around the registered places."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    file = RunStore().home / "datastores.yaml"
    file.write_text(file.read_text().replace(str((tmp_path / "data").resolve()), str(outside)))
    error = refused(project, ["--data", datastore.path("secret.txt", data_reference_name="s").as_download()])
    assert error.field == "arguments[1]" and "not a registered place" in str(error)


def test_the_host_path_is_checked_again_when_the_run_materialises_it(datastore, tmp_path):
    """A planned input whose folder was swapped for a link out of the places after submit is refused by the target."""
    swapped = tmp_path / "data" / "swapped"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    swapped.symlink_to(outside)
    planned = DataInput("x", "trainingdata", "local", str(swapped), "mount")
    with pytest.raises(ConfigError, match="outside every registered place") as caught:
        host_source(planned, cache=None, progress=None)  # type: ignore[arg-type]
    assert caught.value.field == "data.x"


def test_unregistered_dataset_on_two_datastores_cannot_be_a_run_input(datastore):
    """Several paths of one datastore are one input (their folder, tests/v1/test_v1probe_tutorials_mnist.py);
    paths on two datastores are no one place."""
    one = Dataset.File.from_files([(datastore, "train/a.csv"), (datastore, "single.txt")])
    ScriptRunConfig(".", script="report.py", arguments=[one.as_named_input("one").as_mount()])
    two = Dataset.File.from_files([(datastore, "train/a.csv"), ("workspaceblobstore", "a.csv")], validate=False)
    with pytest.raises(ConfigError, match="on 2 datastores") as caught:
        ScriptRunConfig(".", script="report.py", arguments=[two.as_named_input("two").as_mount()])
    assert caught.value.field == "data.two"


def test_a_file_link_inside_a_downloaded_folder_is_not_copied(project, datastore, tmp_path):
    """Security: a link in the datastore to a file elsewhere fails the run in Preparing; its content is never copied."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (tmp_path / "data" / "train" / "innocent.csv").symlink_to(outside / "secret.txt")
    config = ScriptRunConfig(str(project), script="report.py", arguments=[datastore.path("train").as_download()])
    run = submit(config, "linked")
    details = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert details["status"] == "Failed" and details["error"]["phase"] == "Preparing"
    assert "outside the input's folder" in details["error"]["message"]
    for file in RunStore().home.rglob("*"):
        if file.is_file() and not file.is_symlink():
            assert SECRET not in file.read_text(errors="replace"), file
