"""Submitting a run: validate, package, record, hand over to a detached driver.

Order matters: everything that can reject the run (config, target, data plan,
snapshot limits) happens before a run row or folder exists, so bad input leaves
nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.config.input_checks import check_labels
from runconfig_jupyter.core.data.plan import build_plan
from runconfig_jupyter.core.errors import ConfigError, DiskFull
from runconfig_jupyter.core.runs.history import update_history
from runconfig_jupyter.core.runs.standby import claim, ensure_standby, fingerprint, standby_seconds
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore, pid_start_time
from runconfig_jupyter.core.safety.secret_env import SecretFile, redact_config_dict, refuse_placeholders
from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.core.target.configured import resolve_target

if TYPE_CHECKING:
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.runs.script_run import ScriptRun
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits
    from runconfig_jupyter.core.target.interface import ComputeTarget

EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")


def check_experiment_name(name: str) -> str:
    if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
        raise ConfigError(
            f"experiment name {name!r} is not valid: use 1-255 letters, digits, '_' or '-', starting with a "
            "letter or digit (e.g. 'mnist-baseline')",
            field="experiment",
        )
    return name


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


def new_run_id(experiment: str) -> str:
    """``<experiment>_<unix-time>_<8 hex>``: sortable by time, unique without coordination."""
    return f"{experiment}_{int(time.time())}_{secrets.token_hex(4)}"


def submit(
    config: ScriptRunConfig,
    experiment: str = "default",
    target: str | ComputeTarget | None = None,
    *,
    tags: dict[str, str] | None = None,
    display_name: str | None = None,
    store: RunStore | None = None,
    snapshot_limits: SnapshotLimits | None = None,
    parent_run_id: str | None = None,
    extra_targets: dict[str, dict[str, Any]] | None = None,
    driver_env: dict[str, str] | None = None,
    snapshot_progress: Callable[[int, int], None] | None = None,
    confine_to: Path | None = None,
) -> ScriptRun:
    """Submit ``config`` and return its run; ``snapshot_progress(done_bytes, total_bytes)`` reports packaging.

    Every path of the config passes the confinement check (core/confine.py) against the store's home and,
    when given, ``confine_to`` (the Jupyter server's root for REST submits) before the target is contacted.
    """
    from runconfig_jupyter.core.runs.script_run import ScriptRun
    from runconfig_jupyter.core.snapshot.create import SnapshotLimits, check_script_packaged, create_snapshot

    check_experiment_name(experiment)
    check_labels(tags, display_name)
    store = store or RunStore()
    confinement = config.validate(home=store.home, root=confine_to)
    refuse_placeholders(config, "give the real value again (records keep only the placeholder, see docs/SECURITY.md)")
    compute = resolve_target(target if target is not None else default_target_name(config), extra_targets)
    compute.validate(config)
    run_id = new_run_id(experiment)
    # The data (core/data/plan.py): every datastore, dataset and path checked, stores probed - before packaging.
    data_plan = build_plan(config, run_id, store.home)
    compute.validate_data(data_plan)
    # The folder that was checked, by its real path: a link swapped after the check cannot redirect packaging.
    checked = confinement.source if confinement is not None else Path(config.source_directory)
    try:
        snapshot = create_snapshot(
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
        (run_dir / "logs").mkdir(parents=True)
        (run_dir / "outputs").mkdir()
        try:
            os.link(snapshot.path, run_dir / "snapshot.tar")
        except OSError:  # another filesystem: a copy is slower but equivalent
            shutil.copyfile(snapshot.path, run_dir / "snapshot.tar")
        recorded = config.to_dict()
        SecretFile(store.home, run_id).write(redact_config_dict(recorded))  # before anything names the run
        spec = {
            "run_id": run_id,
            "experiment": experiment,
            "config": recorded,
            "target": compute.to_spec(),
            "snapshot": {
                "id": snapshot.id,
                "files": snapshot.manifest.file_count,
                "bytes": snapshot.manifest.total_bytes,
            },
            "tags": dict(tags or {}),
            "parent_run_id": parent_run_id,
            "created_at": time.time(),
        }
        (run_dir / "run.json").write_text(json.dumps(spec, indent=2, default=str))
        # Run history starts in the run folder too (core/history.py), so an index rebuilt from folders has it.
        update_history(run_dir, tags=tags or {}, display_name=display_name, parent_run_id=parent_run_id)
        (run_dir / "manifest.json").write_text(json.dumps(snapshot.manifest.to_dict(), default=str))
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
        # submit stored only for this run goes too (nothing else links to it).
        shutil.rmtree(run_dir, ignore_errors=True)
        SecretFile(store.home, run_id).remove()
        if not snapshot.reused and _only_link(snapshot.path):
            snapshot.path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise disk_error(error, f"creating the run folder {run_dir}") from error
        raise
    start_driver(store, run_id, driver_env, strip_env=other_targets_secrets(compute, extra_targets))
    return ScriptRun(run_id, store=store)


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


def other_targets_secrets(compute: ComputeTarget, extra_targets: dict[str, dict[str, Any]] | None) -> set[str]:
    """Token variables of every configured target except this run's own.

    The driver (and through it a local script) inherits the submitting kernel's
    environment, which holds any token typed at a %submit prompt; a run must not
    carry another target's secret.
    """
    from runconfig_jupyter.core.target.configured import configured_targets

    try:
        specs = configured_targets(extra_targets)
    except Exception:  # a broken targets.yaml was already reported by resolve_target
        return set()
    names = {str(spec["token_env"]) for spec in specs.values() if spec.get("token_env")}
    return names - {getattr(compute, "token_env", None)}


# The next standby waits this long before importing, so it does not slow the run just handed over.
STANDBY_DELAY_SECONDS = 1.0


def start_driver(
    store: RunStore,
    run_id: str,
    extra_env: dict[str, str] | None = None,
    reattach: bool = False,
    strip_env: set[str] | None = None,
) -> int:
    """Launch the detached driver, or hand the run to a warm standby one; output goes to logs/driver_log.txt."""
    env = driver_environment(store, extra_env, strip_env)
    warm = not reattach and standby_seconds(env) > 0
    print_ = fingerprint(env) if warm else ""
    # A warm standby started with this very environment takes the run (core/standby.py) ...
    pid = claim(store.home, print_, run_id) if warm else None
    if pid is None:
        pid = _spawn_driver(store, run_id, env, reattach)
    store.update(run_id, driver_pid=pid, driver_started=pid_start_time(pid))
    if warm:  # ... and one is kept waiting for the next submit.
        ensure_standby(store.home, env, print_, delay=STANDBY_DELAY_SECONDS)
    return pid


def driver_environment(
    store: RunStore, extra_env: dict[str, str] | None = None, strip_env: set[str] | None = None
) -> dict[str, str]:
    """Exactly what a driver process inherits: ours minus other targets' tokens, plus the run's extras."""
    inherited = {key: value for key, value in os.environ.items() if key not in (strip_env or set())}
    env = {**inherited, **(extra_env or {}), "RUNCONFIG_JUPYTER_HOME": str(store.home)}
    # The driver imports this package; make sure it resolves to the same code as ours.
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def prewarm(store: RunStore | None = None, extra_targets: dict[str, dict[str, Any]] | None = None) -> int | None:
    """Start a standby driver before the first submit (``%load_ext`` calls this); its PID, or None. Never raises.

    It matches what a submit to ``local`` or ``docker`` would start (neither has a token of its own), so
    the first run of a session is warm too; anything else simply starts a fresh driver.
    """
    try:
        store = store or RunStore()
        env = driver_environment(
            store, None, other_targets_secrets(resolve_target("local", extra_targets), extra_targets)
        )
        if standby_seconds(env) <= 0:
            return None
        return ensure_standby(store.home, env, fingerprint(env))
    except Exception:  # a convenience: loading the extension must not fail because of it
        return None


def _spawn_driver(store: RunStore, run_id: str, env: dict[str, str], reattach: bool) -> int:
    argv = [sys.executable, "-m", "runconfig_jupyter.core.runs.driver", run_id]
    if reattach:
        argv.append("--reattach")
    run_dir = store.run_dir(run_id)
    return spawn_detached(argv, cwd=run_dir, env=env, log_path=run_dir / "logs" / "driver_log.txt").pid
