"""Interactive runs: ``Experiment.start_logging()`` and ``run.child_run()`` in the notebook's own process.

An interactive run is an ordinary run record (same store, same run folder layout, so ``%runs``,
``Run.get``, the server and the sidebar show it like any other) whose owner is the process that
started it instead of a run driver. The owner's pid and start mark take the driver's place in the
record, so the usual "driver lost" check tells a live notebook from a dead one: while the process
lives the run stays Running; once it has died without ``complete()``/``fail()``, the next settle
(core/runs/settle.py) marks the run Failed with that reason. Nothing ever signals the owner (a cancel only records
Canceled), because the owner is the user's kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import index_history, update_history
from runconfig_jupyter.core.runs.names import check_experiment_name, new_run_id
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore
from runconfig_jupyter.core.system import proc

if TYPE_CHECKING:
    from runconfig_jupyter.core.runs.run_history import RunHistory

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,254}$")
INTERACTIVE_TARGET = {"name": "local", "type": "local"}


def start_interactive(
    store: RunStore,
    experiment: str,
    *,
    parent_run_id: str | None = None,
    display_name: str | None = None,
    run_id: str | None = None,
    outputs: str | None = None,
    snapshot_directory: str | None = None,
    tags: dict[str, Any] | None = None,
    owner_pid: int | None = None,
) -> str:
    """Record a Running interactive run owned by ``owner_pid`` (default: this process); its run id.

    The run handle (``ScriptRun``) is made by its caller: this module sits below the handle.
    """
    check_experiment_name(experiment)
    if run_id is not None and not RUN_ID_PATTERN.match(str(run_id)):
        raise ConfigError(f"run id {run_id!r} is not valid: use letters, digits, '_', '-' or '.'", field="run_id")
    outputs_dir = _tracked_outputs(outputs)
    snapshot = _snapshot(store, snapshot_directory) if snapshot_directory else None
    run_id = str(run_id) if run_id else new_run_id(experiment)
    run_dir = store.run_dir(run_id)
    if run_dir.exists():
        raise ConfigError(f"a run with id '{run_id}' already exists", field="run_id")
    folder = RunFolder(run_dir)
    folder.create()
    owner = owner_pid or os.getpid()
    now = time.time()
    try:
        if outputs_dir is not None:  # made at the start, as v1 did: notebooks save into ./outputs straight away
            outputs_dir.mkdir(parents=True, exist_ok=True)
        if snapshot is not None:
            folder.link_snapshot(snapshot.path)
        spec = {
            "run_id": run_id,
            "experiment": experiment,
            "config": None,
            "interactive": {"owner_pid": owner, "outputs": str(outputs_dir) if outputs_dir else None},
            "target": INTERACTIVE_TARGET,
            "snapshot": {"id": snapshot.id, "files": snapshot.manifest.file_count} if snapshot else {},
            "tags": dict(tags or {}),
            "parent_run_id": parent_run_id,
            "created_at": now,
        }
        folder.write_spec(spec)
        history = update_history(run_dir, tags=tags or {}, display_name=display_name, parent_run_id=parent_run_id)
        store.create_run(
            RunRecord(
                run_id=run_id,
                experiment=experiment,
                status=RunStatus.RUNNING,
                target=INTERACTIVE_TARGET["name"],
                target_type=INTERACTIVE_TARGET["type"],
                created_at=now,
                updated_at=now,
                started_at=now,
                script="(interactive)",
                display_name=display_name,
                snapshot_id=snapshot.id if snapshot else None,
                parent_run_id=parent_run_id,
                driver_pid=owner,
                driver_started=proc.start_mark(owner),
                details={
                    "interactive": True,
                    "owner_pid": owner,
                    "outputs_dir": str(outputs_dir) if outputs_dir else None,
                    "tags": dict(history["tags"]),
                },
            )
        )
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_id


def _tracked_outputs(outputs: Any) -> Path | None:
    """Azure's ``outputs``: a local folder whose content becomes the run's outputs when it ends."""
    if outputs in (None, False, ""):
        return None
    return Path(str(outputs)).expanduser().resolve()


def _snapshot(store: RunStore, directory: str) -> Any:
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits
    from runconfig_jupyter.core.snapshot.stored import store_snapshot

    return store_snapshot(Path(directory), store.snapshots_dir, SnapshotLimits.from_env(), extra_excludes=[store.home])


def finish_interactive(run: RunHistory, status: RunStatus, reason: str | None = None) -> bool:
    """End an interactive run: copy its tracked outputs, then record the final status (False if it had ended)."""
    record = run.store.get(run.id)
    if record.is_terminal:
        return False
    source = record.details.get("outputs_dir")
    if source and Path(source).is_dir():
        shutil.copytree(source, RunFolder(run.run_dir).outputs_dir, dirs_exist_ok=True, symlinks=False)
    history = update_history(run.run_dir)  # touch: an index rebuilt later finds the same values
    index_history(run.store, run.id, history)
    return run.store.set_status(
        run.id, status, reason=reason if status != RunStatus.COMPLETED else None, phase="Running" if reason else None
    )


def settle_children(store: RunStore, parent_run_id: str, status: RunStatus, reason: str | None) -> list[str]:
    """Children left open when their parent ends take the parent's outcome; returns their ids."""
    settled = []
    for child in store.list(parent_run_id=parent_run_id, limit=100_000):
        if child.is_terminal or not child.details.get("interactive"):
            continue
        why = None if status == RunStatus.COMPLETED else f"ended with its parent run: {reason or status.value}"
        if store.set_status(child.run_id, status, reason=why):
            settled.append(child.run_id)
    return settled
