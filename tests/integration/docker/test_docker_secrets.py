"""Secret environment variables on the docker target (real dockerd): the container receives them, the records
do not hold them, and the kernel's own cloud credentials never enter the container (docs/SECURITY.md)."""

from __future__ import annotations

import os
import signal

import pytest

from runconfig_jupyter import Run, ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from tests.conftest import wait_for
from tests.security.test_secrets import PASSWORD, RECEIVED_ALL, REPORT, RUNCONFIG, TOKEN, files_containing

pytestmark = pytest.mark.docker


def test_container_gets_the_secret_and_no_record_holds_it(project, run_home, monkeypatch, our_containers):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kernel-aws-secret")
    (project / "report.py").write_text(
        REPORT + "import os\nprint('aws', 'AWS_SECRET_ACCESS_KEY' in os.environ, flush=True)\n"
    )
    config = ScriptRunConfig.from_yaml(RUNCONFIG + "compute_target: docker\n", source_directory=str(project))
    run = submit(config, "dsecret")
    details = run.wait_for_completion(timeout=180)
    assert details["status"] == "Completed", details
    log = run.get_log()
    assert RECEIVED_ALL in log and "aws False" in log
    assert files_containing(run_home, (TOKEN, PASSWORD, "kernel-aws-secret"), skip=run_home / "secrets") == []
    assert our_containers(run.id) == []


def test_reattached_driver_keeps_the_secret_out_of_records(
    project, run_home, docker_client, our_containers, monkeypatch
):
    """A replacement driver (after kill -9) builds its context from run.json plus the private file: the run
    finishes, the script had the value, and still no record holds it."""
    import runconfig_jupyter.core.runs.settle as settle

    monkeypatch.setattr(settle, "DRIVER_GRACE_SECONDS", 0.0)
    slow = "import time\nprint('script-is-up', flush=True)\ntime.sleep(4)\nprint('end')\n"
    (project / "report.py").write_text(REPORT + slow)
    config = ScriptRunConfig.from_yaml(RUNCONFIG + "compute_target: docker\n", source_directory=str(project))
    run = submit(config, "dreattach")
    wait_for(lambda: "script-is-up" in run.get_log(), timeout=90, message="the script to start")
    store = RunStore()
    pid = store.get(run.id).driver_pid
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    Run.get(run.id).wait_for_completion(timeout=120)
    record = store.get(run.id)
    assert record.status.value == "Completed" and record.details["driver_restarts"] == 1
    assert RECEIVED_ALL in run.get_log() and "end" in run.get_log()
    assert files_containing(run_home, (TOKEN, PASSWORD), skip=run_home / "secrets") == []
    assert our_containers(run.id) == []
