"""What both browser suites share: one way to start a real Jupyter front end, Debian's Chromium, free
ports, and ending runs a test left going.

``start_lab`` is the one place a ``jupyter lab`` (or Notebook 7) subprocess is started for the UI
tests: temp Jupyter dirs, 127.0.0.1, a fresh token, this worktree first on PYTHONPATH, and the server
extension enabled on the command line. Each suite only chooses whether its labextension is linked in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import stop_server

CHROMIUM = "/usr/bin/chromium"
# Flags that let Debian's Chromium run headless as root in a container (see MACHINE-NOTES).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ROOT = Path(__file__).resolve().parents[2]
LABEXTENSION = ROOT / "runconfig_jupyter" / "labextension"
START_SECONDS = 60.0
STOP_SECONDS = 20.0


@dataclass
class Lab:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    token: str
    root: Path
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def notebook_url(self, relative: str) -> str:
        # ``reset``: a fresh workspace each time, so an earlier test's notebook is not reopened behind this one
        return f"{self.url}/lab/tree/{relative}?reset&token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start_lab(tmp: Path, server_extension: bool = True, app: str = "lab", labextension: bool = True) -> Lab:
    """A real ``jupyter lab`` (``app="lab"``) or Notebook 7 (``app="notebook"``) on 127.0.0.1, everything
    it writes under ``tmp``; ``labextension`` links the one built from js/ into its data dir."""
    data, config = tmp / "data", tmp / "config"
    (data / "labextensions").mkdir(parents=True)
    if labextension:
        if not (LABEXTENSION / "package.json").exists():
            pytest.fail("the labextension is not built: cd js && jlpm install && jlpm build:prod (or pip install .)")
        (data / "labextensions" / "runconfig-jupyter").symlink_to(LABEXTENSION, target_is_directory=True)
    # no "get Jupyter news?" toast over the screenshots
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    root, home = tmp / "root", tmp / "runhome"
    root.mkdir()
    home.mkdir()
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(data),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "RUNCONFIG_JUPYTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("JUPYTER_PATH", None)
    argv = [
        sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook", "--allow-root", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabServerApp.workspaces_dir=" + str(tmp / "workspaces"),
    ]  # fmt: skip
    if app == "lab":
        argv += [
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
        ]  # fmt: skip
    else:
        argv += ["--JupyterNotebookApp.expose_app_in_browser=True"]
    # Explicit either way: an installed package also enables the extension through sys-prefix config.
    argv.append(f"--ServerApp.jpserver_extensions=runconfig_jupyter.server={server_extension}")
    log = tmp / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, home, log, process)
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=2).read()
            return lab
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_lab(lab)
                pytest.fail(f"jupyter {app} did not start:\n{lab.log_tail()}")
            time.sleep(0.2)


def stop_lab(lab: Lab) -> None:
    stop_server(lab.process, STOP_SECONDS)


def serve(tmp_path_factory: pytest.TempPathFactory, app: str = "lab", labextension: bool = True) -> Iterator[Lab]:
    """A server for one test module; its runs are ended and its folders removed afterwards."""
    tmp = tmp_path_factory.mktemp(app)
    lab = start_lab(tmp, app=app, labextension=labextension)
    try:
        yield lab
    finally:
        end_runs(lab.home)
        stop_lab(lab)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_chromium(timeout: float = 120.0) -> None:
    """Chromium may still be being apt-installed when the suite starts; wait, bounded, then skip."""
    deadline = time.monotonic() + timeout
    while not os.access(CHROMIUM, os.X_OK):
        if time.monotonic() > deadline:
            pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
        time.sleep(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chromium_browser() -> Iterator[object]:
    """Playwright driving the system Chromium; never `playwright install`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def end_runs(home: Path, reason: str = "ui test teardown", timeout: float = 20.0) -> None:
    """Cancel whatever run a failed test left going, and wait (bounded) for the drivers to end."""
    if not (home / "runs.db").exists():
        return
    from runconfig_jupyter.core.runs.script_run import ScriptRun
    from runconfig_jupyter.core.runs.store import RunStore, driver_alive

    store = RunStore(home)
    for record in store.list(limit=1000):
        if not record.is_terminal:
            ScriptRun(record.run_id, store=store).cancel(reason)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(driver_alive(r) for r in store.list(limit=1000)):
        time.sleep(0.1)
