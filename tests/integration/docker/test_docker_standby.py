"""A docker run served by a warm standby driver (core/standby.py): real dockerd, real standby process."""

from __future__ import annotations

import os
import signal

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs import standby
from tests.conftest import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def standbys_on(monkeypatch, run_home):
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    yield run_home
    for pid in standby.standby_pids(run_home):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not standby.standby_pids(run_home), timeout=15, message="standbys to end")


def test_second_docker_submit_is_served_by_the_standby(project, docker_client, our_containers, standbys_on):
    config = ScriptRunConfig(str(project), compute_target="docker", script="train.py", arguments=["--epochs", 3])
    config.run_config.environment_variables = {"GREETING": "warm"}
    Experiment("dkwarm").submit(config).wait_for_completion(timeout=120)
    pid = wait_for(lambda: standby.waiting_pids(standbys_on), timeout=30, message="a warm standby")[0]
    run = Experiment("dkwarm").submit(config)
    details = run.wait_for_completion(timeout=120)
    assert run.record.details["standby_driver"] and run.record.driver_pid == pid
    assert "warm standby driver" in (run.run_dir / "logs" / "driver_log.txt").read_text()
    assert details["exitCode"] == 0 and "epoch 2 loss 0.333" in run.get_log()
    assert run.get_metrics()["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert (run.outputs_dir() / "model.txt").read_text() == "trained 3 epochs; env=warm\n"
    assert our_containers(run.id) == []


def test_cancel_right_after_a_standby_docker_submit(project, docker_client, our_containers, standbys_on):
    config = ScriptRunConfig(
        str(project), compute_target="docker", script="train.py", arguments=["--epochs", 600, "--sleep", 1]
    )
    first = Experiment("dkstop").submit(ScriptRunConfig(str(project), compute_target="docker", script="train.py"))
    first.wait_for_completion(timeout=120)
    wait_for(lambda: standby.waiting_pids(standbys_on), timeout=30, message="a warm standby")
    run = Experiment("dkstop").submit(config)
    run.cancel()
    run.wait_for_completion(timeout=120, raise_on_error=False)
    record = run.record
    assert record.status.value == "Canceled", (record.status, record.phase, record.reason, record.exit_code)
    assert record.details.get("standby_driver")
    wait_for(lambda: not our_containers(run.id), timeout=30, message="the container to be removed")
