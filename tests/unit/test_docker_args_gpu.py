"""Pure mapping of docker settings: CLI-style arguments -> SDK kwargs, GPU requests, image plans, log lines.

No engine needed; the engine's real behaviour is covered in tests/integration/docker.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runconfig_jupyter.core.config import CondaDependencies, Environment, ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError, TargetUnavailable
from runconfig_jupyter.targets.docker.args import parse_docker_arguments, run_options
from runconfig_jupyter.targets.docker.gpu import (
    GpuRequest,
    check_gpu_available,
    engine_has_gpu_runtime,
    is_driver_refusal,
    parse_gpus,
)
from runconfig_jupyter.targets.docker.image import DEFAULT_BASE_IMAGE, ca_bundle_path, plan_image
from runconfig_jupyter.targets.docker.logs import LogFollower, read_offset


def _config(tmp_path: Path, arguments: list[str] | None = None) -> ScriptRunConfig:
    (tmp_path / "train.py").write_text("print(1)\n")
    config = ScriptRunConfig(str(tmp_path), script="train.py", compute_target="docker")
    if arguments is not None:
        config.run_config.docker.arguments = arguments
    return config


def test_resource_arguments_map_onto_sdk_keywords(tmp_path):
    options = run_options(
        _config(
            tmp_path,
            [
                "--memory",
                "4g",
                "--cpus=1.5",
                "-e",
                "A=1",
                "--env=B=x=y",
                "--ipc",
                "shareable",
                "--shm-size",
                "8g",
                "--ulimit",
                "nofile=1024:2048",
                "--pids-limit",
                "100",
                "--tmpfs",
                "/scratch:size=64m",
                "-m512m",
            ],
        )
    )
    kwargs = options.create_kwargs()
    assert kwargs["mem_limit"] == "512m" and options.memory_limit == "512m"  # the later one wins, like docker
    assert kwargs["nano_cpus"] == 1_500_000_000
    assert kwargs["ipc_mode"] == "shareable" and kwargs["shm_size"] == "8g" and kwargs["pids_limit"] == 100
    assert kwargs["tmpfs"] == {"/scratch": "size=64m"}
    assert (kwargs["ulimits"][0]["Name"], kwargs["ulimits"][0]["Soft"], kwargs["ulimits"][0]["Hard"]) == (
        "nofile",
        1024,
        2048,
    )
    assert options.environment == {"A": "1", "B": "x=y"}
    assert "device_requests" not in kwargs


def test_shm_size_defaults_to_2g_and_run_config_wins_over_environment(tmp_path):
    config = _config(tmp_path)
    assert run_options(config).kwargs["shm_size"] == "2g"
    config.run_config.environment.docker.arguments = ["--memory", "1g", "--shm-size", "1g"]
    config.run_config.docker.arguments = ["--shm-size", "3g"]
    options = run_options(config)
    assert options.kwargs["shm_size"] == "3g" and options.kwargs["mem_limit"] == "1g"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--privileged"], "'--privileged' is not allowed: it gives the container full access to the host"),
        (["-v", "/home:/home"], "'-v' is not allowed: it mounts a host folder"),
        (["--volume=/:/x"], "'--volume' is not allowed"),
        (["--mount", "type=bind,src=/,dst=/x"], "'--mount' is not allowed"),
        (["--device", "/dev/sda"], "'--device' is not allowed"),
        (["--cap-add", "SYS_ADMIN"], "'--cap-add' is not allowed"),
        (["--network", "host"], "--network 'host' is not allowed"),
        (["--memroy", "1g"], "docker argument '--memroy' is not on the allow list. Did you mean '--memory'?"),
        (["--memory"], "docker argument '--memory' needs a value"),
        (["--memory", "lots"], "--memory 'lots' is not a size"),
        (["--env", "NOVALUE"], "--env 'NOVALUE' must look like NAME=value"),
        (["--ipc", "weird"], "--ipc 'weird' is not allowed: use one of private, shareable, none"),
        (["--ulimit", "nofile"], "--ulimit 'nofile' must look like nofile=1024:2048"),
    ],
)
def test_unsafe_and_unknown_arguments_are_config_errors_naming_the_argument(tmp_path, arguments, message):
    with pytest.raises(ConfigError) as caught:
        run_options(_config(tmp_path, arguments))
    assert message in str(caught.value)
    assert caught.value.field == "run_config.docker.arguments"


def test_arguments_given_as_one_string_each_are_split(tmp_path):
    options = parse_docker_arguments(["--memory 2g", "--cpus 2"])
    assert options.kwargs == {"mem_limit": "2g", "nano_cpus": 2_000_000_000}
    with pytest.raises(ConfigError, match="must be a list"):
        parse_docker_arguments("--memory 2g")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", GpuRequest(-1)),
        ("2", GpuRequest(2)),
        ("count=3", GpuRequest(3)),
        ("device=0,1", GpuRequest(device_ids=("0", "1"))),
        ('"device=GPU-3a23c669"', GpuRequest(device_ids=("GPU-3a23c669",))),
    ],
)
def test_gpus_values_become_device_requests(value, expected):
    request = parse_gpus(value)
    assert request == expected
    device = request.device_request()
    assert device["Capabilities"] == [["gpu"]] and device["Driver"] == ""
    if expected.device_ids:
        assert device["DeviceIDs"] == list(expected.device_ids)
    else:
        assert device["Count"] == expected.count


@pytest.mark.parametrize("value", ["0", "some", "device="])
def test_bad_gpus_values_are_config_errors(value):
    with pytest.raises(ConfigError, match="--gpus"):
        parse_gpus(value)


def test_gpu_support_in_the_environment_asks_for_all_gpus(tmp_path):
    config = _config(tmp_path)
    config.run_config.environment.docker.gpu_support = True
    options = run_options(config)
    assert options.gpu == GpuRequest(-1)
    assert options.create_kwargs()["device_requests"][0]["Count"] == -1
    config.run_config.docker.arguments = ["--gpus", "1"]  # an explicit --gpus narrows it
    assert run_options(config).gpu == GpuRequest(1)


def test_gpu_check_reads_the_engine_runtimes(monkeypatch):
    """The engine info dicts here are literal stand-ins: no machine in CI has an NVIDIA runtime."""
    monkeypatch.setenv("RUNCONFIG_IGNORE_NVIDIA_HOOK", "1")
    runc_only = {"Runtimes": {"runc": {"path": "runc"}}}
    with_nvidia = {"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}}
    assert not engine_has_gpu_runtime(runc_only) and engine_has_gpu_runtime(with_nvidia)
    check_gpu_available(runc_only, None)  # no GPU asked: nothing to check
    check_gpu_available(with_nvidia, GpuRequest(-1))
    with pytest.raises(TargetUnavailable) as caught:
        check_gpu_available(runc_only, GpuRequest(2))
    message = str(caught.value)
    assert "no NVIDIA runtime" in message and "Runtimes: runc" in message
    assert "nvidia-container-toolkit" in message and "run on CPU" in message


def test_driver_refusal_is_recognised():
    text = 'could not select device driver "" with capabilities: [[gpu]]'
    assert is_driver_refusal(Exception(f"500 Server Error: Internal Server Error ({text})"))
    assert not is_driver_refusal(Exception("500 Server Error: no such image"))


def _env(pip: list[str] | None = None, **docker: object) -> Environment:
    environment = Environment("e")
    if pip is not None:
        environment.python.conda_dependencies = CondaDependencies.create(pip_packages=pip)
    for key, value in docker.items():
        setattr(environment.docker, key, value)
    return environment


def test_image_plan_uses_the_base_as_is_without_packages():
    plan = plan_image(_env(), DEFAULT_BASE_IMAGE, "sha256:aaa")
    assert not plan.needs_build and plan.tag == DEFAULT_BASE_IMAGE
    user_managed = _env(["six"], base_image="python:3.12")
    user_managed.python.user_managed_dependencies = True
    assert plan_image(user_managed, DEFAULT_BASE_IMAGE, "x").tag == "python:3.12"


def test_image_plan_installs_pip_packages_in_a_venv_and_tags_by_environment_and_base():
    environment = _env(["six==1.17.0", "numpy>=1"])
    plan = plan_image(environment, DEFAULT_BASE_IMAGE, "sha256:aaa")
    assert plan.needs_build and plan.tag.startswith("runconfig-jupyter/env:")
    assert plan.dockerfile.startswith(f"FROM {DEFAULT_BASE_IMAGE}\n")
    assert "venv --system-site-packages /opt/runconfig-venv" in plan.dockerfile
    assert "six==1.17.0 'numpy>=1'" in plan.dockerfile and "PIP_CERT=" in plan.dockerfile
    assert plan_image(_env(["six==1.17.0", "numpy>=1"]), DEFAULT_BASE_IMAGE, "sha256:aaa").tag == plan.tag
    assert plan_image(environment, DEFAULT_BASE_IMAGE, "sha256:bbb").tag != plan.tag  # base rebuilt
    assert plan_image(_env(["six"]), DEFAULT_BASE_IMAGE, "sha256:aaa").tag != plan.tag


def test_image_plan_from_a_dockerfile_and_conda_packages_copied_in():
    environment = _env(base_dockerfile="FROM debian:bookworm\nRUN echo hi\n")
    plan = plan_image(environment, DEFAULT_BASE_IMAGE, None)
    assert plan.needs_build and plan.dockerfile.startswith("FROM debian:bookworm\nRUN echo hi\n")
    conda = Environment("c")
    conda.python.conda_dependencies = CondaDependencies.create(conda_packages=["numpy"], python_version="3.11")
    plan = plan_image(conda, DEFAULT_BASE_IMAGE, "x")
    # conda packages are installed on this machine (py-rattler) and copied in: no conda in the image
    assert "COPY conda-env/ /opt/conda-env/" in plan.dockerfile and "conda install" not in plan.dockerfile
    assert "PATH=/opt/conda-env/bin:" in plan.dockerfile and plan.conda_packages == ["numpy"]
    assert "python=3.11" not in plan.dockerfile


def test_ca_bundle_setting_env_and_fallbacks(tmp_path, monkeypatch):
    for name in ("RUNCONFIG_CA_BUNDLE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert ca_bundle_path() is None
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PIP_CERT", str(bundle))
    assert ca_bundle_path() == bundle
    monkeypatch.setenv("RUNCONFIG_CA_BUNDLE", "none")
    assert ca_bundle_path() is None
    with pytest.raises(ConfigError, match=r"ca_bundle: CA bundle '/nope\.pem' does not exist"):
        ca_bundle_path("/nope.pem")


class _Ctx:
    """Just enough of a RunContext for the log follower: a run folder and a log writer."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.written: list[bytes] = []

    def write_log(self, data: bytes, name: str = "std_log.txt") -> None:
        self.written.append(data)


class _Container:
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks

    def logs(self, **_kwargs):
        return iter(self.chunks)


def test_log_follower_passes_whole_lines_and_resumes_after_what_was_delivered(tmp_path):
    chunks = [b"epo", b"ch 0\nepoch", b" 1\n\x1e@runconfig:met", b'ric {"name":"x"}\nlast']
    ctx = _Ctx(tmp_path)
    follower = LogFollower(ctx, _Container(chunks)).start()
    follower.join(5)
    assert ctx.written == [b"epoch 0\n", b"epoch 1\n", b'\x1e@runconfig:metric {"name":"x"}\n', b"last\n"]
    assert read_offset(ctx) == sum(len(c) for c in chunks)

    # a restarted driver reads the container's log from the start and skips what the run already has
    ctx2 = _Ctx(tmp_path)
    (tmp_path / ".docker_log_offset").write_text("16")  # "epoch 0\nepoch 1\n"
    resumed = LogFollower(ctx2, _Container([*chunks[:3], b'ric {"name":"x"}\nnew line\n']), read_offset(ctx2))
    resumed.start().join(5)
    assert b"".join(ctx2.written) == b'\x1e@runconfig:metric {"name":"x"}\nnew line\n'
    assert isinstance(resumed.first_line, threading.Event) and resumed.first_line.is_set()


def test_engine_connection_errors_say_what_to_do(monkeypatch):
    from runconfig_jupyter.targets.docker import client as docker_client

    down = docker_client._unreachable("unix:///var/run/docker.sock", Exception("Connection refused"))
    assert "Docker engine not reachable at unix:///var/run/docker.sock" in str(down)
    assert "start it with" in str(down)
    denied = docker_client._unreachable("unix:///var/run/docker.sock", Exception("Permission denied"))
    assert "permission denied" in str(denied) and "'docker' group" in str(denied)
    monkeypatch.setattr(docker_client.shutil, "which", lambda _name: None)
    missing = docker_client._unreachable("unix:///var/run/docker.sock", Exception("No such file"))
    assert "Docker is not installed" in str(missing) and "apt-get install -y docker.io" in str(missing)
