"""In-script ``run.register_model(...)`` requests, registered by the driver once the run's outputs are home.

The script's history markers only record the request (core/runs/script_history.py, which knows no model or run
classes); registering copies a file the run wrote, so it waits for collection and needs both the run handle and
the model registry: this module sits above both.
"""

from __future__ import annotations

from typing import Any

from runconfig_jupyter.core.model import Model
from runconfig_jupyter.core.runs.history import record_history
from runconfig_jupyter.core.runs.script_run import Run
from runconfig_jupyter.core.runs.store import RunStore


def register_requested_models(
    store: RunStore, run_id: str, requests: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Register what a script asked for with ``run.register_model`` in-script (the driver calls this).

    The requests were recorded from the script's history markers (core/runs/script_history.py); registering
    needs the run's collected outputs, so it happens here, after collection, and not where markers are read.

    Returns ("name:version"s, errors).
    """
    run = Run(run_id, store=store)
    done, errors = [], []
    for request in requests:
        try:
            model = Model.register_from_run(run, **request)
        except Exception as error:  # one bad request must not cost the others
            errors.append(f"run.register_model({request.get('model_name')!r}, {request.get('model_path')!r}): {error}")
            continue
        record_history(store, run_id, append={"models": model.id})
        done.append(model.id)
    return done, errors
