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
