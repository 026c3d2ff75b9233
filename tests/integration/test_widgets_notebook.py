"""notebooks/widgets.ipynb runs top to bottom on a real kernel (nbclient), leaving no run going."""

from __future__ import annotations

import shutil
from pathlib import Path

from runconfig_jupyter.core.store import RunStore

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
