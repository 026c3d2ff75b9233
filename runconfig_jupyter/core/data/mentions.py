"""Whether a run names data at all, answered without importing the data plan (core/data/plan.py).

Most runs name none, and every fresh ``python submit.py`` asks (at submit, and again when ``get_details`` reads
the run back): the plan module's dataclasses and placeholder expression cost ~3 ms to create, for nothing. The
answer here is exact: a text that holds none of the placeholders' fixed parts cannot hold a placeholder, and a
text that does is matched with the plan's own expression (defined here, compiled on first use).
"""

from __future__ import annotations

import functools
import re
from typing import Any

PLAN_FILE = "data_plan.json"
ENV_PREFIX = "AZUREML_DATAREFERENCE_"
# v1's own argument placeholders: what azureml-core wrote into a run's arguments for a dataset input / output.
INPUT_PLACEHOLDER = "DatasetConsumptionConfig:"
OUTPUT_PLACEHOLDER = "DatasetOutputConfig:"
# Datastore names may hold '-' and start with a digit; a DataReference is named after its datastore by default.
DATA_NAME = r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}"
_MARKERS = (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER, ENV_PREFIX)  # every placeholder form holds one of these


@functools.cache
def placeholder_expression() -> re.Pattern[str]:
    """``DatasetConsumptionConfig:<name>``, ``DatasetOutputConfig:<name>``, ``${AZUREML_DATAREFERENCE_<name>}``
    and ``$AZUREML_DATAREFERENCE_<name>``, the name in the group of the form that matched."""
    return re.compile(
        rf"(?:{INPUT_PLACEHOLDER}|{OUTPUT_PLACEHOLDER})({DATA_NAME})|\$\{{{ENV_PREFIX}({DATA_NAME})\}}"
        rf"|\${ENV_PREFIX}({DATA_NAME})"
    )


def placeholder_names(value: Any) -> list[str]:
    """Names of the data placeholders in one argument (or command) item."""
    text = str(value)
    if not any(marker in text for marker in _MARKERS):
        return []
    return [next(g for g in match.groups() if g) for match in placeholder_expression().finditer(text)]


def names_data(config: Any) -> bool:
    """Whether ``config`` names any data (a section, or a placeholder in its arguments or command)."""
    run_config = config.run_config
    if any(getattr(run_config, section) for section in ("data_references", "data", "output_data")):
        return True
    command = run_config.command if isinstance(run_config.command, list) else [run_config.command or ""]
    return any(placeholder_names(item) for item in [*run_config.arguments, *command])
