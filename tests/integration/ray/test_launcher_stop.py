"""Ray's stop (SIGTERM to the job's entrypoint) at any moment of the launcher leaves nothing on the node.

The launcher runs as Ray runs it: ``python -m runconfig_jupyter.targets.ray.launcher`` in the job's working_dir,
with its spec in the environment. No cluster is needed for this part, so none is started: the signal is the one
``JobSubmissionClient.stop_job`` sends. A stop used to leave the run's private copy behind when it came while the
copy was being made (the contract test of a short ``max_run_duration_seconds`` caught it on a loaded machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runconfig_jupyter.targets.ray.launcher import LAUNCH_ENV

ROOT = Path(__file__).resolve().parents[3]
FILES = 3000  # enough that copying them takes a while after the copy's folder appears


def start_launcher(tmp_path: Path, script: str) -> tuple[subprocess.Popen[bytes], Path]:
    work, temp = tmp_path / "working_dir", tmp_path / "node-tmp"
    temp.mkdir()
    (work / "many").mkdir(parents=True)
    for index in range(FILES):
        (work / "many" / f"f{index}.txt").write_text("x" * 100)
    (work / "train.py").write_text(script)
    spec = {"run_id": "exp_1796000000_0badc0de", "argv": ["python", "train.py"]}
    env = {**os.environ, LAUNCH_ENV: json.dumps(spec), "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "runconfig_jupyter.targets.ray.launcher"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return launcher, temp


def wait_until(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.001)
    raise AssertionError(f"not within {timeout} s")


def copies(temp: Path) -> list[Path]:
    return sorted(temp.glob("runconfig-*"))


def test_a_stop_while_the_private_copy_is_made_removes_it(tmp_path):
    launcher, temp = start_launcher(tmp_path, "print('never runs')\n")
    root = wait_until(lambda: copies(temp))[0]
    copied = sum(1 for _ in (root / "work").rglob("*.txt")) if (root / "work").exists() else 0
    launcher.send_signal(signal.SIGTERM)
    output = launcher.communicate(timeout=30)[0].decode()
    assert copied < FILES, "the stop came after the copy: this test did not test the copy"
    assert launcher.returncode == 143, output
    assert copies(temp) == [], f"left on the node: {copies(temp)}"
    assert "never runs" not in output


def test_a_stop_while_the_script_runs_ends_it_and_removes_the_copy(tmp_path):
    script = "import os, time\nprint('pid', os.getpid(), flush=True)\ntime.sleep(120)\n"
    launcher, temp = start_launcher(tmp_path, script)
    assert launcher.stdout is not None
    line = wait_until(launcher.stdout.readline).decode()
    script_pid = int(line.split()[1])
    launcher.send_signal(signal.SIGTERM)
    launcher.communicate(timeout=30)
    assert launcher.returncode == 143
    assert copies(temp) == []
    wait_until(lambda: _gone(script_pid), timeout=10)  # ended (and reaped) with the launcher


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
