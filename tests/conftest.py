"""Shared fixtures: every test gets its own run home, so tests never see each other's runs."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.data_servers import azurite, moto_s3  # noqa: F401 - session fixtures for every test folder

# No warm standby drivers (core/standby.py) in tests, including servers started by module or session
# fixtures before ``run_home`` applies; tests/integration/test_standby.py turns them on and ends them.
os.environ["RUNCONFIG_STANDBY_SECONDS"] = "0"


@pytest.fixture(autouse=True)
def run_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("runhome")
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(home))
    # No warm standby drivers unless a test asks for them (tests/integration/test_standby.py).
    monkeypatch.setenv("RUNCONFIG_STANDBY_SECONDS", "0")
    yield home
    _end_leftover_drivers(home)
    _end_standbys(home)


def _end_standbys(home: Path) -> None:
    """Standby drivers a test started (core/standby.py) end with it: SIGTERM by PID, then SIGKILL."""
    from runconfig_jupyter.core.runs.standby import standby_pids

    pids = standby_pids(home)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while standby_pids(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in standby_pids(home):
        os.kill(pid, signal.SIGKILL)


def _end_leftover_drivers(home: Path) -> None:
    """A test that failed mid-run must not leave its driver and script running: end them by PID."""
    from runconfig_jupyter.core.runs.store import RunStore, driver_alive

    if not (home / "runs.db").exists():
        return
    store = RunStore(home)
    for record in store.list(limit=1000):
        if record.is_terminal or record.driver_pid == os.getpid():  # an interactive run of this very process
            continue
        if driver_alive(record):
            os.kill(record.driver_pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while driver_alive(store.get(record.run_id)) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small source directory with a training script that logs metrics and writes outputs."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text(
        textwrap.dedent(
            """
            import argparse, os, sys, time
            from runconfig_jupyter import Run

            parser = argparse.ArgumentParser()
            parser.add_argument("--epochs", type=int, default=3)
            parser.add_argument("--lr", type=float, default=0.1)
            parser.add_argument("--sleep", type=float, default=0.0)
            parser.add_argument("--fail", type=int, default=0)
            args = parser.parse_args()
            run = Run.get_context()
            for epoch in range(args.epochs):
                loss = 1.0 / (epoch + 1)
                run.log("loss", loss)
                print(f"epoch {epoch} loss {loss:.3f} lr {args.lr}", flush=True)
                time.sleep(args.sleep)
            run.log_list("accuracies", [0.5, 0.7, 0.9])
            run.log_row("table", x=1, y=2)
            os.makedirs("outputs", exist_ok=True)
            with open("outputs/model.txt", "w") as f:
                f.write(f"trained {args.epochs} epochs; env={os.environ.get('GREETING', '')}\\n")
            print("env", os.environ.get("GREETING"), file=sys.stderr)
            sys.exit(args.fail)
            """
        )
    )
    (root / "data.csv").write_text("a,b\n1,2\n")
    return root


# -- real servers shared by every folder that needs them (one each per session) ----------------------------------
@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory):
    """A real ``jupyter server`` on 127.0.0.1 (token auth), killed by PID at the end of the session."""
    from tests.integration.kernel.servers import launch, stop

    server = launch("server", tmp_path_factory.mktemp("jupyter-server"))
    yield server
    stop(server)


@pytest.fixture(scope="session")
def kernel_gateway(tmp_path_factory: pytest.TempPathFactory):
    """A real ``jupyter kernelgateway`` on 127.0.0.1 (token auth), killed by PID at the end of the session."""
    from tests.integration.kernel.servers import launch, stop

    server = launch("gateway", tmp_path_factory.mktemp("kernel-gateway"))
    yield server
    stop(server)


@pytest.fixture(scope="session")
def ray_cluster():
    """One real Ray cluster (a head and one worker node on 127.0.0.1) for every Ray test of the session."""
    pytest.importorskip("ray.job_submission")
    from tests.integration.ray.cluster import start_cluster

    cluster = start_cluster(num_cpus=2, worker_cpus=1)
    yield cluster
    cluster.stop()


@pytest.fixture
def ray_target(ray_cluster):
    """The cluster registered under a name, as a user would in targets.yaml."""
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    register_target("cluster", type="ray", address=ray_cluster.address)
    yield "cluster"
    unregister_target("cluster")


@pytest.fixture(scope="session")
def docker_engine():
    """The real Docker engine (docker SDK client); skips the test with the reason when none can run here."""
    from tests.docker_engine import engine_or_skip

    client = engine_or_skip()
    yield client
    client.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def stop_server(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM (a Jupyter server shuts its kernels down), then SIGKILL of its process group if it lingers.

    For the servers the tests start in their own session (jupyter server, lab, kernel gateway), by PID.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)


@pytest.fixture
def install_target_types(monkeypatch: pytest.MonkeyPatch):
    """Make test target classes installed types, through entry points as a plug-in package declares them.

    Target types are found only through the ``runconfig_jupyter.targets`` entry-point group; a class
    defined in a test module gets an entry point (``type_name = module:Class``) next to the installed ones,
    for this test only. The class must be defined at module level (an entry point names it by import path).
    """
    from importlib.metadata import EntryPoint

    from runconfig_jupyter.core.target import plugins

    def install(*classes: type) -> None:
        points = [EntryPoint(c.type_name, f"{c.__module__}:{c.__qualname__}", plugins.GROUP) for c in classes]
        monkeypatch.setattr(
            plugins, "TARGET_TYPES", plugins.TargetTypes(lambda: [*points, *plugins.installed_entry_points()])
        )

    return install
