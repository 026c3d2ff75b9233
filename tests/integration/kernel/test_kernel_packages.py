"""Conda and pip packages of a run's environment, installed on the kernel's side of a REAL jupyter server.

The "remote" machine is this one, with no network: the conda package comes from a channel folder built by the
test (tests/v1/conda_channel.py, indexed by py-rattler) and the pip package from a wheel built by the test, found
through the server's own PIP_NO_INDEX / PIP_FIND_LINKS (pip's documented environment settings). The server's
kernels do not see this checkout (PYTHONPATH is dropped), so the script's ``Run`` is the in-script shim.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
import zipfile
from pathlib import Path

import pytest

from kernel.conftest import register
from kernel.servers import LaunchedServer, launch, stop
from runconfig_jupyter import CondaDependencies, Environment, Experiment, ScriptRunConfig
from tests.v1.conda_channel import build_channel

pytest.importorskip("rattler")
pytestmark = [pytest.mark.kernel, pytest.mark.timeout(240)]

SCRIPT = """
import os, shutil, subprocess, sys
from runconfig_jupyter import Run

run = Run.get_context()
import tinywheel
print("WHEEL", tinywheel.GREETING, "PYTHON", sys.executable)
tool = shutil.which("tinytool")
if tool:
    print(subprocess.run([tool, "ran"], capture_output=True, text=True, check=True).stdout.strip())
    print("PREFIX", os.environ["CONDA_PREFIX"])
run.log("loss", 0.25)
"""


def build_wheel(folder: Path, name: str = "tinywheel", version: str = "0.1") -> Path:
    """A pure-python wheel (a zip with METADATA, WHEEL and RECORD, as the wheel spec describes)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b'GREETING = "hello from a wheel"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> LaunchedServer:
    """A jupyter server whose pip finds packages only in a local folder (no index)."""
    wheels = tmp_path_factory.mktemp("wheels")
    build_wheel(wheels)
    server = launch(
        "server",
        tmp_path_factory.mktemp("offline-server"),
        extra_env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)},
    )
    yield server
    stop(server)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text(textwrap.dedent(SCRIPT))
    return root


def _environment(channels: list[str], conda: list[str]) -> Environment:
    environment = Environment("kernel-packages")
    environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=conda, pip_packages=["tinywheel==0.1"], channels=channels
    )
    return environment


def _submit(project: Path, target: str, environment: Environment):
    config = ScriptRunConfig(str(project), script="train.py", compute_target=target, environment=environment)
    return Experiment("kernel-packages").submit(config)


def test_conda_and_pip_packages_install_next_to_the_kernel_once(
    offline_server, project, tmp_path, run_home, monkeypatch
):
    target = register(offline_server, monkeypatch, "offline-box")
    channel = build_channel(tmp_path / "channel", greeting="hello from conda")
    runs = []
    for _ in range(2):
        run = _submit(project, target, _environment([channel], ["tinytool=1.0"]))
        result = run.wait_for_completion(timeout=180, raise_on_error=False)
        prepare = run.read_log(name="prepare_log.txt")[0]
        assert result["status"] == "Completed", (result.get("error"), result.get("reason"), run.get_log(), prepare)
        runs.append((run, prepare))
    (first, first_prepare), (second, second_prepare) = runs
    log = first.get_log()
    assert "WHEEL hello from a wheel" in log and "hello from conda ran" in log
    prefix = next(line.split(" ", 1)[1] for line in log.splitlines() if line.startswith("PREFIX "))
    assert "/envs/env-" in prefix and Path(prefix, "bin", "tinytool").exists()  # installed on the server's side
    assert first.get_metrics() == {"loss": 0.25}  # the in-script shim works under the environment's python
    assert "installing tinytool=1.0" in first_prepare
    assert "is cached" in second_prepare and "installing tinytool" not in second_prepare
    assert "hello from conda ran" in second.get_log()


def test_pip_only_environment_gets_a_venv_over_the_kernels_python(offline_server, project, run_home, monkeypatch):
    target = register(offline_server, monkeypatch, "offline-box")
    run = _submit(project, target, _environment([], []))
    result = run.wait_for_completion(timeout=180, raise_on_error=False)
    log = run.get_log()
    assert result["status"] == "Completed", log + run.read_log(name="prepare_log.txt")[0]
    python = next(line.split("PYTHON ", 1)[1] for line in log.splitlines() if line.startswith("WHEEL "))
    assert "/envs/env-" in python and python.endswith("/venv/bin/python")


def test_unreachable_channel_fails_in_preparing_naming_packages_and_channels(
    offline_server, project, tmp_path, run_home, monkeypatch
):
    target = register(offline_server, monkeypatch, "offline-box")
    missing = (tmp_path / "no-such-channel").as_uri()
    run = _submit(project, target, _environment([missing], ["tinytool=1.0"]))
    result = run.wait_for_completion(timeout=180, raise_on_error=False)
    assert result["status"] == "Failed"
    error = run.get_details()["error"]["message"] if run.get_details().get("error") else str(result)
    assert "tinytool=1.0" in error and "no-such-channel" in error, error
    assert "Preparing" in str(run.get_details()), run.get_details()


def test_pip_entries_that_are_options_are_refused_before_anything_runs(offline_server, project, run_home, monkeypatch):
    from runconfig_jupyter.core.errors import ConfigError

    target = register(offline_server, monkeypatch, "offline-box")
    environment = Environment("hostile")
    environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["-r", "/etc/shadow"])
    with pytest.raises(ConfigError) as refused:
        _submit(project, target, environment)
    assert "pip" in str(refused.value.field)
    runs = run_home / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made
