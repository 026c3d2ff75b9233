"""A real ``jupyter lab`` (temp dirs, 127.0.0.1) with the built labextension, and a real Chromium.

The labextension is the one built from js/ into runconfig_jupyter/labextension; it is linked into a
temporary JUPYTER_DATA_DIR, so nothing is installed into the shared environment. The server extension
is enabled on the command line. Tests share one lab per module (starting it is the slow part) and one
run home, which replaces the per-test home of tests/conftest.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ui.common import CHROMIUM, chromium_browser, end_runs, free_port

ROOT = Path(__file__).resolve().parents[3]
LABEXTENSION = ROOT / "runconfig_jupyter" / "labextension"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    home: Path
    log: Path


def _wait_for_chromium(timeout: float = 120.0) -> None:
    """Chromium may still be being apt-installed when the suite starts; wait, bounded."""
    deadline = time.monotonic() + timeout
    while not os.access(CHROMIUM, os.X_OK):
        if time.monotonic() > deadline:
            pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
        time.sleep(1)


def start_lab(tmp: Path, server_extension: bool = True, app: str = "lab") -> tuple[subprocess.Popen[bytes], Lab]:
    """A real ``jupyter lab`` (``app="lab"``) or Notebook 7 (``app="notebook"``) on 127.0.0.1 with temp dirs."""
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail("the labextension is not built: cd js && jlpm install && jlpm build:prod (or pip install .)")
    data = tmp / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "runconfig-jupyter").symlink_to(LABEXTENSION, target_is_directory=True)
    # no "get Jupyter news?" toast over the screenshot
    (tmp / "config" / "labconfig").mkdir(parents=True)
    (tmp / "config" / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    root, home = tmp / "root", tmp / "runhome"
    root.mkdir()
    home.mkdir()
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(data),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "RUNCONFIG_JUPYTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("JUPYTER_PATH", None)
    argv = [
        sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook", "--allow-root", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabServerApp.workspaces_dir=" + str(tmp / "workspaces"),
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
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, home, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=2).read()
            return process, lab
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                pytest.fail(f"jupyter {app} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def serve(tmp_path_factory: pytest.TempPathFactory, app: str = "lab") -> Iterator[Lab]:
    """A server for one test module; its runs are ended and its folders removed afterwards."""
    tmp = tmp_path_factory.mktemp(app)
    process, lab = start_lab(tmp, app=app)
    try:
        yield lab
    finally:
        end_runs(lab.home)
        stop_process(process)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from serve(tmp_path_factory)


@pytest.fixture(autouse=True)
def run_home(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs submitted by the test land where the lab's server looks (overrides tests/conftest.py)."""
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(lab.home))
    return lab.home


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _wait_for_chromium()
    with chromium_browser() as browser:
        yield browser


# Every test leaves a screenshot of its last state here (CI uploads the folder as an artifact).
ARTIFACTS = Path(os.environ.get("RUNCONFIG_UI_ARTIFACTS", ROOT / "build" / "ui-artifacts"))


@pytest.fixture
def page(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        except Exception:  # a crashed page must not hide the test's own failure
            pass
        context.close()


@pytest.fixture
def project(lab: Lab) -> Path:
    """A notebook folder under the lab's root: a script that prints a line every 0.3 s."""
    folder = lab.root / "proj"
    if not folder.exists():
        folder.mkdir()
        (folder / "train.py").write_text(
            textwrap.dedent(
                """
                import sys, time
                from runconfig_jupyter import Run
                run = Run.get_context()
                steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
                for i in range(steps):
                    run.log("loss", 1.0 / (i + 1))
                    print(f"step {i}", flush=True)
                    time.sleep(0.3)
                """
            )
        )
    return folder


def open_lab(page, lab: Lab) -> None:
    """Load Lab and open the runs sidebar."""
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="runconfig-runs"]').click()
    page.wait_for_selector("#runconfig-runs", state="visible")
