"""A submit handed to the waiting standby driver (core/runs/standby_submit.py), with real processes and real runs.

Each test starts fresh ``python`` submitters against a run home with standbys on, so the submitting process is
what a user's ``python submit.py`` is. What must hold: the standby's submit records what the submitter's own
would have; relative paths mean the submitter's folder; a refusal reaches the submitter as the same typed error
with nothing recorded; a stopped standby does not hang the submit nor submit twice; Ctrl-C leaves no run going;
and a request that is not the user's own is not served.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from runconfig_jupyter.core.runs import standby
from runconfig_jupyter.core.runs.store import RunStore
from tests.conftest import wait_for
from tests.integration.test_standby import ready_standby, stop_standbys

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = textwrap.dedent(
    """
    import json, sys
    from runconfig_jupyter import Experiment, ScriptRunConfig

    source, script = sys.argv[1], sys.argv[2]
    print("submitting", flush=True)
    try:
        run = Experiment("handed").submit(ScriptRunConfig(source, script=script, arguments=["--epochs", 2]))
    except Exception as error:
        print(json.dumps({"error": type(error).__name__, "field": getattr(error, "field", None),
                          "submitted_here": "runconfig_jupyter.core.runs.submit" in sys.modules}))
        sys.exit(3)
    run.wait_for_completion(timeout=60)
    print(json.dumps({
        "run": run.id,
        "status": run.get_status(),
        "submitted_here": "runconfig_jupyter.core.runs.submit" in sys.modules,
        "snapshot_writer_here": "runconfig_jupyter.core.snapshot.stored" in sys.modules,
    }))
    """
)


@pytest.fixture
def standbys_on(monkeypatch, run_home):
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    yield run_home
    stop_standbys(run_home)


def _environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "RUNCONFIG_JUPYTER_HOME": str(home), standby.STANDBY_ENV: "60"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _submitter(home: Path, source: str, cwd: Path, script: str = "train.py") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SUBMIT, source, script],
        env=_environment(home),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _submit(home: Path, source: str, cwd: Path, script: str = "train.py") -> tuple[int, dict, str]:
    process = _submitter(home, source, cwd, script)
    out, err = process.communicate(timeout=120)
    return process.returncode, json.loads(out.strip().splitlines()[-1]), err


def _requests_left(home: Path) -> list[str]:
    """Request files in the standby folder (a test's own live ones included)."""
    return sorted(p.name for p in (home / "standby").glob("submit-*"))


def _spec(home: Path, run_id: str) -> dict:
    return json.loads((RunStore(home).run_dir(run_id) / "run.json").read_text())


def test_a_fresh_script_hands_its_submit_to_the_waiting_standby(project, standbys_on):
    code, first, err = _submit(standbys_on, str(project), project)
    assert code == 0 and first["status"] == "Completed" and first["submitted_here"], err  # no standby yet
    pid = ready_standby(standbys_on)
    code, second, err = _submit(standbys_on, str(project), project)
    assert code == 0 and second["status"] == "Completed", err
    # The submitting process did not load the submit machinery or the snapshot writer: the standby did the work.
    assert not second["submitted_here"] and not second["snapshot_writer_here"]
    store = RunStore(standbys_on)
    record = store.get(second["run"])
    assert record.driver_pid == pid
    driver_log = (store.run_dir(second["run"]) / "logs" / "driver_log.txt").read_text()
    assert f"warm standby driver {pid} took the run it submitted for its submitter" in driver_log
    assert "epoch 1 loss 0.500" in (store.run_dir(second["run"]) / "logs" / "std_log.txt").read_text()
    assert (store.run_dir(second["run"]) / "outputs" / "model.txt").read_text() == "trained 2 epochs; env=\n"
    # What is recorded is what the submitter's own submit recorded for the same configuration and folder.
    mine, its = _spec(standbys_on, first["run"]), _spec(standbys_on, second["run"])
    for key in ("config", "target", "capabilities", "snapshot", "environment", "experiment"):
        assert its[key] == mine[key], key
    assert _requests_left(standbys_on) == []


def test_a_request_left_by_a_killed_submitter_is_removed_by_the_next_one(project, standbys_on):
    """A request holds the configuration with its secret values: one whose submitter is gone does not stay."""
    _submit(standbys_on, str(project), project)
    ready_standby(standbys_on)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = standbys_on / "standby" / f"submit-{dead.pid}-{'0' * 12}.json"
    stale.write_text('{"config": {"secret": "value"}}')
    (standbys_on / "standby" / f"submit-{os.getpid()}-{'1' * 12}.json").write_text("{}")  # a live submitter's
    code, result, err = _submit(standbys_on, str(project), project)
    assert code == 0 and not result["submitted_here"], err
    assert _requests_left(standbys_on) == [f"submit-{os.getpid()}-{'1' * 12}.json"]


def test_relative_paths_mean_the_submitters_folder(project, standbys_on):
    _submit(standbys_on, str(project), project)
    ready_standby(standbys_on)
    code, result, err = _submit(standbys_on, project.name, project.parent)  # ScriptRunConfig("project", ...)
    assert code == 0 and result["status"] == "Completed" and not result["submitted_here"], err
    assert _spec(standbys_on, result["run"])["config"]["source_directory"] == str(project.resolve())


def test_a_refused_submit_is_refused_by_the_submitter_itself_and_records_nothing(project, standbys_on):
    _submit(standbys_on, str(project), project)
    pid = ready_standby(standbys_on)
    code, result, err = _submit(standbys_on, str(project), project, script="missing.py")
    # The same typed error as a submit without a standby gives, raised by the submitter's own submit.
    assert code == 3 and result == {"error": "ConfigError", "field": "script", "submitted_here": True}, err
    assert len(RunStore(standbys_on).list()) == 1
    log = (standbys_on / "standby" / "standby_log.txt").read_text()
    assert "handed back to its submitter: ConfigError" in log
    wait_for(lambda: pid not in standby.standby_pids(standbys_on), timeout=15, message="the standby to exit")
    assert _requests_left(standbys_on) == []


def test_a_stopped_standby_neither_hangs_the_submit_nor_submits_it_later(project, standbys_on):
    _submit(standbys_on, str(project), project)
    pid = ready_standby(standbys_on)
    os.kill(pid, signal.SIGSTOP)  # claimed below, but it never takes the request
    try:
        started = time.monotonic()
        code, result, err = _submit(standbys_on, str(project), project)
        took = time.monotonic() - started
        assert code == 0 and result["status"] == "Completed" and result["submitted_here"], err
        assert RunStore(standbys_on).get(result["run"]).driver_pid != pid
    finally:
        os.kill(pid, signal.SIGCONT)  # it wakes to a request taken back: it must not submit it
    wait_for(lambda: pid not in standby.standby_pids(standbys_on), timeout=15, message="the woken standby to exit")
    assert len(RunStore(standbys_on).list()) == 2, "the request was submitted twice"
    assert took < 60
    assert _requests_left(standbys_on) == []


def test_ctrl_c_while_the_standby_submits_leaves_no_run_going(project, standbys_on):
    """SIGINT once the standby has taken the request (its ``.taken`` file is there): the run it records is
    canceled by the interrupted submitter, so nothing runs that nobody is waiting for."""
    files = 1900  # a snapshot that takes the standby a while (within the default limit of 2,000 files)
    for index in range(files):
        (project / "data" / f"{index // 100}").mkdir(parents=True, exist_ok=True)
        (project / "data" / f"{index // 100}" / f"f{index}.bin").write_bytes(os.urandom(16384))
    code, first, err = _submit(standbys_on, str(project), project)
    assert code == 0, err
    ready_standby(standbys_on)
    (project / "data" / "0" / "f0.bin").write_bytes(os.urandom(4096))  # something to store again
    for index in range(files):  # and every file's stat changed: all read again
        os.utime(project / "data" / f"{index // 100}" / f"f{index}.bin", (time.time() - 5, time.time() - 5))
    submitter = _submitter(standbys_on, str(project), project)
    try:
        wait_for(
            lambda: list((standbys_on / "standby").glob("submit-*.taken")),
            timeout=60,
            interval=0.002,
            message="the standby to take the request",
        )
        submitter.send_signal(signal.SIGINT)
        _out, err = submitter.communicate(timeout=60)
    finally:
        if submitter.poll() is None:
            submitter.kill()
    assert "KeyboardInterrupt" in err
    store = RunStore(standbys_on)
    later = [record for record in store.list() if record.run_id != first["run"]]
    assert len(later) == 1, "the standby took the request, so it recorded the run"
    run_id = later[0].run_id
    wait_for(lambda: store.get(run_id).is_terminal, timeout=60, message="the run to end")
    assert store.get(run_id).status.value == "Canceled"
    assert "interrupted" in (store.get(run_id).reason or "")
    assert _requests_left(standbys_on) == []


@pytest.mark.parametrize("how", ["a link", "another user's file"])
def test_a_request_that_is_not_the_users_own_is_not_served(project, run_home, tmp_path, how):
    """The standby reads requests from the run home's standby folder; one that is a link (to a file anyone could
    have written) or belongs to another user is answered "fall back", and nothing is recorded."""
    from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig
    from runconfig_jupyter.core.runs.standby_submit import FALLBACK, request_paths, serve_submit

    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    request_file, answer = request_paths(run_home, token)
    request_file.parent.mkdir(parents=True, exist_ok=True)
    planted = tmp_path / "planted.json"
    config = ScriptRunConfig(str(project), script="train.py").to_dict()
    planted.write_text(json.dumps({"cwd": str(project), "config": config, "experiment": "planted", "target": None}))
    if how == "a link":
        request_file.symlink_to(planted)
    else:
        if os.getuid() != 0:
            pytest.skip("giving a file to another user needs root")
        request_file.write_bytes(planted.read_bytes())
        os.chown(request_file, 65534, 65534)
    os.mkfifo(answer, 0o600)
    reader = os.open(answer, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert serve_submit(run_home, token, dict(os.environ)) is None
        reply = json.loads(os.read(reader, 65536))
    finally:
        os.close(reader)
    assert FALLBACK in reply and "run_id" not in reply
    assert RunStore(run_home).list() == []


def test_a_warning_of_the_standbys_submit_reaches_the_submitter(project, run_home, monkeypatch):
    """What ``start_run`` warns in the standby is in its answer, by class, and raised again by the submitter as that
    class. (The warning's source is patched in: a real one, the index rebuild, is also met by the submitter itself.)"""
    from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig
    from runconfig_jupyter.core.runs import submit as submit_module
    from runconfig_jupyter.core.runs.standby_submit import delivered, request_paths, serve_submit
    from runconfig_jupyter.core.runs.store import RunStoreWarning

    def warning_start_run(*_args, take_over, **_kwargs):
        warnings.warn("rebuilt the run index (patched in)", RunStoreWarning, stacklevel=2)
        return "warned_1_00000000"

    monkeypatch.setattr(submit_module, "start_run", warning_start_run)
    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    request_file, answer = request_paths(run_home, token)
    request_file.parent.mkdir(parents=True, exist_ok=True)
    config = ScriptRunConfig(str(project), script="train.py").to_dict()
    request_file.write_text(json.dumps({"cwd": str(project), "config": config, "experiment": "w", "target": None}))
    os.mkfifo(answer, 0o600)
    reader = os.open(answer, os.O_RDONLY | os.O_NONBLOCK)
    try:
        serve_submit(run_home, token, dict(os.environ))
        reply = json.loads(os.read(reader, 65536))
    finally:
        os.close(reader)
    assert reply["warnings"] == [
        ["runconfig_jupyter.core.runs.store:RunStoreWarning", "rebuilt the run index (patched in)"]
    ]
    with pytest.warns(RunStoreWarning, match="patched in"):
        assert delivered(reply) == "warned_1_00000000"
    with pytest.warns(UserWarning, match="from elsewhere"):  # a class from outside this package is not imported
        delivered({"run_id": "x", "warnings": [["os:system", "from elsewhere"]]})


def test_a_target_this_process_registered_is_not_handed_over(project, standbys_on):
    """``register_target`` without ``persist`` exists in this process only: the standby would not know the name,
    so the submit stays here and the standby is claimed with the run id as before."""
    from runconfig_jupyter import Experiment, ScriptRunConfig
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    Experiment("mine").submit(ScriptRunConfig(str(project), script="train.py")).wait_for_completion(timeout=60)
    pid = ready_standby(standbys_on)
    register_target("only-here", alias_of="local")
    try:
        run = Experiment("mine").submit(ScriptRunConfig(str(project), script="train.py", compute_target="only-here"))
        assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    finally:
        unregister_target("only-here")
    driver_log = (run.run_dir / "logs" / "driver_log.txt").read_text()
    assert run.record.driver_pid == pid and f"warm standby driver {pid} took the run\n" in driver_log
    assert "handed back" not in (standbys_on / "standby" / "standby_log.txt").read_text()
