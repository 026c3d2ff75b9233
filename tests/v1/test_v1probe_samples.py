"""A migrating user's v1 notebook and training script (tests/v1/samples/probe_*.py), ported by imports only.

They repeat the call patterns of Microsoft's public train-on-local, using-environments, logging-api and
manage-runs samples (keyword spellings, ``RunConfiguration.save/load``, ``Run.list``, ``max(runs, key=...)``,
``run.number``, ``run.clean()``, the ``Dataset.Tabular`` factories) and run as a plain Python process against
the real local target and the real Docker engine. Every break they found is fixed in the owning module.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runconfig_jupyter.core.runs.store import RunStore

SAMPLES = Path(__file__).resolve().parent / "samples"


def _run_notebook(project: Path, target: str) -> str:
    for name in ("probe_train.py", "probe_notebook.py"):
        shutil.copy(SAMPLES / name, project / name)
    result = subprocess.run(
        [sys.executable, "probe_notebook.py", target], cwd=project, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _check(out: str, experiment: str) -> None:
    assert "ml-workspace\nrg-ml\nlocal\n" in out
    assert "registered user-managed-env in ['user-managed-env']" in out
    assert "numbers [1, 2, 3]" in out and "script log has True" in out
    assert "best 0.5 loss [1.0, 0.5, 0.3333333333333333]" in out
    assert "row {'epoch': [1], 'acc': [0.5]} table {'x': [1, 2], 'y': [3, 4]}" in out
    assert "'outputs/model.txt'" in out and "'outputs/source.py'" in out
    assert "definition probe_train.py ['--lr', 0.5]" in out
    assert "downloaded lr=0.5" in out and "cleaned []" in out and "registered model probe-model" in out
    assert "'python=3.10', '-', 'numpy', '-', 'pip:', '-', 'six'] 3.10" in out and "clone copy-env None" in out
    assert "not local: Environment.add_private_pip_wheel()" in out
    assert "not local: Environment.from_existing_conda_environment()" in out
    assert "dataset probe-table 1 2 ['/probe.csv']" in out  # datasets over the default datastore (issue 13)
    assert "not local: Dataset.Tabular.from_sql_query()" in out
    assert "datastore workspaceblobstore Local workspaceblobstore" in out and "not local: Run.get_portal_url()" in out
    runs = RunStore().list(experiment=experiment)
    assert len(runs) == 3 and all(r.status.value == "Completed" for r in runs)


def test_probe_notebook_on_local(v1_project):
    out = _run_notebook(v1_project, "local")
    _check(out, "probe-local")
    assert "definition probe_train.py ['--lr', 0.5] local" in out


@pytest.mark.usefixtures("docker_engine")
def test_probe_notebook_on_docker(v1_project):
    out = _run_notebook(v1_project, "docker")
    _check(out, "probe-docker")
    assert "definition probe_train.py ['--lr', 0.5] docker" in out


def test_documented_estimator_spellings_are_accepted():
    """v1 docs pair ``MpiConfiguration()`` with the estimator's ``process_count_per_node``; conflicts are refused."""
    import warnings

    from runconfig_jupyter.core.errors import ConfigError
    from runconfig_jupyter.core.runconfig import MpiConfiguration, PyTorchConfiguration
    from runconfig_jupyter.train.dnn import PyTorch

    common = {"source_directory": ".", "entry_script": "train.py", "compute_target": "local", "node_count": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = PyTorch(**common, process_count_per_node=3, distributed_training=MpiConfiguration())
        config = estimator.to_script_run_config().distributed_job_config
        assert (config.node_count, config.process_count_per_node) == (2, 3)
        for conflicting in (MpiConfiguration(process_count_per_node=2), PyTorchConfiguration()):
            with pytest.raises(ConfigError, match="process_count_per_node"):
                PyTorch(**common, process_count_per_node=3, distributed_training=conflicting)


def test_logging_api_notebook_executes_headless(v1_project):
    """The logging-api flow (interactive run, every log_* kind, RunDetails) on a real kernel through nbclient."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(SAMPLES / "probe_logging_api.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(v1_project)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "\n".join("".join(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "workspace ml-workspace" in text and "status Completed" in text
    assert "cubic {'x': [1, 2, 3], 'y': [1, 8, 27]}" in text
    assert "'Fibonacci numbers'" in text and "'Sine Wave'" in text and "'Quadratic'" in text
    assert "'notes/notes.txt'" in text and "number 1" in text and "runs 1 True" in text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # RunDetails
