"""One script that leaves every kind of odd entry in outputs/, and what must come home, for every target."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

ODD_OUTPUTS = textwrap.dedent(
    """
    import os, socket, sys
    os.makedirs("outputs/sub", exist_ok=True)
    open("outputs/model.bin", "wb").write(b"weights")
    open("outputs/sub/notes.txt", "w").write("notes")
    os.symlink(os.path.abspath("outputs/model.bin"), "outputs/latest")  # absolute, as the script sees it
    os.symlink("../model.bin", "outputs/sub/up_model")                  # relative, inside
    os.symlink(".", "outputs/here")                                      # the folder itself: inside
    os.symlink("/etc/shadow", "outputs/shadow")                          # out
    os.symlink("../odd.py", "outputs/source")                            # out of outputs/ (into the snapshot)
    os.symlink("here/..", "outputs/up")                                  # text looks inside, real path leaves
    os.mkfifo("outputs/pipe")
    socket.socket(socket.AF_UNIX).bind("outputs/sock")
    os.makedirs("logs", exist_ok=True); open("logs/extra.txt", "w").write("user log")
    print("done"); sys.exit(int(os.environ.get("EXIT", "0")))
    """
)
LEFT_OUT = ("shadow", "source", "up", "pipe", "sock")
WARNED = ("outputs/shadow", "outputs/source", "outputs/up", "outputs/pipe")


def odd_project(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "odd.py").write_text(ODD_OUTPUTS)
    return root


def assert_odd_outputs_collected(run) -> None:
    """Every file and inside link came home; nothing leading out, nothing special; a warning for each."""
    out = run.outputs_dir()
    assert (out / "model.bin").read_bytes() == b"weights"
    assert (out / "sub" / "notes.txt").read_text() == "notes"
    assert os.readlink(out / "latest") == "model.bin" and (out / "latest").read_bytes() == b"weights"
    assert (out / "sub" / "up_model").read_bytes() == b"weights"
    assert os.path.islink(out / "here")
    assert (run.run_dir / "logs" / "user" / "extra.txt").read_text() == "user log"
    for name in LEFT_OUT:
        assert not os.path.lexists(out / name), name
    real_out = os.path.realpath(out)
    for path in out.rglob("*"):
        real = os.path.realpath(path)
        assert real == real_out or real.startswith(real_out + os.sep), path
    log = run.get_log()
    assert "done" in log
    for name in WARNED:
        assert f"runconfig: warning: {name}" in log, name
    assert not [p for p in run.run_dir.iterdir() if p.name.startswith(".collect-")]


def submit_odd(tmp_path: Path, exit_code: int, experiment: str, **config):
    """Submit the odd script, wait, and check the status follows the script's own exit code."""
    from runconfig_jupyter import Experiment, ScriptRunConfig

    run_config = ScriptRunConfig(str(odd_project(tmp_path)), script="odd.py", **config)
    run_config.run_config.environment_variables = {"EXIT": str(exit_code)}
    run = Experiment(experiment).submit(run_config)
    run.wait_for_completion(timeout=180, raise_on_error=False)
    details = run.get_details()
    assert details["exitCode"] == exit_code
    if exit_code == 0:
        assert details["status"] == "Completed", details.get("error")
    else:
        assert details["status"] == "Failed" and details["error"]["phase"] == "Running"
    return run
