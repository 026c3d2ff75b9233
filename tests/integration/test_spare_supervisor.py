"""The spare supervisor (targets/processes/spare.py): the script's parent started before its run is known.

Real processes throughout: a real standby driver keeps a real spare (the script's prestarted interpreter,
prestarted.py, which spawns and supervises any run that is not its own; ``supervisor.py --await`` directly
for the protocol tests at the end);
the tests check that the run it serves is the run a freshly started supervisor would have run (argv,
working folder, environment with the run's own PATH, log, exit code, cancel reaching the script), that
a spare never outlives its driver, and what the spare does with a run it cannot start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs import standby
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.targets.processes.supervision import SUPERVISOR
from tests.conftest import wait_for
from tests.integration.test_standby import ready_standby, served_by_standby, standbys_on  # noqa: F401 (fixture)


def is_spare(cmdline: list[str]) -> bool:
    """supervisor.py --await, or the prestarted interpreter (prestarted.py) a local target's warm-up keeps."""
    return ("--await" in cmdline and str(SUPERVISOR) in cmdline) or "prestarted.py" in " ".join(cmdline[:3])


def spare_of(driver_pid: int) -> int:
    """The ``--await`` supervisor a driver process keeps (its child)."""

    def find() -> int | None:
        for child in psutil.Process(driver_pid).children():
            if is_spare(child.cmdline()):
                return child.pid
        return None

    return wait_for(find, timeout=15, message="the standby's spare supervisor")


def test_a_standby_run_starts_its_script_under_the_spare_it_kept(project, standbys_on, tmp_path):  # noqa: F811
    """The run's process group is the spare's; the script sees its own argv, folder, environment and PATH."""
    tools = tmp_path / "tools"
    tools.mkdir()
    tool = tools / "rcj-spare-tool"  # found only on the run's own PATH, never on the standby's
    tool.write_text('#!/bin/sh\necho "tool $1 in $(pwd) env=$SPARE_GREETING"\nexit 7\n')
    tool.chmod(0o755)
    Experiment("spare").submit(ScriptRunConfig(str(project), script="train.py")).wait_for_completion(timeout=60)
    driver = ready_standby(standbys_on)
    spare = spare_of(driver)
    config = ScriptRunConfig(str(project), command=["rcj-spare-tool", "arg-one"])
    config.run_config.environment_variables = {"SPARE_GREETING": "hi", "PATH": f"{tools}{os.pathsep}/usr/bin:/bin"}
    run = Experiment("spare").submit(config)
    details = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert served_by_standby(run)
    assert run.record.details["pid"] == spare  # the script's parent is the process started before the submit
    assert details["exitCode"] == 7 and run.record.status == RunStatus.FAILED
    assert f"tool arg-one in {run.run_dir / 'working'} env=hi" in run.get_log()


def test_a_spare_ends_with_the_standby_that_kept_it(run_home, monkeypatch):
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    from runconfig_jupyter.core.runs.drivers import prewarm

    prewarm()
    driver = ready_standby(run_home)
    spare = spare_of(driver)
    os.kill(driver, signal.SIGKILL)
    wait_for(
        lambda: not psutil.pid_exists(spare) or psutil.Process(spare).status() == psutil.STATUS_ZOMBIE,
        timeout=15,
        message="the spare to exit once its driver is gone",
    )


def test_cancel_reaches_a_script_started_by_the_spare(project, standbys_on):  # noqa: F811
    Experiment("spare").submit(ScriptRunConfig(str(project), script="train.py")).wait_for_completion(timeout=60)
    spare = spare_of(ready_standby(standbys_on))
    (project / "sleepy.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    run = Experiment("spare").submit(ScriptRunConfig(str(project), script="sleepy.py"))
    wait_for(lambda: "up" in run.get_log(), timeout=60, message="the script to start")
    script = [p for p in psutil.Process(spare).children() if "sleepy.py" in " ".join(p.cmdline())]
    assert script, "the script runs under the spare"
    run.cancel()
    run.wait_for_completion(timeout=60, raise_on_error=False)
    assert run.record.status == RunStatus.CANCELED
    assert not psutil.pid_exists(script[0].pid) or script[0].status() == psutil.STATUS_ZOMBIE


def test_the_next_standby_is_started_by_the_claimed_one_not_by_the_submitter(project, standbys_on):  # noqa: F811
    """The submit path does no process start for the next standby (it used to: ~3 ms before the first line)."""
    (project / "sleepy.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    Experiment("spare").submit(ScriptRunConfig(str(project), script="train.py")).wait_for_completion(timeout=60)
    claimed = ready_standby(standbys_on)
    before = {child.pid for child in psutil.Process().children()}
    run = Experiment("spare").submit(ScriptRunConfig(str(project), script="sleepy.py"))
    try:
        successor = wait_for(
            lambda: [pid for pid in standby.standby_pids(standbys_on) if pid != claimed],
            timeout=30,
            message="the next standby",
        )[0]
        assert psutil.Process(successor).ppid() == claimed
        assert {child.pid for child in psutil.Process().children()} <= before
    finally:
        run.cancel()
        run.wait_for_completion(timeout=60, raise_on_error=False)


def run_spare(run: dict | None, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    spare = [sys.executable, "-I", "-S", str(SUPERVISOR), "--await"]
    data = b"" if run is None else json.dumps(run).encode()
    return subprocess.run(spare, input=data, capture_output=True, timeout=30, cwd=tmp_path)


def test_a_spare_whose_pipe_closes_empty_starts_nothing(tmp_path):
    result = run_spare(None, tmp_path)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
    assert list(tmp_path.iterdir()) == []


def test_a_spare_given_a_missing_folder_records_why_and_starts_nothing(tmp_path):
    marker = tmp_path / "ran"
    run = {
        "exit_file": str(tmp_path / "exit.json"),
        "argv": ["/bin/sh", "-c", f"touch {marker}"],
        "env": {"PATH": "/usr/bin:/bin"},
        "cwd": str(tmp_path / "gone"),
        "log": str(tmp_path / "log.txt"),
    }
    run_spare(run, tmp_path)
    record = json.loads((tmp_path / "exit.json").read_text())
    assert record["exit_code"] == 127 and "could not start '/bin/sh'" in record["error"]
    assert not marker.exists() and not (tmp_path / "log.txt").exists()


def test_a_spare_runs_exactly_the_argv_it_is_given_without_a_shell(tmp_path):
    (tmp_path / "work").mkdir()
    run = {
        "exit_file": str(tmp_path / "exit.json"),
        "argv": [sys.executable, "-c", "import os, sys; print(sys.argv[1:], os.getcwd(), os.environ['ONLY'])", "$(id)"],
        "env": {"ONLY": "this"},
        "cwd": str(tmp_path / "work"),
        "log": str(tmp_path / "log.txt"),
    }
    result = run_spare(run, tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "log.txt").read_text() == f"['$(id)'] {tmp_path / 'work'} this\n"
    assert json.loads((tmp_path / "exit.json").read_text())["exit_code"] == 0


def test_the_next_fresh_driver_starts_without_site_and_runs_the_same(project, run_home):
    """The first driver started the ordinary way remembers what site gave it (core/system/site_free.py); the
    next one in the same environment is started with ``-S`` and that path, and runs the script as well."""
    (project / "hello.py").write_text("import sys\nprint('hello', sys.argv[1:], flush=True)\n")
    config = ScriptRunConfig(str(project), script="hello.py", arguments=["x"])
    first = Experiment("spare").submit(config)
    first.wait_for_completion(timeout=60)
    (project / "sleepy.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    second = Experiment("spare").submit(ScriptRunConfig(str(project), script="sleepy.py"))
    try:
        wait_for(lambda: "up" in second.get_log(), timeout=60, message="the script to start")
        driver = psutil.Process(second.record.driver_pid).cmdline()
        assert driver[1:3] == ["-S", "-c"] and "runconfig_jupyter.core.runs.driver_entry" in driver[3], driver
        assert second.id in driver
    finally:
        second.cancel()
        second.wait_for_completion(timeout=60, raise_on_error=False)
    assert second.record.status == RunStatus.CANCELED
    assert "hello ['x']" in first.get_log()
    third = Experiment("spare").submit(config)
    assert third.wait_for_completion(timeout=60)["status"] == "Completed"
    assert "hello ['x']" in third.get_log()


def test_a_fresh_driver_starts_its_spare_before_it_prepares(project, run_home):
    """Standbys off (the fixture's default): the driver's own spare (from the target's warm-up) runs the script."""
    (project / "sleepy.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    run = Experiment("spare").submit(ScriptRunConfig(str(project), script="sleepy.py"))
    try:
        # The driver records the supervisor's pid right after handing the run over; the script may print first.
        wait_for(
            lambda: "up" in run.get_log() and "pid" in run.record.details, timeout=60, message="the script to start"
        )
        parent = psutil.Process(run.record.details["pid"])
        assert is_spare(parent.cmdline()) and parent.ppid() == run.record.driver_pid
        assert not served_by_standby(run)
        # the submitter named the local target's head start, which the driver ran before its other imports
        driver = psutil.Process(run.record.driver_pid).cmdline()
        assert driver[-1] == "runconfig_jupyter.targets.local.head_start:start_spare", driver
    finally:
        run.cancel()
        run.wait_for_completion(timeout=60, raise_on_error=False)
    assert run.record.status == RunStatus.CANCELED


@pytest.mark.parametrize("usable_temp_folder", [True, False])
def test_a_prestarted_spares_startup_output_goes_to_an_unnamed_file(tmp_path, monkeypatch, usable_temp_folder):
    """The file a prestarted spare writes while it starts is nameless from birth (O_TMPFILE) and leaves no name in
    the temp folder; where the folder refuses it (here: it does not exist), a named temp file removed at once."""
    from runconfig_jupyter.targets.processes import spare as spare_module

    folder = tmp_path / ("tmp" if usable_temp_folder else "missing")
    if usable_temp_folder:
        folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(spare_module, "_prestart_env", {"PATH": os.environ.get("PATH", "")})
    with spare_module._startup_output() as fd:
        os.write(fd, b"started\n")
        assert os.pread(fd, 100, 0) == b"started\n"  # the spare reads back what it wrote (prestarted.py)
        assert os.fstat(fd).st_nlink == 0  # no name anywhere
        if usable_temp_folder:
            assert list(folder.iterdir()) == []
    with pytest.raises(OSError):
        os.fstat(fd)  # closed with the context
