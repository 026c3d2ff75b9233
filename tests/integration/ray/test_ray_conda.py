"""Conda packages on a REAL Ray cluster (head + worker on 127.0.0.1): installed on the node by the job's launcher.

The channel is a folder built by the test (tests/v1/conda_channel.py, indexed by py-rattler), because this
machine reaches no public conda channel; the prefix cache goes to a folder of the test (RUNCONFIG_RAY_ENVS).
"""

from __future__ import annotations

import textwrap

import pytest

from runconfig_jupyter import CondaDependencies, Environment, Experiment, ScriptRunConfig
from tests.v1.conda_channel import build_channel

pytest.importorskip("rattler")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

USE_TOOL = """
import os, shutil, subprocess
tool = shutil.which("tinytool")
print("TOOL", tool, "PREFIX", os.environ.get("CONDA_PREFIX"))
print(subprocess.run([tool, "ran"], capture_output=True, text=True, check=True).stdout.strip())
"""


def _config(project, channels, envs) -> ScriptRunConfig:
    environment = Environment("ray-conda")
    environment.python.conda_dependencies = CondaDependencies.create(conda_packages=["tinytool=1.0"], channels=channels)
    environment.environment_variables = {"RUNCONFIG_RAY_ENVS": str(envs)}
    return ScriptRunConfig(str(project), script="use_tool.py", compute_target="cluster", environment=environment)


@pytest.fixture
def tool_project(tmp_path):
    root = tmp_path / "condaproj"
    root.mkdir()
    (root / "use_tool.py").write_text(textwrap.dedent(USE_TOOL))
    return root


def test_conda_package_installs_on_the_node_and_is_cached(ray_target, tool_project, tmp_path):
    channel = build_channel(tmp_path / "channel", greeting="hello from conda on ray")
    envs = tmp_path / "ray-envs"
    logs = []
    for _ in range(2):
        run = Experiment("ray-conda").submit(_config(tool_project, [channel], envs))
        result = run.wait_for_completion(timeout=240, raise_on_error=False)
        assert result["status"] == "Completed", (result.get("error"), run.get_log())
        logs.append(run.get_log())
    assert "hello from conda on ray ran" in logs[0] and "installing tinytool=1.0" in logs[0]
    assert str(envs) in logs[0]  # the tool came from the prefix the launcher installed, not the system
    assert "is cached" in logs[1] and "installing tinytool" not in logs[1]
    assert any(path.name.startswith("conda-") for path in envs.iterdir())


def test_unreachable_channel_fails_naming_packages_and_channels(ray_target, tool_project, tmp_path):
    missing = (tmp_path / "no-such-channel").as_uri()
    run = Experiment("ray-conda").submit(_config(tool_project, [missing], tmp_path / "ray-envs"))
    result = run.wait_for_completion(timeout=240, raise_on_error=False)
    assert result["status"] == "Failed"
    message = str(result.get("error"))
    assert "tinytool=1.0" in message and "no-such-channel" in message, (message, run.get_log())
