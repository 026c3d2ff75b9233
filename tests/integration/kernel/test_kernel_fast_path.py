"""The kernel target's path from submit to the first line, against a REAL jupyter server / kernel gateway.

What is checked is what makes that path short without changing what a run does: bulk data (the runner's
source, the in-script shim) rides in the request metadata rather than in the code IPython has to transform
and echo, a warm standby driver already imported everything a kernel run needs, and the wrapper that runs the script is
started (and waits for its spec on stdin) while the run is still being prepared. The wrapper tests call the
runner module directly on this machine: real processes, no kernel needed.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from kernel.conftest import register
from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs import standby
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.shim import shim_tar
from runconfig_jupyter.targets.kernel import remote_runner as runner
from runconfig_jupyter.targets.kernel.client import KernelChannel, KernelClient
from runconfig_jupyter.targets.kernel.session import RemoteKernel
from tests.conftest import wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]


def test_runner_and_shim_travel_in_metadata_and_still_install_and_unpack(remote, monkeypatch):
    """A fresh kernel gets the runner and the shim in one request whose code stays a few hundred bytes."""
    sent: list[tuple[int, int]] = []  # (code bytes, metadata bytes) of each execute_request
    original = KernelChannel._send_execute

    def recording(self, code, metadata, user_expressions):  # type: ignore[no-untyped-def]
        sent.append((len(code), len(json.dumps(metadata or {}))))
        return original(self, code, metadata, user_expressions)

    monkeypatch.setattr(KernelChannel, "_send_execute", recording)
    client = KernelClient(remote.url, remote.token)
    kernel = RemoteKernel.start(client, "python3")
    run_dir = f"fast-path-{kernel.kernel_id}"
    try:
        shim = base64.b64encode(shim_tar("shim")).decode()
        info = kernel.call("setup", run_dir=run_dir, shim=True, payload=shim, install=True)
        control = Path(info["run_dir"]) / "control"
        assert (control / "shim" / "runconfig_jupyter" / "__init__.py").is_file()  # unpacked from the payload
        assert len(sent) == 1, sent  # runner and setup in one round trip
        code_bytes, metadata_bytes = sent[0]
        assert code_bytes < 2048 and metadata_bytes > len(shim), sent
        # A kernel that lost its namespace gets the runner again from the metadata, transparently.
        kernel.channel.execute("import sys; del sys.modules['_runconfig_remote']")
        assert kernel.call("whoami")["kernel_pid"] == info["kernel_pid"]
        assert kernel.call("remove", run_dir=info["run_dir"])["removed"] is True
    finally:
        kernel.close()
        client.shutdown(kernel.kernel_id)


def test_a_claimed_standby_imports_nothing_more_for_a_kernel_run(jupyter_server, tmp_path, monkeypatch, run_home):
    """The kernel target, its HTTP and websocket clients were imported while the standby waited."""
    name = register(jupyter_server, monkeypatch, "fast-box")
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # part of the standby's environment and fingerprint
    (tmp_path / "train.py").write_text("print('first line', flush=True)\n")
    config = ScriptRunConfig(str(tmp_path), script="train.py")
    try:
        first = submit(config, "fast", target=name)
        assert first.wait_for_completion(timeout=90)["status"] == "Completed"
        fresh_log = (first.run_dir / "logs" / "driver_log.txt").read_text()
        assert "runconfig_jupyter.targets.kernel" in fresh_log and "websocket" in fresh_log  # a real record
        wait_for(lambda: standby.waiting_pids(run_home), timeout=30, message="a warm standby")
        second = submit(config, "fast", target=name)
        details = second.wait_for_completion(timeout=90)
        assert details["status"] == "Completed" and second.record.details.get("standby_driver")
        assert "first line" in second.get_log()
        driver_log = (second.run_dir / "logs" / "driver_log.txt").read_text()  # its stderr once it took the run
        assert [line for line in driver_log.splitlines() if line.startswith("import time:")] == []
    finally:
        for pid in standby.standby_pids(run_home):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not standby.standby_pids(run_home), timeout=15, message="standbys to end")


def wrapper_pids(control: Path) -> list[int]:
    """Live wrapper processes of one run folder (found by their command line, as on the remote machine)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if str(control / "wrapper.py") in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process.pid)
    return found


def finished(run_dir: str) -> dict:
    def done() -> dict | None:
        result = runner.poll(run_dir, 0, wait=0.2)
        return result if result["state"] != "running" else None

    return wait_for(done, timeout=30, message="the run to end")


def test_the_wrapper_setup_started_runs_the_script_and_the_environment_never_touches_the_disk(tmp_path):
    """start() hands the spec to the wrapper that setup started (its interpreter start is off the first line's path)."""
    info = runner.setup(str(tmp_path / "run"))
    control = Path(info["run_dir"]) / "control"
    waiting = wrapper_pids(control)
    assert len(waiting) == 1
    (Path(info["run_dir"]) / "work" / "train.py").write_text("import os; print('secret is', os.environ['SECRET'])\n")
    started = runner.start(info["run_dir"], [runner.PYTHON_PLACEHOLDER, "train.py"], {"SECRET": "s3cr3t"})
    assert started["pid"] == waiting[0]
    result = finished(info["run_dir"])
    assert result["state"] == "exited" and result["exit_code"] == 0
    assert base64.b64decode(result["data"]) == b"secret is s3cr3t\n"
    files = [path for path in control.rglob("*") if path.is_file() and path.name != "std_log.txt"]
    assert files and not [path for path in files if b"s3cr3t" in path.read_bytes()]
    assert runner.remove(info["run_dir"])["removed"] and not wrapper_pids(control)


def test_a_run_canceled_before_start_leaves_no_waiting_wrapper(tmp_path):
    info = runner.setup(str(tmp_path / "run"))
    control = Path(info["run_dir"]) / "control"
    assert len(wrapper_pids(control)) == 1
    assert runner.kill(info["run_dir"], "SIGTERM") == {"sent": False}  # nothing started: nothing signalled
    assert wrapper_pids(control) == []
    assert runner.poll(info["run_dir"], 0, wait=0)["state"] == "missing"


def test_start_without_a_waiting_wrapper_starts_one(tmp_path):
    """A kernel restarted between setup and start (or a wrapper killed meanwhile) has none waiting."""
    info = runner.setup(str(tmp_path / "run"))
    control = Path(info["run_dir"]) / "control"
    (first,) = wrapper_pids(control)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not wrapper_pids(control), timeout=10, message="the killed wrapper")
    started = runner.start(info["run_dir"], [runner.PYTHON_PLACEHOLDER, "-c", "print('ran')"], {})
    assert started["pid"] != first
    result = finished(info["run_dir"])
    assert result["exit_code"] == 0 and base64.b64decode(result["data"]) == b"ran\n"
    runner.remove(info["run_dir"])
