"""The environment variables a run's script finds its run by (read by ``Run.get_context()``, context.py).

Apart from context.py because the driver and the targets set them while only the script's own process
needs the run context behind them (its logging, metrics and v1 run API imports).
"""

from __future__ import annotations

RUN_ID_ENV = "RUNCONFIG_RUN_ID"
METRICS_FILE_ENV = "RUNCONFIG_METRICS_FILE"
EXPERIMENT_ENV = "RUNCONFIG_EXPERIMENT"

# The names of a run's environment whose values change from run to run, and that nothing reads while an
# interpreter starts: a script's interpreter started before its run (targets/processes/prestarted.py)
# is given them at hand-over. Every other variable must be the same as at its start.
PER_RUN_NAMES = frozenset({RUN_ID_ENV, EXPERIMENT_ENV, METRICS_FILE_ENV, "AZUREML_RUN_ID", "AZUREML_EXPERIMENT_NAME"})


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
