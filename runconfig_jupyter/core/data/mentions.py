"""Whether a run names data at all, answered without importing the data plan (core/data/plan.py).

Most runs name none, and every fresh ``python submit.py`` asks (at submit, and again when ``get_details`` reads
the run back): the plan module's dataclasses and placeholder expression cost ~3 ms to create, for nothing. The
answer here is exact: a text that holds none of the placeholders' fixed parts cannot hold a placeholder, and a
text that does is handed to the plan's own expression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLAN_FILE = "data_plan.json"
ENV_PREFIX = "AZUREML_DATAREFERENCE_"
# v1's own argument placeholders: what azureml-core wrote into a run's arguments for a dataset input / output.
INPUT_PLACEHOLDER = "DatasetConsumptionConfig:"
OUTPUT_PLACEHOLDER = "DatasetOutputConfig:"
_MARKERS = (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER, ENV_PREFIX)  # every placeholder form holds one of these


def names_data(config: Any) -> bool:
    """Whether ``config`` names any data (a section, or a placeholder in its arguments or command)."""
    run_config = config.run_config
    if any(getattr(run_config, section) for section in ("data_references", "data", "output_data")):
        return True
    command = run_config.command if isinstance(run_config.command, list) else [run_config.command or ""]
    marked = [item for item in [*run_config.arguments, *command] if any(m in str(item) for m in _MARKERS)]
    if not marked:
        return False
    from runconfig_jupyter.core.data.plan import placeholder_names

    return any(placeholder_names(item) for item in marked)


def recorded_data_details(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """v1's ``inputDatasets`` / ``outputDatasets`` of a recorded run; a run without a plan file named no data."""
    if not (Path(run_dir) / PLAN_FILE).exists():
        return [], []
    from runconfig_jupyter.core.data.plan import DataPlan

    return DataPlan.load(run_dir).run_details()
