"""Submitting a run: validate, package, record, hand over to a detached driver.

Order matters: everything that can reject the run (config, target, data plan,
snapshot limits) happens before a run row or folder exists, so bad input leaves
nothing behind.
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.config.input_checks import check_labels
from runconfig_jupyter.core.data.mentions import names_data
from runconfig_jupyter.core.errors import DiskFull
from runconfig_jupyter.core.runs.drivers import other_targets_secrets, start_driver
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import update_history
from runconfig_jupyter.core.runs.names import check_experiment_name, new_run_id
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore
from runconfig_jupyter.core.safety.secret_env import SecretFile, redact_config_dict, refuse_placeholders
from runconfig_jupyter.core.target.configured import resolve_target

if TYPE_CHECKING:
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.data.plan import DataPlan
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits
    from runconfig_jupyter.core.target.interface import ComputeTarget

# A recorded launch (ComputeTarget.recorded_launch) repeats the command and variables of the run's config; a larger
# one is not recorded, so run.json stays within what its reader accepts (core/safety/bounded.py MAX_JSON_BYTES).
MAX_LAUNCH_BYTES = 64 * 1024


def wants_docker(config: ScriptRunConfig) -> bool:
    """Azure ML ran a run in Docker when its environment or run config asked for it."""
    environment = config.effective_environment()
    run_config = getattr(config, "run_config", None)
    use_docker = getattr(getattr(run_config, "docker", None), "use_docker", False)
    return bool(getattr(environment.docker, "enabled", False) or use_docker)


def default_target_name(config: ScriptRunConfig) -> str:
    """The config's own target, except that the default 'local' becomes 'docker' when Docker is asked for."""
    name = config.target_name
    return "docker" if name == "local" and wants_docker(config) else name


def start_run(
    config: ScriptRunConfig,
    experiment: str = "default",
    target: str | ComputeTarget | None = None,
    *,
    tags: dict[str, str] | None = None,
    display_name: str | None = None,
    store: RunStore | None = None,
    snapshot_limits: SnapshotLimits | None = None,
    parent_run_id: str | None = None,
    driver_env: dict[str, str] | None = None,
    snapshot_progress: Callable[[int, int], None] | None = None,
    confine_to: Path | None = None,
) -> str:
    """Submit ``config`` and return its run id; ``snapshot_progress(done_bytes, total_bytes)`` reports packaging.

    The run handle is made above this module: ``submit`` in core/runs/script_run.py wraps the id in a
    ``ScriptRun`` (so the engine that starts runs never imports the v1 handle).

    Every path of the config passes the confinement check (core/confine.py) against the store's home and,
    when given, ``confine_to`` (the Jupyter server's root for REST submits) before the target is contacted.
    """
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits, check_script_packaged
    from runconfig_jupyter.core.snapshot.stored import store_snapshot

    check_experiment_name(experiment)
    check_labels(tags, display_name)
    store = store or RunStore()
    confinement = config.validate(home=store.home, root=confine_to)
    refuse_placeholders(config, "give the real value again (records keep only the placeholder, see docs/SECURITY.md)")
    compute = resolve_target(target if target is not None else default_target_name(config))
    run_id = new_run_id(experiment)
    # The data (core/data/plan.py): every datastore, dataset and path checked, stores probed - built once, and
    # judged by the target before the target itself is asked anything (a host folder a remote cluster cannot
    # see is refused without contacting the cluster). A run naming no data has an empty plan, built (and the
    # data layer imported) only for a target whose own validate_data hook would look at it.
    data_plan = plan_data(config, run_id, store.home) if names_data(config) or checks_data(compute) else None
    if data_plan is not None:
        compute.validate_data(data_plan)
    compute.validate(config)
    # The folder that was checked, by its real path: a link swapped after the check cannot redirect packaging.
    checked = confinement.source if confinement is not None else Path(config.source_directory)
    try:
        snapshot = store_snapshot(
            checked,
            store.snapshots_dir,
            snapshot_limits or SnapshotLimits.from_env(),
            progress=snapshot_progress,
            extra_excludes=[store.home],
            expect_source=checked if confinement is not None else None,
        )
    except OSError as error:  # the archive writer removed its partial file
        raise disk_error(error, f"packaging {config.source_directory} into {store.snapshots_dir}") from error
    if not config.command:
        check_script_packaged(snapshot.manifest, config.script)

    run_dir = store.run_dir(run_id)
    try:
        folder = RunFolder(run_dir)
        folder.create()
        folder.link_snapshot(snapshot.path)
        recorded = config.to_dict()
        # The folder that was checked and packaged, absolute: a driver (its cwd is the run folder), a re-run
        # from the server and resume_from's re-check must not read a relative path against another folder.
        recorded["source_directory"] = str(checked)
        secrets = redact_config_dict(recorded)
        SecretFile(store.home, run_id).write(secrets)  # before anything names the run
        # What the driver starts the script from without the config classes (the target's choice; never
        # for a configuration with secrets, whose record holds placeholders).
        launch = None if secrets else compute.recorded_launch(config, data_plan)
        if launch is not None and len(json.dumps(launch)) > MAX_LAUNCH_BYTES:
            launch = None  # a huge command or environment: run.json (read bounded) holds it once, in the config
        spec = {
            "run_id": run_id,
            "experiment": experiment,
            "config": recorded,
            # The target as it was: re-run, cancel and the UI read it here, not by name (core/runs/run_target.py)
            "target": compute.to_spec(),
            "capabilities": compute.capabilities().to_dict(),
            "snapshot": {
                "id": snapshot.id,
                "files": snapshot.manifest.file_count,
                "bytes": snapshot.manifest.total_bytes,
            },
            # What the run's environment caches (venv, conda prefix, image) are keyed by: garbage collection
            # keeps them while the run exists (core/runs/garbage_refs.py).
            "environment": {"hash": config.effective_environment().content_hash()},
            "tags": dict(tags or {}),
            "parent_run_id": parent_run_id,
            "created_at": time.time(),
        }
        if launch is not None:
            spec["launch"] = launch
        folder.write_spec(spec)
        # Run history starts in the run folder too (core/history.py), so an index rebuilt from folders has it.
        update_history(run_dir, tags=tags or {}, display_name=display_name, parent_run_id=parent_run_id)
        folder.manifest_path.write_text(json.dumps(snapshot.manifest.to_dict(), default=str))
        if data_plan:
            data_plan.save(run_dir)
        now = time.time()
        store.create_run(
            RunRecord(
                run_id=run_id,
                experiment=experiment,
                status=RunStatus.QUEUED,
                target=compute.name,
                target_type=compute.type_name,
                created_at=now,
                updated_at=now,
                script=config.script or " ".join(config.argv())[:200],
                display_name=display_name,
                snapshot_id=snapshot.id,
                parent_run_id=parent_run_id,
                details={"tags": dict(tags or {})},
            )
        )
    except BaseException as error:
        # Nothing half-written stays: no folder, no row (create_run is last), and a snapshot this
        # submit stored only for this run goes too (nothing else links to it; its new objects are left to
        # the garbage collector, core/snapshot/garbage.py).
        shutil.rmtree(run_dir, ignore_errors=True)
        SecretFile(store.home, run_id).remove()
        if not snapshot.reused and _only_link(snapshot.path):
            snapshot.path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise disk_error(error, f"creating the run folder {run_dir}") from error
        raise
    start_driver(
        store,
        run_id,
        driver_env,
        strip_env=other_targets_secrets(compute),
        target_type=compute.type_name,
        head_start=type(compute).head_start,
    )
    return run_id


def disk_error(error: OSError, doing: str) -> Exception:
    """A full disk (or quota) becomes ``DiskFull`` (HTTP 507); any other OSError is returned as it was."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(
            f"no space left on the device while {doing}; nothing was recorded. Free some space (or point "
            "RUNCONFIG_JUPYTER_HOME at a bigger disk) and submit again"
        )
    return error


def _only_link(path: Path) -> bool:
    try:
        return path.stat().st_nlink <= 1
    except OSError:
        return False


def plan_data(config: Any, run_id: str, home: Path | None = None) -> DataPlan:
    """Every input and output of ``config`` resolved and checked (core/data/resolve.py); empty when it names none."""
    if not names_data(config):
        from runconfig_jupyter.core.data.plan import DataPlan

        return DataPlan()
    from runconfig_jupyter.core.data.resolve import build_plan

    return build_plan(config, run_id, home)


def checks_data(compute: ComputeTarget) -> bool:
    """Whether ``compute`` has its own ``validate_data`` (the interface's default accepts every plan)."""
    from runconfig_jupyter.core.target.interface import ComputeTarget as Interface

    return getattr(type(compute), "validate_data", None) is not Interface.validate_data
