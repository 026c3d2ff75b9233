"""Garbage collection of environment images on a real dockerd, built through the docker target's own path.

Every image here carries this session's ``runconfig-jupyter.test`` label (the conftest removes them at the end);
the engine is shared with other sessions, so the collector must judge only the images this run home built.
"""

from __future__ import annotations

import io
import secrets
import shutil
import time

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import Environment
from runconfig_jupyter.core.runs.garbage import KEEP, REMOVE, REMOVED, GcPolicy
from runconfig_jupyter.core.runs.gc import collect_garbage
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.targets.docker.image import ENV_REPOSITORY, LABEL, LABEL_ENV_HASH, LABEL_HOME, LABEL_RUN_ID

pytestmark = pytest.mark.docker
TEST_IMAGE_LABEL = "runconfig-jupyter.test"
BASE = "runconfig-jupyter/python:bookworm"
NOW = GcPolicy(grace_seconds=0)


def _environment(nonce: str, role: str) -> Environment:
    """A new environment per session and role: its Dockerfile makes the target build an image of its own."""
    dockerfile = f"FROM {BASE}\nLABEL {TEST_IMAGE_LABEL}={nonce}\nLABEL gc-test-role={role}-{secrets.token_hex(3)}\n"
    return Environment.from_dockerfile(f"gc-{role}", dockerfile)


def _submit(project, nonce: str, role: str, script: str = "print('hi')\n"):
    (project / f"{role}.py").write_text(script)
    config = ScriptRunConfig(
        str(project), script=f"{role}.py", compute_target="docker", environment=_environment(nonce, role)
    )
    return Experiment("gc").submit(config)


def _image_of(run) -> str:
    return run.record.details["image"]


def _forget(run) -> None:
    store = RunStore()
    store.delete(run.id)
    shutil.rmtree(store.run_dir(run.id))


def _build_foreign(client, nonce: str, tag: str, labels: dict[str, str], base: str = BASE) -> str:
    dockerfile = f"FROM {base}\nLABEL {TEST_IMAGE_LABEL}={nonce}\n".encode()
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, labels=labels, rm=True, forcerm=True)
    return image.id


def _exists(client, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def test_images_no_run_references_go_and_nothing_else(
    project, docker_client, session_nonce, image_remover, our_containers, run_home
):
    kept_run = _submit(project, session_nonce, "kept")
    gone_run = _submit(project, session_nonce, "gone")
    used_run = _submit(project, session_nonce, "used")
    for run in (kept_run, gone_run, used_run):
        assert run.wait_for_completion(timeout=300)["status"] == "Completed", run.get_log()
    kept, gone, used = _image_of(kept_run), _image_of(gone_run), _image_of(used_run)
    assert all(tag.startswith(f"{ENV_REPOSITORY}:") for tag in (kept, gone, used))
    running = _submit(project, session_nonce, "running", "import time\nprint('up', flush=True)\ntime.sleep(120)\n")
    # Not ours: an image without our labels; a user's image built FROM ours (inherits every label, other
    # tag); an environment image another run home built on the same engine.
    foreign = f"rcj-gc-foreign:{session_nonce}"
    derived = f"rcj-gc-derived:{session_nonce}"
    other_home = f"{ENV_REPOSITORY}:gc-other-{session_nonce}"
    _build_foreign(docker_client, session_nonce, foreign, {})
    _build_foreign(docker_client, session_nonce, derived, {}, base=kept)
    _build_foreign(
        docker_client,
        session_nonce,
        other_home,
        {LABEL: "1", LABEL_ENV_HASH: "0" * 64, LABEL_RUN_ID: "gc_1_x", LABEL_HOME: "another-home-id"},
    )
    container = None
    try:
        deadline = time.monotonic() + 120
        while running.get_status() != "Running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running.get_status() == "Running", running.get_log()
        running_image = _image_of(running)
        _forget(gone_run)
        _forget(used_run)
        # a container (of nobody's run now) still uses this image: the engine would refuse, we do not even try
        container = docker_client.containers.create(used, command=["true"], labels={TEST_IMAGE_LABEL: session_nonce})

        dry = collect_garbage(NOW)
        images = {e.name: e for e in dry.entries if e.kind == "docker-image"}
        assert images[gone].action == REMOVE and images[gone].why == "no run references it"
        assert images[kept].action == KEEP and kept_run.id in images[kept].why
        assert images[running_image].action == KEEP and running.id in images[running_image].why
        assert images[used].action == KEEP and "used by container" in images[used].why
        for name in (foreign, derived, other_home, BASE):
            assert name not in images, f"{name} is not this home's to collect"
        assert _exists(docker_client, gone)  # a dry run removes nothing

        done = collect_garbage(NOW, dry_run=False)
        removed = {e.name for e in done.entries if e.action == REMOVED and e.kind == "docker-image"}
        assert removed == {gone}, done.summary()
        assert not _exists(docker_client, gone)
        for name in (kept, used, running_image, foreign, derived, other_home, BASE):
            assert _exists(docker_client, name), f"{name} was removed"
    finally:
        if container is not None:
            container.remove(force=True)
        running.cancel()
        running.wait_for_completion(timeout=120, raise_on_error=False)
        image_remover([derived, foreign, other_home, kept, used, gone])
