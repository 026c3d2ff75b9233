"""notebooks/widgets.ipynb runs top to bottom on a real kernel (nbclient), leaving no run going."""

from __future__ import annotations

import shutil
from pathlib import Path

from runconfig_jupyter.core.runs.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def test_widgets_notebook_executes_headless(tmp_path, run_home):
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "nb"
    shutil.copytree(REPO / "notebooks", folder)
    notebook = nbformat.read(folder / "widgets.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "\n".join("".join(output.get("text", "")) for output in outputs)
    assert "['max_duration']" in text and "Canceled" in text
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_views) >= 5  # form, two RunDetails, the re-attached view, runs table
    statuses = sorted(r.status.value for r in RunStore().list(experiment="widgets"))
    assert statuses == ["Canceled", "Completed", "Completed"]
    assert not (folder / "outputs").exists()


def test_run_details_reattaches_after_a_real_kernel_restart(project, run_home):
    """%submit shows RunDetails in a real kernel; the kernel restarts mid-run; a new view re-attaches by id."""
    from jupyter_client.manager import start_new_kernel

    from tests.conftest import wait_for

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(project))
    outputs: list[str] = []

    def keep(msg: dict) -> None:
        content = msg.get("content", {})
        data = content.get("data", {})
        outputs.append(
            content.get("text", "") + ("<widget>" if "application/vnd.jupyter.widget-view+json" in data else "")
        )

    try:
        client.execute_interactive("%load_ext runconfig_jupyter", timeout=60)
        client.execute_interactive(
            "%%runconfig train\nscript: train.py\narguments: [--epochs, 15, --sleep, 0.2]\n", timeout=60
        )
        reply = client.execute_interactive("%submit train -e restart -o run", timeout=60, output_hook=keep)
        assert reply["content"]["status"] == "ok" and "<widget>" in "".join(outputs), "%submit shows a widget"
        run_id = RunStore().list(experiment="restart")[0].run_id
        log = RunStore().run_dir(run_id) / "logs" / "std_log.txt"
        wait_for(lambda: log.exists() and "epoch 2 " in log.read_text(), message="the run to print")
        manager.restart_kernel(now=True)
        client.wait_for_ready(timeout=60)
        code = (
            "from runconfig_jupyter.widgets import RunDetails\n"
            f"view = RunDetails.attach({run_id!r})\nview.show()\n"
            "print('finished', view.wait(60), 'alive', view.follower.alive)\n"
            "print('completed', view.view.status == 'Completed')\n"
            "print('log', all(f'epoch {n} ' in view.log_text for n in range(15)))\n"
            "print('metric', \"data-metric='loss'\" in view.metrics.value)"
        )
        reply = client.execute_interactive(code, timeout=90, output_hook=keep)
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    text = "".join(outputs)
    for line in ("finished True alive False", "completed True", "log True", "metric True"):
        assert line in text, text
