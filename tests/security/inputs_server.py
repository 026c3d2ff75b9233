"""A real ``jupyter server`` subprocess on 127.0.0.1 with the runconfig extension, for the input-safety suites.

A subprocess rather than pytest-jupyter's in-process server: these tests are plain sync functions (no
conftest hooks shared with other suites), and a hostile request that burned CPU or memory in the server
would show up as a slow or dead process here, exactly as a user would see it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
API = "runconfig/api"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Start with ``LiveServer(tmp).start()``; ``call()`` answers (status, json) and never raises on 4xx/5xx."""

    def __init__(self, base: Path, env: dict[str, str] | None = None):
        self.base = base
        self.root = base / "root"
        self.home = base / "home"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.base / "jupyter-config"
        config.mkdir(exist_ok=True)
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": True}}})
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
            "RUNCONFIG_JUPYTER_HOME": str(self.home),
            "RUNCONFIG_STANDBY_SECONDS": "0",
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(self.base / "runtime"),
            "JUPYTER_DATA_DIR": str(self.base / "data"),
            "IPYTHONDIR": str(self.base / "ipython"),
            **self.extra_env,
        }
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
        ]
        log = open(self.base / "server.log", "wb")  # noqa: SIM115 - the server owns it until stop()
        self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {(self.base / 'server.log').read_text()[-2000:]}")
            try:
                code, _ = self.call("version", timeout=2)
                if code == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("jupyter server did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{API}/{path}"

    def call(
        self, path: str, method: str = "GET", body: Any = None, raw: bytes | None = None, timeout: float = 30
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(self.url(path), data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                code, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            code, text = error.code, error.read().decode()
        try:
            return code, json.loads(text)
        except ValueError:
            return code, text

    def wait_finished(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, run = self.call(f"runs/{run_id}")
            if code == 200 and run["status"] in ("Completed", "Failed", "Canceled"):
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")

    def run_count(self) -> int:
        code, page = self.call("runs")
        assert code == 200, page
        return page["total"]

    def socket_session(
        self, messages: list[Any], stop: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
    ) -> list[dict[str, Any]]:
        """Send ``messages`` on one websocket and collect answers (hello excluded) until ``stop(answers)``."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        async def talk() -> list[dict[str, Any]]:
            request = HTTPRequest(
                f"ws://127.0.0.1:{self.port}/{API}/events", headers={"Authorization": f"token {self.token}"}
            )
            connection = await websocket_connect(request)
            got: list[dict[str, Any]] = []
            hello = json.loads(await asyncio.wait_for(connection.read_message(), timeout))
            assert hello["type"] == "hello", hello
            for message in messages:
                connection.write_message(message if isinstance(message, str) else json.dumps(message))
            while not stop(got):
                text = await asyncio.wait_for(connection.read_message(), timeout)
                assert text is not None, f"the server closed the socket after {got}"
                got.append(json.loads(text))
            connection.close()
            return got

        return asyncio.run(talk())
