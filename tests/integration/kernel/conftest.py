"""Kernel target tests: ``jupyter_server`` and ``kernel_gateway`` (one real server each per session) come from
tests/conftest.py, shared with tests/contract and tests/v1."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.servers import TOKEN_ENV, LaunchedServer, register

__all__ = ["TOKEN_ENV", "assert_token_absent", "register"]


@pytest.fixture(params=["server", "gateway"])
def remote(request: pytest.FixtureRequest) -> LaunchedServer:
    """Each test that takes ``remote`` runs once against each kind of server."""
    return request.getfixturevalue("jupyter_server" if request.param == "server" else "kernel_gateway")


@pytest.fixture
def kernel_target(remote: LaunchedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered kernel target for ``remote``; its token only in an environment variable."""
    return register(remote, monkeypatch, "remote-box")


def assert_token_absent(token: str, *folders: Path) -> None:
    """Grep every file (run.json, runs.db, logs, snapshots, targets.yaml) for the token."""
    needle = token.encode()
    checked = 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                checked += 1
                assert needle not in path.read_bytes(), f"token found in {path}"
    assert checked > 0
