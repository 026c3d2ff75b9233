"""The environment variables a run's script finds its run by (read by ``Run.get_context()``, context.py).

Apart from context.py because the driver and the targets set them while only the script's own process
needs the run context behind them (its logging, metrics and v1 run API imports).
"""

from __future__ import annotations

import os

RUN_ID_ENV = "RUNCONFIG_RUN_ID"
METRICS_FILE_ENV = "RUNCONFIG_METRICS_FILE"
EXPERIMENT_ENV = "RUNCONFIG_EXPERIMENT"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
MLFLOW_EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
MLFLOW_ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"
# Where a run's script keeps MLflow's tracking store (``history.enable_mlflow_tracking``): MLflow's file store in a
# folder of its working directory, relative, so that one value serves every target (the working directory is
# wherever the script runs: a private copy here, /workspace in a container, a folder of a remote kernel or Ray
# node). A file store because it needs nothing but mlflow-skinny, what Azure ML v1 environments had through
# azureml-mlflow (an SQLite store needs SQLAlchemy); a plain relative path because MLflow 2.x and 3.x both take it
# as one (3.x only with MLFLOW_ALLOW_FILE_STORE=true). The targets collect the folder with outputs/ and logs/ into
# the run folder's ``mlflow/`` (targets/collect.py), where the driver reads it once the script ended
# (core/runs/mlflow_import.py). MLflow creates the folders on first use.
MLFLOW_WORK_DIR = ".runconfig-mlflow"
MLFLOW_STORE_NAME = "mlruns"
MLFLOW_SCRIPT_URI = f"{MLFLOW_WORK_DIR}/{MLFLOW_STORE_NAME}"

# The names of a run's environment whose values change from run to run, and that nothing reads while an
# interpreter starts: a script's interpreter started before its run (targets/processes/prestarted.py)
# is given them at hand-over. Every other variable must be the same as at its start.
# MLflow reads its three only when the script first logs, never while the interpreter starts.
PER_RUN_NAMES = frozenset(
    {
        RUN_ID_ENV,
        EXPERIMENT_ENV,
        METRICS_FILE_ENV,
        "AZUREML_RUN_ID",
        "AZUREML_EXPERIMENT_NAME",
        MLFLOW_URI_ENV,
        MLFLOW_EXPERIMENT_ENV,
        MLFLOW_ALLOW_FILE_STORE_ENV,  # set with the URI: absent from a run with tracking off
    }
)


def standing_environment() -> dict[str, str]:
    """What every single-process run's script finds set by us, whatever the run (the rest is per run:
    ``PER_RUN_NAMES``). The driver sets it (core/runs/driver.py), and a target that prepares a script's
    process ahead predicts the environment from it (targets/local/target.py ``warm_up``), before the
    driver module is imported: hence here, importing nothing (a fresh driver calls it before its spare starts)."""
    return {
        "PYTHONUNBUFFERED": "1",
        # Node 0 of 1; a distributed run's ranks get their own values (core/runs/distributed.py).
        **azure_node_environment(),
    }


def mlflow_environment(experiment: str, run_variables: dict[str, str]) -> dict[str, str]:
    """What a run with ``history.enable_mlflow_tracking`` (v1's default) gives its script so that ``mlflow.log_*``
    lands on the run, as Azure ML v1 did: the run's own tracking store (MLflow's file store, with MLflow 3.x's
    ``MLFLOW_ALLOW_FILE_STORE=true``) and its experiment's name.

    A name the run configuration sets itself (``run_variables``) is left to it: the user chose another tracking
    server or experiment, so nothing is imported from the run's store either (``gives_mlflow_store``). Called by
    the driver for every run, so it imports nothing and costs a few look-ups.
    """
    names = {MLFLOW_EXPERIMENT_ENV: experiment}
    if gives_mlflow_store(run_variables):
        names[MLFLOW_URI_ENV] = MLFLOW_SCRIPT_URI
        names[MLFLOW_ALLOW_FILE_STORE_ENV] = "true"
    return {name: value for name, value in names.items() if name not in run_variables}


# What a notebook's own MLflow session exports (``mlflow.set_experiment`` sets MLFLOW_EXPERIMENT_ID in the kernel's
# environment; MLFLOW_RUN_ID resumes a run): ids of the notebook's store, meaningless in a run's own store.
KERNEL_MLFLOW_SESSION = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")


def without_kernel_mlflow_session(inherited: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """The kernel's variables a local run inherits (``inherited``), less its MLflow session's ids when the run
    points its script at the run's own store (``given``: what the driver sets, the run configuration's included).

    v1's train-and-deploy-pytorch notebook calls ``mlflow.set_experiment(name)`` in the notebook, then submits a
    script that logs through MLflow: the kernel's experiment id, inherited next to the run's experiment name,
    made MLflow refuse the script's second ``mlflow.start_run()`` (the id does not match the name's experiment in
    the run's store). A variable the run configuration sets itself is in ``given`` and stays.
    """
    if given.get(MLFLOW_URI_ENV) != MLFLOW_SCRIPT_URI:
        return inherited
    return {name: value for name, value in inherited.items() if name not in KERNEL_MLFLOW_SESSION}


def gives_mlflow_store(run_variables: dict[str, str]) -> bool:
    """Whether a run with MLflow tracking on points its script at the run's own store (the driver imports only
    a store it gave): not when the run configuration names its own ``MLFLOW_TRACKING_URI``."""
    return MLFLOW_URI_ENV not in run_variables


def run_tracking_uri() -> str | None:
    """Inside a run's script, the MLflow tracking URI the run gave it (``Workspace.get_mlflow_tracking_uri()``, on
    every target: the shim ships this module); None outside a run or with MLflow tracking off."""
    if os.environ.get(RUN_ID_ENV) and os.environ.get(MLFLOW_URI_ENV):
        return os.environ[MLFLOW_URI_ENV]
    return None


def azure_node_environment(
    node_count: int = 1, node_rank: int = 0, master_addr: str | None = None, master_port: int | None = None
) -> dict[str, str]:
    """The legacy names Azure ML (and Batch AI before it) set on every node, whatever the framework.

    Scripts and launch lines written for Azure read them (``--node_rank $AZ_BATCHAI_TASK_INDEX``);
    a single-process run is node 0 of 1 and has no master.
    """
    names = {"AZ_BATCHAI_TASK_INDEX": str(node_rank), "AZUREML_NODE_COUNT": str(node_count)}
    if master_addr is not None:
        names["AZ_BATCHAI_MPI_MASTER_NODE"] = master_addr
        names["AZ_BATCH_MASTER_NODE"] = f"{master_addr}:{master_port}"
    return names
