"""``ScriptRun`` and ``Experiment``: the v1 run API over the run store.

A ScriptRun is only a handle (run id + store): any process can make one with
``Run.get(run_id)`` and see the same run, which is how a notebook re-attaches
after a kernel restart.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import RunFailed, RunNotFound, RunStateError
from .status import TERMINAL, RunStatus
from .store import RunRecord, RunStore, driver_alive
from .watch import FALLBACK_SECONDS, Watch, run_watch

if TYPE_CHECKING:
    from .config import ScriptRunConfig

# A driver gets this long to record itself before a missing one counts as dead.
MAX_DRIVER_RESTARTS = 3
DRIVER_GRACE_SECONDS = 5.0
LOG_FILES = ("prepare_log.txt", "std_log.txt")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class ScriptRun:
    """A submitted run. Cheap to create; every call reads the store afresh."""

    def __init__(self, run_id: str, store: RunStore | None = None):
        self.store = store or RunStore()
        self.id = run_id
        self.run_dir = self.store.run_dir(run_id)
        self._record = self.store.get(run_id)  # raises RunNotFound early

    @classmethod
    def get(cls, *args: Any, store: RunStore | None = None) -> ScriptRun:
        """``Run.get(run_id)``; Azure's ``Run.get(workspace, run_id)`` form is accepted too."""
        if not args:
            raise TypeError("Run.get(run_id) needs a run id")
        return cls(str(args[-1]), store=store)

    # -- state -----------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        record = self.store.get(self.id)
        if not record.is_terminal and self._driver_lost(record):
            record = self.store.get(self.id)
        self._record = record
        return record

    def _driver_lost(self, record: RunRecord) -> bool:
        """Settle a run whose driver died, so nothing shows Running forever.

        A run on a target that outlives its driver (a container, a remote kernel, a Ray
        job) gets a new driver that re-attaches to it; anything else is failed and its
        processes are killed so no orphan keeps burning the machine.
        """
        if time.time() - record.updated_at < DRIVER_GRACE_SECONDS or driver_alive(record):
            return False
        # Starting too: the target may have created a container or kernel that only a new driver
        # (re-attach, then cleanup) can follow or remove.
        resumable = (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.CANCEL_REQUESTED)
        if record.status in resumable and self._restart_driver(record):
            return False
        reason = "the run driver exited unexpectedly; see logs/driver_log.txt"
        groups = [record.details.get("pid"), *record.details.get("pids", [])]
        for pid in {int(p) for p in groups if p}:
            try:  # leave no orphan process group behind
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.store.set_status(self.id, RunStatus.FAILED, reason=reason, phase=record.status.value)

    def _restart_driver(self, record: RunRecord) -> bool:
        from runconfig_jupyter.targets.base import ComputeTarget

        from .submit import start_driver

        try:
            target = ComputeTarget.from_spec(self.get_spec()["target"])
        except Exception:
            return False
        if type(target).reattach is ComputeTarget.reattach or not target.capabilities().reattach:
            return False
        restarts = int(record.details.get("driver_restarts", 0))
        if restarts >= MAX_DRIVER_RESTARTS:
            return False
        self.store.update(self.id, details={"driver_restarts": restarts + 1})
        start_driver(self.store, self.id, reattach=True)
        return True

    @property
    def experiment(self) -> str:
        return self._record.experiment

    @property
    def status(self) -> str:
        return self.get_status()

    def get_status(self) -> str:
        return self.record.status.value

    def get_spec(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())

    def get_config(self) -> ScriptRunConfig:
        from .config import ScriptRunConfig

        return ScriptRunConfig.from_dict(self.get_spec()["config"])

    def get_details(self) -> dict[str, Any]:
        """Azure's run details shape (camelCase keys) plus phase/reason/exit code."""
        record = self.record
        spec = self.get_spec()
        details: dict[str, Any] = {
            "runId": record.run_id,
            "experiment": record.experiment,
            "target": record.target,
            "targetType": record.target_type,
            "status": record.status.value,
            "createdTimeUtc": _iso(record.created_at),
            "startTimeUtc": _iso(record.started_at),
            "endTimeUtc": _iso(record.ended_at),
            "durationSeconds": record.duration,
            "exitCode": record.exit_code,
            "properties": {"snapshotId": record.snapshot_id, **spec.get("snapshot", {})},
            "tags": spec.get("tags", {}),
            "runDefinition": spec["config"],
            "logFiles": {name: str(path) for name, path in self._log_paths().items()},
            "parentRunId": record.parent_run_id,
            "progress": record.progress,
        }
        if record.status in (RunStatus.FAILED, RunStatus.CANCELED) or record.reason:
            details["error"] = {"phase": record.phase, "message": record.reason}
        target_details = {k: v for k, v in record.details.items() if k != "tags"}
        if target_details:
            details["targetDetails"] = target_details
        return details

    def _log_paths(self) -> dict[str, Path]:
        logs = self.run_dir / "logs"
        if not logs.is_dir():
            return {}
        return {str(p.relative_to(self.run_dir)): p for p in sorted(logs.rglob("*")) if p.is_file()}

    # -- control ---------------------------------------------------------
    def cancel(self, reason: str = "canceled by user") -> bool:
        """Ask the driver to stop the run; returns False when it had already finished."""
        record = self.record
        if record.is_terminal:
            return False
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
        if show_output:
            out.write(f"RunId: {self.id}\n")
            for chunk in self.follow(timeout=timeout):
                out.write(chunk)
                out.flush()
        with self._watch() as watch:  # before the first look, so no change after it is missed
            while not self.record.is_terminal:
                left = FALLBACK_SECONDS if deadline is None else deadline - time.monotonic()
                if left < 0:
                    raise TimeoutError(f"run {self.id} still {self._record.status.value} after {timeout} s")
                watch.wait(min(left, FALLBACK_SECONDS if watch.active else 0.1))
        record = self._record
        if show_output:
            out.write(f"\nExecution Summary\n=================\nRunId: {self.id}\nStatus: {record.status.value}\n")
            if record.reason:
                out.write(f"Reason: {record.reason}\n")
        if raise_on_error and record.status != RunStatus.COMPLETED:
            raise RunFailed(self.id, record.status.value, record.phase, record.reason)
        return self.get_details()

    # -- logs ------------------------------------------------------------
    def read_log(self, offset: int = 0, max_bytes: int | None = None, name: str = "std_log.txt") -> tuple[str, int]:
        """Text from byte ``offset`` (only whole lines unless the run has ended) and the next offset."""
        path = self.run_dir / "logs" / name
        if not path.exists():
            return "", offset
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read(max_bytes) if max_bytes else log.read()
        return data.decode(errors="replace"), offset + len(data)

    def follow(
        self, offsets: dict[str, int] | None = None, poll: float = 0.05, timeout: float | None = None
    ) -> Iterator[str]:
        """Yield new log text (preparation, then the script's) until the run ends and all is read.

        New text and the run's end wake it at once (inotify, core/watch.py); ``poll`` is how often it
        looks where events are not available, and it looks at least every ``FALLBACK_SECONDS`` anyway.
        ``offsets`` is updated in place, so a caller can stop and resume without repeats.
        """
        offsets = offsets if offsets is not None else {}
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._watch() as watch:
            while True:
                finished = self.record.is_terminal  # read before the files, so nothing written after is missed
                got_any = False
                for name in LOG_FILES:
                    text, offsets[name] = self.read_log(offsets.get(name, 0), name=name)
                    if text:
                        got_any = True
                        yield text
                if finished and not got_any:
                    return
                if deadline is not None and time.monotonic() > deadline:
                    return
                if not got_any:
                    left = FALLBACK_SECONDS if deadline is None else max(0.0, deadline - time.monotonic())
                    watch.wait(min(left, max(poll, FALLBACK_SECONDS) if watch.active else poll))

    def _watch(self) -> Watch:
        """Wakes on a change of this run's record or logs (core/watch.py); sleeps where that is not possible."""
        return run_watch(self.store.home, self.run_dir)

    def get_log(self) -> str:
        return "".join(self.read_log(name=name)[0] for name in LOG_FILES)

    # -- metrics ---------------------------------------------------------
    def get_metric_records(self) -> list[dict[str, Any]]:
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return []
        records = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
        return records

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        """Azure's shape: a scalar logged once is a value, several times a list; rows become columns."""
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
    def get_file_names(self) -> list[str]:
        names = []
        for folder in ("outputs", "logs"):
            root = self.run_dir / folder
            if root.is_dir():
                names.extend(str(p.relative_to(self.run_dir)) for p in sorted(root.rglob("*")) if p.is_file())
        return names

    def _resolve_file(self, name: str) -> Path:
        path = (self.run_dir / name).resolve()
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
        return self.run_dir / "outputs"

    def rerun(self, experiment: str | None = None) -> ScriptRun:
        """Submit the same configuration and snapshot again as a new run."""
        from .submit import submit

        record = self.record
        if not record.is_terminal and record.status != RunStatus.RUNNING:
            raise RunStateError(f"run {self.id} is still {record.status.value}; re-run it once it has started")
        spec = self.get_spec()
        return submit(
            self.get_config(),
            experiment or record.experiment,
            target=spec["target"]["name"],
            store=self.store,
            parent_run_id=self.id,
        )

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
        from .context import get_context

        context = get_context()
        if context.offline and not allow_offline:
            raise RunStateError("not inside a run (RUNCONFIG_RUN_ID is not set) and allow_offline=False")
        return context


class Experiment:
    """A named group of runs (``Experiment(workspace, name)`` is accepted too)."""

    def __init__(self, *args: Any, name: str | None = None, store: RunStore | None = None):
        from .submit import check_experiment_name

        if name is None:
            if not args:
                raise TypeError("Experiment(name) needs a name")
            name = str(args[-1])
        self.name = check_experiment_name(name)
        self.store = store or RunStore()

    def submit(self, config: ScriptRunConfig, tags: dict[str, str] | None = None, **kwargs: Any) -> ScriptRun:
        from .submit import submit

        return submit(config, self.name, tags=tags, store=self.store, **kwargs)

    def get_runs(self, status: str | None = None, limit: int = 100) -> list[ScriptRun]:
        return [ScriptRun(r.run_id, store=self.store) for r in self.store.list(self.name, status, limit=limit)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


__all__ = ["TERMINAL", "Experiment", "Run", "ScriptRun"]
