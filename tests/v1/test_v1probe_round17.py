"""v1's MLflow notebooks (how-to-use-azureml/track-and-monitor-experiments/using-mlflow) and their training scripts,
ported by imports only and run on the real local target; each test is a break they hit."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

needs_mlflow = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="mlflow is not importable here: the test extra brings it"
)


def _submit(project: Path, script: str, experiment: str):
    """``script`` (text) submitted from ``project`` as v1's notebooks do; the run, ended."""
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    (project / "train_mlflow.py").write_text(textwrap.dedent(script))
    config = ScriptRunConfig(source_directory=str(project), script="train_mlflow.py")
    run = Experiment(Workspace.from_config(), experiment).submit(config)
    run.wait_for_completion(timeout=240, raise_on_error=False)
    return run


@needs_mlflow
def test_metrics_count_once_when_the_script_logs_a_model(v1_project):
    """train-and-deploy-pytorch's ``scripts/train.py`` (and train-remote's ``train_diabetes.py``): metrics through
    ``mlflow.log_metric``, then ``mlflow.<flavor>.log_model(model, "model")``. With MLflow 3 the file store writes
    the run's metric lines again when a model is logged (linking them to the LoggedModel), so
    ``run.get_metrics()`` gave every value twice (``epoch_loss`` six values for three epochs). v1's run history
    had each once; MLflow's SQL store keys a value by (time, value, step), so the repeat counts once."""
    run = _submit(
        v1_project,
        """
        import mlflow
        import mlflow.pyfunc

        class Echo(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input):
                return model_input

        with mlflow.start_run():
            for epoch_loss in (0.9, 0.5, 0.25):
                mlflow.log_metric("epoch_loss", epoch_loss)
            mlflow.log_metric("average_loss", 0.3)
            mlflow.pyfunc.log_model("model", python_model=Echo(), pip_requirements=[])
            mlflow.log_metric("after_model", 1.0)
        """,
        "pytorch-with-mlflow",
    )
    assert run.get_status() == "Completed", run.get_log()
    assert run.get_metrics() == {"epoch_loss": [0.9, 0.5, 0.25], "average_loss": 0.3, "after_model": 1.0}


TRAIN_LOCAL_CELLS = """
import mlflow
from runconfig_jupyter.core import Workspace

ws = Workspace.from_config()
mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
experiment_name = "LocalTrain-with-mlflow-sample"
mlflow.set_experiment(experiment_name)
mlflow.set_experiment("made-but-empty")
with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(experiment_name).experiment_id):
    mlflow.log_metric("alpha", 0.03)
    mlflow.log_metric("mse", 3302.6)
mlflow.delete_experiment(mlflow.set_experiment("deleted-one").experiment_id)
print("FOUND", ws.experiments[experiment_name].name)
print("NAMES", sorted(ws.experiments))
"""


@needs_mlflow
def test_an_experiment_made_through_mlflow_in_the_notebook_is_the_workspaces(v1_project, run_home):
    """train-local.ipynb's cells in a kernel: ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())``,
    ``mlflow.set_experiment(experiment_name)``, a run with ``mlflow.log_metric``, then the last cell
    ``ws.experiments[experiment_name]`` raised KeyError: in v1 an MLflow experiment of the workspace's tracking
    URI is an Azure ML experiment. Now the notebook store's active experiments are among the workspace's (a deleted
    one and MLflow's empty ``Default`` are not); their runs stay in MLflow's store, for ``mlflow ui``."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", TRAIN_LOCAL_CELLS], cwd=v1_project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("FOUND", "NAMES")))
    assert lines["FOUND"] == "LocalTrain-with-mlflow-sample"
    assert lines["NAMES"] == "['LocalTrain-with-mlflow-sample', 'made-but-empty']"


def test_the_notebook_store_is_read_without_following_links(v1_project, run_home, tmp_path):
    """The notebook's MLflow store is data: an experiment folder or a meta.yaml that is a link out of the run
    home is not listed (nothing is read through it); MLflow's empty ``Default`` is not an experiment."""
    from runconfig_jupyter.core import Workspace

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "meta.yaml").write_text("name: from-outside\nlifecycle_stage: active\n")
    store = run_home / "mlflow" / "mlruns"
    (store / "0").mkdir(parents=True)
    (store / "0" / "meta.yaml").write_text("experiment_id: '0'\nlifecycle_stage: active\nname: Default\n")
    (store / "7").symlink_to(outside, target_is_directory=True)
    (store / "8").mkdir()
    (store / "8" / "meta.yaml").symlink_to(outside / "meta.yaml")
    (store / "9").mkdir()
    (store / "9" / "meta.yaml").write_text("experiment_id: '9'\nlifecycle_stage: active\nname: 'kept'\n")
    assert sorted(Workspace.from_config().experiments) == ["kept"]


def test_import_azureml_mlflow_ports(v1_project):
    """deploy-model.ipynb's (and other MLflow notebooks') first cell: ``import azureml.mlflow``, ported to
    ``import runconfig_jupyter.mlflow``, raised ModuleNotFoundError before any cell ran. It imports now (the
    tracking URI needs no plugin here); ``get_portal_url(run)`` says there is no portal, naming the call."""
    import runconfig_jupyter.mlflow
    from runconfig_jupyter.core.errors import NotSupportedLocally

    with pytest.raises(NotSupportedLocally, match=r"azureml\.mlflow\.get_portal_url\(\)"):
        runconfig_jupyter.mlflow.get_portal_url(None)


PYTORCH_NOTEBOOK_CELLS = """
import mlflow
from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

ws = Workspace.from_config()
mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
experiment_name = "pytorch-with-mlflow"
mlflow.set_experiment(experiment_name)  # exports MLFLOW_EXPERIMENT_ID, the notebook store's id
with mlflow.start_run():  # train.driver() in the notebook itself
    mlflow.log_metric("epoch_loss", 0.5)
src = ScriptRunConfig(source_directory=".", script="train_folds.py")
run = Experiment(ws, experiment_name).submit(src)
run.wait_for_completion(raise_on_error=False)
print("STATUS", run.get_status())
print("METRICS", run.get_metrics())
"""

FOLDS_SCRIPT = """
import mlflow
for fold in range(2):
    with mlflow.start_run():
        mlflow.log_metric("fold_score", 0.5 + fold)
"""


@needs_mlflow
def test_the_notebooks_mlflow_experiment_id_does_not_reach_the_run(v1_project, run_home):
    """train-and-deploy-pytorch.ipynb / train-and-deploy-keras-auto-logging.ipynb: ``mlflow.set_experiment`` and a
    local ``train.driver()`` in the notebook, then ``exp.submit(src)`` of a script that logs through MLflow. The
    kernel's MLFLOW_EXPERIMENT_ID (the notebook store's id) reached the local run's script next to the run's
    MLFLOW_EXPERIMENT_NAME, and MLflow failed the script's second ``mlflow.start_run()``: "The provided
    MLFLOW_EXPERIMENT_ID environment variable value ... does not match the experiment id". In v1 the run had its
    own MLflow context; the notebook session's ids are left out when the run gives its store."""
    import subprocess
    import sys

    (v1_project / "train_folds.py").write_text(textwrap.dedent(FOLDS_SCRIPT))
    done = subprocess.run(
        [sys.executable, "-c", PYTORCH_NOTEBOOK_CELLS], cwd=v1_project, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("STATUS", "METRICS")))
    assert lines["STATUS"] == "Completed", done.stdout
    assert lines["METRICS"] == "{'fold_score': [0.5, 1.5]}"
