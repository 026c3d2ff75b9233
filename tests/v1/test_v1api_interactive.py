"""Interactive runs (Experiment.start_logging), as Microsoft's manage-runs and logging-api samples use them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from runconfig_jupyter import Experiment, Run, Workspace
from runconfig_jupyter.core.errors import RunStateError
from runconfig_jupyter.core.runs.settle import DRIVER_GRACE_SECONDS, settle
from runconfig_jupyter.server.service import RunService
from tests.conftest import wait_for


def test_start_logging_run_lives_in_this_process_and_completes(v1_project):
    exp = Experiment(workspace=Workspace.from_config(), name="explore-runs")
    run = exp.start_logging()
    run.log(name="message", value="Hello from run!")
    for loss in (0.5, 0.25):
        run.log("loss", loss)
    run.log_list("fib", [1, 1, 2, 3])
    assert run.get_status() == "Running" and run.type == "interactive"
    assert run.record.driver_pid == os.getpid()
    run.complete()
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"message": "Hello from run!", "loss": [0.5, 0.25], "fib": [1, 1, 2, 3]}
    details = run.get_details()
    assert details["startTimeUtc"] and details["endTimeUtc"] and details["runDefinition"]["target"] == "local"
    run.complete()  # a second complete changes nothing
    assert run.get_status() == "Completed"


def test_with_form_completes_or_fails_with_the_exception(v1_project):
    exp = Experiment(Workspace.from_config(), "with-form")
    with exp.start_logging() as run:
        run.log("step", 1)
        assert run.get_status() == "Running"
    assert run.get_status() == "Completed"
    with pytest.raises(KeyError), exp.start_logging() as broken:
        raise KeyError("missing column")
    assert broken.get_status() == "Failed" and "KeyError" in broken.record.reason
    open_run = exp.start_logging()
    with pytest.raises(RunStateError, match=r"run\.complete"):
        open_run.wait_for_completion()  # would wait forever on itself
    open_run.complete()


def test_child_runs_and_create_children(v1_project):
    exp = Experiment(Workspace.from_config(), "children")
    with exp.start_logging() as parent:
        for index in range(3):
            with parent.child_run(name=f"part-{index}") as child:
                child.log("Hello from child run", index)
        tagged = parent.create_children(tag_key="lr", tag_values=[0.1, 0.01])
        for child in tagged:
            child.complete()
    children = list(parent.get_children())
    assert len(children) == 5 and all(c.get_status() == "Completed" for c in children)
    assert sorted(c.get_tags().get("lr") for c in children if c.get_tags()) == ["0.01", "0.1"]
    assert sorted(c.display_name for c in children if c.display_name) == ["part-0", "part-1", "part-2"]
    assert {c.parent.id for c in children} == {parent.id}
    by_run = parent.get_metrics(recursive=True)
    assert len(by_run) == 6 and by_run[parent.id] == {}
    assert sorted(m["Hello from child run"] for m in by_run.values() if m) == [0, 1, 2]
    assert [r.id for r in exp.get_runs()] == [parent.id]  # children only with include_children
    assert len(list(exp.get_runs(include_children=True))) == 6


def test_outputs_and_snapshot_directory(v1_project):
    exp = Experiment(Workspace.from_config(), "tracked")
    (v1_project / "work").mkdir()
    run = exp.start_logging(outputs="work", snapshot_directory=".")
    (v1_project / "work" / "model.pkl").write_text("weights")
    run.complete()
    assert run.get_file_names() == ["outputs/model.pkl"]
    archive = run.restore_snapshot(path="snapshots")
    with zipfile.ZipFile(archive) as snapshot:
        assert "train.py" in snapshot.namelist()
    untracked = exp.start_logging()
    untracked.complete()
    with pytest.raises(Exception, match="snapshot_directory"):
        untracked.restore_snapshot()


OWNER = """
import sys, time
from runconfig_jupyter import Experiment
run = Experiment("owned").start_logging()
run.log("alive", 1)
print(run.id, flush=True)
time.sleep(120)
"""


def _start_owner(folder) -> tuple[subprocess.Popen, str]:
    script = folder / "owner.py"
    script.write_text(textwrap.dedent(OWNER))
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env={**os.environ}, cwd=folder
    )
    run_id = process.stdout.readline().strip()
    assert run_id, "the owner process printed its run id"
    return process, run_id


def test_a_live_owner_keeps_its_run_running_a_dead_one_fails_it(v1_project):
    """The driver-lost check must not fail a notebook's run while that notebook lives; it must once it died."""
    process, run_id = _start_owner(v1_project)
    try:
        time.sleep(DRIVER_GRACE_SECONDS + 0.5)
        run = Run.get(run_id)
        assert settle(run.store, run_id) == "alive" and run.get_status() == "Running"
        listed = RunService().list_runs(experiment="owned")
        assert [r["run_id"] for r in listed["runs"]] == [run_id] and listed["runs"][0]["interactive"]
        assert RunService().run_detail(run_id)["details"]["runType"] == "interactive"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        time.sleep(DRIVER_GRACE_SECONDS + 0.5)
        assert run.get_status() == "Running"  # reading settles nothing (core/runs/settle.py)
        assert settle(run.store, run_id) == "failed" and run.get_status() == "Failed"
        assert "exited before run.complete()" in run.record.reason
        assert run.get_metrics() == {"alive": 1}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_cancel_from_the_server_never_signals_the_owner(v1_project):
    process, run_id = _start_owner(v1_project)
    try:
        summary = RunService().cancel(run_id)
        assert summary["status"] == "Canceled"
        time.sleep(0.5)
        assert process.poll() is None, "the owner (a user's kernel) is still alive"
        wait_for(lambda: Run.get(run_id).get_status() == "Canceled")
    finally:
        process.kill()
        process.wait(10)


def test_interactive_runs_show_in_percent_runs(v1_project):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    exp = Experiment(Workspace.from_config(), "magic-list")
    with exp.start_logging() as run:
        run.log("a", 1)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    with capture_output() as captured:
        shell.run_line_magic("runs", "--experiment magic-list")
    assert run.id in captured.stdout and "Completed" in captured.stdout and "(interactive)" in captured.stdout
