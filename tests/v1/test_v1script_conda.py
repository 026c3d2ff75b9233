"""CondaDependencies with conda packages, installed for real with py-rattler from a real channel.

The channel is built by the test (tests/v1/conda_channel.py: a noarch package + repodata.json made by
rattler's indexer) and served as a file:// folder, because this machine reaches no public conda
channel. Runs are real: the local target and the docker target (prefix solved on this machine and
copied into the image build), each once to build and once to reuse the cache.
"""

from __future__ import annotations

import socket

import pytest

from runconfig_jupyter import CondaDependencies, Environment, Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import CondaChannelUnreachable
from runconfig_jupyter.targets.conda_prefix import DEFAULT_CHANNELS, conda_request
from tests.v1.conda_channel import build_channel

pytest.importorskip("rattler")

USE_TOOL = """
import os, shutil, subprocess
tool = shutil.which("tinytool")
print("TOOL", tool, "PREFIX", os.environ.get("CONDA_PREFIX"))
print(subprocess.run([tool, "ran"], capture_output=True, text=True, check=True).stdout.strip())
print(open(os.path.join(os.environ["CONDA_PREFIX"], "share", "tinytool", "version.txt")).read().strip())
"""


@pytest.fixture
def conda_project(make_project):
    return make_project({"use_tool.py": USE_TOOL})


def _environment(channels: list[str], name: str = "conda-tiny") -> Environment:
    environment = Environment(name)
    environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["tinytool=1.0"], python_version="3.11", channels=channels
    )
    return environment


def _prepare_log(run) -> str:
    return run.read_log(name="prepare_log.txt")[0]


def test_conda_package_installs_on_local_and_is_cached(tmp_path, conda_project):
    channel = build_channel(tmp_path / "channel", greeting="hello from conda")
    runs = []
    for _ in range(2):
        config = ScriptRunConfig(str(conda_project), script="use_tool.py", environment=_environment([channel]))
        run = Experiment("v1-conda").submit(config)
        assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log() + _prepare_log(run)
        runs.append(run)
    log = runs[0].get_log()
    assert "hello from conda ran" in log and "\n1.0" in log
    assert "/envs/conda-" in log  # the tool came from the cached prefix, not the system
    assert "installing tinytool=1.0" in _prepare_log(runs[0])
    assert "is cached" in _prepare_log(runs[1]) and "installing" not in _prepare_log(runs[1])


def test_unreachable_channel_fails_in_preparing_naming_packages_and_channels(conda_project):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = f"http://127.0.0.1:{port}/conda"
    config = ScriptRunConfig(str(conda_project), script="use_tool.py", environment=_environment([channel]))
    run = Experiment("v1-conda").submit(config)
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    record = run.record
    assert details["status"] == "Failed" and record.phase == "Preparing"
    assert "tinytool=1.0" in record.reason and channel in record.reason and "no channel was reachable" in record.reason
    assert "pip" not in _prepare_log(run).split("solving", 1)[0]  # never a silent pip translation


def test_default_channel_and_what_is_left_to_the_interpreter():
    environment = Environment("e")
    environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["numpy", "pip=23"], python_version="3.10"
    )
    request = conda_request(environment)
    assert request is not None and request.packages == ("numpy",) and request.channels == DEFAULT_CHANNELS
    error = CondaChannelUnreachable(["numpy"], ["conda-forge"], "dns error")
    assert "numpy" in str(error) and "conda-forge" in str(error) and error.phase == "Preparing"


@pytest.mark.docker
def test_conda_package_in_a_docker_image_built_once(
    tmp_path, conda_project, docker_client, our_containers, image_remover
):
    channel = build_channel(tmp_path / "channel", greeting="hello from the image")
    runs = []
    for _ in range(2):
        config = ScriptRunConfig(
            str(conda_project),
            script="use_tool.py",
            compute_target="docker",
            environment=_environment([channel], name="conda-docker"),
        )
        run = Experiment("v1-conda").submit(config)
        runs.append(run)
        assert run.wait_for_completion(timeout=300)["status"] == "Completed", run.get_log() + _prepare_log(run)
    try:
        log = runs[0].get_log()
        assert "TOOL /opt/conda-env/bin/tinytool PREFIX /opt/conda-env" in log
        assert "hello from the image ran" in log and "\n1.0" in log
        assert "COPY conda-env/ /opt/conda-env/" in _prepare_log(runs[0])
        assert "is cached" in _prepare_log(runs[1]) and "solving" not in _prepare_log(runs[1])
        assert our_containers() == []
    finally:
        image_remover([runs[0].get_details()["targetDetails"]["image"]])
