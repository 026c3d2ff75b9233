"""Odd entries in ``outputs/`` cost only themselves: real local runs, real links, FIFOs and sockets."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from tests.faults.odd_outputs import assert_odd_outputs_collected, submit_odd


@pytest.mark.parametrize("exit_code", [0, 3])
def test_links_fifos_and_sockets_never_cost_the_other_outputs_or_the_status(tmp_path, exit_code):
    run = submit_odd(tmp_path, exit_code, "odd")
    assert_odd_outputs_collected(run)
    assert "runconfig: warning: outputs/sock" in run.get_log()
    assert not (run.run_dir / "working").exists()


@pytest.mark.skipif(shutil.which("chattr") is None or os.geteuid() != 0, reason="needs root and chattr (ext4)")
def test_an_entry_that_cannot_be_collected_is_recorded_as_finalizing_and_keeps_the_rest(tmp_path):
    """An immutable file (chattr +i: even root cannot move it): Finalizing with the reason, exit code 0, rest kept."""
    root = tmp_path / "locked"
    root.mkdir()
    (root / "lock.py").write_text(
        "import os, subprocess\nos.makedirs('outputs')\nopen('outputs/ok.txt','w').write('ok')\n"
        "open('outputs/locked.bin','w').write('x')\n"
        "subprocess.run(['chattr', '+i', 'outputs/locked.bin'], check=True)\n"
    )
    run = Experiment("lock").submit(ScriptRunConfig(str(root), script="lock.py"))
    try:
        run.wait_for_completion(timeout=60, raise_on_error=False)
        details = run.get_details()
        assert (run.outputs_dir() / "ok.txt").read_text() == "ok"
        assert details["status"] == "Failed" and details["exitCode"] == 0
        assert details["error"]["phase"] == "Finalizing"
        message = details["error"]["message"]
        assert "the script completed (exit code 0)" in message and "outputs/locked.bin" in message
        assert "runconfig: warning: could not collect outputs/locked.bin" in run.get_log()
    finally:
        for path in run.run_dir.rglob("locked.bin"):
            subprocess.run(["chattr", "-i", str(path)], check=False)
