"""The local target end to end: real driver processes, real scripts, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from runconfig_jupyter import Experiment, Run, ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError, SnapshotTooLarge
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore, driver_alive
from runconfig_jupyter.core.snapshot.create import SnapshotLimits
from tests.conftest import wait_for
from tests.contract.targets import group_running


def test_run_id_typed_arguments_and_the_private_working_copy(project):
    """What the contract (tests/contract) does not say about local runs: the run id's shape, non-string arguments,
    and the working copy that is removed after the run."""
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3, "--lr", 0.05])
    config.run_config.environment_variables = {"GREETING": "hi"}
    run = Experiment("unit").submit(config)
    assert run.id.startswith("unit_") and len(run.id.split("_")[-1]) == 8
    run.wait_for_completion(timeout=60)
    log = run.get_log()
    assert "epoch 2 loss 0.333 lr 0.05" in log and "env hi" in log
    assert (run.outputs_dir() / "model.txt").read_text() == "trained 3 epochs; env=hi\n"
    assert not (run.run_dir / "working").exists()


def test_download_file_and_files(project, tmp_path):
    run = Experiment("dl").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    run.wait_for_completion(timeout=60)
    target = run.download_file("outputs/model.txt", tmp_path / "m.txt")
    assert target.read_text().startswith("trained 1 epochs")
    written = run.download_files(prefix="outputs", output_directory=tmp_path / "all")
    assert [p.name for p in written] == ["model.txt"]


def test_command_runs_without_a_shell(project):
    config = ScriptRunConfig(str(project), command="python -c 'import sys; print(sys.argv[1:])' a;b '$HOME'")
    run = Experiment("cmd").submit(config)
    run.wait_for_completion(timeout=60)
    assert "['a;b', '$HOME']" in run.get_log()


def test_reattach_from_another_process(project):
    run = Experiment("attach").submit(
        ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 2, "--sleep", 0.5])
    )
    code = f"from runconfig_jupyter import Run; r = Run.get({run.id!r}); r.wait_for_completion(show_output=True)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "epoch 1 loss 0.500" in result.stdout and "Status: Completed" in result.stdout
    assert Run.get("workspace-ignored", run.id).get_status() == "Completed"


def test_submitting_process_killed_mid_run_does_not_stop_the_run(project, run_home):
    """The submitter (standing in for a kernel) is SIGKILLed while the run prints; the log stays complete."""
    code = textwrap.dedent(
        f"""
        from runconfig_jupyter import Experiment, ScriptRunConfig
        run = Experiment("orphan").submit(ScriptRunConfig({str(project)!r}, script="train.py",
                                          arguments=["--epochs", 6, "--sleep", 0.3]))
        print(run.id, flush=True)
        import time; time.sleep(600)
        """
    )
    submitter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    run_id = submitter.stdout.readline().strip()
    run = Run.get(run_id)
    wait_for(lambda: "epoch 1" in run.get_log(), message="the run to print")
    submitter.send_signal(signal.SIGKILL)
    submitter.wait(10)
    run.wait_for_completion(timeout=60)
    log = run.get_log()
    assert all(f"epoch {n} " in log for n in range(6))


def test_dead_driver_and_dead_script_are_detected_and_failed(project, monkeypatch):
    """Driver and script both SIGKILLed: nothing to adopt, so the driver settling starts fails the run with the reason.

    (A driver killed alone is replaced and the script adopted: tests/faults/test_driver_adoption.py.)
    """
    from runconfig_jupyter.core.runs import settle

    monkeypatch.setattr(settle, "DRIVER_GRACE_SECONDS", 0.0)
    run = Experiment("lost").submit(
        ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 1])
    )
    wait_for(lambda: "epoch 0" in run.get_log(), message="the run to print")
    record = run.store.get(run.id)
    script_pid = record.details["pid"]
    os.kill(record.driver_pid, signal.SIGKILL)  # the driver first, so it cannot record the script's death itself
    wait_for(lambda: not driver_alive(run.store.get(run.id)), message="the driver to be gone")
    os.killpg(script_pid, signal.SIGKILL)
    # settling starts a driver that re-attaches, finds the script's supervisor gone and records why
    wait_for(lambda: settle.settle(run.store, run.id) == "ended", timeout=20, message="the lost driver to be noticed")
    assert run.get_status() == "Failed" and "process is gone" in run.record.reason
    assert not group_running(script_pid)


def test_bad_input_leaves_nothing_behind(project, run_home):
    with pytest.raises(ConfigError):
        submit(ScriptRunConfig(str(project), script="missing.py"), "bad")
    with pytest.raises(ConfigError, match="experiment"):
        submit(ScriptRunConfig(str(project), script="train.py"), "bad name!")
    with pytest.raises(ConfigError, match=r"no compute target named 'dokcer'.*Did you mean 'docker'"):
        submit(ScriptRunConfig(str(project), script="train.py"), "bad", target="dokcer")
    (project / "big.bin").write_bytes(b"x" * 4096)
    with pytest.raises(SnapshotTooLarge, match=r"big\.bin"):
        submit(ScriptRunConfig(str(project), script="train.py"), "bad", snapshot_limits=SnapshotLimits(max_bytes=2048))
    store = RunStore()
    assert store.count() == 0
    assert list(store.runs_dir.iterdir()) == []


def test_resubmit_of_unchanged_folder_reuses_the_snapshot(project):
    first = Experiment("snap").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    second = Experiment("snap").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    assert first.record.snapshot_id == second.record.snapshot_id
    for run in (first, second):
        run.wait_for_completion(timeout=60)


def test_rerun_creates_a_new_run_with_the_same_config(project):
    run = Experiment("again").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    run.wait_for_completion(timeout=60)
    again = run.rerun()
    again.wait_for_completion(timeout=60)
    assert again.id != run.id and again.record.parent_run_id == run.id
    assert again.get_config().to_dict() == run.get_config().to_dict()


def test_a_local_run_does_not_inherit_another_targets_token(project, monkeypatch):
    """A token typed at a %submit prompt lives in the kernel's environment; local scripts must not see it."""
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    register_target("token-box", type="kernel", url="http://127.0.0.1:9", token_env="RCJ_TEST_BOX_TOKEN")
    monkeypatch.setenv("RCJ_TEST_BOX_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("RCJ_TEST_HARMLESS", "visible")
    (project / "env.py").write_text(
        "import os\nprint('token', os.environ.get('RCJ_TEST_BOX_TOKEN'), os.environ.get('RCJ_TEST_HARMLESS'))\n"
    )
    try:
        run = Experiment("env").submit(ScriptRunConfig(str(project), script="env.py"))
        run.wait_for_completion(timeout=60)
    finally:
        unregister_target("token-box")
    assert "token None visible" in run.get_log()
    assert "s3cr3t-value" not in (run.run_dir / "logs" / "driver_log.txt").read_text()


def test_a_run_home_inside_the_source_directory_is_never_packaged(project, monkeypatch):
    """Each run's snapshot.tar would otherwise be packaged into the next run's snapshot, doubling every time."""
    home = project / "runhome"
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(home))
    config = ScriptRunConfig(str(project), script="train.py")
    first = Experiment("nested").submit(config)
    first.wait_for_completion(timeout=60)
    second = Experiment("nested").submit(config)
    second.wait_for_completion(timeout=60)
    assert first.get_spec()["snapshot"]["id"] == second.get_spec()["snapshot"]["id"]
    manifest = json.loads((second.run_dir / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["data.csv", "train.py"]
    assert {"path": "runhome/", "rule": "snapshot store"} in manifest["excluded"]
