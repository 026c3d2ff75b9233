"""Starting run drivers: the detached process that owns a run's lifecycle (core/runs/driver.py).

Two callers start drivers: ``submit`` (a new run) and ``settle`` (a new driver that re-attaches to a
run whose driver died). Both come here, so neither needs the other: ``settle`` must not import the
submit machinery, which imports the run handle, which waits through ``settle``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.standby import (
    STANDBY_DELAY_SECONDS,
    claim,
    ensure_standby,
    fingerprint,
    standby_seconds,
)
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.core.system.site_free import module_command
from runconfig_jupyter.core.target.configured import resolve_target

if TYPE_CHECKING:
    from runconfig_jupyter.core.target.interface import ComputeTarget


def other_targets_secrets(compute: ComputeTarget) -> set[str]:
    """Token variables of every configured target except this run's own.

    The driver (and through it a local script) inherits the submitting kernel's
    environment, which holds any token typed at a %submit prompt; a run must not
    carry another target's secret.
    """
    from runconfig_jupyter.core.target.configured import configured_targets

    try:
        specs = configured_targets()
    except Exception:  # a broken targets.yaml was already reported by resolve_target
        return set()
    names = {str(spec["token_env"]) for spec in specs.values() if spec.get("token_env")}
    return names - {compute.to_spec().get("token_env")}


def start_driver(
    store: RunStore,
    run_id: str,
    extra_env: dict[str, str] | None = None,
    reattach: bool = False,
    strip_env: set[str] | None = None,
    target_type: str | None = None,
    head_start: str | None = None,
) -> int:
    """Launch the detached driver, or hand the run to a warm standby one; output goes to logs/driver_log.txt.

    ``target_type`` (the submitter's resolved target) lets a fresh driver warm its target up before it
    imports the rest of itself (core/runs/driver_entry.py); its ``head_start`` (ComputeTarget.head_start)
    runs even before that.
    """
    env = driver_environment(store, extra_env, strip_env)
    warm = not reattach and standby_seconds(env) > 0
    print_ = fingerprint(env) if warm else ""

    # A warm standby started with this very environment takes the run (core/standby.py) ...
    def record_driver(pid: int) -> None:  # so a driver that dies before recording itself is noticed (settle)
        store.update(run_id, driver_pid=pid, driver_started=proc.start_mark(pid))

    pid = claim(store.home, print_, run_id, before_handover=record_driver) if warm else None
    claimed = pid is not None
    if pid is None:
        pid = _spawn_driver(store, run_id, env, reattach, target_type, head_start)
        record_driver(pid)
    # ... and one is kept waiting for the next submit: a claimed standby starts its own successor once
    # the script runs (core/runs/standby.py start_successor); a fresh driver's is started here.
    if warm and not claimed:
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


def prewarm(store: RunStore | None = None) -> int | None:
    """Start a standby driver before the first submit (``%load_ext`` calls this); its PID, or None. Never raises.

    It matches what a submit to ``local`` or ``docker`` would start (neither has a token of its own), so
    the first run of a session is warm too; anything else simply starts a fresh driver.
    """
    try:
        store = store or RunStore()
        env = driver_environment(store, None, other_targets_secrets(resolve_target("local")))
        if standby_seconds(env) <= 0:
            return None
        return ensure_standby(store.home, env, fingerprint(env))
    except Exception:  # a convenience: loading the extension must not fail because of it
        return None


def _spawn_driver(
    store: RunStore,
    run_id: str,
    env: dict[str, str],
    reattach: bool,
    target_type: str | None = None,
    head_start: str | None = None,
) -> int:
    if reattach or not target_type:
        args = [run_id, "--reattach"] if reattach else [run_id]
        argv = module_command("runconfig_jupyter.core.runs.driver", args, env)
    else:
        args = [run_id, target_type, *([head_start] if head_start else [])]
        argv = module_command("runconfig_jupyter.core.runs.driver_entry", args, env)
    run_dir = store.run_dir(run_id)
    return spawn_detached(argv, cwd=run_dir, env=env, log_path=RunFolder(run_dir).driver_log).pid
