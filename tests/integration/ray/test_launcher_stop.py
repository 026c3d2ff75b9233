"""Ray's stop (SIGTERM to the job's entrypoint) at any moment of the launcher leaves nothing on the node.

The launcher runs as Ray runs it: ``python -m runconfig_jupyter.targets.ray.launcher`` in the job's working_dir,
with its spec in the environment. No cluster is needed for this part, so none is started: the signal is the one
``JobSubmissionClient.stop_job`` sends. A stop used to leave the run's private copy behind when it came while the
copy was being made (the contract test of a short ``max_run_duration_seconds`` caught it on a loaded machine).

The distributed test needs the real cluster (``ray_target``): each rank is a Ray actor that makes its own copy, and
the stop reaches it through the job's driver, which has Ray's 3 s to clean the ranks up before it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import PyTorchConfiguration
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


RANK_FILES = 20_000  # a rank's copy takes seconds: longer than the 2 s the driver gives the ranks' cleanup


@pytest.mark.timeout(480)  # a loaded machine: the working_dir's 20,000 files reach both nodes before the ranks copy
def test_a_cancel_while_the_ranks_copy_the_working_dir_leaves_no_copy(ray_target, tmp_path, monkeypatch):
    """A rank's cleanup used to queue behind its ``start`` (one method at a time per actor), so a cancel during a
    long copy left the partial copy on the node when Ray killed the actor with the driver."""
    monkeypatch.setenv("RUNCONFIG_SNAPSHOT_MAX_FILES", str(RANK_FILES + 100))
    source = tmp_path / "ranks-source"
    for folder in range(RANK_FILES // 1000):
        (source / "many" / f"d{folder}").mkdir(parents=True)
        for index in range(1000):
            (source / "many" / f"d{folder}" / f"f{index}.txt").write_bytes(b"x")
    (source / "train.py").write_text("print('rank script started', flush=True)\n")
    config = ScriptRunConfig(
        str(source),
        script="train.py",
        compute_target=ray_target,
        distributed_job_config=PyTorchConfiguration(process_count=2, node_count=2),
    )
    run = Experiment("ray-stop").submit(config)
    temp = Path(tempfile.gettempdir())

    def rank_copies() -> list[Path]:
        return sorted(temp.glob(f"runconfig-{run.id[-24:]}-rank*"))

    deadline = time.monotonic() + 240  # the cluster's nodes set up a 20,000-file working_dir first
    while not rank_copies() and time.monotonic() < deadline:
        time.sleep(0.01)
    copying = rank_copies()
    assert copying, "no rank started its copy within 240 s"
    copied = sum(len(files) for _, _, files in os.walk(copying[0]))
    assert run.cancel() is True
    details = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert copied < RANK_FILES, "the cancel came after the copy: this test did not test the copy"
    assert details["status"] == "Canceled", details
    assert "rank script started" not in run.get_log()
    assert rank_copies() == [], f"left on the node: {rank_copies()}"
