"""The in-script API: ``Run.get_context().log("loss", 0.1)``.

Scripts written for Azure ML v1 keep working unchanged. Inside a run, metrics
go to the run folder (local target) or to marker lines on stderr that the
driver turns into metrics (targets that cannot reach the run folder). Outside a
run nothing is recorded: values are printed, as Azure's offline run did, so the
same script runs under plain ``python``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from numbers import Integral, Number
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import METRICS_FILE
from runconfig_jupyter.core.runs.input_datasets import input_datasets, output_datasets
from runconfig_jupyter.core.runs.logsink import HISTORY_MARKER, METRIC_MARKER
from runconfig_jupyter.core.runs.run_logging import RichLogging
from runconfig_jupyter.core.runs.script_env import EXPERIMENT_ENV, METRICS_FILE_ENV, RUN_ID_ENV
from runconfig_jupyter.core.runs.v1_run_api import fallback


class PendingModel:
    """What ``run.register_model`` returns inside a script: the model as it will be registered when the run ends.

    Kept to the standard library (this module travels with the in-script shim).
    """

    def __init__(
        self,
        name: str,
        path: str | None,
        tags: dict[str, Any],
        properties: dict[str, Any],
        description: str | None,
        run_id: str,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
    ) -> None:
        self.name = name
        self.model_framework = model_framework
        self.model_framework_version = model_framework_version
        self.path = path
        self.tags = tags
        self.properties = properties
        self.description = description
        self.run_id = run_id
        self.version: int | None = None  # given by the local registry when the run's outputs are collected
        self.id = f"{name}:pending"

    def __repr__(self) -> str:
        return f"PendingModel(name={self.name!r}, path={self.path!r}, run_id={self.run_id!r}: registered at the end)"


def _jsonable(value: Any) -> Any:
    """Numbers stay numbers (including numpy scalars); anything else becomes its string. Integers (Python's and
    numpy's) stay exact integers, as v1 kept them; other numbers (numpy floats, Decimals) become floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Number):
        return float(value)
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)


class RunContext(RichLogging):
    """The run a script is executing in (or an offline stand-in).

    Images, uploads and chart metrics come from ``RichLogging`` (run_logging.py). A v1 ``Run`` name
    this class does not implement warns once and is skipped (v1_run_api.py); any other missing
    name is an AttributeError, so typos still fail.
    """

    def __init__(self, run_id: str | None, metrics_file: Path | None, experiment: str | None):
        self.id = run_id or f"OfflineRun_{int(time.time())}"
        self.offline = run_id is None
        self.experiment_name = experiment
        self._metrics_file = metrics_file
        self._steps: dict[str, int] = {}
        # Builds ``run.experiment`` from (name, store) on the local target. Handed in by ``Run.get_context()``
        # (core/runs/script_run.py): this module also travels alone as the in-script shim, and the classes it
        # would build sit above it, so it never imports them.
        self.experiment_factory: Callable[[str, Any], Any] | None = None

    # Azure ML v1 names -------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """A scalar; repeated calls make a series (each gets the next step unless given)."""
        self._emit(name, _jsonable(value), "scalar", step, description)

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        self._emit(name, [_jsonable(item) for item in value], "list", None, description)

    def log_row(self, name: str, description: str = "", **kwargs: Any) -> None:
        self._emit(name, {key: _jsonable(val) for key, val in kwargs.items()}, "row", None, description)

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        table = {key: [_jsonable(item) for item in column] for key, column in value.items()}
        self._emit(name, table, "table", None, description)

    def get_status(self) -> str:
        return "Running"

    def get_details(self) -> dict[str, Any]:
        """What the script itself can know of its run, under v1's keys (scripts read ``["runId"]``/``["status"]``);
        the full record (target, times, run definition) is ``run.get_details()`` on the run in the notebook."""
        return {
            "runId": self.id,
            "experiment": self.experiment_name,
            "status": self.get_status(),
            "tags": self.get_tags(),
        }

    @property
    def experiment(self) -> Any:
        """The run's experiment; ``run.experiment.workspace`` is the local workspace where the run home is reachable."""
        root = self._root_context()
        if root._metrics_file is not None and root.experiment_factory is not None:  # local target, full package
            from runconfig_jupyter.core.runs.store import RunStore

            return root.experiment_factory(self.experiment_name or "default", RunStore(root._metrics_file.parents[2]))
        return _UnreachableExperiment(self.experiment_name)

    def flush(self) -> None:
        sys.stderr.flush()

    # Run history (tags, properties, child runs, how the run ends) --------------
    # On the local target the script reaches the run folder and applies a record itself; elsewhere
    # the record travels as a HISTORY_MARKER line on stderr and the driver applies it
    # (core/script_history.py). Offline, it is printed and kept in memory.
    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any] | str | list[str]) -> None:
        if isinstance(tags, str):
            tags = {tags: None}
        elif not isinstance(tags, dict):
            tags = {str(name): None for name in tags}
        clean = {str(k): None if v is None else str(v) for k, v in tags.items()}
        self._history_state()["tags"].update(clean)
        self._record_history({"op": "tags", "tags": clean})

    def remove_tags(self, tags: str | list[str]) -> None:
        names = [tags] if isinstance(tags, str) else [str(t) for t in tags]
        for name in names:
            self._history_state()["tags"].pop(name, None)
        self._record_history({"op": "tags", "tags": {}, "remove": names})

    def get_tags(self) -> dict[str, Any]:
        return dict(self._history_state()["tags"])

    def add_properties(self, properties: dict[str, Any]) -> None:
        clean = {str(k): None if v is None else str(v) for k, v in properties.items()}
        self._record_history({"op": "properties", "properties": clean})  # refused first if a value changes
        self._history_state()["properties"].update(clean)

    def get_properties(self) -> dict[str, Any]:
        return dict(self._history_state()["properties"])

    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> RunContext:
        """A child run of this run (``with run.child_run() as child:`` completes it)."""
        return ChildRunContext(self, name)

    def create_children(
        self, count: int | None = None, tag_key: str | None = None, tag_values: list[Any] | None = None
    ) -> list[RunContext]:
        return create_children(self, count, tag_key, tag_values)

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        resource_configuration: Any = None,
        **_azure_kwargs: Any,
    ) -> PendingModel:
        """Register ``model_path`` (e.g. ``outputs/model.pkl``) of this run when it ends, once its outputs are
        collected (the model appears in ``Model.list`` with this run as its origin).

        Azure returns the registered ``Model``; here the file may still be inside a container, so the model
        is registered when the run's outputs are home, and the script gets a ``PendingModel`` with the same
        attributes (``name``, ``tags``, ...; ``version`` is None until then), so v1 code such as
        ``print(model.name, model.id, model.version)`` keeps working."""
        request = {"model_name": model_name, "model_path": model_path, "description": description}
        request.update(tags=dict(tags) if tags else None, properties=dict(properties) if properties else None)
        framework = None if model_framework is None else str(model_framework)
        version = None if model_framework_version is None else str(model_framework_version)
        request.update(model_framework=framework, model_framework_version=version)
        if resource_configuration is not None:  # a ResourceConfiguration travels as its serialized dict
            serialize = getattr(resource_configuration, "serialize", None)
            request["resource_configuration"] = serialize() if callable(serialize) else resource_configuration
        self._record_history({"op": "model", **{k: v for k, v in request.items() if v is not None}})
        about = (dict(tags or {}), dict(properties or {}), description, self.id)
        return PendingModel(model_name, model_path, *about, model_framework=framework, model_framework_version=version)

    def complete(self, _set_status: bool = True) -> None:
        """Accepted for v1 compatibility: the run completes when the script exits."""

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        """Record the run as Failed when the script ends (whatever its exit code)."""
        reason = str(error_details) if error_details else "marked as failed by the script"
        self._end("Failed", f"{error_code}: {reason}" if error_code else reason)

    def cancel(self) -> None:
        """Record the run as Canceled when the script ends."""
        self._end("Canceled", "canceled by the script")

    def _end(self, status: str, reason: str | None) -> None:
        self._record_history({"op": "status", "status": status, "reason": reason})

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc_type is not None:
            self.fail(f"{exc_type.__name__}: {exc}")
        else:
            self.complete()

    def _history_state(self) -> dict[str, dict[str, Any]]:
        state = self.__dict__.get("_history_cache")
        if state is None:
            state = {"tags": {}, "properties": {}}
            self.__dict__["_history_cache"] = state
        return state

    def _record_history(self, record: dict[str, Any]) -> None:
        record = {"run_id": self.id, **record}
        if self.offline:
            print(f"Attempted to record run history: {record}")
            return
        root = self._root_context()
        if root._metrics_file is not None:
            from runconfig_jupyter.core.runs.script_history import apply_marker
            from runconfig_jupyter.core.runs.store import RunStore

            run_dir = root._metrics_file.parent
            apply_marker(RunStore(run_dir.parent.parent), root.id, record, owner_pid=os.getpid())
        else:
            sys.stderr.buffer.write(HISTORY_MARKER + json.dumps(record, separators=(",", ":")).encode() + b"\n")
            sys.stderr.flush()

    def _root_context(self) -> RunContext:
        return self

    # -------------------------------------------------------------------------
    def _emit(self, name: str, value: Any, kind: str, step: int | None, description: str) -> None:
        if step is None:
            step = self._steps.get(name, 0)
        self._steps[name] = step + 1
        record = {"name": str(name), "value": value, "kind": kind, "step": step, "time": time.time()}
        if description:
            record["description"] = description
        payload = json.dumps(record, separators=(",", ":"))
        if self.offline:
            print(f"Attempted to log {kind} metric {name}:\n{value}")
        elif self._metrics_file is not None:
            # Several ranks of a distributed run append to the same file: one O_APPEND write per record
            # lands whole at the end (never interleaved with another rank's line).
            fd = os.open(self._metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (payload + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        else:
            self._write_marker(payload)

    def _write_marker(self, payload: str) -> None:
        # One write call per record keeps it on one line even when stderr is shared.
        sys.stderr.buffer.write(METRIC_MARKER + payload.encode() + b"\n")
        sys.stderr.flush()

    @property
    def input_datasets(self) -> dict[str, Any]:
        """v1's ``run.input_datasets["train"]``: the path of a file input (as the script sees it on the target), or a
        tabular dataset with ``to_pandas_dataframe()``; a name the run was not given raises KeyError, as on Azure."""
        return InputDatasets(input_datasets(), "input")

    @property
    def output_datasets(self) -> dict[str, Any]:
        """v1's ``run.output_datasets["out"]``: the folder the script writes that output to."""
        return InputDatasets(output_datasets(), "output")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return fallback(type(self).__name__, name)

    def __repr__(self) -> str:
        state = "offline" if self.offline else "live"
        return f"Run(id={self.id!r}, {state})"


class InputDatasets(dict):  # type: ignore[type-arg]
    """A plain dict whose missing key says which data the run has and how to pass more."""

    def __init__(self, found: dict[str, Any], kind: str):
        super().__init__(found)
        self.kind = kind

    def __missing__(self, key: str) -> Any:
        names = ", ".join(sorted(self)) or "none"
        how = "dataset.as_named_input(name)" if self.kind == "input" else "OutputFileDatasetConfig(name=name)"
        raise KeyError(f"this run has no {self.kind} named {key!r} (it has: {names}); pass it with {how}")


class _UnreachableExperiment:
    """``run.experiment`` inside a container, remote kernel or Ray job: the name, and a workspace that only gives
    the run's MLflow tracking URI."""

    def __init__(self, name: str | None):
        self.name = name

    @property
    def workspace(self) -> Any:
        return _UnreachableWorkspace()

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class _UnreachableWorkspace:
    """``run.experiment.workspace`` where the run home is out of reach: ``get_mlflow_tracking_uri()`` (v1's
    remote-training scripts call it first thing) gives the store the run gave the script; anything else raises."""

    def get_mlflow_tracking_uri(self) -> str:
        from runconfig_jupyter.core.runs.script_env import run_tracking_uri

        uri = run_tracking_uri()
        if uri is None:
            raise RuntimeError(
                "this run has no MLflow tracking store (run_config.history.enable_mlflow_tracking is off, or the "
                "run configuration sets MLFLOW_TRACKING_URI itself: read it from os.environ)"
            )
        return uri

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(
            f"the workspace (run home) is not reachable from this target (workspace.{name}); pass what the script "
            "needs as arguments, or register models with run.register_model(...), which the driver completes after "
            "the run"
        )

    def __repr__(self) -> str:
        return "Workspace(unreachable from this target)"


def create_children(parent: Any, count: int | None, tag_key: str | None, tag_values: list[Any] | None) -> list[Any]:
    """Azure's ``create_children``: ``count`` children, or one per value of ``tag_key`` in ``tag_values``.

    Shared by the in-script run and the notebook's run handle (runs.py); ``parent.child_run()`` makes each.
    """
    if tag_values is not None and tag_key is None:
        raise ValueError("create_children: tag_values needs a tag_key naming the tag")
    if count is None and tag_values is None:
        raise ValueError("create_children: give count, or tag_key and tag_values")
    values = list(tag_values) if tag_values is not None else [None] * int(count or 0)
    if count is not None and tag_values is not None and int(count) != len(values):
        raise ValueError(f"create_children: count is {count} but there are {len(values)} tag_values")
    children = []
    for value in values:
        child = parent.child_run()
        if tag_key is not None:
            child.tag(tag_key, value)
        children.append(child)
    return children


class ChildRunContext(RunContext):
    """A child run opened by a script: its metrics and history go to the child, under the same parent."""

    def __init__(self, parent: RunContext, name: str | None):
        root = parent._root_context()
        child_id = f"{root.id}_{secrets.token_hex(4)}"
        metrics = root._metrics_file.parent.parent / child_id / METRICS_FILE if root._metrics_file else None
        super().__init__(None if parent.offline else child_id, metrics, parent.experiment_name)
        self.id = child_id
        self.parent = parent
        self._root = root
        self._record_history({"op": "child", "name": name})

    def _root_context(self) -> RunContext:
        return self._root

    def _write_marker(self, payload: str) -> None:
        self._record_history({"op": "metric", "record": json.loads(payload)})

    def complete(self, _set_status: bool = True) -> None:
        self._end("Completed", None)


_current: RunContext | None = None


def get_context(experiment_factory: Callable[[str, Any], Any] | None = None) -> RunContext:
    """The script's run (one per process); ``experiment_factory(name, store)`` makes ``run.experiment``."""
    global _current
    if _current is None:
        metrics = os.environ.get(METRICS_FILE_ENV)
        _current = RunContext(
            os.environ.get(RUN_ID_ENV),
            Path(metrics) if metrics else None,
            os.environ.get(EXPERIMENT_ENV),
        )
    if experiment_factory is not None:
        _current.experiment_factory = experiment_factory
    return _current
