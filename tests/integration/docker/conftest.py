"""A real Docker engine for these tests, started by scripts/ensure_docker.sh.

The engine (``docker_engine`` in tests/conftest.py, shared with tests/contract) and the offline base
image are set up once per session (the image is loaded from its cache when present). When the engine cannot run here (no
root, no dockerd), every test in this folder is skipped with the reason the
script printed. After each test, no container of that test's runs may be left (found by their
``runconfig-jupyter.run_id`` label; other sessions sharing the engine are left alone).

(No __init__.py here on purpose: a package named ``docker`` would shadow the docker SDK.)
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

OUR_LABEL = "runconfig-jupyter"
TEST_IMAGE_LABEL = "runconfig-jupyter.test"


@pytest.fixture(scope="session")
def docker_client(docker_engine, session_nonce):
    """The engine (tests/conftest.py), ready; at the end of the session this session's test images go."""
    yield docker_engine
    _remove_test_images(docker_engine, session_nonce)


@pytest.fixture(scope="session")
def session_nonce() -> str:
    """Makes this session's test environments new, so the first submit really builds."""
    return secrets.token_hex(4)


def _remove_test_images(client, nonce: str) -> None:
    """This session's test images only (another session may be using its own right now)."""
    labelled = client.images.list(all=True, filters={"label": f"{TEST_IMAGE_LABEL}={nonce}"})
    remove_images(client, [image.id for image in labelled])


def remove_images(client, names: list[str]) -> None:
    """Remove images by tag or id; children first (a parent with children cannot go), a few passes.

    Empty names are skipped: a run that failed before recording its image hands '' here from a test's
    ``finally``, and the engine's NullResource for it would hide the test's own error.
    """
    from docker.errors import APIError, ImageNotFound

    pending = [name for name in dict.fromkeys(names) if name]
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


def _run_ids(home: Path) -> list[str]:
    from runconfig_jupyter.core.runs.store import RunStore

    if not (home / "runs.db").exists():
        return []
    return [record.run_id for record in RunStore(home).list(limit=10000)]


def _our_containers(client, home: Path, run_id: str | None = None) -> list:
    """Containers of this test's runs only: other test sessions may share the engine at the same time."""
    run_ids = [run_id] if run_id else _run_ids(home)
    found = []
    for rid in run_ids:
        found += client.containers.list(all=True, ignore_removed=True, filters={"label": f"{OUR_LABEL}.run_id={rid}"})
    return found


@pytest.fixture
def image_remover(docker_client):
    return lambda names: remove_images(docker_client, names)


@pytest.fixture
def our_containers(docker_client, run_home):
    """``our_containers(run_id=None)``: containers of one run, or of every run this test submitted."""
    return lambda run_id=None: _our_containers(docker_client, run_home, run_id)


@pytest.fixture(autouse=True)
def _engine(docker_client, run_home):
    """Every test here needs the engine; also checks the test left no container of its runs behind."""
    yield docker_client
    left = _our_containers(docker_client, run_home)
    for container in left:  # do not let one failure cascade into the next tests
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
