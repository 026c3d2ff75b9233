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
