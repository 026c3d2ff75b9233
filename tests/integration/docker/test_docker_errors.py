"""Bad input, failed preparation, no GPU, no engine: a clear typed error and nothing left behind."""

from __future__ import annotations

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import CondaDependencies, Environment
from runconfig_jupyter.core.errors import ConfigError, RunFailed, TargetUnavailable
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from runconfig_jupyter.targets.docker.gpu import is_driver_refusal

pytestmark = pytest.mark.docker
OUR_LABEL = "runconfig-jupyter"
TEST_IMAGE_LABEL = "runconfig-jupyter.test"
BASE = "runconfig-jupyter/python:bookworm"


def _nothing_recorded() -> None:
    store = RunStore()
    assert store.count() == 0
    assert not store.runs_dir.exists() or list(store.runs_dir.iterdir()) == []


def _containers_labelled(client, label: str) -> list:
    """Containers carrying ``label`` (key=value); precise even when other sessions share the engine."""
    return client.containers.list(all=True, ignore_removed=True, filters={"label": label})


def test_bad_pip_package_fails_while_preparing_and_leaves_nothing(project, docker_client, session_nonce, image_remover):
    environment = Environment("broken")
    environment.python.conda_dependencies = CondaDependencies.create(
        pip_packages=[f"runconfig-jupyter-no-such-package-zz{session_nonce}==0.0.1"]
    )
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", environment=environment)
    run = Experiment("dk").submit(config)
    with pytest.raises(RunFailed, match="while preparing"):
        run.wait_for_completion(timeout=300)
    details = run.get_details()
    assert details["error"]["phase"] == "Preparing"
    assert "building image runconfig-jupyter/env:" in details["error"]["message"]
    assert "runconfig-jupyter-no-such-package-zz" in details["error"]["message"]  # the build log's tail
    assert "No matching distribution" in (run.run_dir / "logs" / "prepare_log.txt").read_text()
    # forcerm: the failed step's container is gone (build containers carry the environment's label)
    assert _containers_labelled(docker_client, f"{OUR_LABEL}.env_hash={environment.content_hash()}") == []
    tag_prefix = "runconfig-jupyter/env:"
    hashes = [image.labels.get(f"{OUR_LABEL}.env_hash") for image in docker_client.images.list(tag_prefix[:-1])]
    assert environment.content_hash() not in hashes
    # the layers before the failed step stay as build cache; this test's cache is of no use to anyone
    layers = docker_client.images.list(
        all=True, filters={"label": f"{OUR_LABEL}.env_hash={environment.content_hash()}"}
    )
    image_remover([image.id for image in layers])


def test_missing_base_image_fails_while_preparing_with_how_to_get_one(project, docker_client, our_containers):
    environment = Environment.from_docker_image("nowhere", "runconfig-jupyter/does-not-exist:1")
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", environment=environment)
    run = Experiment("dk").submit(config)
    with pytest.raises(RunFailed):
        run.wait_for_completion(timeout=120)
    error = run.get_details()["error"]
    assert error["phase"] == "Preparing"
    assert "base image 'runconfig-jupyter/does-not-exist:1' is not on this machine" in error["message"]
    assert "docker load" in error["message"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--privileged"], "'--privileged' is not allowed"),
        (["-v", "/:/host"], "'-v' is not allowed: it mounts a host folder"),
        (["--memroy", "1g"], "Did you mean '--memory'"),
        (["--cpus", "lots"], "--cpus 'lots' must be a positive number"),
        (["--gpus", "some"], "--gpus 'some' is not understood"),
    ],
)
def test_bad_docker_arguments_are_config_errors_and_nothing_is_created(
    project, docker_client, session_nonce, arguments, message
):
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker")
    config.run_config.docker.arguments = arguments
    with pytest.raises(ConfigError, match=r"run_config\.docker\.arguments") as caught:
        submit(config, f"dk-args-{session_nonce}")
    assert message in str(caught.value)
    _nothing_recorded()
    assert _containers_labelled(docker_client, f"{OUR_LABEL}.experiment=dk-args-{session_nonce}") == []


def test_gpu_request_without_nvidia_runtime_is_refused_before_anything_exists(project, docker_client, session_nonce):
    """No GPU on these machines: the engine lists runc only, so a GPU run is refused at submit."""
    assert "nvidia" not in docker_client.info()["Runtimes"]
    for configure in (
        lambda c: setattr(c.run_config.docker, "arguments", ["--gpus", "all"]),
        lambda c: setattr(c.run_config.environment.docker, "gpu_support", True),
    ):
        config = ScriptRunConfig(str(project), script="train.py", compute_target="docker")
        configure(config)
        with pytest.raises(TargetUnavailable, match="no NVIDIA runtime") as caught:
            submit(config, f"dk-gpu-{session_nonce}")
        assert "nvidia-container-toolkit" in str(caught.value) and "run on CPU" in str(caught.value)
    _nothing_recorded()
    assert _containers_labelled(docker_client, f"{OUR_LABEL}.experiment=dk-gpu-{session_nonce}") == []


def test_engine_refusal_of_a_gpu_container_at_start_is_what_we_handle(docker_client, session_nonce):
    """The real daemon's answer to a GPU device request: created fine, refused at start with a 500."""
    from docker.errors import APIError
    from docker.types import DeviceRequest

    container = docker_client.containers.create(
        BASE,
        ["true"],
        device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
        labels={OUR_LABEL: "1", f"{OUR_LABEL}.run_id": f"sdk-probe-{session_nonce}"},
    )
    try:
        with pytest.raises(APIError) as caught:
            container.start()
        assert caught.value.status_code == 500 and is_driver_refusal(caught.value)
        container.reload()
        assert container.status == "created"  # what the engine leaves behind unless we remove it
    finally:
        container.remove(force=True)


def test_engine_refusal_at_start_fails_the_run_with_the_same_help_and_removes_the_container(
    project, docker_client, our_containers
):
    """With our pre-check off, the engine's own refusal at start becomes the same helpful error."""
    register_target("docker-nocheck", "docker", gpu_precheck=False)
    try:
        config = ScriptRunConfig(str(project), script="train.py", compute_target="docker-nocheck")
        config.run_config.docker.arguments = ["--gpus", "1"]
        run = Experiment("dk").submit(config)
        with pytest.raises(RunFailed, match="no NVIDIA runtime"):
            run.wait_for_completion(timeout=120)
        assert run.get_details()["error"]["phase"] == "Starting"
        assert our_containers(run.id) == []
    finally:
        unregister_target("docker-nocheck")


def test_unreachable_engine_is_target_unavailable_and_nothing_is_recorded(project, tmp_path):
    register_target("docker-away", "docker", base_url=f"unix://{tmp_path}/no-docker.sock")
    try:
        config = ScriptRunConfig(str(project), script="train.py", compute_target="docker-away")
        with pytest.raises(TargetUnavailable, match=r"Docker engine not reachable at unix://.*start it with"):
            submit(config, "dk")
    finally:
        unregister_target("docker-away")
    _nothing_recorded()


def _submit_build(project, dockerfile: str):
    """A docker run whose image is built from ``dockerfile``; the run and its preparation log's path."""
    environment = Environment.from_dockerfile("test-build", dockerfile)
    environment.python.user_managed_dependencies = False
    run = Experiment("dk").submit(
        ScriptRunConfig(str(project), script="train.py", compute_target="docker", environment=environment)
    )
    return run, run.run_dir / "logs" / "prepare_log.txt"


def test_cancel_while_the_image_builds_is_canceled_and_leaves_no_container(project, docker_client, session_nonce):
    from tests.conftest import wait_for

    # A step that prints nothing for ten minutes: the cancel must not wait for its next line (the test's own
    # waits are 60 s). The build loop only sees a cancel between two lines; the step's container is stopped.
    silent = f"FROM {BASE}\nLABEL runconfig-jupyter.test={session_nonce}\nRUN sleep 600\n"
    run, prepare_log = _submit_build(project, silent)
    wait_for(  # the silent step's own container, not an earlier LABEL step's
        lambda: prepare_log.exists() and "Running in" in prepare_log.read_text().partition(" : RUN sleep 600")[2],
        timeout=60,
        message="the silent build step to start",
    )
    assert run.cancel() is True
    wait_for(lambda: run.record.is_terminal, timeout=60, message="the run to end")
    assert run.get_status() == "Canceled"
    assert "canceled while building the image" in prepare_log.read_text()
    build_containers = f"runconfig-jupyter.test={session_nonce}"  # the RUN step's container inherits it
    wait_for(
        lambda: _containers_labelled(docker_client, build_containers) == [], 30, message="the build container to go"
    )


def test_a_build_step_cannot_make_a_cancel_stop_another_container(project, docker_client, session_nonce):
    """A Dockerfile step prints the line the builder uses to name a step's container, with the full id of
    another (running, /bin/sh -c, ours) container: the cancel stops the real step and the run ends, and the
    other container keeps running (it was created before the build started)."""
    import re
    import time

    from tests.conftest import wait_for

    label = f"runconfig-jupyter.test={session_nonce}-victim"
    victim = docker_client.containers.run(
        BASE, ["/bin/sh", "-c", "sleep 300"], detach=True, labels={label.split("=")[0]: label.split("=")[1]}
    )
    try:
        time.sleep(2)  # created well before the build: a step of this build cannot be it
        lying = f"FROM {BASE}\nRUN echo ' ---> Running in {victim.id}' && sleep 600\n"
        run, prepare_log = _submit_build(project, lying)
        lie = re.compile(rf"^ ---> Running in {victim.id}$", re.MULTILINE)  # the step's output, not the Dockerfile
        wait_for(
            lambda: prepare_log.exists() and lie.search(prepare_log.read_text()),
            timeout=60,
            message="the step's lie to reach the log",
        )
        assert run.cancel() is True
        wait_for(lambda: run.record.is_terminal, timeout=60, message="the run to end")
        assert run.get_status() == "Canceled"
        victim.reload()
        assert victim.status == "running"
    finally:
        victim.remove(force=True)
