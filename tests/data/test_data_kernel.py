"""Data on the kernel target: a REAL jupyter server on 127.0.0.1 (the "remote" machine is this one), a REAL S3
server (moto).

The server is started with the S3 credential variables of one datastore in ITS environment and without those of
another: the first store's input is fetched on the remote side (only the variable names travel), the second's
cannot be - which proves its secret did not travel either - and is fetched here and uploaded in chunks instead,
as a registered local folder is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runconfig_jupyter import Datastore, Experiment, ScriptRunConfig, Workspace
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from runconfig_jupyter.data import OutputFileDatasetConfig
from tests.data.conftest import CREDENTIALS, remote_store
from tests.data.targets_helpers import make_project, report
from tests.integration.kernel.servers import launch, stop

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]
TOKEN_ENV = "RCJ_TEST_DATA_KERNEL_TOKEN"
HOST_KEY_ENV, HOST_SECRET_ENV = "RCJ_TEST_S3_KEY_HOST_ONLY", "RCJ_TEST_S3_SECRET_HOST_ONLY"


@pytest.fixture(scope="module")
def data_server(tmp_path_factory: pytest.TempPathFactory):
    """A jupyter server whose environment holds the credentials of 's3data' only."""
    server = launch("server", tmp_path_factory.mktemp("data-kernel"), extra_env=dict(CREDENTIALS))
    yield server
    stop(server)


@pytest.fixture
def kernel_target(data_server, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, data_server.token)
    register_target("data-box", type="kernel", url=data_server.url, token_env=TOKEN_ENV, upload="kernel")
    yield "data-box"
    unregister_target("data-box")


def test_local_input_uploaded_remote_input_fetched_remotely_and_output_uploaded(
    kernel_target, local_store, out_store, s3_store, tmp_path, monkeypatch
):
    store, bucket, endpoint = s3_store.datastore, s3_store.root, s3_store.server.endpoint
    monkeypatch.setenv(HOST_KEY_ENV, CREDENTIALS["TEST_S3_KEY"])
    monkeypatch.setenv(HOST_SECRET_ENV, CREDENTIALS["TEST_S3_SECRET"])
    host_only = Datastore.register_s3(
        Workspace(), "s3hostonly", bucket, endpoint, key_env=HOST_KEY_ENV, secret_env=HOST_SECRET_ENV
    )
    arguments = [
        "--mounted",
        local_store.path("train", data_reference_name="train").as_mount(),
        "--remote",
        store.path("train", data_reference_name="remote").as_mount(),
        "--copy",
        host_only.path("train/sub", data_reference_name="copy").as_download(),
        "--out",
        OutputFileDatasetConfig(name="model", destination=(out_store, "kernel/{run-id}")),
        "--try-write",
        "copy",
    ]
    project = make_project(tmp_path / "project")
    config = ScriptRunConfig(str(project), script="probe.py", arguments=arguments, compute_target=kernel_target)
    config.run_config.environment.python.user_managed_dependencies = True
    run = Experiment("data-kernel").submit(config)
    run.wait_for_completion(timeout=150, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details()
    seen = report(run)
    prepare = (run.run_dir / "logs" / "prepare_log.txt").read_text()
    # every input where the script was told it is, with its files
    assert seen["--mounted"]["files"] == ["a.csv"]
    assert seen["--remote"]["files"] == ["a.csv", "sub/b.csv"]
    assert seen["--copy"]["files"] == ["b.csv"] and seen["--copy"]["write"] == "ok"
    assert seen["argv"]["--remote"] == seen["env"]["AZUREML_DATAREFERENCE_remote"]
    assert seen["argv"]["--remote"].endswith(f"/{run.id}/data/remote")
    assert seen["argv"]["--copy"].endswith(f"/{run.id}/work/data/copy")
    # how each got there: uploaded in chunks / fetched over there / refused over there (no secret) then uploaded
    assert "input 'train': uploaded 1 files" in prepare
    assert "input 'remote': fetched on the remote side (2 files" in prepare, prepare
    assert f"input 'copy': the remote side cannot fetch it ({HOST_KEY_ENV}, {HOST_SECRET_ENV} not set" in prepare
    assert "input 'copy': uploaded 1 files" in prepare
    for secret in CREDENTIALS.values():
        assert secret not in (run.run_dir / "run.json").read_text() + prepare
    # the output came back with outputs/ and went to its datastore
    destination = Path(out_store.path_on_host) / "kernel" / run.id
    assert (destination / "result.txt").read_text() == "written by the script"
    assert json.loads((destination / "_RUN_STATUS.json").read_text())["status"] == "Completed"
    assert not (destination / "leak").exists()


def test_azure_blob_input_is_fetched_on_the_remote_side(kernel_target, request, tmp_path, credentials):
    """Azurite through adlfs: the account key (also inside the connection string) travels as a variable name."""
    store = remote_store("azure_blob", request, tmp_path, "azdata").datastore
    arguments = ["--remote", store.path("train", data_reference_name="remote").as_download()]
    project = make_project(tmp_path / "project")
    config = ScriptRunConfig(str(project), script="probe.py", arguments=arguments, compute_target=kernel_target)
    config.run_config.environment.python.user_managed_dependencies = True
    run = Experiment("data-kernel").submit(config)
    run.wait_for_completion(timeout=150, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details()
    prepare = (run.run_dir / "logs" / "prepare_log.txt").read_text()
    assert "input 'remote': fetched on the remote side (2 files" in prepare, prepare
    assert report(run)["--remote"]["files"] == ["a.csv", "sub/b.csv"]


DIGESTS = """
import hashlib, json, os, sys
root = sys.argv[1]
found = {}
for name in sorted(os.listdir(root)):
    with open(os.path.join(root, name), "rb") as source:
        found[name] = hashlib.sha256(source.read()).hexdigest()
print("FILES " + json.dumps(found), flush=True)
"""


def test_a_registered_folder_sent_once_is_not_sent_again(data_server, kernel_target, local_store, tmp_path):
    """A resubmit with the same registered folder as input sends only the files the remote machine lacks
    (targets/kernel/delta.py): one edited file of eight, not the folder; the script sees the folder as it is now.
    Then every cached copy over there is overwritten with zeros: the rebuilt input does not match its checksum,
    the run gets the real files (sent whole) and the damaged copies are removed."""
    import hashlib
    import os
    import re

    folder = Path(local_store.path_on_host) / "big"
    folder.mkdir()
    for index in range(8):
        (folder / f"part{index}.bin").write_bytes(os.urandom(256 * 1024))
    project = tmp_path / "project"
    project.mkdir()
    (project / "digests.py").write_text(DIGESTS)

    def run_once() -> tuple[dict, str]:
        arguments = [local_store.path("big", data_reference_name="big").as_mount()]
        config = ScriptRunConfig(str(project), script="digests.py", arguments=arguments, compute_target=kernel_target)
        config.run_config.environment.python.user_managed_dependencies = True
        run = Experiment("data-kernel").submit(config)
        run.wait_for_completion(timeout=150, raise_on_error=False)
        assert run.get_status() == "Completed", (run.get_details(), run.get_log())
        line = next(line for line in run.get_log().splitlines() if line.startswith("FILES "))
        return json.loads(line[len("FILES ") :]), (run.run_dir / "logs" / "prepare_log.txt").read_text()

    def expected() -> dict:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    seen, prepare = run_once()
    assert seen == expected() and "input 'big': uploaded 8 files" in prepare
    (folder / "part5.bin").write_bytes(os.urandom(256 * 1024))
    seen, prepare = run_once()
    assert seen == expected()
    found = re.search(r"input 'big': 7 of 8 files \([\d.]+ MB\) were already there: sent ([\d.]+) MB of", prepare)
    assert found and float(found.group(1)) < 0.4, prepare  # one 0.26 MB file and the headers, not 2.1 MB

    cache = data_server.root / "runconfig-runs" / ".objects"
    for path in (p for p in cache.rglob("*") if p.is_file() and len(p.name) == 64):
        path.chmod(0o644)
        path.write_bytes(b"\0" * path.stat().st_size)
    seen, prepare = run_once()
    assert seen == expected()  # never the zeros
    assert "it does not match" in prepare and "input 'big': uploaded 8 files" in prepare
