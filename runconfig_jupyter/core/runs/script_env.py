"""The environment variables a run's script finds its run by (read by ``Run.get_context()``, context.py).

Apart from context.py because the driver and the targets set them while only the script's own process
needs the run context behind them (its logging, metrics and v1 run API imports).
"""

from __future__ import annotations

RUN_ID_ENV = "RUNCONFIG_RUN_ID"
METRICS_FILE_ENV = "RUNCONFIG_METRICS_FILE"
EXPERIMENT_ENV = "RUNCONFIG_EXPERIMENT"
