"""Data on the docker target, end to end: real dockerd, real containers, a real S3 server (moto) on 127.0.0.1.

Each check is what the script in the container could see and do (tests/data/targets_helpers.py reports it),
and what landed on the datastores afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.data import OutputFileDatasetConfig
from tests.data.conftest import remote_store
from tests.data.targets_helpers import make_project, report
from tests.docker_engine import engine_or_skip

pytestmark = pytest.mark.docker
LABEL = "runconfig-jupyter.run_id"


@pytest.fixture(scope="module")
def docker_client():
    client = engine_or_skip()
    yield client
    client.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def no_containers_left(docker_client):
    runs: list[str] = []
    yield runs
    for run_id in runs:
        assert (
            docker_client.containers.list(all=True, ignore_removed=True, filters={"label": f"{LABEL}={run_id}"}) == []
        )


def submit(project: Path, arguments: list, runs: list[str], **config) -> object:  # type: ignore[type-arg]
    run = Experiment("data-docker").submit(
        ScriptRunConfig(str(project), script="probe.py", arguments=arguments, compute_target="docker", **config)
    )
    runs.append(run.id)
    run.wait_for_completion(timeout=180, raise_on_error=False)
    return run


def test_registered_folder_is_mounted_read_only_and_outputs_are_uploaded_even_when_the_script_fails(
    project, local_store, out_store, tmp_path, no_containers_left
):
    secret = tmp_path / "datasets" / "secret.txt"
    output = OutputFileDatasetConfig(name="model", destination=(out_store, "models/{run-id}"))
    arguments = [
        "--mounted",
        local_store.path("train", data_reference_name="train").as_mount(),
        "--copy",
        local_store.path("train", data_reference_name="copy").as_download(),
        "--out",
        output,
        "--secret",
        str(secret),
        "--file",
        local_store.path("train/a.csv", data_reference_name="one").as_mount(),
        "--exit",
        "3",
        "--try-write",
        "mounted,copy",
    ]
    run = submit(project, arguments, no_containers_left)
    details = run.get_details()
    assert details["status"] == "Failed", details
    seen = report(run)
    # the mount: the registered folder at a fixed path, read-only (EROFS), nothing else of the host visible
    assert seen["argv"]["--mounted"] == "/mnt/data/train" == seen["env"]["AZUREML_DATAREFERENCE_train"]
    assert seen["--mounted"] == {"files": ["a.csv"], "write": 30}
    assert seen["file"] == {"path": "/mnt/data/one/a.csv", "text": "x,y\n1,2\n"}  # a file input: the file itself
    assert seen["secret_at_host_path"] is False and seen["secret_anywhere_under_mnt"] is False
    # the download: a private, writable copy in the working dir; the registered folder itself is untouched
    assert seen["argv"]["--copy"] == "/workspace/data/copy"
    assert seen["--copy"] == {"files": ["a.csv"], "write": "ok"}
    registered = Path(local_store.path_on_host)
    assert sorted(p.name for p in (registered / "train").iterdir()) == ["a.csv"]
    # the output: uploaded although the run failed, marked so; the script's link to /etc/passwd is not uploaded
    destination = Path(out_store.path_on_host) / "models" / run.id
    assert (destination / "result.txt").read_text() == "written by the script"
    assert (destination / "nested" / "deep.txt").read_text() == "deep"
    assert not (destination / "leak").exists() and not (destination / "leak").is_symlink()
    status = json.loads((destination / "_RUN_STATUS.json").read_text())
    assert status["status"] == "Failed" and status["complete"] is False and status["files"] == 2
    assert "runconfig: warning: model/leak" in run.get_log()


def test_a_mounted_dataset_of_some_files_of_a_folder_shows_those_files_only(project, local_store, no_containers_left):
    """A v1 mount of ``Dataset.File.from_files((store, "train/*.csv"))`` (or of a list of files) shows the dataset,
    not every file of its folder: a script that lists its mount point must not train on the folder's other files."""
    from runconfig_jupyter import Dataset

    registered = Path(local_store.path_on_host)
    (registered / "train" / "b.csv").write_text("x,y\n5,6\n")
    (registered / "train" / "notes.txt").write_text("not part of the dataset\n")
    globbed = Dataset.File.from_files((local_store, "train/*.csv")).as_named_input("csvs").as_mount()
    arguments = ["--view", globbed, "--mounted", globbed, "--try-write", "mounted"]
    run = submit(project, arguments, no_containers_left)
    assert run.get_details()["status"] == "Completed", run.get_log()
    seen = report(run)
    assert seen["--view"] == {"files": ["a.csv", "b.csv"], "texts": {"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n5,6\n"}}
    assert seen["--mounted"]["write"] == 30  # read-only, as every mount (EROFS)
    assert sorted(p.name for p in (registered / "train").iterdir()) == ["a.csv", "b.csv", "notes.txt"]
    assert not (run.run_dir / ".data_views").exists()  # the links are gone with the run; the data stays

    listed = Dataset.File.from_files([(local_store, "train/a.csv"), (local_store, "train/notes.txt")])
    run = submit(project, ["--view", listed.as_named_input("pair").as_mount()], no_containers_left)
    assert report(run)["--view"]["files"] == ["a.csv", "notes.txt"]


@pytest.fixture(params=["s3", "azure_blob"])
def remote_data(request: pytest.FixtureRequest, tmp_path: Path, credentials: None):  # type: ignore[no-untyped-def]
    """A writable store on moto (S3) or Azurite (Azure Blob) holding train/a.csv and train/sub/b.csv."""
    return remote_store(request.param, request, tmp_path, "remote")


def test_remote_input_is_cached_between_runs_and_an_output_goes_to_the_store(project, remote_data, no_containers_left):
    store = remote_data.datastore
    arguments = [
        "--remote",
        store.path("train", data_reference_name="remote").as_mount(),
        "--out",
        OutputFileDatasetConfig(name="result", destination=(store, "out/{run-id}/{output-name}")),
        "--try-write",
        "remote",
    ]
    reads = f"{urlparse(remote_data.server.endpoint).path}/{remote_data.root}/train/"
    first = submit(project, arguments, no_containers_left)
    assert first.get_status() == "Completed", first.get_details()
    seen = report(first)
    assert seen["argv"]["--remote"] == "/mnt/data/remote"
    assert seen["--remote"]["files"] == ["a.csv", "sub/b.csv"] and seen["--remote"]["write"] == 30
    fetched = remote_data.server.object_reads(reads)
    assert fetched == 2  # each file once
    second = submit(project, arguments, no_containers_left)
    assert second.get_status() == "Completed", second.get_details()
    assert report(second)["--remote"]["files"] == ["a.csv", "sub/b.csv"]
    assert remote_data.server.object_reads(reads) == fetched  # the cache served it: no byte read again
    files = remote_data.files()
    for run in (first, second):
        assert files[f"out/{run.id}/result/result.txt"] == b"written by the script"
        status = json.loads(files[f"out/{run.id}/result/_RUN_STATUS.json"])
        assert status["status"] == "Completed" and status["complete"] is True
        assert f"out/{run.id}/result/leak" not in files


def test_resume_from_a_datastore_path_is_fetched_and_mounted_read_only(project, s3_store, no_containers_left):
    store = s3_store.datastore
    store.upload_files([_checkpoint(project.parent)], target_path="ckpt/run-1", show_progress=False)
    run = submit(project, [], no_containers_left, resume_from=(store, "ckpt/run-1"))
    assert run.get_status() == "Completed", run.get_details()
    seen = report(run)
    assert seen["resume"] == "/resume_from" and seen["checkpoint"] == "epoch 7"
    assert (
        json.loads((run.run_dir / "run.json").read_text())["config"]["resume_from"] == "datastore://s3data/ckpt/run-1"
    )


def test_missing_resume_path_and_clashing_paths_are_refused_before_anything_is_recorded(project, s3_store):
    store = s3_store.datastore
    experiment = Experiment("data-docker-refused")
    with pytest.raises(ConfigError) as missing:
        experiment.submit(ScriptRunConfig(str(project), "probe.py", compute_target="docker", resume_from=(store, "no")))
    assert missing.value.field == "resume_from"
    clash = [
        "--a",
        store.path("train", data_reference_name="one").as_download("data/same"),
        "--b",
        store.path("train/sub", data_reference_name="two").as_download("data/same/inner"),
    ]
    with pytest.raises(ConfigError) as clashing:
        experiment.submit(ScriptRunConfig(str(project), "probe.py", arguments=clash, compute_target="docker"))
    assert clashing.value.field in ("data.one", "data.two")
    assert experiment.store.list(limit=10) == []


def _checkpoint(folder: Path) -> str:
    path = folder / "model.txt"
    path.write_text("epoch 7")
    return str(path)


RANKS = """
import os, sys
rank = os.environ["RANK"]
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
seen = sorted(os.listdir(args["--mounted"])), sorted(os.listdir(args["--copy"]))
print(f"rank {rank} saw {seen[0]} and {seen[1]} at {args['--mounted']}", flush=True)
with open(os.path.join(args["--out"], f"rank{rank}.txt"), "w") as out:
    out.write(rank)
"""


def test_every_rank_container_gets_the_same_mounts_and_one_shared_output(
    project, local_store, out_store, no_containers_left
):
    from runconfig_jupyter.core.config import PyTorchConfiguration

    (project / "ranks.py").write_text(RANKS)
    arguments = [
        "--mounted",
        local_store.path("train", data_reference_name="train").as_mount(),
        "--copy",
        local_store.path("train", data_reference_name="copy").as_download(),
        "--out",
        OutputFileDatasetConfig(name="shared", destination=(out_store, "ranks/{run-id}")),
    ]
    config = ScriptRunConfig(
        str(project),
        script="ranks.py",
        arguments=arguments,
        compute_target="docker",
        distributed_job_config=PyTorchConfiguration(process_count=2, node_count=2),
    )
    run = Experiment("data-docker-ranks").submit(config)
    no_containers_left.append(run.id)
    run.wait_for_completion(timeout=180, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_log()
    log = run.get_log()
    for rank in (0, 1):
        assert f"[rank {rank}] rank {rank} saw ['a.csv'] and ['a.csv'] at /mnt/data/train" in log
    destination = Path(out_store.path_on_host) / "ranks" / run.id
    assert sorted(p.name for p in destination.iterdir()) == ["_RUN_STATUS.json", "rank0.txt", "rank1.txt"]


def test_a_socket_inside_a_registered_folder_never_reaches_a_container(project, tmp_path, no_containers_left):
    """A unix socket stays connectable through a read-only bind mount: the folder is refused before mounting."""
    import socket

    from runconfig_jupyter import Datastore, Workspace

    root = tmp_path / "with-socket"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.csv").write_text("x\n")
    store = Datastore.register_local(Workspace(), "sockets", str(root))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "train" / "engine.sock"))  # placed after registration, before the run
    mounted = store.path("train", data_reference_name="x").as_mount()
    try:
        run = submit(project, ["--mounted", mounted], no_containers_left)
    finally:
        listener.close()
    details = run.get_details()
    assert details["status"] == "Failed" and "socket" in details["error"]["message"], details
    assert "container_id" not in details.get("targetDetails", {})  # refused before any container existed


def test_a_folder_too_big_to_check_is_refused_with_the_way_out(project, local_store, monkeypatch, no_containers_left):
    monkeypatch.setenv("RUNCONFIG_DATA_SCAN_ENTRIES", "1")  # read by the driver, a fresh process
    run = submit(project, ["--mounted", local_store.path(data_reference_name="all").as_mount()], no_containers_left)
    message = run.get_details()["error"]["message"]
    assert run.get_status() == "Failed" and "more than 1 entries" in message
    assert "RUNCONFIG_DATA_SCAN_ENTRIES" in message
