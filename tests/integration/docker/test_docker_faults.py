"""Faults a docker run must survive without losing anything: odd entries in outputs/ (real dockerd)."""

from __future__ import annotations

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from tests.faults.odd_outputs import assert_odd_outputs_collected, submit_odd
from tests.faults.small_disk import small_home  # noqa: F401 - a fixture, used by name

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("exit_code", [0, 3])
def test_links_and_fifos_in_outputs_cost_only_themselves(tmp_path, exit_code, our_containers):
    """Even ``latest -> /workspace/outputs/model.bin`` (absolute, as the container sees it) is kept."""
    run = submit_odd(tmp_path, exit_code, "dkodd", compute_target="docker")
    assert_odd_outputs_collected(run)
    assert our_containers(run.id) == []


@pytest.mark.usefixtures("small_home")
def test_a_full_disk_while_the_driver_writes_the_log_names_the_phase_and_file(tmp_path, our_containers):
    """The run home is a 2 MiB tmpfs; the container prints 4 MB and exits 0: the log could not be kept."""
    root = tmp_path / "flood"
    root.mkdir()
    (root / "flood.py").write_text("print('starting', flush=True)\nfor n in range(1000):\n    print('x' * 4000)\n")
    run = Experiment("dkfull").submit(ScriptRunConfig(str(root), script="flood.py", compute_target="docker"))
    run.wait_for_completion(timeout=180, raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Failed" and details["error"]["phase"] == "Running"
    message = details["error"]["message"]
    assert message.startswith("no space left on device writing logs/std_log.txt") and "exited with code 0" in message
    assert details["exitCode"] == 0
    assert run.read_log()[0].startswith("starting\n")  # what fitted is kept
    assert our_containers(run.id) == []
