"""Real servers for the kernel target tests: one ``jupyter server`` and one ``jupyter kernelgateway``
per session, on 127.0.0.1 free ports, token auth on, killed by PID at teardown."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.servers import LaunchedServer, launch, stop
from runconfig_jupyter.core.target.configured import register_target

TOKEN_ENV = "RCJ_TEST_KERNEL_TOKEN"


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> LaunchedServer:
    server = launch("server", tmp_path_factory.mktemp("jupyter-server"))
    yield server
    stop(server)


@pytest.fixture(scope="session")
def kernel_gateway(tmp_path_factory: pytest.TempPathFactory) -> LaunchedServer:
    server = launch("gateway", tmp_path_factory.mktemp("kernel-gateway"))
    yield server
    stop(server)


@pytest.fixture(params=["server", "gateway"])
def remote(request: pytest.FixtureRequest) -> LaunchedServer:
    """Each test that takes ``remote`` runs once against each kind of server."""
    return request.getfixturevalue("jupyter_server" if request.param == "server" else "kernel_gateway")


@pytest.fixture
def kernel_target(remote: LaunchedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered kernel target for ``remote``; its token only in an environment variable."""
    return register(remote, monkeypatch, "remote-box")


def register(server: LaunchedServer, monkeypatch: pytest.MonkeyPatch, name: str, **settings) -> str:
    """Register ``name`` for this test only (the registry dict is restored afterwards)."""
    monkeypatch.setenv(TOKEN_ENV, server.token)
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    register_target(name, type="kernel", url=server.url, token_env=TOKEN_ENV, grace_seconds=2, **settings)
    return name


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
