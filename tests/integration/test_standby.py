"""Warm standby drivers (core/standby.py) with real processes: who serves a run, and that none outlives its use.

The autouse ``run_home`` fixture turns standbys off (RUNCONFIG_STANDBY_SECONDS=0); the tests here turn
them on and end every standby they started by PID (``stop_standbys``), on top of the fixture's own sweep.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs import standby
from tests.conftest import wait_for


def stop_standbys(home: Path) -> None:
    for pid in standby.standby_pids(home):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not standby.standby_pids(home), timeout=15, message="standbys to end")


@pytest.fixture
def standbys_on(monkeypatch, run_home):
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    yield run_home
    stop_standbys(run_home)


def ready_standby(home: Path) -> int:
    pids = wait_for(lambda: standby.waiting_pids(home), timeout=30, message="a warm standby")
    assert len(pids) == 1, pids
    return pids[0]


def served_by_standby(run) -> bool:
    driver_log = (run.run_dir / "logs" / "driver_log.txt").read_text()
    return bool(run.record.details.get("standby_driver")) and "warm standby driver" in driver_log


def test_second_local_submit_is_served_by_the_standby(project, standbys_on):
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3])
    config.run_config.environment_variables = {"GREETING": "warm"}
    first = Experiment("warm").submit(config)
    first.wait_for_completion(timeout=60)
    assert not served_by_standby(first)
    pid = ready_standby(standbys_on)
    second = Experiment("warm").submit(config)
    details = second.wait_for_completion(timeout=60)
    assert served_by_standby(second)
    assert second.record.driver_pid == pid and details["exitCode"] == 0
    assert "epoch 2 loss 0.333" in second.get_log() and "env warm" in second.get_log()
    assert second.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3]
    assert (second.run_dir / "outputs" / "model.txt").read_text() == "trained 3 epochs; env=warm\n"
    # the served standby is gone; a new one waits for the next submit
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    assert ready_standby(standbys_on) != pid


def test_a_standby_run_does_not_see_another_targets_token(project, standbys_on, monkeypatch):
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    register_target("token-box", type="kernel", url="http://127.0.0.1:9", token_env="RCJ_TEST_BOX_TOKEN")
    monkeypatch.setenv("RCJ_TEST_BOX_TOKEN", "s3cr3t-value")
    (project / "env.py").write_text("import os\nprint('token', os.environ.get('RCJ_TEST_BOX_TOKEN'))\n")
    try:
        Experiment("env").submit(ScriptRunConfig(str(project), script="env.py")).wait_for_completion(timeout=60)
        pid = ready_standby(standbys_on)
        assert "RCJ_TEST_BOX_TOKEN" not in psutil.Process(pid).environ()
        run = Experiment("env").submit(ScriptRunConfig(str(project), script="env.py"))
        run.wait_for_completion(timeout=60)
    finally:
        unregister_target("token-box")
    assert served_by_standby(run) and "token None" in run.get_log()


def test_concurrent_submits_never_share_a_standby(project, standbys_on):
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    Experiment("pair").submit(config).wait_for_completion(timeout=60)
    ready_standby(standbys_on)
    barrier, runs = threading.Barrier(2), []

    def submit_one() -> None:
        barrier.wait(10)
        runs.append(Experiment("pair").submit(config))

    threads = [threading.Thread(target=submit_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(runs) == 2
    for run in runs:
        assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    assert runs[0].record.driver_pid != runs[1].record.driver_pid
    assert sum(served_by_standby(run) for run in runs) == 1


def test_claims_are_exclusive(project, standbys_on, monkeypatch):
    """Two claimers racing for one standby: the rename lets exactly one through."""
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    Experiment("claim").submit(config).wait_for_completion(timeout=60)
    pid = ready_standby(standbys_on)
    print_ = next((standbys_on / "standby").glob("*.fifo")).name.split(".")[0]
    os.kill(pid, signal.SIGSTOP)  # the run id stays in its FIFO; it is killed below, never drives anything
    try:
        results: list[int | None] = []
        threads = [
            threading.Thread(target=lambda: results.append(standby.claim(standbys_on, print_, "claim_0_none")))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert sorted(results, key=str) == sorted([pid, None], key=str)


def test_cancel_right_after_a_standby_submit_ends_canceled(project, standbys_on):
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 1])
    first = Experiment("stop").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    first.wait_for_completion(timeout=60)
    ready_standby(standbys_on)
    run = Experiment("stop").submit(config)
    run.cancel()
    run.wait_for_completion(timeout=60, raise_on_error=False)
    assert run.get_status() == "Canceled" and served_by_standby(run)


def test_a_standby_killed_after_its_claim_does_not_leave_the_run_queued(project, standbys_on, monkeypatch):
    from runconfig_jupyter.core.runs import settle

    monkeypatch.setattr(settle, "DRIVER_GRACE_SECONDS", 0.5)
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    Experiment("lost").submit(config).wait_for_completion(timeout=60)
    pid = ready_standby(standbys_on)
    os.kill(pid, signal.SIGSTOP)  # claimed (the run id sits in its FIFO) but never reads it
    run = Experiment("lost").submit(config)
    assert run.record.driver_pid == pid and run.get_status() == "Queued"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: settle.settle(run.store, run.id) == "failed", timeout=20, message="the lost standby to be noticed")
    assert "driver exited unexpectedly" in run.record.reason


def _start_standby(home: Path, seconds: str) -> int:
    env = {**os.environ, "RUNCONFIG_JUPYTER_HOME": str(home), standby.STANDBY_ENV: seconds}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(standby.__file__).parents[2]), env.get("PYTHONPATH")) if p)
    pid = standby.ensure_standby(home, env, standby.fingerprint(env))
    assert pid is not None
    return pid


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # our child: reap it
    except ChildProcessError:
        pass
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_standby_exits_after_its_idle_timeout(run_home):
    pid = _start_standby(run_home, "1")
    try:
        wait_for(lambda: _gone(pid), timeout=30, message="the idle standby to exit")
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert not [p for p in (run_home / "standby").iterdir() if p.suffix in (".fifo", ".claimed", ".new")]


def test_a_standby_exits_when_its_home_is_removed(tmp_path):
    home = tmp_path / "gone-home"
    home.mkdir()
    pid = _start_standby(home, "600")
    try:
        wait_for(lambda: standby.waiting_pids(home), timeout=30, message="the standby to wait")
        shutil.rmtree(home)
        wait_for(lambda: _gone(pid), timeout=15, message="the homeless standby to exit")
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_standby_with_another_environment_is_not_used(project, standbys_on):
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    Experiment("fp").submit(config).wait_for_completion(timeout=60)
    pid = ready_standby(standbys_on)
    run = Experiment("fp").submit(config, driver_env={"RCJ_OTHER": "1"})
    run.wait_for_completion(timeout=60)
    assert not served_by_standby(run) and run.record.driver_pid != pid
    assert pid in standby.waiting_pids(standbys_on)  # still waiting for a submit like its own


def test_standby_seconds_parsing():
    assert standby.standby_seconds({}) == standby.DEFAULT_SECONDS
    assert standby.standby_seconds({standby.STANDBY_ENV: "0"}) == 0
    assert standby.standby_seconds({standby.STANDBY_ENV: "2.5"}) == 2.5
    assert standby.standby_seconds({standby.STANDBY_ENV: "soon"}) == 0  # bad value: off, never a failed submit
    assert standby.fingerprint({"A": "1"}, sys.executable) != standby.fingerprint({"A": "2"}, sys.executable)


def test_the_fingerprint_follows_the_code(monkeypatch):
    """A standby that imported older code (an edit, an upgrade) is keyed differently, so it is never used."""
    before = standby.fingerprint({"A": "1"})
    monkeypatch.setattr(standby, "code_stamp", lambda: "edited")
    assert standby.fingerprint({"A": "1"}) != before


def test_only_a_run_id_is_accepted_from_the_fifo():
    read, write = os.pipe()
    try:
        os.write(write, b"../../etc\n")
        assert standby._read_run_id(read, deadline=float("inf")) is None
        os.write(write, b"exp_1_abc\n")
        assert standby._read_run_id(read, deadline=float("inf")) == "exp_1_abc"
    finally:
        os.close(read)
        os.close(write)


def test_prewarm_makes_the_first_submit_warm(project, standbys_on):
    """``%load_ext`` calls ``prewarm``: the session's first local run is already served by a standby."""
    from runconfig_jupyter.core.runs.drivers import prewarm

    pid = prewarm()
    assert pid is not None and ready_standby(standbys_on) == pid
    assert prewarm() is None  # one is waiting already
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    run.wait_for_completion(timeout=60)
    assert served_by_standby(run) and run.record.driver_pid == pid


def test_a_claimed_standby_imports_nothing_more_for_a_local_run(project, standbys_on, monkeypatch):
    """Everything the run needs (config, targets, the extractor) was imported while the standby waited."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # part of the standby's environment and fingerprint
    config = ScriptRunConfig(str(project), script="train.py")
    first = Experiment("warm").submit(config)
    first.wait_for_completion(timeout=60)
    fresh_log = (first.run_dir / "logs" / "driver_log.txt").read_text()
    assert "import time:" in fresh_log and "runconfig_jupyter.core.snapshot.extract" in fresh_log  # the record is real
    ready_standby(standbys_on)
    second = Experiment("warm").submit(config)
    second.wait_for_completion(timeout=60)
    assert served_by_standby(second)
    driver_log = (second.run_dir / "logs" / "driver_log.txt").read_text()  # its stderr once it took the run
    assert [line for line in driver_log.splitlines() if line.startswith("import time:")] == []


FREEZE_PROBE = """
import gc, sys, weakref
from pathlib import Path
from runconfig_jupyter.core.runs import standby

class Node:
    pass

gc.disable()  # from here only an explicit collection frees a cycle
node = Node()
node.self = node
before = weakref.ref(node)
del node
(Path(sys.argv[1]) / "standby").mkdir(parents=True, exist_ok=True)
assert standby.wait_for_run(Path(sys.argv[1]), "probe", 0.0) is None  # preloads, freezes, then times out
after = Node()
after.self = after
later = weakref.ref(after)
del after
gc.collect()
print(gc.get_freeze_count(), before() is None, later() is None)
"""


def test_a_waiting_standby_keeps_its_preloaded_objects_out_of_collections(run_home, tmp_path):
    """The preloaded modules are frozen while the standby waits, so a run's collections do not walk them; the
    garbage from before is collected first, and what the run makes is still collected."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE, str(tmp_path / "home")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    frozen, old_cycle_freed, new_cycle_freed = done.stdout.split()
    assert int(frozen) > 10_000  # the config, snapshot readers and the targets' modules
    assert old_cycle_freed == "True" and new_cycle_freed == "True"
