"""Run-history records written by a running script (``run.tag``, ``run.child_run``, ``run.fail`` in-script).

One function applies them, whoever carries them: the script itself on the local target (it can
reach the run folder and the store), or the run driver for a ``HISTORY_MARKER`` line read from a
container, remote kernel or Ray job. A record may only touch the script's own run and the child
runs it created (ids ``<run id>_<suffix>``): a script cannot reach into any other run.

    {"op": "tags", "run_id": ..., "tags": {...}, "remove": [...]}
    {"op": "properties", "run_id": ..., "properties": {...}}
    {"op": "child", "run_id": <new child id>, "name": ...}
    {"op": "status", "run_id": ..., "status": "Completed"|"Failed"|"Canceled", "reason": ...}
    {"op": "metric", "run_id": <child id>, "record": {...}}   (a child's metric, from a marker target)
    {"op": "model", "model_name": ..., "model_path": ..., "tags": {...}, "properties": {...}, "description": ...,
     "model_framework": ..., "model_framework_version": ..., "resource_configuration": {"cpu", "memoryInGB", "gpu"}}
        (run.register_model in-script: recorded now, registered by the driver once the outputs are collected)
"""

from __future__ import annotations

import json
from typing import Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import marker_change, record_history
from runconfig_jupyter.core.runs.logsink import append_metric_line
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunStore

END_STATUSES = {s.value: s for s in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)}


MODEL_FIELDS = (
    "model_name",
    "model_path",
    "tags",
    "properties",
    "description",
    "model_framework",
    "model_framework_version",
    "resource_configuration",
)
RESOURCE_KEYS = frozenset({"cpu", "memoryInGB", "gpu"})


def model_request(record: dict[str, Any]) -> dict[str, Any]:
    """The ``Model.register_from_run`` keywords of an in-script ``run.register_model`` (checked: the record may
    come from a container's log stream, so only text and the resource numbers pass)."""
    request = {key: record.get(key) for key in MODEL_FIELDS if record.get(key) is not None}
    if not isinstance(request.get("model_name"), str) or not isinstance(request.get("model_path"), str):
        raise ConfigError("run.register_model needs model_name and model_path (a file of the run)", field="model_path")
    for key in ("model_framework", "model_framework_version"):
        if key in request and not isinstance(request[key], str):
            raise ConfigError("must be text", field=key)
    resources = request.get("resource_configuration")
    if resources is not None and not (
        isinstance(resources, dict)
        and set(resources) <= RESOURCE_KEYS
        and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in resources.values())
    ):
        raise ConfigError("must be ResourceConfiguration(cpu=, memory_in_gb=, gpu=)", field="resource_configuration")
    return request


def _own_run(store: RunStore, root_id: str, run_id: Any) -> str:
    """``run_id`` if it is the script's run or one of its children; else a ConfigError."""
    run_id = str(run_id or root_id)
    if run_id == root_id:
        return run_id
    record = store.get(run_id)
    if record.parent_run_id != root_id or not run_id.startswith(f"{root_id}_"):
        raise ConfigError(f"run {run_id} is not a child of {root_id}; a script can only change its own runs")
    return run_id


def apply_marker(store: RunStore, root_id: str, record: dict[str, Any], owner_pid: int) -> None:
    """Apply one history record from the script running as ``root_id``."""
    from runconfig_jupyter.core.runs.interactive import start_interactive

    op = record.get("op")
    if op == "child":
        child_id = str(record.get("run_id") or "")
        if not child_id.startswith(f"{root_id}_"):
            raise ConfigError(f"a child run id must start with '{root_id}_', got {child_id!r}")
        parent = store.get(root_id)
        start_interactive(
            store,
            parent.experiment,
            parent_run_id=root_id,
            display_name=record.get("name"),
            run_id=child_id,
            owner_pid=owner_pid,
        )
        return
    run_id = _own_run(store, root_id, record.get("run_id"))
    if op in ("tags", "properties"):
        record_history(store, run_id, **marker_change(record))
    elif op == "status":
        status = END_STATUSES.get(str(record.get("status")))
        if status is None:
            raise ConfigError(f"status must be one of {', '.join(END_STATUSES)}", field="status")
        reason = record.get("reason")
        if run_id == root_id:  # the driver records the run's end; it honours this request then
            if status != RunStatus.COMPLETED:
                store.update(run_id, details={"requested_end": {"status": status.value, "reason": reason}})
        else:
            store.set_status(run_id, status, reason=reason if status != RunStatus.COMPLETED else None)
    elif op == "model" and run_id == root_id:
        record_history(store, run_id, append={"model_requests": model_request(record)})
    elif op == "metric" and run_id != root_id:
        append_metric_line(RunFolder(store.run_dir(run_id)).metrics_path, json.dumps(record.get("record") or {}))
    else:
        raise ConfigError(f"unknown run-history record {op!r}", field="op")
