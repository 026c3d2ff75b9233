"""Odd entries in a remote run's outputs/ cost only themselves (real jupyter server and kernel gateway)."""

from __future__ import annotations

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from tests.faults.odd_outputs import assert_odd_outputs_collected, odd_project

pytestmark = pytest.mark.kernel


def test_links_and_fifos_in_remote_outputs_cost_only_themselves(kernel_target, tmp_path):
    """Links are shipped as links (a link to /etc/shadow never ships the file), FIFOs and sockets are named."""
    run = submit(ScriptRunConfig(str(odd_project(tmp_path)), script="odd.py"), "kodd", target=kernel_target)
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed" and details["exitCode"] == 0
    assert_odd_outputs_collected(run)
    assert "runconfig: warning: outputs/sock" in run.get_log()
