"""A real JupyterLab on 127.0.0.1 and a real Chromium (Debian's, through Python Playwright).

Everything is started here and ended by PID: the Lab server (its kernels go with
it), the browser, and any run left going in this module's run home
(tests/ui/conftest.py disables pytest-jupyter's asyncio fixtures).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ui.common import CHROMIUM, chromium_browser, end_runs, free_port

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    home: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def notebook_url(self, relative: str) -> str:
        # ``reset``: a fresh workspace each time, so an earlier test's notebook is not reopened behind this one
        return f"{self.url}lab/tree/{relative}?reset&token={self.token}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _lab_args(port: int, token: str, root: Path) -> list[str]:
    return [
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    base = Path(tempfile.mkdtemp(prefix="runconfig-ui-widgets-"))
    root, home = base / "root", base / "runhome"
    root.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "RUNCONFIG_JUPYTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    # No "would you like news?" toast over the notebook.
    settings = base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    log_path = base / "lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", *_lab_args(port, token, root)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    lab = Lab(url, token, root, home, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not start:\n{lab.log_tail()}")
            time.sleep(0.25)
        yield lab
    finally:
        end_runs(home)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $RUNCONFIG_UI_ARTIFACTS (CI uploads it) or a pytest temp folder."""
    explicit = os.environ.get("RUNCONFIG_UI_ARTIFACTS")
    path = Path(explicit) if explicit else tmp_path_factory.mktemp("ui-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
