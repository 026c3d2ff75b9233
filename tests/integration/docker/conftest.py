"""A real Docker engine for these tests, started by scripts/ensure_docker.sh.

The engine and the offline base image are set up once per session (the image
is loaded from its cache when present). When the engine cannot run here (no
root, no dockerd), every test in this folder is skipped with the reason the
script printed. At the end, no container of ours may be left: each one carries
the ``runconfig-jupyter`` label.

(No __init__.py here on purpose: a package named ``docker`` would shadow the docker SDK.)
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OUR_LABEL = "runconfig-jupyter"
TEST_IMAGE_LABEL = "runconfig-jupyter.test"


@pytest.fixture(scope="session")
def docker_client():
    """The engine, ready; skips the folder with the script's message when it cannot start."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_docker.sh")], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        pytest.skip(f"Docker engine cannot be started here: {result.stderr.strip() or result.stdout.strip()}")
    import docker

    client = docker.from_env(timeout=120)
    yield client
    _remove_test_images(client)
    client.close()


@pytest.fixture(scope="session")
def session_nonce() -> str:
    """Makes this session's test environments new, so the first submit really builds."""
    return secrets.token_hex(4)


def _remove_test_images(client) -> None:
    remove_images(client, [image.id for image in client.images.list(filters={"label": TEST_IMAGE_LABEL})])


def remove_images(client, names: list[str]) -> None:
    """Remove images by tag or id; children first (a parent with children cannot go), a few passes."""
    from docker.errors import APIError, ImageNotFound

    pending = list(dict.fromkeys(names))
    for _pass in range(4):
        failed = []
        for name in pending:
            try:
                client.images.remove(name, force=True)
            except ImageNotFound:
                pass
            except APIError:
                failed.append(name)
        if not failed or failed == pending:
            return
        pending = failed


def _our_containers(client, run_id: str | None = None) -> list:
    label = f"{OUR_LABEL}.run_id={run_id}" if run_id else OUR_LABEL
    return client.containers.list(all=True, filters={"label": label})


@pytest.fixture
def image_remover(docker_client):
    return lambda names: remove_images(docker_client, names)


@pytest.fixture
def our_containers(docker_client):
    """``our_containers(run_id=None)``: containers carrying our label (of one run, or all)."""
    return lambda run_id=None: _our_containers(docker_client, run_id)


@pytest.fixture(autouse=True)
def _engine(docker_client):
    """Every test here needs the engine; also checks the test left no container of ours."""
    yield docker_client
    left = _our_containers(docker_client)
    for container in left:  # do not let one failure cascade into the next tests
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
