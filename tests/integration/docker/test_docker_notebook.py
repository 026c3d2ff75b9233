"""notebooks/docker.ipynb runs headless on a real kernel (nbclient) against the real engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runconfig_jupyter.core.runs.store import RunStore

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[3]


def test_docker_notebook_executes_headless(tmp_path, docker_client, image_remover):
    import nbformat
    from nbclient import NotebookClient

    existing = {tag for image in docker_client.images.list("runconfig-jupyter/env") for tag in image.tags}
    folder = tmp_path / "nb"
    shutil.copytree(REPO / "notebooks", folder)
    notebook = nbformat.read(folder / "docker.ipynb", as_version=4)
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        ).execute()
    finally:
        store = RunStore()
        built = {record.details.get("image") for record in store.list(limit=100)} - existing - {None}
        image_remover([tag for tag in built if tag.startswith("runconfig-jupyter/env:")])
    text = "\n".join(
        "".join(output.get("text", "")) for c in notebook.cells for output in c.get("outputs", []) if "text" in output
    )
    assert "Status: Completed" in text and "final loss" in text and "(removed after the run)" in text
    assert "this run asks for GPUs, but the Docker engine has no NVIDIA runtime" in text
    assert RunStore().count("docker-demo") == 2 and all(r.target_type == "docker" for r in RunStore().list())
    assert not (folder / "outputs").exists()
