"""``Workspace``, ``Experiment`` and ``ScriptRun``: the v1 run API over the run store.

The three name each other as Azure's object graph does (``ws.experiments``, ``exp.workspace``, ``exp.submit``
-> run, ``run.experiment``), and each can be made from nothing (``Experiment("x")``, ``Run(run_id)``), so
each must be able to build the others: they live in this one module so that no import goes in a circle.
Everything below them (models, compute targets, the in-script context, the data layer) reaches them only
through an instance it was given (``ws.get_run(...)``, ``run.experiment.workspace``) or a factory passed in
(``Run.get_context()`` hands ``Experiment`` to the in-script context).

A ScriptRun is only a handle (run id + store): any process can make one with
``Run.get(run_id)`` and see the same run, which is how a notebook re-attaches
after a kernel restart. Run history (tags, properties, details, children) comes
from ``RunHistory`` (run_history.py); interactive runs (``Experiment.start_logging``)
are the same handle over a run whose owner is the notebook's own process (interactive.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runconfig_jupyter.core.azure_only import PORTAL, SECRETS, azure_only, azure_only_property
from runconfig_jupyter.core.errors import ConfigError, RunFailed, RunNotFound, RunStateError
from runconfig_jupyter.core.registries.home import CONFIG_FILE, LOCAL_NAME, find_config
from runconfig_jupyter.core.runs.artifacts import artifact_name
from runconfig_jupyter.core.runs.folder import STD_LOG, RunFolder
from runconfig_jupyter.core.runs.names import EXPERIMENT_NAME, check_experiment_name
from runconfig_jupyter.core.runs.run_history import RunHistory
from runconfig_jupyter.core.runs.status import TERMINAL, RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore, driver_alive, is_interactive
from runconfig_jupyter.core.safety.secret_env import SecretFile, restore_config
from runconfig_jupyter.core.system.paths import run_home
from runconfig_jupyter.core.system.watch import FALLBACK_SECONDS, Watch, record_watch, run_watch

HOME_MLFLOW_DIR = "mlflow"  # the notebook's MLflow store (get_mlflow_tracking_uri): mlflow.db or mlruns/
HOME_MLFLOW_DB = "mlflow.db"
HOME_MLFLOW_FILES = "mlruns"

if TYPE_CHECKING:
    from runconfig_jupyter.core.compute import ComputeTarget as ConfiguredTarget
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.config.environment import Environment
    from runconfig_jupyter.core.data.datastore import Datastore
    from runconfig_jupyter.core.data.reference import DataPath
    from runconfig_jupyter.core.model import Model
    from runconfig_jupyter.core.target.interface import ComputeTarget

# How long ``fail()`` waits for the driver to stop a submitted script and record Failed (a docker stop takes 10 s).
FAIL_WAIT_SECONDS = 60.0


class ScriptRun(RunHistory):
    """A run handle. Cheap to create; every call reads the store afresh.

    ``ScriptRun(run_id)``, or Azure's ``Run(experiment, run_id)`` (the run must belong to that experiment).
    """

    def __init__(
        self,
        *args: Any,
        store: RunStore | None = None,
        experiment: Experiment | None = None,
        run_id: str | None = None,
        **_azure_kwargs: Any,
    ):
        if len(args) > 2:
            raise TypeError("Run(experiment, run_id) or Run(run_id)")
        if len(args) == 2:
            experiment, run_id = args
        elif len(args) == 1 and isinstance(args[0], Experiment):
            experiment = args[0]
        elif len(args) == 1:
            run_id = args[0]
        if run_id is None:
            raise TypeError("Run needs a run id: Run(experiment, run_id) or Run.get(run_id)")
        if not run_id:  # given, but empty: the same typed refusal as any other text that is not a run id
            raise ConfigError("a run id is needed, e.g. Run.get('exp_1700000000_0a1b2c3d')", field="run_id")
        if store is None and isinstance(experiment, Experiment):
            store = experiment.store
        self.store = store or RunStore()
        self.id = str(run_id)
        self.run_dir = self.store.run_dir(self.id)
        self.folder = RunFolder(self.run_dir)
        self._record = self.store.get(self.id)  # raises RunNotFound early
        wanted = getattr(experiment, "name", experiment)
        if wanted is not None and wanted != self._record.experiment:
            raise RunNotFound(
                f"run {self.id} belongs to experiment '{self._record.experiment}', not '{wanted}'; "
                f"use Run(Experiment(ws, '{self._record.experiment}'), '{self.id}') or Run.get(ws, '{self.id}')"
            )

    @classmethod
    def get(cls, *args: Any, store: RunStore | None = None) -> ScriptRun:
        """``Run.get(run_id)``; Azure's ``Run.get(workspace, run_id)`` form is accepted too."""
        if not args:
            raise TypeError("Run.get(run_id) needs a run id")
        if store is None and len(args) > 1:  # Run.get(workspace, run_id): that workspace's run home
            store = getattr(args[0], "store", None)
        return cls(str(args[-1]), store=store)

    # -- state -----------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        """The run's row as stored now. A plain read: it never starts or stops a process (core/runs/settle.py)."""
        self._record = self.store.get(self.id)
        return self._record

    @property
    def run_id(self) -> str:
        """The run's id under the name v1's run records had (``compute.get_active_runs()`` gave those)."""
        return self.id

    @property
    def experiment(self) -> Experiment:
        """The run's ``Experiment`` (``run.experiment.name`` is its name, as in Azure)."""
        return Experiment(name=self._record.experiment, store=self.store)

    @property
    def status(self) -> str:
        return self.get_status()

    def get_status(self) -> str:
        return self.record.status.value

    def get_spec(self) -> dict[str, Any]:
        from runconfig_jupyter.core.runs.run_target import read_spec  # with the target layer: not for a handle

        return read_spec(self.run_dir)

    def get_config(self) -> ScriptRunConfig:
        from runconfig_jupyter.core.config import ScriptRunConfig

        return ScriptRunConfig.from_dict(self.get_spec()["config"])

    def _log_paths(self) -> dict[str, Path]:
        return self.folder.log_files()

    # -- control ---------------------------------------------------------
    def cancel(self, reason: str = "canceled by user") -> bool:
        """Ask the driver to stop the run; returns False when it had already finished.

        An action, not a read: it settles the run first (core/runs/settle.py), so a run whose driver died
        gets a driver that re-attaches and stops what is still running, instead of a Canceled row over an
        orphan container or script.
        """
        from runconfig_jupyter.core.runs.settle import settle  # drivers and targets: not for a mere handle

        settle(self.store, self.id)
        record = self.record
        if record.is_terminal:
            return False
        if is_interactive(record):  # its owner is a notebook, not a driver: never signal that process
            return self._finish_interactive(RunStatus.CANCELED, reason)
        self.store.set_status(self.id, RunStatus.CANCEL_REQUESTED, reason=reason)
        # Read again after writing: a driver that set driver_ready before our write is
        # listening for SIGTERM; one that sets it later reads CancelRequested itself.
        record = self.store.get(self.id)
        if record.driver_pid and driver_alive(record) and not record.details.get("driver_ready"):
            return True
        if record.driver_pid and driver_alive(record):
            try:
                os.kill(record.driver_pid, signal.SIGTERM)
                return True
            except ProcessLookupError:
                pass
        return self.store.set_status(self.id, RunStatus.CANCELED, reason=reason, phase=record.status.value)

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        timeout: float | None = None,
        stream: TextIO | None = None,
    ) -> dict[str, Any]:
        """Block until the run ends; with ``show_output`` the log is echoed as it grows."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = stream or sys.stdout
        if is_interactive(self.record) and not self._record.is_terminal and self._owned_here():
            raise RunStateError(
                f"interactive run {self.id} ends when this process calls run.complete() (or run.fail()); "
                "waiting for it here would wait forever"
            )
        from runconfig_jupyter.core.runs.settle import settler  # drivers and targets: not for a mere handle

        if show_output:
            out.write(f"RunId: {self.id}\n")
            for chunk in self.follow(timeout=timeout):
                out.write(chunk)
                out.flush()
        settle_due = settler(self.store, self.id)  # a wait to the end settles the run (core/runs/settle.py)
        # Before the first look, so no change after it is missed. The end is a store write, which replaces the
        # run's record.json: neither the logs nor other runs' writes to the store wake this wait.
        with record_watch(self.run_dir) as watch:
            settle_due()
            if not self.record.is_terminal:
                self.prepare_details()  # while the run goes on: the details returned below are then quick to make
            while not self.record.is_terminal:
                left = FALLBACK_SECONDS if deadline is None else deadline - time.monotonic()
                if left < 0:
                    raise TimeoutError(f"run {self.id} still {self._record.status.value} after {timeout} s")
                watch.wait(min(left, FALLBACK_SECONDS if watch.active else 0.1))
                settle_due()
        record = self._record
        if show_output:
            out.write(f"\nExecution Summary\n=================\nRunId: {self.id}\nStatus: {record.status.value}\n")
            if record.reason:
                out.write(f"Reason: {record.reason}\n")
        if raise_on_error and record.status != RunStatus.COMPLETED:
            raise RunFailed(self.id, record.status.value, record.phase, record.reason)
        return self.get_details()

    # -- logs ------------------------------------------------------------
    def read_log(self, offset: int = 0, max_bytes: int | None = None, name: str = STD_LOG) -> tuple[str, int]:
        """Text from byte ``offset`` (whole lines while the run goes on, see log_cursor.py) and the next offset."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigError(f"must be a byte offset (a whole number >= 0), got {offset!r}", field="offset")
        from runconfig_jupyter.core.runs.log_cursor import LogCursor  # logs only when asked: not on a plain wait

        cursor = LogCursor(self.folder, names=(name,), offsets={name: offset}, max_bytes=max_bytes)
        chunk = cursor.poll(lambda: self.record).chunks[0]
        return chunk.text, chunk.next_offset

    def follow(
        self, offsets: dict[str, int] | None = None, poll: float = 0.05, timeout: float | None = None
    ) -> Iterator[str]:
        """Yield new log text (preparation, then the script's) until the run ends and all is read.

        New text and the run's end wake it at once (inotify, core/watch.py); ``poll`` is how often it
        looks where events are not available, and it looks at least every ``FALLBACK_SECONDS`` anyway.
        ``offsets`` is updated in place, so a caller can stop and resume without repeats.
        """
        from runconfig_jupyter.core.runs.log_cursor import LogCursor, follow_texts  # logs only when asked
        from runconfig_jupyter.core.runs.settle import settler

        cursor = LogCursor(self.folder, offsets=offsets if offsets is not None else {})
        settle_due = settler(self.store, self.id)  # a wait to the end settles the run (core/runs/settle.py)

        def status() -> RunRecord:
            settle_due()
            return self.record

        with self._watch() as watch:

            def wait(left: float | None) -> None:
                longest = max(poll, FALLBACK_SECONDS) if watch.active else poll
                watch.wait(min(longest, FALLBACK_SECONDS if left is None else left))

            yield from follow_texts(cursor, status, wait, timeout)

    def _watch(self) -> Watch:
        """Wakes on a change of this run's record or logs (core/watch.py); sleeps where that is not possible."""
        return run_watch(self.store.home, self.run_dir)

    def get_log(self) -> str:
        """The preparation log and the script's, as they are now (whole lines while the run goes on)."""
        from runconfig_jupyter.core.runs.log_cursor import LogCursor  # logs only when asked

        cursor = LogCursor(self.folder)
        return cursor.poll(lambda: self.record).text

    # -- metrics ---------------------------------------------------------
    def get_metric_records(self) -> list[dict[str, Any]]:
        return self.folder.metric_records()

    def get_metrics(
        self, name: str | None = None, recursive: bool = False, run_type: str | None = None, populate: bool = False
    ) -> dict[str, Any]:
        """Azure's shape: a scalar logged once is a value, several times a list; rows become columns.

        With ``recursive``, a dict of run id -> metrics for this run and every descendant (``run_type`` filters).
        """
        if recursive:
            family = [self, *self.get_children(recursive=True)]
            return {run.id: run.get_metrics(name) for run in family if run_type is None or run.type == run_type}
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in self.get_metric_records():
            if name is None or record.get("name") == name:
                grouped.setdefault(record["name"], []).append(record)
        metrics: dict[str, Any] = {}
        for metric, records in grouped.items():
            kind = records[0].get("kind", "scalar")
            if kind == "row":
                columns: dict[str, list[Any]] = {}
                for record in records:
                    for key, value in record["value"].items():
                        columns.setdefault(key, []).append(value)
                metrics[metric] = columns
            elif kind in ("list", "table"):
                metrics[metric] = records[-1]["value"]
            else:
                values = [record["value"] for record in records]
                metrics[metric] = values[0] if len(values) == 1 else values
        return metrics

    # -- files -----------------------------------------------------------
    def _get_outputs_datapath(self) -> DataPath:
        """v1's (private, but used by its resume-training sample) ``DataPath`` of this run's ``outputs``: on the
        read-only ``workspaceartifactstore`` datastore (the run home's ``runs`` folder), ready for
        ``create_data_reference`` or ``resume_from``."""
        from runconfig_jupyter.core.data.datastore import Datastore
        from runconfig_jupyter.core.data.reference import DataPath as OutputsPath
        from runconfig_jupyter.core.data.stores import ARTIFACT_DATASTORE

        return OutputsPath(Datastore.get(self.experiment.workspace, ARTIFACT_DATASTORE), f"{self.id}/outputs")

    def get_file_names(self) -> list[str]:
        """outputs/, logs/ and what the script uploaded (``upload_file`` names, see core/artifacts.py)."""
        return [artifact_name(relative) for relative, _size in self.folder.files()]

    def _resolve_file(self, name: str) -> Path:
        path = (self.run_dir / name).resolve()
        if not path.is_file():  # an uploaded artifact is listed by its own name
            path = (self.folder.artifacts_dir / name).resolve()
        if not path.is_relative_to(self.run_dir.resolve()) or not path.is_file():
            available = ", ".join(self.get_file_names()[:20]) or "none yet"
            raise RunNotFound(f"run {self.id} has no file '{name}'. Files: {available}")
        return path

    def download_file(self, name: str, output_file_path: str | Path | None = None) -> Path:
        source = self._resolve_file(name)
        destination = Path(output_file_path) if output_file_path else Path.cwd() / Path(name).name
        if destination.is_dir():
            destination = destination / source.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return destination

    def download_files(
        self, prefix: str | None = None, output_directory: str | Path | None = None, append_prefix: bool = True
    ) -> list[Path]:
        names = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        if not names and prefix:
            raise RunNotFound(f"run {self.id} has no files under '{prefix}'")
        root = Path(output_directory) if output_directory else Path.cwd()
        written = []
        for name in names:
            relative = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            written.append(self.download_file(name, root / relative))
        return written

    def outputs_dir(self) -> Path:
        return self.folder.outputs_dir

    def rerun(self, experiment: str | None = None) -> ScriptRun:
        """Submit the same configuration again as a new run (its paths go through the confinement check again)."""
        record = self.record
        if not record.is_terminal and record.status != RunStatus.RUNNING:
            raise RunStateError(f"run {self.id} is still {record.status.value}; re-run it once it has started")
        spec = self.get_spec()
        if not spec.get("config"):
            raise RunStateError(f"run {self.id} is an interactive run: there is no script to run again")
        config = self.get_config()
        restore_config(config, SecretFile(self.store.home, self.id).read())  # secret values are not in run.json
        # The target as recorded, not looked up by name: a target registered only in the submitting
        # notebook is unknown to the Jupyter server that re-runs from the sidebar (core/runs/run_target.py).
        from runconfig_jupyter.core.runs.run_target import recorded_target

        again = submit(
            config,
            experiment or record.experiment,
            target=recorded_target(spec, record.target),
            store=self.store,
            parent_run_id=self.id,
        )
        self.store.update(again.id, details={"rerun_of": self.id})
        return again

    # -- ending a run from the notebook (Azure: complete / fail) --------------------
    def _owned_here(self) -> bool:
        return self._record.details.get("owner_pid") == os.getpid()

    def _finish_interactive(self, status: RunStatus, reason: str | None = None) -> bool:
        from runconfig_jupyter.core.runs.interactive import finish_interactive

        ended = finish_interactive(self, status, reason)
        self._record = self.store.get(self.id)  # this handle's repr shows the run as ended, as v1's did
        return ended

    def complete(self, _set_status: bool = True) -> None:
        """End an interactive run as Completed (copying its tracked outputs); a submitted run ends by itself."""
        record = self.record
        if record.is_terminal:
            return
        if not is_interactive(record):
            raise RunStateError(
                f"run {self.id} was submitted: it completes when its script exits. Use cancel() to stop it, "
                "or wait_for_completion() to wait for it"
            )
        self._finish_interactive(RunStatus.COMPLETED)

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        """Mark the run Failed; a submitted run that is still going is stopped first (its driver records Failed)."""
        reason = str(error_details) if error_details else "marked as failed by user"
        if error_code:
            reason = f"{error_code}: {reason}"
        record = self.record
        if record.is_terminal:
            return
        if is_interactive(record):
            self._finish_interactive(RunStatus.FAILED, reason)
            return
        self.store.update(self.id, details={"requested_end": {"status": RunStatus.FAILED.value, "reason": reason}})
        if self.cancel(reason):
            # v1's fail() recorded the end before it returned, so a notebook reads Failed right after it: wait
            # (bounded) for the driver to stop the script and record it.
            try:
                self.wait_for_completion(raise_on_error=False, timeout=FAIL_WAIT_SECONDS)
            except TimeoutError:
                pass  # still stopping: the driver records Failed once the script has stopped

    # -- child runs and models -------------------------------------------------------
    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> ScriptRun:
        """An interactive child run, owned by this process (``with run.child_run() as child:`` completes it)."""
        from runconfig_jupyter.core.runs.interactive import start_interactive

        child_id = start_interactive(
            self.store,
            self._record.experiment,
            parent_run_id=self.id,
            display_name=name,
            run_id=run_id,
            outputs=outputs,
        )
        return ScriptRun(child_id, store=self.store)

    def create_children(
        self, count: int | None = None, tag_key: str | None = None, tag_values: list[Any] | None = None
    ) -> list[ScriptRun]:
        """Several child runs at once; with ``tag_key``/``tag_values`` each child gets one value."""
        from runconfig_jupyter.core.runs.context import create_children

        return create_children(self, count, tag_key, tag_values)

    def take_snapshot(self, file_or_folder_path: str | os.PathLike[str]) -> str:
        """Package a folder (ignore rules and limits as for a submit) as this run's snapshot; its id."""
        from runconfig_jupyter.core.snapshot.create import SnapshotLimits
        from runconfig_jupyter.core.snapshot.stored import store_snapshot

        snapshot = store_snapshot(
            Path(file_or_folder_path),
            self.store.snapshots_dir,
            SnapshotLimits.from_env(),
            extra_excludes=[self.store.home],
        )
        self.folder.link_snapshot(snapshot.path)
        self.store.update(self.id, snapshot_id=snapshot.id)
        return snapshot.id

    def submit_child(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> ScriptRun:
        """Submit ``config`` as a child run of this one (same experiment)."""
        return submit(config, self._record.experiment, tags=tags, store=self.store, parent_run_id=self.id, **kwargs)

    get_portal_url = azure_only("Run.get_portal_url()", PORTAL)
    get_secret = azure_only("Run.get_secret()", SECRETS)
    get_secrets = get_secret

    def register_model(self, model_name: str, model_path: str | None = None, **kwargs: Any) -> Any:
        """Register a file or folder of this run (e.g. ``outputs/model.pkl``) in the local model registry."""
        from runconfig_jupyter.core.model import Model

        return Model.register_from_run(self, model_name, model_path, **kwargs)

    def __enter__(self) -> ScriptRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        """``with exp.start_logging() as run:``: Completed, or Failed with the exception that escaped."""
        if not is_interactive(self.record) or self._record.is_terminal:
            return
        if exc_type is None:
            self.complete()
        else:
            self.fail(f"{exc_type.__name__}: {exc}")

    # -- logging from the notebook (the in-script API, writing into this run's folder) -------
    def _logger(self) -> Any:
        from runconfig_jupyter.core.runs.context import RunContext

        logger = self.__dict__.get("_run_logger")
        if logger is None:
            logger = RunContext(self.id, self.folder.metrics_path, self._record.experiment)
            self.__dict__["_run_logger"] = logger
        return logger

    def __getattr__(self, name: str) -> Any:
        """``run.log(...)``, ``run.log_list(...)``, ``run.upload_file(...)``: the in-script API on this run."""
        from runconfig_jupyter.core.runs.context import RunContext

        if name.startswith("_") or not callable(getattr(RunContext, name, None)):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return getattr(self._logger(), name)

    def __repr__(self) -> str:
        record = self._record
        return (
            f"ScriptRun(id={self.id!r}, experiment={record.experiment!r}, target={record.target!r}, "
            f"status={record.status.value!r})"
        )

    def _repr_html_(self) -> str:
        record = self.record
        reason = f" &mdash; {record.reason}" if record.reason else ""
        return (
            f"<table><tr><th>Experiment</th><th>Id</th><th>Target</th><th>Status</th></tr>"
            f"<tr><td>{record.experiment}</td><td>{record.run_id}</td><td>{record.target}</td>"
            f"<td>{record.status.value}{reason}</td></tr></table>"
        )


class Run(ScriptRun):
    """v1's ``Run``: ``Run.get_context()`` inside a script, ``Run.get(run_id)`` anywhere."""

    @staticmethod
    def get_context(allow_offline: bool = True) -> Any:
        from runconfig_jupyter.core.runs.context import get_context

        context = get_context(experiment_factory=_experiment_of_store)
        if context.offline and not allow_offline:
            raise RunStateError("not inside a run (RUNCONFIG_RUN_ID is not set) and allow_offline=False")
        return context

    @staticmethod
    def get_submitted_run(**kwargs: Any) -> Any:
        """The 2018 SDK's name of ``get_context()`` (deprecated in v1, still in its first notebooks' scripts)."""
        return Run.get_context(**kwargs)

    @staticmethod
    def list(
        experiment: Experiment,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        status: str | None = None,
        include_children: bool = False,
        _rehydrate_runs: bool = True,
    ) -> RunList:
        """Azure's ``Run.list(experiment, ...)``: the same as ``experiment.get_runs(...)``."""
        return experiment.get_runs(
            type=type, tags=tags, properties=properties, include_children=include_children, status=status
        )


class RunList(list):
    """Runs as a list that is also an iterator: Azure's ``get_runs`` returns a generator, so v1 code calls
    ``next(exp.get_runs())`` for the newest run, while this project's code compares and indexes the list."""

    _position = 0

    def __next__(self) -> ScriptRun:
        if self._position >= len(self):
            raise StopIteration
        self._position += 1
        return self[self._position - 1]


EXPERIMENTS_DIR = "experiments"  # <home>/experiments/<name>/history.json: an experiment's tags


def _notebook_mlflow_experiments(home: Path) -> set[str]:
    """Experiments the notebook made through MLflow (``mlflow.set_experiment`` after
    ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())``), which v1 listed among the workspace's; those
    with a name v1 allows. Nothing is read (or imported) when the notebook never used that store."""
    folder = home / HOME_MLFLOW_DIR
    if not os.path.lexists(folder):
        return set()
    from runconfig_jupyter.core.runs.mlflow_import import home_experiment_names

    return {name for name in home_experiment_names(folder) if EXPERIMENT_NAME.match(name)}


class Experiment:
    """A named group of runs: ``Experiment(workspace=ws, name="x")``, ``Experiment(ws, "x")`` or ``Experiment("x")``."""

    def __init__(
        self,
        workspace: Workspace | str | None = None,
        name: str | None = None,
        *args: Any,
        store: RunStore | None = None,
        **_azure_kwargs: Any,
    ):
        if args:
            raise TypeError("Experiment(workspace, name) takes two positional arguments")
        if name is None and isinstance(workspace, str):  # this project's short form: Experiment("name")
            workspace, name = None, workspace
        if name is None:
            raise TypeError("Experiment needs a name: Experiment(workspace=ws, name='my-experiment')")
        self.name = check_experiment_name(name)
        if store is None and workspace is not None:
            store = getattr(workspace, "store", None)
        self.store = store or RunStore()
        self._workspace = workspace

    @property
    def workspace(self) -> Workspace:
        return self._workspace if self._workspace is not None else Workspace(_home=self.store.home)

    @property
    def id(self) -> str:
        return self.name

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> ScriptRun:
        from runconfig_jupyter.core.errors import NotSupportedLocally

        if not hasattr(config, "run_config"):
            raise NotSupportedLocally(
                f"Experiment.submit({type(config).__name__})",
                "Submit a ScriptRunConfig (or an Estimator); HyperDrive, AutoML and pipelines run only on Azure.",
            )
        return submit(config, self.name, tags=tags, store=self.store, **kwargs)

    def start_logging(
        self,
        *args: Any,
        outputs: str | None = None,
        snapshot_directory: str | None = None,
        display_name: str | None = None,
        tags: dict[str, Any] | None = None,
        **_azure_kwargs: Any,
    ) -> ScriptRun:
        """An interactive run in this process: log to it, then ``run.complete()`` (or use ``with``).

        As in Azure ML, what is in ``./outputs`` when the run ends becomes its outputs, unless ``outputs``
        names another folder (or is False). ``snapshot_directory`` packages that folder like a submit.
        """
        from runconfig_jupyter.core.runs.interactive import start_interactive

        run_id = start_interactive(
            self.store,
            self.name,
            outputs="outputs" if outputs is None else outputs,
            snapshot_directory=snapshot_directory,
            display_name=display_name,
            tags=tags,
        )
        return ScriptRun(run_id, store=self.store)

    def get_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
        status: str | None = None,
        limit: int = 100,
    ) -> RunList:
        """Runs of this experiment, newest first (at most ``limit``); child runs only with ``include_children``."""
        runs = RunList()
        for record in self.store.list(self.name, status, limit=100_000):
            if len(runs) >= limit:
                break
            if not include_children and record.parent_run_id and not record.details.get("rerun_of"):
                continue
            run = Run(record.run_id, store=self.store)
            if run.matches(tags=tags, properties=properties, run_type=type):
                runs.append(run)
        return runs

    @staticmethod
    def list(
        workspace: Workspace | None = None,
        experiment_name: str | None = None,
        view_type: str = "ActiveOnly",
        tags: Any = None,
    ) -> list[Experiment]:
        """Every experiment with runs (or tags) in the workspace's run home; ``experiment_name`` picks one,
        ``tags`` filters as for runs (a name, a list of names, or a dict of name -> value)."""
        from runconfig_jupyter.core.runs.run_history import tags_match

        store = getattr(workspace, "store", None) or RunStore()
        tagged = store.home / EXPERIMENTS_DIR
        folders = list(tagged.iterdir()) if tagged.is_dir() else []
        kept = [p.name for p in folders if p.is_dir() and EXPERIMENT_NAME.match(p.name)]
        known = set(store.experiments()) | set(kept) | _notebook_mlflow_experiments(store.home)
        names = [n for n in sorted(known) if experiment_name is None or n == experiment_name]
        found = [Experiment(workspace, name, store=store) for name in names]
        return [e for e in found if tags is None or tags_match(e.tags, tags)]

    # -- tags: kept in <home>/experiments/<name>/history.json, edited like a run's (locked, atomic) -------------
    @property
    def _tags_folder(self) -> Path:
        return self.store.home / EXPERIMENTS_DIR / self.name

    @property
    def tags(self) -> dict[str, str | None]:
        from runconfig_jupyter.core.runs.history import read_history

        return dict(read_history(self._tags_folder)["tags"])

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Add or change tags (values are kept as text, as for runs)."""
        from runconfig_jupyter.core.runs.history import update_history

        update_history(self._tags_folder, tags=tags)

    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def remove_tags(self, tags: list[str]) -> None:
        from runconfig_jupyter.core.runs.history import update_history

        update_history(self._tags_folder, remove_tags=list(tags))

    def refresh(self) -> Experiment:
        """v1 re-read the experiment from the cloud; here every read is already current."""
        return self

    _BY_RUNS = "An experiment here is the name its runs share: list, tag and filter runs instead (get_runs, run.tag)."
    archive = azure_only("Experiment.archive()", _BY_RUNS)
    reactivate = azure_only("Experiment.reactivate()", _BY_RUNS)
    delete = azure_only("Experiment.delete()", _BY_RUNS)
    from_directory = azure_only("Experiment.from_directory()", _BY_RUNS)
    get_portal_url = azure_only("Experiment.get_portal_url()", PORTAL)

    def __eq__(self, other: object) -> bool:
        """Equal to the same experiment in the same run home, and to its name (``run.experiment == "name"``)."""
        if isinstance(other, str):
            return other == self.name
        return isinstance(other, Experiment) and (other.name, other.store.home) == (self.name, self.store.home)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


def _experiment_of_store(name: str, store: RunStore) -> Experiment:
    """``run.experiment`` of the in-script context (core/runs/context.py gets this from ``Run.get_context``)."""
    return Experiment(name=name, store=store)


MANAGE_HOME = (
    "The local workspace is the run home ($RUNCONFIG_JUPYTER_HOME): it exists as soon as it is used; point "
    "RUNCONFIG_JUPYTER_HOME elsewhere for a separate one, and delete that folder to remove it."
)


class Workspace:
    """The local workspace (see the module docstring); positional arguments follow Azure's constructor."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        _location: str | None = None,
        *_azure_args: Any,
        _home: str | Path | None = None,
        **_azure_kwargs: Any,
    ):
        # Azure's are always strings (notebooks print them with ``+``): without config.json they read "local"
        self.subscription_id = subscription_id or LOCAL_NAME
        self.resource_group = resource_group or LOCAL_NAME
        self.name = workspace_name or LOCAL_NAME
        self.location = _location or LOCAL_NAME
        self.store = RunStore(_home or run_home())
        self.config_path: Path | None = None

    @property
    def home(self) -> Path:
        return self.store.home

    @property
    def _workspace_id(self) -> str:
        """v1's workspace GUID, which samples read to name things (``"ci{}".format(ws._workspace_id)[:10]``):
        a stable UUID of the run home here."""
        import uuid

        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.home.resolve().as_uri()))

    # -- how v1 code obtains a workspace ------------------------------------------------
    @classmethod
    def from_config(
        cls, path: str | Path | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None
    ) -> Workspace:
        """The local workspace, named after ``config.json`` when one is found (it is optional here)."""
        found = find_config(path, _file_name)
        data: dict[str, Any] = {}
        if found is not None:
            try:
                data = json.loads(found.read_text())
            except ValueError as error:
                from runconfig_jupyter.core.errors import ConfigError

                raise ConfigError(f"{found} is not valid JSON: {error}", field="config.json") from error
        workspace = cls(data.get("subscription_id"), data.get("resource_group"), data.get("workspace_name"))
        workspace.config_path = found
        return workspace

    @classmethod
    def get(
        cls,
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        return cls(subscription_id, resource_group, name, _location=location)

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> str:
        """Write ``.azureml/config.json`` so ``Workspace.from_config()`` finds this workspace's names."""
        folder = Path(path) if path is not None else Path.cwd()
        target = folder / ".azureml" / (file_name or CONFIG_FILE)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.name,
        }
        target.write_text(json.dumps(data, indent=2))
        return str(target)

    # -- what the workspace holds --------------------------------------------------------
    @property
    def compute_targets(self) -> dict[str, ConfiguredTarget]:
        """Configured targets and aliases by name (``ws.compute_targets['cpu-cluster']`` once aliased)."""
        from runconfig_jupyter.core.compute import ComputeTarget as ConfiguredTarget

        return ConfiguredTarget.list_by_name(self)

    @property
    def experiments(self) -> dict[str, Experiment]:
        from runconfig_jupyter.core.runs.script_run import Experiment

        return {exp.name: exp for exp in Experiment.list(self)}

    @property
    def environments(self) -> dict[str, Environment]:
        from runconfig_jupyter.core.config.environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, Model]:
        from runconfig_jupyter.core.model import Model

        return {model.name: model for model in Model.list(self, latest=True)}

    @property
    def datastores(self) -> dict[str, Datastore]:
        """Registered datastores by name (``<home>/datastores.yaml``), ``workspaceblobstore`` included."""
        from runconfig_jupyter.core.data.datastore import Datastore

        return {datastore.name: datastore for datastore in Datastore.list(self)}

    def get_default_datastore(self) -> Datastore:
        """``workspaceblobstore`` (a writable folder of the run home) unless another was made the default."""
        from runconfig_jupyter.core.data.datastore import Datastore

        return Datastore.get_default(self)

    def set_default_datastore(self, name: str) -> None:
        from runconfig_jupyter.core.data.stores import set_default_datastore

        set_default_datastore(name, self.home)

    def get_run(self, run_id: str) -> ScriptRun:
        from runconfig_jupyter.core.runs.script_run import Run

        return Run(run_id, store=self.store)

    def get_details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "location": self.location,
            "home": str(self.home),
            "configFile": str(self.config_path) if self.config_path else None,
        }

    @property
    def datasets(self) -> dict[str, Any]:
        """Name -> latest version of every registered dataset (``<home>/datasets``)."""
        from runconfig_jupyter.core.data.dataset import Dataset

        return Dataset.get_all(self)

    # -- Azure-only -------------------------------------------------------------------------
    create = azure_only("Workspace.create()", MANAGE_HOME)
    delete = azure_only("Workspace.delete()", MANAGE_HOME)
    list = azure_only("Workspace.list()", MANAGE_HOME)
    update = azure_only("Workspace.update()", MANAGE_HOME)
    sync_keys = azure_only("Workspace.sync_keys()", MANAGE_HOME)
    list_keys = azure_only("Workspace.list_keys()", MANAGE_HOME)

    def get_mlflow_tracking_uri(self) -> str:
        """An MLflow tracking URI for ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())``, as v1's MLflow
        notebooks call it.

        Inside a submitted run (any target): the store the run gave its script (its ``MLFLOW_TRACKING_URI``, MLflow's
        file store in the working directory, imported into the run when it ends, core/runs/mlflow_import.py).
        Elsewhere (a notebook), a store of the run home that ``mlflow ui --backend-store-uri <this URI>`` browses:
        ``sqlite:///<home>/mlflow/mlflow.db`` when SQLAlchemy is installed (full ``mlflow``), else MLflow's file
        store ``<home>/mlflow/mlruns`` (all ``mlflow-skinny`` can write), and then ``MLFLOW_ALLOW_FILE_STORE=true``
        is set in this process's environment when unset, since MLflow 3.x refuses a file store without it.

        The folder is made here: MLflow makes a missing one too, ``mlflow ui`` does not.
        """
        import importlib.util

        from runconfig_jupyter.core.runs.script_env import MLFLOW_ALLOW_FILE_STORE_ENV, run_tracking_uri

        in_run = run_tracking_uri()
        if in_run is not None:
            return in_run
        folder = self.home / HOME_MLFLOW_DIR
        folder.mkdir(parents=True, exist_ok=True)
        if importlib.util.find_spec("sqlalchemy") is not None:
            return f"sqlite:///{(folder / HOME_MLFLOW_DB).resolve().as_posix()}"
        os.environ.setdefault(MLFLOW_ALLOW_FILE_STORE_ENV, "true")
        return (folder / HOME_MLFLOW_FILES).resolve().as_uri()

    get_default_keyvault = azure_only("Workspace.get_default_keyvault()", SECRETS)
    webservices = azure_only_property(
        "Workspace.webservices", "Serve a registered model yourself: Model.get_model_path(name) gives its file."
    )
    get_portal_url = azure_only("Workspace portal", PORTAL)

    def __repr__(self) -> str:
        return f"Workspace(name='{self.name}', home='{self.home}')"


__all__ = ["TERMINAL", "Experiment", "Run", "ScriptRun", "Workspace"]


def submit(
    config: ScriptRunConfig,
    experiment: str = "default",
    target: str | ComputeTarget | None = None,
    *,
    store: RunStore | None = None,
    **options: Any,
) -> ScriptRun:
    """Submit ``config`` and return its run (``start_run`` in core/runs/submit.py does the work).

    ``options``: ``tags``, ``display_name``, ``snapshot_limits``, ``parent_run_id``, ``driver_env``,
    ``snapshot_progress(done_bytes, total_bytes)``, ``confine_to`` (see ``start_run``).
    """
    from runconfig_jupyter.core.runs.submit import start_run

    store = store or RunStore()
    return ScriptRun(start_run(config, experiment, target, store=store, **options), store=store)
