"""notebooks/migrating_from_azureml.ipynb, a v1-style notebook, runs top to bottom on a real kernel (nbclient)."""

from __future__ import annotations

import shutil
from pathlib import Path

from runconfig_jupyter.core.runs.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def test_migrating_notebook_executes_headless(tmp_path, run_home):
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "nb"
    shutil.copytree(REPO / "notebooks", folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    notebook = nbformat.read(folder / "migrating_from_azureml.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == []
    text = "\n".join("".join(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "my-workspace" in text and "Found existing cluster, use it." in text  # config.json and the alias
    assert "curated environments" in text and "immutable" in text and "ridge:1\t1" in text.replace("ridge\t", "")
    assert "Run.get_portal_url() needs Azure ML" in text
    assert "[0.9, 0.5, 0.3] 0.5" in text  # mlflow.log_metric / log_param in a submitted script reached its run
    store = RunStore()
    runs = store.list(experiment="migrating-from-azureml", limit=100)
    top = [r for r in runs if r.parent_run_id is None]
    # script, estimator, interactive + 3 children, and the script that logs through MLflow
    assert sorted(r.status.value for r in runs) == ["Completed"] * 7
    assert {r.target for r in top} == {"cpu-cluster", "local"}
    assert sum(bool(r.details.get("interactive")) for r in top) == 1
    assert sorted(p.name for p in (run_home / "models" / "ridge").iterdir() if p.name.isdigit()) == ["1", "2"]
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # nothing written into the user's folder
