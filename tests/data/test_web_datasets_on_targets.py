"""A dataset of web URLs (v1's ``Dataset.File.from_files(path=[url, ...])``, as the MNIST tutorials build it) as a
run input on the docker target (a real engine) and on a remote kernel (a real jupyter server on 127.0.0.1).

The URLs are served by a real HTTP server on 127.0.0.1 from a folder that also holds a file no dataset names. The
files are fetched on this machine, through the registered fsspec datastore, into the download cache; each target
then gives the script the named files only, mounted or downloaded.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runconfig_jupyter import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from tests.data.targets_helpers import make_project, report
from tests.docker_engine import engine_or_skip
from tests.integration.kernel.servers import launch, stop

FILES = {"train.csv": "x,y\n1,2\n", "test.csv": "x,y\n3,4\n"}
TOKEN_ENV = "RCJ_TEST_WEB_DATA_KERNEL_TOKEN"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_dataset(tmp_path: Path) -> Iterator[Dataset]:
    """A dataset of the two URLs of ``FILES`` on a web datastore; the served folder holds a third file too."""
    root = tmp_path / "web" / "data"
    root.mkdir(parents=True)
    for name, text in FILES.items():
        (root / name).write_text(text)
    (root / "not-in-the-dataset.csv").write_text("x,y\n9,9\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/data/"
        Datastore.register_fsspec(Workspace(), "web", url)
        yield Dataset.File.from_files(path=[url + name for name in FILES])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_on(target: str, project: Path, dataset: Dataset) -> dict:
    mounted, downloaded = dataset.as_named_input("m").as_mount(), dataset.as_named_input("d").as_download()
    arguments = ["--view", mounted, "--copy", downloaded]
    config = ScriptRunConfig(str(project), script="probe.py", arguments=arguments, compute_target=target)
    run = Experiment("web-data").submit(config)
    run.wait_for_completion(timeout=150, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_log()
    return report(run)


@pytest.mark.docker
def test_web_urls_reach_a_docker_run_mounted_and_downloaded(web_dataset, tmp_path):
    engine_or_skip().close()
    seen = run_on("docker", make_project(tmp_path / "project"), web_dataset)
    assert seen["--view"] == {"files": sorted(FILES), "texts": FILES}
    assert seen["--copy"]["files"] == sorted(FILES)


@pytest.mark.kernel
@pytest.mark.timeout(240)
def test_web_urls_reach_a_remote_kernel_run_mounted_and_downloaded(web_dataset, tmp_path, monkeypatch):
    server = launch("server", tmp_path / "kernel-server")
    try:
        monkeypatch.setenv(TOKEN_ENV, server.token)
        register_target("web-box", type="kernel", url=server.url, token_env=TOKEN_ENV)
        try:
            seen = run_on("web-box", make_project(tmp_path / "project"), web_dataset)
        finally:
            unregister_target("web-box")
    finally:
        stop(server)
    assert seen["--view"] == {"files": sorted(FILES), "texts": FILES}
    assert seen["--copy"]["files"] == sorted(FILES)
