"""The magics on a real (headless) IPython shell, and the quickstart notebook on a real kernel."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter.core.runs.store import RunStore
from tests.snapshot_store import nothing_stored

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shell(project, monkeypatch):
    monkeypatch.chdir(project)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    # no live widget on a terminal shell: the text path is what we test here
    ip.run_line_magic("config", "RunConfigMagics.live_view = False")
    yield ip
    ip.user_ns.pop("train", None)


def cell(shell, line: str, body: str):
    with capture_output() as captured:
        shell.run_cell_magic("runconfig", line, textwrap.dedent(body))
    return captured


def line(shell, magic: str, args: str = ""):
    with capture_output() as captured:
        result = shell.run_line_magic(magic, args)
    return captured, result


def test_runconfig_cell_stores_a_validated_config(shell):
    out = cell(shell, "train", "script: train.py\narguments: [--epochs, 2, --lr, 0.5]\n")
    config = shell.user_ns["train"]
    assert config.script == "train.py" and config.arguments == ["--epochs", 2, "--lr", 0.5]
    assert "Stored run configuration 'train'" in out.stdout and "train.py" in out.stdout


def test_runconfig_typo_shows_line_and_fix_and_stores_nothing(shell):
    out = cell(shell, "train", "script: train.py\nmaxRunDurationSecond: 10\n")
    assert "train" not in shell.user_ns
    assert "maxRunDurationSeconds" in out.stderr and "line 2" in out.stderr


def test_runconfig_yaml_syntax_error_names_the_line(shell):
    out = cell(shell, "train", "script: train.py\narguments: [--epochs, 2\n")
    assert "train" not in shell.user_ns
    assert "ConfigError" in out.stderr and "line" in out.stderr


def test_submit_wait_runs_lists_and_logs(shell):
    cell(shell, "train", "script: train.py\narguments: [--epochs, 2]\n")
    out, _ = line(shell, "submit", "train --experiment magic --wait -o run")
    run = shell.user_ns["run"]
    assert "epoch 1 loss 0.500" in out.stdout and "Status: Completed" in out.stdout
    out, _ = line(shell, "runs", "--experiment magic")
    assert run.id in out.stdout and "Completed" in out.stdout
    out, _ = line(shell, "logs", run.id)
    assert "epoch 0 loss 1.000" in out.stdout
    out, _ = line(shell, "cancel", run.id)
    assert "already ended: Completed" in out.stdout


def test_submit_without_wait_returns_a_run_and_logs_follow(shell):
    cell(shell, "train", "script: train.py\narguments: [--epochs, 3, --sleep, 0.2]\n")
    _, run = line(shell, "submit", "train -e follow")
    out, _ = line(shell, "logs", f"{run.id} -f")
    assert "epoch 2 loss 0.333" in out.stdout and "Completed" in out.stdout


def test_cancel_magic_and_unknowns(shell):
    cell(shell, "train", "script: train.py\narguments: [--epochs, 100, --sleep, 0.5]\n")
    _, run = line(shell, "submit", "train -e cancel")
    out, _ = line(shell, "cancel", run.id)
    assert "Cancel requested" in out.stdout
    run.wait_for_completion(raise_on_error=False, timeout=30)
    assert run.get_status() == "Canceled", (run.record.reason, run.record.phase, run.get_log())
    out, _ = line(shell, "submit", "nosuchconfig")
    assert "no run configuration named 'nosuchconfig'" in out.stderr
    out, _ = line(shell, "logs", "nope_1_deadbeef")
    assert "RunNotFound" in out.stderr
    out, _ = line(shell, "submit", "train --target nowhere")
    assert "no compute target named 'nowhere'" in out.stderr


def test_targets_magic_lists_builtins(shell):
    out, _ = line(shell, "targets")
    assert out.stdout.splitlines()[0].startswith("local")
    assert "docker" in out.stdout


def test_quickstart_notebook_executes_headless(tmp_path, run_home):
    """The README's main job, on a real kernel through nbclient."""
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "nb"
    shutil.copytree(REPO / "notebooks", folder)
    notebook = nbformat.read(folder / "quickstart.ipynb", as_version=4)
    resources = {"metadata": {"path": str(folder)}}
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    text = "\n".join(
        "".join(output.get("text", "")) for c in notebook.cells for output in c.get("outputs", []) if "text" in output
    )
    assert "Status: Completed" in text and "final loss" in text
    assert "would remove 0 item(s)" in text  # %runs --gc: a dry run, and every item is referenced or young
    assert RunStore().count("quickstart") >= 2
    assert not (folder / "outputs").exists()  # runs never write into the notebook's folder


def test_kernel_killed_mid_run_the_run_finishes_with_a_complete_log(project, run_home):
    """A real IPython kernel submits with %submit and is killed while the run prints."""
    from jupyter_client.manager import start_new_kernel

    from runconfig_jupyter import Run
    from tests.conftest import wait_for

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(project))
    try:
        code = textwrap.dedent(
            """
            %load_ext runconfig_jupyter
            %config RunConfigMagics.live_view = False
            """
        )
        client.execute_interactive(code, timeout=60)
        client.execute_interactive(
            "%%runconfig train\nscript: train.py\narguments: [--epochs, 8, --sleep, 0.25]\n", timeout=60
        )
        client.execute_interactive("%submit train -e killed -o run", timeout=60)
        reply = client.execute_interactive("print(run.id)", timeout=30, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok"
        run_id = RunStore().list(experiment="killed")[0].run_id
        run = Run.get(run_id)
        wait_for(lambda: "epoch 1 " in run.get_log(), message="the run to print")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert not manager.is_alive()
    run.wait_for_completion(timeout=60)
    assert all(f"epoch {n} " in run.get_log() for n in range(8))


def test_submit_dry_run_shows_the_manifest_and_records_nothing(shell, project, run_home):
    cell(shell, "train", "script: train.py\n")
    (project / "data.bin").write_bytes(b"x" * 5000)
    out, result = line(shell, "submit", "train --dry-run")
    assert result is None
    assert "Would run on 'local'" in out.stdout and "data.bin" in out.stdout
    assert "Nothing submitted" in out.stdout
    assert RunStore().list() == [] and not any((run_home / "snapshots").glob("*.tar"))
    assert nothing_stored(run_home)  # nor an object or manifest of the per-file store


def test_submit_dry_run_reports_a_snapshot_over_the_limit(shell, project, monkeypatch):
    monkeypatch.setenv("RUNCONFIG_SNAPSHOT_MAX_FILES", "1")
    cell(shell, "train", "script: train.py\n")
    (project / "extra.py").write_text("print(1)\n")
    out, _ = line(shell, "submit", "train --dry-run")
    assert "SnapshotTooLarge" in out.stderr and "Nothing submitted" not in out.stdout
    assert RunStore().list() == []
