"""The run driver: one detached process per run that owns its lifecycle.

Started by ``submit`` in its own session, so the run keeps going (and its log
stays complete) when the kernel or server that submitted it dies or restarts.
It records every status change in the store; everything else (widgets, the
server, ``%logs -f``) only reads. ``SIGTERM`` means "cancel the run"; the
reason is read from the store, where ``ScriptRun.cancel`` left it.

    python -m runconfig_jupyter.core.runs.driver RUN_ID [--reattach]
    python -m runconfig_jupyter.core.runs.driver --standby FINGERPRINT   (see core/standby.py)

A submit starts it through core/runs/driver_entry.py, which warms the target up first.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import PreparationFailed, RunConfigError
from runconfig_jupyter.core.runs.folder import LOGS_DIR, PREPARE_LOG, STD_LOG, RunFolder
from runconfig_jupyter.core.runs.run_target import read_spec
from runconfig_jupyter.core.runs.script_env import (
    EXPERIMENT_ENV,
    RUN_ID_ENV,
    gives_mlflow_store,
    mlflow_environment,
    standing_environment,
)
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.secret_env import SecretFile, restore_config
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.site_free import capture, remember

if TYPE_CHECKING:
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.data.plan import DataPlan
    from runconfig_jupyter.core.runs.logsink import LogSink
    from runconfig_jupyter.core.target.interface import Outcome as OutcomeType

USER_CANCEL_REASON = "canceled by user"
RESERVE_FILE = ".space_reserve"  # freed when the script ends: room to record the outcome on a full disk
RESERVE_BYTES = 256 * 1024
DISK_FULL_BYTES = 1024 * 1024  # less free than this when a script failed: the disk is named as the cause


class DriverContext:
    """The ``RunContext`` handed to targets (see targets/base.py)."""

    def __init__(self, store: RunStore, run_id: str):
        self.store = store
        self.run_id = run_id
        self.run_dir = store.run_dir(run_id)
        self.folder = RunFolder(self.run_dir)
        self.spec: dict[str, Any] = read_spec(self.run_dir)
        launch = self.spec.get("launch")
        # What the target recorded to start the script without the configuration (``recorded_launch``, e.g.
        # the local target for a plain run): the config classes are then imported only if something asks.
        self.launch: dict[str, Any] | None = launch if isinstance(launch, dict) else None
        if self.launch is None:  # built now: a configuration or data plan that cannot be read fails the start
            self.config  # noqa: B018
            self.data_plan  # noqa: B018
        self.snapshot_path = self.folder.snapshot_path
        self.outputs_dir = self.folder.outputs_dir
        self.metrics_path = self.folder.metrics_path
        self.produced_outputs: dict[str, Path] = {}  # filled by the target (see TargetRunContext)
        self.cancel_event = threading.Event()
        self.cancel_reason: str | None = None
        self._sinks: dict[str, LogSink] = {}
        self._sink_lock = threading.Lock()
        self.outputs_dir.mkdir(parents=True, exist_ok=True)

    @functools.cached_property
    def config(self) -> ScriptRunConfig:
        """The run's configuration, as submitted (run.json holds placeholders for its secrets: restored here)."""
        from runconfig_jupyter.core.config import ScriptRunConfig

        config = ScriptRunConfig.from_dict(self.spec["config"])
        restore_config(config, SecretFile(self.store.home, self.run_id).read())
        return config

    @functools.cached_property
    def data_plan(self) -> DataPlan:
        """The data plan recorded at submit; empty when the run names no data (a recorded launch never has any)."""
        from runconfig_jupyter.core.data.plan import DataPlan

        return DataPlan.load(self.run_dir)

    def max_run_duration_seconds(self) -> float | None:
        limit = self.launch["max_run_duration_seconds"] if self.launch else self.config.max_run_duration_seconds
        return float(limit) if limit else None

    def run_variables(self) -> dict[str, Any]:
        """The run configuration's own ``environment_variables``."""
        return self.launch["environment_variables"] if self.launch else self.config.environment_variables()

    def environment(self) -> dict[str, str]:
        variables = self.run_variables()
        env = {str(k): str(v) for k, v in variables.items()}
        env.update(
            {
                RUN_ID_ENV: self.run_id,
                EXPERIMENT_ENV: self.spec["experiment"],
                # Azure ML v1 scripts read these; keep them working.
                "AZUREML_RUN_ID": self.run_id,
                "AZUREML_EXPERIMENT_NAME": self.spec["experiment"],
                **standing_environment(),
            }
        )
        if self.mlflow_tracking():
            env.update(mlflow_environment(self.spec["experiment"], variables))
        return env

    def mlflow_tracking(self) -> bool:
        """The runconfig's ``history.enable_mlflow_tracking`` (true unless turned off, as in Azure ML v1)."""
        if self.launch is not None:
            return bool(self.launch.get("mlflow_tracking", True))
        return bool(self.config.run_config.history.enable_mlflow_tracking)

    def gave_mlflow_store(self) -> bool:
        """Whether the script was pointed at the run's own MLflow store (tracking on, no URI of the user's)."""
        return self.mlflow_tracking() and gives_mlflow_store(self.run_variables())

    def log_path(self, name: str = STD_LOG) -> Path:
        return self.folder.log_path(name)

    def _sink(self, name: str) -> LogSink:
        with self._sink_lock:
            if name not in self._sinks:
                from runconfig_jupyter.core.runs.logsink import LogSink  # not before a log is written

                self._sinks[name] = LogSink(self.log_path(name), self.metrics_path, on_history=self.apply_history)
            return self._sinks[name]

    def apply_history(self, record: dict[str, Any]) -> None:
        """A history marker from the script (tags, properties, child runs); a bad one is logged, not fatal."""
        from runconfig_jupyter.core.runs.script_history import apply_marker

        try:
            apply_marker(self.store, self.run_id, record, owner_pid=os.getpid())
        except Exception as error:
            self.driver_log(f"ignored a run-history record from the script ({error}): {record!r}"[:2000])

    def write_log(self, data: bytes | str, name: str = STD_LOG) -> None:
        self._sink(name).feed(data)

    def prepare_log(self, line: str) -> None:
        self._sink(PREPARE_LOG).feed(line if line.endswith("\n") else line + "\n")

    def progress(self, phase: str, fraction: float | None = None, message: str = "") -> None:
        self.store.update(self.run_id, progress={"phase": phase, "fraction": fraction, "message": message})

    def record(self, **details: Any) -> None:
        self.store.update(self.run_id, details=details)

    def flush_logs(self) -> None:
        for sink in list(self._sinks.values()):
            sink.flush()

    def driver_log(self, message: str) -> None:
        """Best effort: diagnostics must never be what fails a run (a full disk)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            with open(self.folder.driver_log, "a", encoding="utf-8") as out:
                out.write(f"{stamp} {message}\n")
        except OSError:
            pass

    def log_failure(self) -> str | None:
        """Why the script's log could not be written (the first failure), if it could not.

        The preparation log is left out: a run whose image build output was cut short still ran fine.
        """
        sinks = [sink for name, sink in list(self._sinks.items()) if name != PREPARE_LOG]
        return next((sink.failure for sink in sinks if sink.failure), None)

    def reserve_space(self) -> None:
        """Hold a little disk space, given back when the run ends, so its outcome can still be recorded."""
        try:  # allocated, not written: no 256 KB of zeros copied and later written back on the run's path
            fd = os.open(self.run_dir / RESERVE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)  # glibc writes zeros where the file system cannot allocate
            finally:
                os.close(fd)
        except OSError:
            (self.run_dir / RESERVE_FILE).unlink(missing_ok=True)

    def release_space(self) -> None:
        (self.run_dir / RESERVE_FILE).unlink(missing_ok=True)

    def disk_full(self) -> bool:
        try:
            return shutil.disk_usage(self.run_dir).free < DISK_FULL_BYTES
        except OSError:
            return False


class Driver:
    def __init__(self, store: RunStore, run_id: str):
        from runconfig_jupyter.core.target.interface import ComputeTarget

        self.store = store
        self.ctx = DriverContext(store, run_id)
        self.target = ComputeTarget.from_spec(self.ctx.spec["target"])
        self._cancel_lock = threading.Lock()
        self._cancel_sent = False
        self._started = threading.Event()
        self._preparing_recorded = False
        self.ready_details: dict[str, Any] = {"driver_ready": True}  # recorded with the driver's PID, one write
        # Called once the script has started (or the run ended without starting it); a standby driver
        # starts its successor here, off the path between the submit and the script's first line.
        self.after_start: Callable[[], None] | None = None

    def _after_start(self) -> None:
        hook, self.after_start = self.after_start, None
        if hook is not None:
            try:
                hook()
            except Exception:  # a convenience for the next run: never this run's failure
                self.ctx.driver_log("after-start hook failed:\n" + _traceback_text())

    # -- cancel paths ------------------------------------------------------
    def request_cancel(self, reason: str) -> None:
        """Idempotent: the first reason wins (user cancel vs max duration racing)."""
        with self._cancel_lock:
            if self.ctx.cancel_event.is_set():
                return
            self.ctx.cancel_reason = reason
            self.ctx.cancel_event.set()
        self.ctx.driver_log(f"cancel requested: {reason}")
        self.store.set_status(self.ctx.run_id, RunStatus.CANCEL_REQUESTED, reason=reason)
        if self._started.is_set():
            self._send_cancel()

    def _send_cancel(self) -> None:
        with self._cancel_lock:
            if self._cancel_sent:
                return
            self._cancel_sent = True
        threading.Thread(target=self._cancel_target, daemon=True).start()

    def _cancel_target(self) -> None:
        try:
            self.target.cancel(self.ctx, self.ctx.cancel_reason or USER_CANCEL_REASON)
        except Exception:  # the run must still end; record why cancel misbehaved
            self.ctx.driver_log("target.cancel failed:\n" + _traceback_text())

    def _on_sigterm(self, _signum: int, _frame: Any) -> None:
        # A signal handler runs between two bytecodes of the main thread, possibly inside one of its store
        # transactions on the same connection: touching the store here would nest transactions and break the
        # interrupted one. The cancel is handed to a thread (its own connection), like the deadline watcher's.
        threading.Thread(target=self._cancel_from_signal, name="sigterm-cancel", daemon=True).start()

    def _cancel_from_signal(self) -> None:
        reason = self.store.get(self.ctx.run_id).reason or USER_CANCEL_REASON
        self.request_cancel(reason)

    def _watch_deadline(self, remaining: float, limit: float) -> None:
        if not self.ctx.cancel_event.wait(remaining):
            self.request_cancel(f"max_run_duration_seconds ({limit:g} s) exceeded")

    # -- lifecycle ---------------------------------------------------------
    def run(self, reattach: bool = False) -> RunStatus:
        """Drive the run to a terminal status.

        The terminal status is written only after ``cleanup`` has run, so anyone who
        sees Completed/Failed/Canceled can rely on the target having released its
        process, container or kernel.
        """
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ctx = self.ctx
        ctx.reserve_space()
        # A cancel that arrived before the SIGTERM handler existed is only in the store: the row as it was when the
        # driver said it is ready, in the same transaction that moves a queued run on to Preparing (one write).
        early = self.store.update(
            ctx.run_id,
            advance=None if reattach else (RunStatus.QUEUED, RunStatus.PREPARING),
            driver_pid=os.getpid(),
            driver_started=proc.start_mark(os.getpid()),
            details=self.ready_details,
        )
        assert early is not None
        self._preparing_recorded = not reattach and early.status == RunStatus.QUEUED
        if early.status == RunStatus.CANCEL_REQUESTED:
            self.request_cancel(early.reason or USER_CANCEL_REASON)
        try:
            status, phase, reason, exit_code = self._lifecycle(reattach)
        finally:
            self._after_start()  # not called yet when the run ended before its script started
            ctx.release_space()
            ctx.flush_logs()
            try:
                self.target.cleanup(ctx)
            except Exception:
                ctx.driver_log("cleanup failed:\n" + _traceback_text())
        return self._finish(status, phase, reason, exit_code)

    def _lifecycle(self, reattach: bool) -> tuple[RunStatus, str, str | None, int | None]:
        ctx, run_id = self.ctx, self.ctx.run_id
        phase = "Preparing"
        try:
            if reattach:
                phase = "Running"
                ctx.driver_log("re-attaching")
                if not self.target.reattach(ctx):
                    return RunStatus.FAILED, phase, "the run's process is gone (driver restart)", None
                self._started.set()
            elif ctx.cancel_event.is_set():
                return RunStatus.CANCELED, "Queued", ctx.cancel_reason, None
            else:
                if not self._preparing_recorded:  # (it was, with the driver's readiness, for a queued run)
                    self.store.set_status(run_id, RunStatus.PREPARING)
                self.target.prepare(ctx)
                if ctx.cancel_event.is_set():
                    return RunStatus.CANCELED, phase, ctx.cancel_reason, None
                phase = "Starting"
                self.store.set_status(run_id, RunStatus.STARTING)
                self.target.start(ctx)
                self._started.set()
                self._after_start()
            phase = "Running"
            if ctx.cancel_event.is_set():
                self._send_cancel()
            else:
                self.store.set_status(run_id, RunStatus.RUNNING)
            limit = ctx.max_run_duration_seconds()
            if limit:
                started = self.store.get(run_id).started_at or time.time()
                remaining = max(0.0, limit - (time.time() - started))
                threading.Thread(target=self._watch_deadline, args=(remaining, limit), daemon=True).start()
            outcome = self.target.wait(ctx)
            full = ctx.disk_full()  # asked before the reserve is given back
            ctx.release_space()
            ctx.flush_logs()
            outcome = self._blame_the_disk(outcome, full)
            phase = "Finalizing"
            if self.store.get(run_id).status != RunStatus.CANCEL_REQUESTED:
                self.store.set_status(run_id, RunStatus.FINALIZING)
            collect_error = self._collect()
            status, reason, phase = outcome.status, outcome.reason, outcome.phase
            if ctx.cancel_event.is_set() and status != RunStatus.COMPLETED:
                status, reason = RunStatus.CANCELED, ctx.cancel_reason
            upload_error = self._deliver_outputs(status)
            if upload_error:  # the outputs are what the run was for: a failed upload is the run's failure
                collect_error = f"{collect_error}; {upload_error}" if collect_error else upload_error
            if collect_error and status == RunStatus.COMPLETED:
                # The script succeeded: say so, and that only the collection failed (phase Finalizing).
                code = outcome.exit_code
                status, phase = RunStatus.FAILED, "Finalizing"
                reason = f"the script completed (exit code {code}) but collecting its outputs failed: {collect_error}"
            elif collect_error:
                reason = f"{reason}; collecting its outputs failed too: {collect_error}"
            return status, phase, reason, outcome.exit_code
        except PreparationFailed as error:
            return RunStatus.FAILED, error.phase, str(error), None
        except RunConfigError as error:
            return RunStatus.FAILED, phase, str(error), None
        except Exception as error:
            ctx.driver_log(_traceback_text())
            return RunStatus.FAILED, phase, f"{type(error).__name__}: {error}", None

    def _blame_the_disk(self, outcome: OutcomeType, full: bool) -> OutcomeType:
        """A log that could not be written, or a failed script on a full disk: the run says so (phase Running)."""
        from runconfig_jupyter.core.target.interface import Outcome

        failure = self.ctx.log_failure()
        if failure is None and full and outcome.status == RunStatus.FAILED and not self.ctx.cancel_event.is_set():
            failure = f"no space left on device writing {LOGS_DIR}/{STD_LOG}"
        if failure is None:
            return outcome
        script = f"the script exited with code {outcome.exit_code}" if outcome.exit_code is not None else None
        reason = f"{failure} ({script})" if script else failure
        return Outcome(RunStatus.FAILED, exit_code=outcome.exit_code, reason=reason, phase="Running")

    def _collect(self) -> str | None:
        """Collect outputs; a failure is returned (never raised) so the script's own outcome survives it."""
        try:
            self.target.collect(self.ctx)
        except Exception as error:
            self.ctx.driver_log("collect failed:\n" + _traceback_text())
            return str(error) if isinstance(error, RunConfigError) else f"{type(error).__name__}: {error}"
        return None

    def _deliver_outputs(self, status: RunStatus) -> str | None:
        """Upload each output to its datastore (core/data/outputs.py), also after a failure or cancel.

        A failure is returned like a collection failure: the script's own outcome is kept and the reason says so.
        Outputs of a completed run named with ``register_on_complete`` become datasets once uploaded.
        """
        if not self.ctx.data_plan.outputs:
            return None
        from runconfig_jupyter.core.data.outputs import finish_outputs

        try:
            error = finish_outputs(self.ctx, status.value)
            if error is None and status == RunStatus.COMPLETED:
                from runconfig_jupyter.core.data.dataset import register_outputs

                register_outputs(self.ctx.data_plan, self.store.home)
        except Exception as error:
            self.ctx.driver_log("uploading outputs failed:\n" + _traceback_text())
            return str(error) if isinstance(error, RunConfigError) else f"{type(error).__name__}: {error}"
        return error

    def _finish(self, status: RunStatus, phase: str, reason: str | None, exit_code: int | None = None) -> RunStatus:
        requested = self.store.get(self.ctx.run_id).details.get("requested_end")
        if requested and status in (RunStatus.COMPLETED, RunStatus.CANCELED):
            # run.fail()/cancel() called by the script, or run.fail() from the notebook (stopped like a cancel)
            status, reason = RunStatus(requested["status"]), requested.get("reason") or reason
        self.ctx.driver_log(f"finished: {status} phase={phase} exit_code={exit_code} reason={reason}")
        self._settle_history(status, reason)
        self.store.set_status(
            self.ctx.run_id,
            status,
            reason=reason if status != RunStatus.COMPLETED else None,
            phase=phase if status != RunStatus.COMPLETED else None,
            exit_code=exit_code,
        )
        return status

    def _settle_history(self, status: RunStatus, reason: str | None) -> None:
        """Index what the script recorded in the run folder, and end child runs it left open."""
        from runconfig_jupyter.core.runs.history import index_history, read_history
        from runconfig_jupyter.core.runs.interactive import settle_children

        self._import_mlflow()
        requests: list[dict[str, Any]] = []
        try:
            history = read_history(self.ctx.run_dir)
            requests = history["model_requests"]
            index_history(self.store, self.ctx.run_id, history)
            for child in settle_children(self.store, self.ctx.run_id, status, reason):
                self.ctx.driver_log(f"child run {child} was still open: ended {status.value} with this run")
        except Exception:
            self.ctx.driver_log("could not settle run history:\n" + _traceback_text())
        if not requests:  # most runs: no model registry, no run handle to load
            self.ctx.flush_logs()
            return
        from runconfig_jupyter.core.runs.model_requests import register_requested_models

        try:  # in-script run.register_model(...): the outputs are collected now
            done, errors = register_requested_models(self.store, self.ctx.run_id, requests)
        except Exception as error:
            done, errors = [], [str(error)]
        for model_id in done:
            self.ctx.driver_log(f"registered model {model_id} (run.register_model in the script)")
        for error in errors:  # in the run's own log, where the user looks
            self.ctx.driver_log(f"model registration failed: {error}")
            self.ctx.write_log(f"runconfig: model registration failed: {error}\n")
        self.ctx.flush_logs()

    def _import_mlflow(self) -> None:
        """What the script logged through MLflow into the run's own store becomes the run's metrics and tags.

        Only when the store exists (a run that never used MLflow pays one ``lstat``) and the driver pointed the
        script at it (tracking on, no tracking URI of the run configuration's own: a store the user chose is not
        imported); whatever goes wrong is a line in the driver log: the run's outcome is the script's.
        """
        store_file = self.ctx.folder.mlflow_store
        if not os.path.lexists(store_file) or not self.ctx.gave_mlflow_store():
            return
        from runconfig_jupyter.core.runs.mlflow_import import import_mlflow_store

        try:
            for line in import_mlflow_store(self.store, self.ctx.run_id, store_file):
                self.ctx.driver_log(line)
        except Exception as error:
            self.ctx.driver_log(
                f"could not import the run's MLflow store {store_file}: {type(error).__name__}: {error}"
            )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    if args[0] == "--standby":
        remember(capture())  # a standby waits anyway: the next driver or standby can start without site
        return standby_main(args[1] if len(args) > 1 else "")
    store, reattach = RunStore(), "--reattach" in args
    if not reattach:
        warm_up_target(store, args[0])
    return drive(store, args[0], reattach=reattach)


def warm_up_target(store: RunStore, run_id: str) -> None:
    """A fresh driver gives its target's ``warm_up`` a head start, as a standby would have done ahead.

    Called before the run's context is built, so whatever the target starts in the background (the
    local target's spare supervisor boots its interpreter) overlaps with the rest of this driver's start.
    Never fails the run: a target that cannot load fails in ``Driver`` with its own error.
    """
    from runconfig_jupyter.core.target.plugins import target_class

    try:
        target_class(str(read_spec(store.run_dir(run_id))["target"]["type"])).warm_up()
    except Exception:
        pass


def standby_main(print_: str) -> int:
    """Wait warm for a run id (core/standby.py), then drive that run exactly as a fresh driver would."""
    from runconfig_jupyter.core.runs.standby import become_driver, standby_seconds, start_successor, wait_for_run
    from runconfig_jupyter.core.system.paths import run_home

    home = run_home()
    env = dict(os.environ)  # what this standby was started with: its successor gets the same
    # The index is opened while nobody waits (its folders, WAL mode, schema: ~0.5 ms that were on the run's path
    # after the claim); a connection is kept per thread and reopened if runs.db is replaced meanwhile.
    store = RunStore(home)
    run_id = wait_for_run(home, print_, standby_seconds())
    if run_id is None:
        return 0
    become_driver(home, run_id)
    with open(RunFolder(store.run_dir(run_id)).driver_log, "a", encoding="utf-8") as out:
        out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} warm standby driver {os.getpid()} took the run\n")
    return drive(store, run_id, after_start=lambda: start_successor(home, env, print_))


def drive(store: RunStore, run_id: str, reattach: bool = False, after_start: Callable[[], None] | None = None) -> int:
    """Drive one run; ``after_start`` is given by a standby driver (it marks the run as served by one)."""
    try:
        driver = Driver(store, run_id)
        driver.after_start = after_start
        if after_start is not None:
            driver.ready_details["standby_driver"] = True
    except Exception as error:  # the context itself could not be built: record it, do not vanish
        _record_failure(store, run_id, "Preparing", f"driver could not start: {error}")
        return 1
    try:
        driver.run(reattach=reattach)
    except Exception as error:  # e.g. the outcome could not be recorded: say where the run was
        try:
            phase = store.get(run_id).status.value
        except Exception:
            phase = "Running"
        _record_failure(store, run_id, phase, f"the run driver failed: {type(error).__name__}: {error}")
        return 1
    store.checkpoint()  # after the end is recorded: whoever waited for it exits without doing this
    return 0


def _record_failure(store: RunStore, run_id: str, phase: str, reason: str) -> None:
    print(_traceback_text(), end="", file=sys.stderr)
    try:
        store.set_status(run_id, RunStatus.FAILED, phase=phase, reason=reason)
    except Exception:  # nothing can be written: the next reader finds a dead driver and settles the run
        print(_traceback_text(), end="", file=sys.stderr)


def _traceback_text() -> str:
    """The exception being handled, as Python prints it; ``traceback`` (and textwrap) only load for a failure."""
    import traceback

    return traceback.format_exc()


if __name__ == "__main__":
    sys.exit(main())
