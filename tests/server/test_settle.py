"""The server's part of the settle policy: its routes only read, its timer settles (core/runs/settle.py).

A local run's driver is SIGKILLed while its script keeps printing (real processes, real signals, the real
server extension in this process).
"""

from __future__ import annotations

import os
import signal
from typing import Any

import psutil
import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs import settle
from runconfig_jupyter.core.runs.script_run import submit
from tests.conftest import wait_for
from tests.server.test_api import until


@pytest.fixture(autouse=True)
def _no_grace(monkeypatch):
    """A lost driver counts as lost at once instead of after 5 s."""
    monkeypatch.setattr(settle, "DRIVER_GRACE_SECONDS", 0.0)


@pytest.fixture
def settle_interval() -> float:
    return 0.0


@pytest.fixture
def jp_server_config(settle_interval: float) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": True}},
        "RunconfigServer": {"settle_interval": settle_interval},
    }


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _run_with_a_dead_driver(workspace):
    run = submit(ScriptRunConfig(str(workspace), script="train.py", arguments=["40", "0.2"]), "lost")
    wait_for(lambda: "step 1" in run.get_log(), timeout=60, message="the script to print")
    record = run.store.get(run.id)
    os.kill(record.driver_pid, signal.SIGKILL)
    wait_for(lambda: _gone(record.driver_pid), message="the driver gone")
    return run, record


async def test_the_get_routes_never_start_or_kill_anything(api, workspace):
    run, before = _run_with_a_dead_driver(workspace)
    for _ in range(3):
        for parts in (("runs", run.id), ("runs",), ("runs", run.id, "log"), ("runs", run.id, "metrics")):
            code, body = await api(*parts)
            assert code == 200, body
        assert body["run_id"] == run.id
        code, detail = await api("runs", run.id)
        assert detail["status"] == "Running"
    after = run.store.get(run.id)
    assert after.driver_pid == before.driver_pid and "driver_restarts" not in after.details
    assert psutil.pid_exists(before.details["pid"]) and not _gone(before.details["pid"])  # the script lives
    assert settle.settle(run.store, run.id) == "adopted"  # the explicit call does what the reads did not
    run.wait_for_completion(timeout=60)


@pytest.mark.parametrize("settle_interval", [0.5])
async def test_the_server_timer_adopts_a_run_nobody_reads(api, workspace, settle_interval):
    run, before = _run_with_a_dead_driver(workspace)

    async def adopted():
        return run.store.get(run.id).details.get("driver_restarts") == 1

    await until(adopted, timeout=20, message="the server's settle timer to adopt the run")
    assert run.store.get(run.id).driver_pid != before.driver_pid
    run.wait_for_completion(timeout=60)
    assert run.get_details()["targetDetails"]["driver_restarts"] == 1
