"""A local run's driver killed with SIGKILL: settling starts a new driver that adopts the script (real processes,
real signals); reading the run meanwhile starts or kills nothing (core/runs/settle.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter import Experiment, Run, ScriptRunConfig
from runconfig_jupyter.core.config import MpiConfiguration, PyTorchConfiguration
from runconfig_jupyter.core.runs import settle as settle_module
from runconfig_jupyter.core.runs.settle import DRIVER_GRACE_SECONDS as GRACE
from runconfig_jupyter.core.runs.settle import settle
from runconfig_jupyter.server.service import RunService
from tests.conftest import wait_for

LINES = 30
COUNTER = textwrap.dedent(
    f"""
    import os, sys, time
    for n in range({LINES}):
        print(f"line {{n}}", flush=True)
        time.sleep(float(os.environ.get("PAUSE", "0.05")))
    os.makedirs("outputs", exist_ok=True)
    open("outputs/result.txt", "w").write("all lines")
    sys.exit(int(os.environ.get("EXIT", "0")))
    """
)


@pytest.fixture(autouse=True)
def _no_grace(monkeypatch):
    """Settling acts on a dead driver at once instead of after 5 s (the grace a starting driver gets)."""
    monkeypatch.setattr(settle_module, "DRIVER_GRACE_SECONDS", 0.0)


def _submit(tmp_path, distributed=None, **env):
    root = tmp_path / "counter"
    root.mkdir()
    (root / "counter.py").write_text(COUNTER)
    config = ScriptRunConfig(str(root), script="counter.py", distributed_job_config=distributed)
    config.run_config.environment_variables = env
    return Experiment("adopt").submit(config)


def _kill_driver(run) -> int:
    """SIGKILL the driver once the script prints; returns the script group's leader pid (still alive)."""
    wait_for(lambda: "line 2" in run.get_log(), timeout=30, message="the script to print")
    record = run.store.get(run.id)
    os.kill(record.driver_pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(record.driver_pid) or _zombie(record.driver_pid), message="driver gone")
    return int(record.details["pid"])


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _assert_complete_log(run) -> None:
    lines = [line for line in run.read_log()[0].splitlines() if line.startswith("line ")]
    assert lines == [f"line {n}" for n in range(LINES)]  # every line, in order, none twice


def test_settling_adopts_a_healthy_script_and_it_completes(tmp_path):
    run = _submit(tmp_path, PAUSE="0.1")
    script_group = _kill_driver(run)
    assert settle(run.store, run.id) == "adopted"
    assert run.get_status() in ("Running", "Finalizing")
    assert psutil.pid_exists(script_group)  # the script was not killed
    details = run.wait_for_completion(timeout=60)
    assert details["status"] == "Completed" and details["exitCode"] == 0
    assert details["targetDetails"]["driver_restarts"] == 1
    _assert_complete_log(run)
    assert (run.outputs_dir() / "result.txt").read_text() == "all lines"
    assert not (run.run_dir / "working").exists()
    assert "re-attaching" in (run.run_dir / "logs" / "driver_log.txt").read_text()


def _drivers_of(run) -> list[psutil.Process]:
    """Every live driver process of this run, found by its command line (a --reattach one included)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        driver = "runconfig_jupyter.core.runs.driver" in cmdline and run.id in cmdline
        if driver and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def test_reading_a_run_whose_driver_died_starts_and_kills_nothing(tmp_path):
    """Every reader (the handle, %runs' store listing, the server's GET routes) leaves a lost run alone;
    only ``settle`` acts, and then exactly once even when asked twice."""
    run = _submit(tmp_path, PAUSE="0.1")
    script_group = _kill_driver(run)
    before = run.store.get(run.id)
    service = RunService(run.store)
    for _ in range(3):  # reads a sidebar, a widget thread and %runs make, again and again
        assert run.get_status() == "Running" and run.record.driver_pid == before.driver_pid
        assert Run.get(run.id).status == "Running"
        assert service.run_detail(run.id)["status"] == "Running"
        assert [r["run_id"] for r in service.list_runs(experiment="adopt")["runs"]] == [run.id]
        service.read_log(run.id)
        run.get_details()
    after = run.store.get(run.id)
    assert after.driver_pid == before.driver_pid and "driver_restarts" not in after.details
    assert _drivers_of(run) == []  # no new driver, no --reattach process
    assert psutil.pid_exists(script_group) and not _zombie(script_group)  # and nothing was killed
    assert settle(run.store, run.id) == "adopted"
    assert settle(run.store, run.id) == "alive"  # the second settler sees the new driver
    adopted = run.store.get(run.id)
    assert adopted.driver_pid != before.driver_pid and adopted.details["driver_restarts"] == 1
    assert [p.pid for p in _drivers_of(run)] == [adopted.driver_pid]
    assert "--reattach" in _drivers_of(run)[0].cmdline()
    run.wait_for_completion(timeout=60)
    _assert_complete_log(run)


def test_the_settle_command_adopts_a_lost_run(tmp_path):
    """``python -m runconfig_jupyter.core.runs.settle``: the settler for a machine without a Jupyter server."""
    run = _submit(tmp_path, PAUSE="0.1")
    _kill_driver(run)
    # The command's own process has the full grace period: let it pass (no driver writes the record now).
    wait_for(lambda: time.time() - run.store.get(run.id).updated_at > GRACE + 0.2, timeout=30, message="the grace")
    checkout = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-m", "runconfig_jupyter.core.runs.settle", "--home", str(run.store.home)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert f"{run.id}: adopted" in result.stdout.splitlines()
    run.wait_for_completion(timeout=60)
    assert run.get_details()["targetDetails"]["driver_restarts"] == 1
    _assert_complete_log(run)


def test_a_script_that_ends_while_no_driver_lives_keeps_its_exit_code(tmp_path):
    run = _submit(tmp_path, EXIT="3")
    _kill_driver(run)
    # Nobody reads the run while the script finishes alone; its supervisor records the exit code.
    wait_for(lambda: (run.run_dir / "script_exit.json").exists(), timeout=30, message="the exit code file")
    assert run.store.get(run.id).status.value == "Running"  # nothing settled it behind our back
    run.wait_for_completion(timeout=60, raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Failed" and details["exitCode"] == 3
    assert details["error"]["phase"] == "Running" and "exited with code 3" in details["error"]["message"]
    _assert_complete_log(run)
    assert (run.outputs_dir() / "result.txt").read_text() == "all lines"
    assert not (run.run_dir / "working").exists()


def _cancel_once_adopted(run) -> None:
    """Settle the run (which starts the adopting driver), wait until that driver handles signals, then cancel."""
    assert settle(run.store, run.id) == "adopted"
    wait_for(lambda: run.store.get(run.id).details.get("driver_restarts") == 1, message="the adopting driver")
    wait_for(lambda: run.store.get(run.id).details.get("driver_ready"), message="the adopting driver ready")
    assert run.cancel() is True
    wait_for(lambda: run.record.is_terminal, timeout=30, message="the run to end")
    assert run.record.status.value == "Canceled"


def test_cancel_reaches_an_adopted_script(tmp_path):
    run = _submit(tmp_path, PAUSE="5")
    script_group = _kill_driver(run)
    _cancel_once_adopted(run)
    wait_for(lambda: not psutil.pid_exists(script_group) or _zombie(script_group), message="the script group gone")


def test_a_cancel_of_a_run_whose_driver_died_reaches_its_script(tmp_path):
    """A cancel is an action: it settles first, so the re-attached driver stops the script (no orphan left
    running under a Canceled row)."""
    run = _submit(tmp_path, PAUSE="5")
    script_group = _kill_driver(run)
    assert run.cancel() is True
    wait_for(lambda: run.record.is_terminal, timeout=30, message="the run to end")
    record = run.record
    assert record.status.value == "Canceled" and record.details["driver_restarts"] == 1
    wait_for(lambda: not psutil.pid_exists(script_group) or _zombie(script_group), message="the script group gone")


def _rank_lines(run, rank: int | str, prefix: str = "") -> list[str]:
    prefix = prefix or f"[rank {rank}] "
    return [line[len(prefix) :] for line in run.read_log()[0].splitlines() if line.startswith(prefix)]


needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI's mpirun is not installed")
LAUNCHES = {  # ranks started directly (each under a supervisor) / through a real Open MPI mpirun (under one)
    "direct": lambda: PyTorchConfiguration(process_count=2),
    "mpirun": lambda: MpiConfiguration(2),
}


def _kill_driver_of_ranks(run) -> dict:
    """SIGKILL the driver once both ranks print; returns the run's details (the processes still alive)."""
    wait_for(lambda: _rank_lines(run, 0) and _rank_lines(run, 1), timeout=30, message="both ranks to print")
    # mpirun's ranks are found (and recorded) after they start: under load they may print first
    wait_for(
        lambda: "pid" in (details := run.store.get(run.id).details) and len(details.get("pids", [])) == 2,
        timeout=30,
        message="the rank processes recorded",
    )
    record = run.store.get(run.id)
    os.kill(record.driver_pid, signal.SIGKILL)
    wait_for(lambda: _zombie(record.driver_pid), message="driver gone")
    processes = [record.details["pid"], *record.details["pids"]]
    assert len(processes) == 3 and not any(_zombie(pid) for pid in processes)  # the ranks were not killed
    return record.details


@pytest.mark.parametrize("exit_code", [0, 3])
@pytest.mark.parametrize("launch", ["direct", pytest.param("mpirun", marks=needs_mpirun)])
def test_the_ranks_of_a_distributed_local_run_are_adopted(tmp_path, launch, exit_code):
    """Two ranks (rank files merged into std_log.txt by the driver); the merge resumes exactly where it was.

    Under mpirun the adopting driver follows mpirun's supervisor and finishes with mpirun's exit code.
    """
    run = _submit(tmp_path, distributed=LAUNCHES[launch](), PAUSE="0.1", EXIT=str(exit_code))
    started = _kill_driver_of_ranks(run)
    assert started.get("launcher", "direct") == launch
    run.wait_for_completion(timeout=90, raise_on_error=False)
    details = run.get_details()
    assert details["exitCode"] == exit_code and details["targetDetails"]["driver_restarts"] == 1
    if exit_code == 0:
        assert details["status"] == "Completed", details.get("error")
    else:
        assert details["status"] == "Failed" and "exited with code 3" in details["error"]["message"]
    for rank in (0, 1):
        assert _rank_lines(run, rank) == [f"line {n}" for n in range(LINES)]  # every line once, in order
    assert (run.outputs_dir() / "result.txt").read_text() == "all lines"
    if launch == "mpirun":  # mpirun's own messages went through the same journal: each once, in order
        own = (run.run_dir / "logs" / "mpirun.txt").read_text().splitlines()
        assert _rank_lines(run, "mpirun", prefix="[mpirun] ") == own and (own or exit_code == 0)
    assert all(_zombie(pid) for pid in [started["pid"], *started["pids"]])
    assert "re-attaching" in (run.run_dir / "logs" / "driver_log.txt").read_text()


@needs_mpirun
def test_cancel_of_an_adopted_mpirun_run_stops_every_rank(tmp_path):
    run = _submit(tmp_path, distributed=MpiConfiguration(2), PAUSE="5")
    started = _kill_driver_of_ranks(run)
    _cancel_once_adopted(run)
    processes = [started["pid"], *started["pids"]]
    wait_for(lambda: all(_zombie(pid) for pid in processes), message="mpirun's session and both ranks gone")
