"""Start and stop a real ``jupyter server`` or ``jupyter kernelgateway`` on 127.0.0.1 (tests and benchmarks).

Each server gets its own JUPYTER_* / IPYTHONDIR folders and a token passed by
environment variable (never on the command line). PYTHONPATH is removed from
its environment, so its kernels do not see this checkout: runs on it exercise
the stdlib shim exactly like a remote machine without runconfig_jupyter.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import stop_server

# The variable that holds a test server's token: a target's spec names it, never the token itself.
TOKEN_ENV = "RCJ_TEST_KERNEL_TOKEN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LaunchedServer:
    kind: str  # "server" or "gateway"
    url: str
    token: str
    process: subprocess.Popen
    root: Path
    port: int
    log: Path
    env: dict

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"token {token or self.token}"}

    def kernels(self) -> list[dict]:
        response = requests.get(f"{self.url}/api/kernels", headers=self.headers(), timeout=10)
        response.raise_for_status()
        return response.json()

    def remote_files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())


def _argv(kind: str, port: int, root: Path) -> list[str]:
    if kind == "server":
        return [
            sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--port-retries=0", f"--ServerApp.root_dir={root}",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
        f"--KernelGatewayApp.port={port}", "--KernelGatewayApp.port_retries=0",
    ]  # fmt: skip


def launch(
    kind: str, base: Path, token: str | None = None, port: int | None = None, extra_env: dict[str, str] | None = None
) -> LaunchedServer:
    """Start a server and wait (bounded) until it answers an authenticated request.

    ``extra_env`` goes to the server (and its kernels) after our own PYTHONPATH was dropped, e.g. to make this
    checkout's package the one "installed on the remote machine".
    """
    token = token or secrets.token_hex(16)
    port = port or free_port()
    base.mkdir(parents=True, exist_ok=True)
    root = base / "root"
    root.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUNCONFIG_JUPYTER_HOME")}
    for name, folder in (
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("IPYTHONDIR", "ipython"),
    ):
        (base / folder).mkdir(exist_ok=True)
        env[name] = str(base / folder)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.update(extra_env or {})
    if kind == "server":
        env["JUPYTER_TOKEN"] = token
    else:
        env["KG_AUTH_TOKEN"] = token
        env["KG_LIST_KERNELS"] = "True"  # off by default; the tests compare kernel lists
    log = base / f"{kind}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            _argv(kind, port, root),
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LaunchedServer(kind, f"http://127.0.0.1:{port}", token, process, root, port, log, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited early:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(f"{server.url}/api/kernels", headers=server.headers(), timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"{kind} did not answer within 60 s:\n{log.read_text()[-2000:]}")


def stop(server: LaunchedServer, timeout: float = 15.0) -> None:
    stop_server(server.process, timeout)


def register(server: LaunchedServer, monkeypatch, name: str, **settings) -> str:
    """Register a kernel target ``name`` on ``server`` for one test (``monkeypatch`` restores the registry).

    The token goes only into ``TOKEN_ENV``; grace_seconds is short so cancels end quickly.
    """
    from runconfig_jupyter.core.target.configured import register_target

    monkeypatch.setenv(TOKEN_ENV, server.token)
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    register_target(name, type="kernel", url=server.url, token_env=TOKEN_ENV, grace_seconds=2, **settings)
    return name
