"""A step of the wall clock (NTP, a VM host resync, a resume) must not change which processes we take for ours.

The machine's clock cannot be stepped from a test without disturbing everything else on it, so a step is shown
to the checking process the way the kernel shows it: ``/proc/stat``'s ``btime`` (boot time in wall-clock seconds)
and ``time.time()`` move by the step, while every process's start in clock ticks since boot stays. The processes,
the run and its driver are real; only the checking process's view of the wall clock is moved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs import settle as settle_module
from runconfig_jupyter.core.runs.settle import Settled, settle
from runconfig_jupyter.core.runs.store import driver_alive
from runconfig_jupyter.core.system import proc
from tests.conftest import wait_for

STEP_SECONDS = 39.0  # the step that broke a CI run of this project on this machine


def _step_the_clock(monkeypatch, seconds: float = STEP_SECONDS) -> None:
    """From now on this process sees the wall clock ``seconds`` later: btime and time.time() both move."""
    stepped_boot = proc._boot() + seconds
    monkeypatch.setattr(proc, "_boot", lambda: stepped_boot)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + seconds)  # the module every caller reads it from


@pytest.fixture
def sleeper():
    """A real process that records its own start mark and start time, as a run driver records itself."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time; from runconfig_jupyter.core.system import proc; "
            "print(proc.start_mark(os.getpid()), proc.start_time(os.getpid()), flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        mark, wall = child.stdout.readline().split()
        yield child, mark, float(wall)
    finally:
        child.kill()
        child.wait()


def test_a_live_process_is_still_itself_after_a_clock_step(monkeypatch, sleeper):
    child, mark, wall = sleeper
    assert isinstance(mark, str) and proc.same_process(child.pid, mark)
    _step_the_clock(monkeypatch)
    # The step is real to this process: the wall-clock start time it computes moved, so a record kept as that
    # time (what this project wrote before start marks) no longer matches the live process.
    assert proc.start_time(child.pid) == pytest.approx(wall + STEP_SECONDS, abs=0.05)
    assert not proc.same_process(child.pid, wall)
    # The start mark does not move: the same live process is still recognised.
    assert proc.start_mark(child.pid) == mark
    assert proc.same_process(child.pid, mark)


def test_a_recycled_pid_a_reboot_and_an_ended_process_are_not_ours(sleeper):
    child, mark, _ = sleeper
    ticks, boot = mark.split(proc.MARK_SEPARATOR)
    # The same pid started one tick earlier or later is another process that reused the pid.
    for other_start in (int(ticks) - 1, int(ticks) + 1):
        assert not proc.same_process(child.pid, f"{other_start}{proc.MARK_SEPARATOR}{boot}")
    # The same pid and start ticks in an earlier boot (the kernel's boot id differs) is not this process.
    assert not proc.same_process(child.pid, f"{ticks}{proc.MARK_SEPARATOR}00000000-0000-0000-0000-000000000000")
    child.kill()
    wait_for(lambda: proc.is_zombie(child.pid), message="the child to exit")
    assert not proc.same_process(child.pid, mark)  # exited, not yet reaped: gone
    child.wait()
    assert not proc.same_process(child.pid, mark) and proc.start_mark(child.pid) is None


def test_records_from_before_start_marks_are_read_as_they_were(sleeper):
    """A run index or run folder written by an earlier version holds a wall-clock start time (a float)."""
    child, _, wall = sleeper
    assert proc.same_process(child.pid, wall) and proc.same_process(child.pid, wall + 0.5)
    assert not proc.same_process(child.pid, wall - 5.0)
    assert proc.same_process(child.pid, None)  # nothing recorded: any live process with the pid
    for damaged in ({"started": wall}, [wall], True, b"1@x"):  # a hand-edited or damaged file: no process, no crash
        assert not proc.same_process(child.pid, damaged)


def test_a_clock_step_does_not_start_a_second_driver_for_a_running_run(tmp_path, monkeypatch):
    """Before start marks, settling after a step judged the live driver dead and started another one: the run
    then had two drivers (metrics logged twice, "the run driver exited unexpectedly", cancels that missed)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text(
        textwrap.dedent(
            """
            import os, time
            from runconfig_jupyter import Run
            run = Run.get_context()
            print("started", flush=True)
            while not os.path.exists(os.environ["GO"]):
                time.sleep(0.05)
            run.log("loss", 0.25)
            print("done", flush=True)
            """
        )
    )
    go = tmp_path / "go"
    config = ScriptRunConfig(str(root), script="train.py")
    config.run_config.environment_variables = {"GO": str(go)}
    run = Experiment("clock").submit(config)
    try:
        wait_for(lambda: "started" in run.get_log(), timeout=60, message="the script to start")
        record = run.store.get(run.id)
        assert isinstance(record.driver_started, str) and driver_alive(record)

        _step_the_clock(monkeypatch)  # past the driver's grace too: the settle below really judges the driver
        record = run.store.get(run.id)
        assert time.time() - record.updated_at > settle_module.DRIVER_GRACE_SECONDS
        assert driver_alive(record)
        assert settle(run.store, run.id) == Settled.ALIVE
        assert run.store.get(run.id).driver_pid == record.driver_pid  # no other driver took the run
    finally:
        go.touch()  # a failed check above must not leave the script (and its driver) waiting for ever
    run.wait_for_completion(timeout=60)
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"loss": 0.25}  # logged once, by the one script the one driver ran
    assert run.get_log().count("done") == 1
    driver_log = (run.run_dir / "logs" / "driver_log.txt").read_text()
    assert driver_log.count("finished:") == 1, driver_log  # each driver that ran the run writes this line


def test_an_index_made_by_an_earlier_version_keeps_a_start_mark(tmp_path):
    """runs.db files made before start marks declare ``driver_started REAL``; a mark must come back unchanged."""
    import sqlite3

    from runconfig_jupyter.core.runs.status import RunStatus
    from runconfig_jupyter.core.runs.store import SCHEMA, RunRecord, RunStore

    home = tmp_path / "home"
    home.mkdir()
    old_schema = SCHEMA.replace("driver_started,", "driver_started REAL,")
    assert old_schema != SCHEMA
    with sqlite3.connect(home / "runs.db") as db:
        db.executescript(old_schema)
    store = RunStore(home)
    now = time.time()
    store.create_run(RunRecord("r1", "e", RunStatus.RUNNING, "local", "local", created_at=now, updated_at=now))
    mark = proc.start_mark(os.getpid())
    store.update("r1", driver_pid=os.getpid(), driver_started=mark)
    record = store.get("r1")
    assert record.driver_started == mark and driver_alive(record)
    store.update("r1", driver_started=proc.start_time(os.getpid()))  # a record of an earlier version: a float
    assert isinstance(store.get("r1").driver_started, float) and driver_alive(store.get("r1"))


def test_a_run_whose_driver_died_is_settled_after_the_clock_went_back(tmp_path, monkeypatch):
    """After a step back, the run's last record looks written in the future. The grace a starting driver gets
    must not stretch over the step: the dead driver is found and a new one adopts the script at once."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "count.py").write_text(
        "import time\nfor n in range(40):\n    print(f'line {n}', flush=True)\n    time.sleep(0.05)\n"
    )
    run = Experiment("clock").submit(ScriptRunConfig(str(root), script="count.py"))
    wait_for(lambda: "line 2" in run.get_log(), timeout=60, message="the script to print")
    record = run.store.get(run.id)
    os.kill(record.driver_pid, signal.SIGKILL)
    wait_for(lambda: not driver_alive(run.store.get(run.id)), message="the driver to be gone")

    _step_the_clock(monkeypatch, -3600.0)
    assert time.time() < run.store.get(run.id).updated_at  # the record now looks written in the future
    assert settle(run.store, run.id) == Settled.ADOPTED
    run.wait_for_completion(timeout=60)
    assert run.get_status() == "Completed"
    lines = [line for line in run.read_log()[0].splitlines() if line.startswith("line ")]
    assert lines == [f"line {n}" for n in range(40)]  # the adopting driver followed the same script to its end
