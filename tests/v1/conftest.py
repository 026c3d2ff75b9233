"""Fixtures for the v1 porting tests: the docker ones come from tests/integration/docker/conftest.py.

That folder has no ``__init__.py`` on purpose (a package named ``docker`` would shadow the SDK), so its
conftest is loaded by path and its fixtures are re-exported here rather than written twice.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_docker_fixtures", Path(__file__).resolve().parents[1] / "integration" / "docker" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_docker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_docker)

docker_client = _docker.docker_client
session_nonce = _docker.session_nonce
our_containers = _docker.our_containers
image_remover = _docker.image_remover


@pytest.fixture
def make_project(tmp_path):
    """``make_project({"train.py": SOURCE})``: a source directory holding the given v1-style scripts."""

    def make(files: dict[str, str], name: str = "project") -> Path:
        root = tmp_path / name
        root.mkdir()
        for relative, text in files.items():
            (root / relative).write_text(text)
        return root

    return make
