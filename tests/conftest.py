"""Shared fixtures: every test gets its own run home, so tests never see each other's runs."""

from __future__ import annotations

import os
import signal
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


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
