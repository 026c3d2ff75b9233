"""The contract every compute target keeps, checked against each real target (tests/contract/targets.py).

Each check submits the same script (script.py) through the public API a notebook uses (``Experiment.submit``,
``ScriptRun``) and asserts what a user sees afterwards: the status, the exit code, the log, the metrics, the outputs,
and, after a cancel or a deadline, that nothing of the run is still running on the target.
"""

from __future__ import annotations

import os
import re
import signal

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import RunFailed
from runconfig_jupyter.core.runs.script_run import ScriptRun
from runconfig_jupyter.core.target.interface import ComputeTarget
from tests.conftest import wait_for
from tests.contract.targets import ScriptProcesses, TargetUnderTest, process_running

# Starting a container, a kernel or a Ray job takes seconds; a whole run stays well under this.
RUN_TIMEOUT = 120
WEIGHTS = bytes(range(256)) * 64
# Long enough for a fast target to start the script, short enough to keep the suite quick.
DEADLINE = 5


def submit(target: TargetUnderTest, source, *arguments: object, **kwargs: object) -> ScriptRun:
    config = ScriptRunConfig(
        str(source), script="train.py", arguments=list(arguments), compute_target=target.name, **kwargs
    )
    config.run_config.environment_variables = {"GREETING": "hello"}
    return Experiment("contract").submit(config)


def script_lines(log: str) -> list[str]:
    """The ``line N out|err`` lines of the contract script, in the order the log holds them."""
    return re.findall(r"^line \d+ (?:out|err)$", log, flags=re.MULTILINE)


def expected_lines(count: int) -> list[str]:
    return [f"line {n} {'err' if n % 2 else 'out'}" for n in range(count)]


def printed_processes(run: ScriptRun) -> ScriptProcesses:
    """The pids the script printed, or zeros when it never got that far."""
    found = re.search(r"^pids (\d+) (\d+)$", run.get_log(), flags=re.MULTILINE)
    return ScriptProcesses(int(found[1]), int(found[2])) if found else ScriptProcesses(0, 0)


def script_processes(run: ScriptRun) -> ScriptProcesses:
    """Wait until the script has printed its pids (failing at once if the run ends first)."""
    wait_for(lambda: "pids " in run.get_log() or run.record.is_terminal, timeout=RUN_TIMEOUT, message="the script")
    assert "pids " in run.get_log(), f"{run.id} ended before its script ran: {run.get_details().get('error')}"
    return printed_processes(run)


def leftovers(target: TargetUnderTest, run: ScriptRun, pids: ScriptProcesses) -> list[str]:
    """What of ``run`` still runs: its driver (it may take a moment to exit after the status), then the target's."""
    driver = [f"driver {run.record.driver_pid}"] if process_running(run.record.driver_pid) else []
    return driver + target.leftovers(run, pids)


def assert_nothing_left(target: TargetUnderTest, run: ScriptRun, pids: ScriptProcesses) -> None:
    """Nothing of the run on the target, nor its driver (a few seconds allowed for processes to exit)."""
    try:
        wait_for(lambda: not leftovers(target, run, pids), timeout=20, message=f"nothing of {run.id} left running")
    except AssertionError:
        raise AssertionError(f"left running after {run.id} ended: {leftovers(target, run, pids)}") from None


def capabilities(run: ScriptRun):
    """What the target the run was submitted to says it can do, read from the spec recorded with the run."""
    return ComputeTarget.from_spec(run.get_spec()["target"]).capabilities()


def test_completed_run_has_exit_code_zero_and_its_log_in_order(contract_target, source):
    run = submit(contract_target, source, "--lines", 6)
    details = run.wait_for_completion(timeout=RUN_TIMEOUT)
    assert details["status"] == "Completed" and details["exitCode"] == 0
    log = run.get_log()
    assert script_lines(log) == expected_lines(6)
    assert log.index("pids ") < log.index("line 0 out") < log.index("last line")
    assert "\x1e" not in log and "@runconfig:" not in log  # metric and control lines were consumed, not logged
    assert not (source / "outputs").exists()  # the run worked on a copy; the user's folder was never written
    assert_nothing_left(contract_target, run, printed_processes(run))


def test_failed_run_has_the_scripts_exit_code_and_phase(contract_target, source):
    run = submit(contract_target, source, "--lines", 2, "--exit", 3)
    with pytest.raises(RunFailed, match="exited with code 3"):
        run.wait_for_completion(timeout=RUN_TIMEOUT)
    details = run.get_details()
    assert details["status"] == "Failed" and details["exitCode"] == 3
    assert details["error"]["phase"] == "Running" and "exited with code 3" in details["error"]["message"]
    assert "last line" in run.get_log()  # the log of a failed run is complete
    assert (run.outputs_dir() / "model.txt").read_text() == "2 lines\n"  # outputs come back from failed runs too
    assert_nothing_left(contract_target, run, printed_processes(run))


def test_cancel_ends_the_run_and_leaves_nothing_running(contract_target, source):
    run = submit(contract_target, source, "--hold")
    if not capabilities(run).cancel:
        pytest.skip(f"{contract_target.name} says it cannot cancel a run")
    pids = script_processes(run)
    wait_for(lambda: "holding" in run.get_log(), timeout=RUN_TIMEOUT, message="the script to hold")
    running = leftovers(contract_target, run, pids)
    assert any("driver" in item for item in running) and len(running) > 1, running  # the probe sees a live run
    assert run.cancel() is True
    details = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert details["status"] == "Canceled" and details["error"]["message"] == "canceled by user"
    assert "last line" not in run.get_log()
    assert_nothing_left(contract_target, run, pids)
    contract_target.after_cancel(run)
    assert run.cancel() is False  # already over


def test_max_run_duration_cancels_with_the_reason_and_leaves_nothing_running(contract_target, source):
    """The deadline may strike before a slow target (a Ray job) has started the script: what must hold either way
    is the status, the reason, a log without the end, and nothing left running."""
    run = submit(contract_target, source, "--hold", max_run_duration_seconds=DEADLINE)
    if not capabilities(run).max_duration:
        pytest.skip(f"{contract_target.name} says it does not enforce max_run_duration_seconds")
    with pytest.raises(RunFailed, match=rf"max_run_duration_seconds \({DEADLINE} s\) exceeded"):
        run.wait_for_completion(timeout=RUN_TIMEOUT)
    assert run.get_status() == "Canceled"
    assert "last line" not in run.get_log()
    assert_nothing_left(contract_target, run, printed_processes(run))


def test_many_lines_of_stdout_and_stderr_keep_their_order(contract_target, source):
    """400 lines written in turn to stdout and stderr, each flushed: the log holds them all, in writing order."""
    run = submit(contract_target, source, "--lines", 400)
    run.wait_for_completion(timeout=RUN_TIMEOUT)
    assert script_lines(run.get_log()) == expected_lines(400)


def test_outputs_come_back_into_the_run_folder_with_nested_folders(contract_target, source):
    run = submit(contract_target, source, "--lines", 1)
    run.wait_for_completion(timeout=RUN_TIMEOUT)
    assert (run.outputs_dir() / "model.txt").read_text() == "1 lines\n"
    assert (run.outputs_dir() / "nested" / "deep" / "weights.bin").read_bytes() == WEIGHTS
    names = run.get_file_names()
    assert "outputs/model.txt" in names and "outputs/nested/deep/weights.bin" in names
    assert not any(name.endswith("data.csv") for name in names)  # only ./outputs comes back, not the snapshot


def test_metrics_logged_in_the_script_reach_get_metrics(contract_target, source):
    run = submit(contract_target, source, "--lines", 3)
    run.wait_for_completion(timeout=RUN_TIMEOUT)
    assert run.get_metrics() == {
        "loss": [1.0, 0.5, pytest.approx(1 / 3)],
        "accuracies": [0.5, 0.75],
        "table": {"x": [1], "y": [2]},
        "greeting": "hello",  # the run's environment variables reached the script
    }


def test_a_run_whose_driver_is_killed_is_brought_back_by_a_reader(contract_target, source):
    """kill -9 of the run's driver mid-run; a new handle waiting for the run brings it to its end, log complete.

    Only where the target says it can re-attach (its capabilities, recorded with the run). The reader goes
    through the public API (``ScriptRun(run_id).wait_for_completion()``), so the check holds whoever restarts
    the driver behind it.
    """
    run = submit(contract_target, source, "--lines", 16, "--pause", 0.4)
    if not capabilities(run).reattach:
        pytest.skip(f"{contract_target.name} says it cannot re-attach to a run")
    wait_for(lambda: "line 2 out" in run.get_log(), timeout=RUN_TIMEOUT, message="the run to print")
    killed = run.store.get(run.id).driver_pid
    os.kill(killed, signal.SIGKILL)
    try:
        os.waitpid(killed, 0)  # our child (submit started it): reap it, as its real parent would
    except ChildProcessError:
        pass
    assert not psutil.pid_exists(killed)
    details = ScriptRun(run.id).wait_for_completion(timeout=RUN_TIMEOUT)
    assert details["status"] == "Completed" and details["exitCode"] == 0
    log = run.get_log()
    assert script_lines(log) == expected_lines(16)  # every line once: nothing lost, nothing repeated
    assert log.count("last line") == 1
    assert run.get_metrics()["loss"] == [pytest.approx(1 / (n + 1)) for n in range(16)]
    assert (run.outputs_dir() / "nested" / "deep" / "weights.bin").read_bytes() == WEIGHTS
    record = run.record
    assert record.driver_pid != killed and record.details["driver_restarts"] == 1
