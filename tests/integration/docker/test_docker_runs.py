"""The docker target end to end: real driver processes, a real dockerd, real containers.

Images: the offline base image from scripts/ensure_docker.sh; one small environment image per session
(pip install of the pure-python package 'six' from PyPI, reached through the host's CA bundle).
"""

from __future__ import annotations

import io
import os
import signal
import textwrap

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import CondaDependencies, Environment
from runconfig_jupyter.core.errors import RunFailed
from runconfig_jupyter.core.runs.drivers import start_driver
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.confine import register_place
from tests.conftest import wait_for

pytestmark = pytest.mark.docker
OUR_LABEL = "runconfig-jupyter"
TEST_IMAGE_LABEL = "runconfig-jupyter.test"
BASE = "runconfig-jupyter/python:bookworm"


def docker_config(project, **kwargs) -> ScriptRunConfig:
    return ScriptRunConfig(str(project), compute_target="docker", **kwargs)


def test_run_records_its_image_and_container_name(project, docker_client, our_containers):
    """The rest of a completed run (log order, metrics, outputs, no container left) is in tests/contract."""
    config = docker_config(project, script="train.py", arguments=["--epochs", 1])
    run = Experiment("dk").submit(config)
    details = run.wait_for_completion(timeout=120)
    target = details["targetDetails"]
    assert target["image"] == BASE and target["container_name"].startswith("runconfig-dk_")


def test_memory_limit_exceeded_is_failed_out_of_memory(project, docker_client, our_containers):
    (project / "hog.py").write_text("print('allocating', flush=True)\nblob = b'x' * (400 << 20)\nprint(len(blob))\n")
    config = docker_config(project, script="hog.py")
    config.run_config.docker.arguments = ["--memory", "48m", "--memory-swap", "48m"]
    run = Experiment("dk").submit(config)
    with pytest.raises(RunFailed, match=r"out of memory \(limit 48m\)"):
        run.wait_for_completion(timeout=60)
    assert run.record.exit_code == 137 and "allocating" in run.get_log()


def _pip_environment(nonce: str, base: str = BASE) -> Environment:
    """A new environment per session (the nonce is in its Dockerfile), so the first submit builds."""
    environment = Environment.from_dockerfile("six-env", f"FROM {base}\nLABEL {TEST_IMAGE_LABEL}={nonce}\n")
    environment.python.user_managed_dependencies = False
    environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.17.0"])
    return environment


def test_environment_image_is_built_once_and_reused(project, docker_client, our_containers, session_nonce):
    (project / "use_six.py").write_text("import six, sys\nprint('six', six.__version__, sys.prefix)\n")
    first = Experiment("dk").submit(
        docker_config(project, script="use_six.py", environment=_pip_environment(session_nonce))
    )
    first.wait_for_completion(timeout=300)
    prepare = (first.run_dir / "logs" / "prepare_log.txt").read_text()
    assert "building image runconfig-jupyter/env:" in prepare and "new environment" in prepare
    assert "six 1.17.0 /opt/runconfig-venv" in first.get_log()
    built = first.record.details
    assert built["image_cached"] is False

    second = Experiment("dk").submit(
        docker_config(project, script="use_six.py", environment=_pip_environment(session_nonce))
    )
    second.wait_for_completion(timeout=120)
    again = (second.run_dir / "logs" / "prepare_log.txt").read_text()
    assert "is cached" in again and "building image" not in again
    assert second.record.details["image_cached"] is True
    assert second.record.details["image_id"] == built["image_id"]
    assert "six 1.17.0" in second.get_log()


def test_base_image_change_rebuilds_and_says_why(project, docker_client, session_nonce, image_remover):
    """The same environment on a base image that was rebuilt under the same name gets a new image."""
    base = f"runconfig-jupyter/test-base:{session_nonce}"
    docker_client.images.get(BASE).tag(base)
    environment = Environment.from_docker_image("moving-base", base)
    environment.python.user_managed_dependencies = False
    environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.17.0"])
    (project / "ok.py").write_text("print('ok')\n")
    runs = []
    try:
        runs.append(Experiment("dk").submit(docker_config(project, script="ok.py", environment=environment)))
        runs[0].wait_for_completion(timeout=300)
        # rebuild the base under the same tag (a label-only change gives it a new id)
        dockerfile = f"FROM {BASE}\nLABEL {TEST_IMAGE_LABEL}={session_nonce}\n"
        docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=base, forcerm=True)
        runs.append(Experiment("dk").submit(docker_config(project, script="ok.py", environment=environment)))
        runs[1].wait_for_completion(timeout=300)
        prepare = (runs[1].run_dir / "logs" / "prepare_log.txt").read_text()
        assert f"the base image {base} changed" in prepare
        assert runs[1].record.details["image"] != runs[0].record.details["image"]
    finally:
        image_remover([run.record.details.get("image", "") for run in runs] + [base])


def test_restarted_driver_without_its_container_fails_with_the_reason(project, docker_client, our_containers):
    (project / "forever.py").write_text("import time\nprint('script-is-up', flush=True)\ntime.sleep(600)\n")
    run = Experiment("dk").submit(docker_config(project, script="forever.py"))
    wait_for(lambda: "script-is-up" in run.get_log(), timeout=60, message="the script to start")
    store = RunStore()
    pid = store.get(run.id).driver_pid
    os.kill(pid, signal.SIGKILL)  # as if it had crashed; our child (submit started it), so reap it
    os.waitpid(pid, 0)
    docker_client.containers.get(store.get(run.id).details["container_id"]).remove(force=True)  # engine restart
    start_driver(store, run.id, reattach=True)
    wait_for(lambda: store.get(run.id).is_terminal, timeout=60, message="the re-attached run to end")
    record = store.get(run.id)
    assert record.status.value == "Failed" and "gone" in record.reason


def test_resume_from_is_mounted_read_only(project, tmp_path, our_containers):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "ckpt.txt").write_text("epoch=7\n")
    (project / "resume.py").write_text(
        textwrap.dedent(
            """
            import os
            folder = os.environ["RUNCONFIG_RESUME_FROM"]
            print("resumed", open(os.path.join(folder, "ckpt.txt")).read().strip())
            try:
                open(os.path.join(folder, "ckpt.txt"), "w").write("overwritten")
            except OSError as error:
                print("write refused:", error.strerror)
            """
        )
    )
    register_place(checkpoint)  # outside the source directory: only a registered place may be mounted
    run = Experiment("dk").submit(docker_config(project, script="resume.py", resume_from=str(checkpoint)))
    run.wait_for_completion(timeout=120)
    log = run.get_log()
    assert "resumed epoch=7" in log and "write refused: Read-only file system" in log
    assert (checkpoint / "ckpt.txt").read_text() == "epoch=7\n"


def test_use_docker_routes_a_local_config_to_docker(project, our_containers):
    """Azure ML v1: run_config.docker.use_docker (or environment.docker.enabled) on 'local' runs in Docker."""
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    config.run_config.docker.use_docker = True
    run = Experiment("dk").submit(config)
    run.wait_for_completion(timeout=120)
    assert run.record.target_type == "docker" and run.get_details()["targetDetails"]["image"] == BASE
    assert "epoch 0 loss 1.000" in run.get_log()
