"""notebooks/data.ipynb (v1 style: datastore, datasets, a run that reads them) runs top to bottom on a real kernel
(and its Docker section on the real engine, when one runs here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runconfig_jupyter.core.runs.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def test_data_notebook_executes_headless(tmp_path, run_home):
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "nb"
    shutil.copytree(REPO / "notebooks", folder)
    notebook = nbformat.read(folder / "data.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "\n".join("".join(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert (
        "line-points version 1" in text
        and "'/csv/part0.csv', '/csv/part1.csv', '/csv/part2.csv', '/labels.txt'" in text
    )
    assert "fitted y = 2.00 x + 1.00 on 30 rows; 4 files" in text
    assert "input  points [mount] training_data:" in text and "input  files [download] workspaceblobstore:" in text
    assert "Nothing submitted (--dry-run)." in text
    if "docker: available" in text:  # the Docker section: a read-only mount in, an uploaded output out
        assert "fitted y = 2.00 x + 1.00 on 30 rows in /mnt/data/csv (read-only)" in text
        assert "uploaded: ['_RUN_STATUS.json', 'model.txt']" in text
    [record] = RunStore().list(experiment="data-notebook")
    assert record.status.value == "Completed"
    metrics = RunStore().run_dir(record.run_id) / "metrics.jsonl"
    assert '"slope"' in metrics.read_text()
    assert pytest.approx(2.0) == float(
        next(line for line in metrics.read_text().splitlines() if '"slope"' in line).split('"value":')[1].split(",")[0]
    )
