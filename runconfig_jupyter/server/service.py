"""What the REST handlers and the websocket do, without tornado.

A thin layer over the core API (RunStore, ScriptRun, submit, list_targets):
it turns requests into core calls and core objects into JSON-able dicts, and
turns bad input into typed errors. Keeping it free of tornado lets the same
functions be unit-tested and keeps the handlers a few lines each.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

from runconfig_jupyter import __version__
from runconfig_jupyter.core.errors import ConfigError, RunConfigError, RunNotFound, RunStateError
from runconfig_jupyter.core.runs.folder import STD_LOG
from runconfig_jupyter.core.runs.log_cursor import LogCursor
from runconfig_jupyter.core.runs.run_target import cancel_offered, cancel_refusal, read_spec, recorded_capabilities
from runconfig_jupyter.core.runs.script_run import ScriptRun
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore
from runconfig_jupyter.core.safety.bounded import read_text_bounded
from runconfig_jupyter.core.safety.confine import Confinement
from runconfig_jupyter.server.files import OpenedFile, RunFiles, split_request_path

# Bumped when a response shape changes incompatibly; the sidebar refuses to talk to another one.
API_VERSION = 1
MAX_PAGE = 500
MAX_LOG_CHUNK = 1 << 20  # bytes per log response; the client asks again from next_offset
RUNCONFIG_CELL = "%%runconfig"
MAX_NOTEBOOK_BYTES = 100 << 20  # notebooks with images are big; a 10 GB file is not a notebook
MAX_LOG_OFFSET = (1 << 63) - 1  # the largest file offset; past the end of a log simply reads nothing
_PRIVATE_FIELDS = frozenset({"driver_pid", "driver_started"})  # process details of this machine: not served
SPEC_CACHE = 10_000  # runs whose run.json facts are kept (run.json never changes)
BY_NAME_SECONDS = 10.0  # a target configured by name may change (targets.yaml): asked again after this
# Files people pick by mistake as "the runconfig file": named, with how to write a real one.
NOT_RUNCONFIG_SUFFIXES = {".py", ".ipynb", ".sh", ".bash", ".r", ".jl", ".pyc"}
MAX_COMPARE = 8  # runs in one chart request besides the run itself


class RecordedFacts(NamedTuple):
    """What a run's run.json says that the run list shows."""

    arguments: list[str]
    capabilities: dict[str, Any]


def version_info() -> dict[str, Any]:
    return {"name": "runconfig-jupyter", "version": __version__, "api_version": API_VERSION}


def _int_arg(value: str | int | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"must be a whole number between {low} and {high}, got {value!r}", field=name) from None
    if not low <= number <= high:
        raise ConfigError(f"must be between {low} and {high}, got {number}", field=name)
    return number


def _statuses(value: str | list[str] | None) -> list[str] | None:
    if not value:
        return None
    raw = value.split(",") if isinstance(value, str) else value
    names = [s.strip() for s in raw if s.strip()]
    valid = [s.value for s in RunStatus]
    for name in names:
        if name not in valid:
            raise ConfigError(f"unknown status '{name}'; use one of {', '.join(valid)}", field="status")
    return names


GC_FIELDS = frozenset({"dry_run", "older_than", "max_size", "grace_seconds"})


class RunService:
    """Runs as JSON. One instance per server; every call reads the store afresh."""

    def __init__(self, store: RunStore | None = None, root_dir: str | Path | None = None):
        self.store = store or RunStore()
        self.root_dir = Path(root_dir or os.getcwd()).resolve()
        self._spec_cache: dict[str, RecordedFacts] = {}
        self._by_name: dict[str, tuple[float, dict[str, Any]]] = {}
        # run_id -> (row's updated_at, when) of runs whose run.json could not be read: not read again per request
        self._unreadable: dict[str, tuple[float, float]] = {}

    # -- runs ------------------------------------------------------------
    def run_summary(self, record: RunRecord) -> dict[str, Any]:
        # A shallow copy, not RunRecord.to_dict(): its dataclasses.asdict deep-copies every value and was
        # half the run list's time. The record was just read from the store and is shared with nobody.
        data = {name: value for name, value in vars(record).items() if name not in _PRIVATE_FIELDS}
        data["status"] = record.status.value
        data["duration"] = record.duration
        details = record.details or {}
        data["tags"] = details.get("tags", {})
        # parent_run_id is a v1 child run's parent, or the run a re-run repeats (then rerun_of says so)
        data["rerun_of"] = details.get("rerun_of")
        data["interactive"] = bool(details.get("interactive"))
        recorded = self._recorded(record)
        data["capabilities"] = recorded.capabilities
        data["can_cancel"] = cancel_offered(record, recorded.capabilities)  # the widgets ask the same function
        data["arguments"] = recorded.arguments
        return data

    def _capabilities_by_name(self, target: str | None) -> dict[str, Any]:
        """A target's capabilities when its run recorded none, by name; kept for 10 s (a page of such rows
        would otherwise resolve the same target, targets.yaml included, once per row and request)."""
        now = time.monotonic()
        cached = self._by_name.get(target or "")
        if cached is not None and now - cached[0] < BY_NAME_SECONDS:
            return cached[1]
        capabilities = recorded_capabilities({}, target)
        self._by_name[target or ""] = (now, capabilities)
        return capabilities

    def _recorded(self, record: RunRecord) -> RecordedFacts:
        """What run.json says of a run: its script's arguments (they tell apart runs of one script in the
        sidebar) and its target's capabilities (recorded at submit, core/runs/run_target.py).

        run.json is written once at submit and never changes, so it is read once per run (bounded cache).
        """
        cached = self._spec_cache.get(record.run_id)
        if cached is not None:
            return cached
        now = time.monotonic()
        failed = self._unreadable.get(record.run_id)
        if failed is not None and failed[0] == record.updated_at and now - failed[1] < BY_NAME_SECONDS:
            return RecordedFacts([], self._capabilities_by_name(record.target))
        try:
            spec = read_spec(self.store.run_dir(record.run_id))
        except RunConfigError:
            # Missing (a row made without submit: submit writes run.json before the row) or damaged. Read again
            # when the row changes or after BY_NAME_SECONDS, not once per row of every list request.
            if len(self._unreadable) >= SPEC_CACHE:
                self._unreadable.clear()
            self._unreadable[record.run_id] = (record.updated_at, now)
            return RecordedFacts([], self._capabilities_by_name(record.target))
        self._unreadable.pop(record.run_id, None)
        try:
            raw = spec["config"]["run_config"].get("arguments") or []
            arguments = [str(a)[:200] for a in raw][:50] if isinstance(raw, list) else []
        except (KeyError, TypeError, AttributeError):  # an interactive run has no config
            arguments = []
        facts = RecordedFacts(arguments, recorded_capabilities(spec, record.target))
        if len(self._spec_cache) >= SPEC_CACHE:
            self._spec_cache.clear()
        self._spec_cache[record.run_id] = facts
        return facts

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | list[str] | None = None,
        limit: str | int | None = None,
        offset: str | int | None = None,
        updated_since: str | float | None = None,
    ) -> dict[str, Any]:
        page = _int_arg(limit, "limit", 100, 1, MAX_PAGE)
        start = _int_arg(offset, "offset", 0, 0, 10**9)
        since: float | None = None
        if updated_since not in (None, ""):
            try:
                since = float(updated_since)  # type: ignore[arg-type]
                if not math.isfinite(since):
                    raise ValueError("not finite")
            except (TypeError, ValueError):
                raise ConfigError(
                    f"must be a unix timestamp (seconds), got {updated_since!r}", field="updated_since"
                ) from None
        statuses = _statuses(status)
        records = self.store.list(experiment or None, statuses, limit=page, offset=start, updated_since=since)
        return {
            "runs": [self.run_summary(r) for r in records],
            "total": self.store.count(experiment or None, status=statuses, updated_since=since),
            "limit": page,
            "offset": start,
            "experiments": self.store.experiments(),
        }

    def get_run(self, run_id: str) -> ScriptRun:
        return ScriptRun(run_id, store=self.store)  # RunNotFound -> 404

    def run_detail(self, run_id: str) -> dict[str, Any]:
        run = self.get_run(run_id)
        record = run.record  # a plain read: runs whose driver died are settled by the timer of server/settler.py
        detail = self.run_summary(record)
        try:
            detail["details"] = run.get_details()
        except (OSError, ValueError, KeyError) as error:  # run.json being written or damaged
            detail["details"] = {"error": {"message": f"run.json unreadable: {error}"}}
        detail["log_files"] = sorted(run.folder.log_files())
        detail["files"] = run.get_file_names()
        detail["outputs_path"] = self.contents_path(run.outputs_dir())
        return detail

    def read_log(
        self, run_id: str, name: str | None = None, offset: str | int | None = None, max_bytes: str | int | None = None
    ) -> dict[str, Any]:
        run = self.get_run(run_id)
        log_name = name or STD_LOG
        allowed = run.folder.log_names()
        if "/" in log_name or "\\" in log_name or log_name not in allowed:
            raise RunNotFound(f"run {run_id} has no log '{log_name}'. Logs: {', '.join(sorted(allowed))}")
        start = _int_arg(offset, "offset", 0, 0, MAX_LOG_OFFSET)
        size = _int_arg(max_bytes, "max_bytes", MAX_LOG_CHUNK, 1, MAX_LOG_CHUNK)
        cursor = LogCursor(run.folder, names=(log_name,), offsets={log_name: start}, max_bytes=size)
        step = cursor.poll(lambda: run.record)  # the status first, so "complete" is never said too early
        chunk = step.chunks[0]
        return {
            "run_id": run_id,
            "name": log_name,
            "offset": start,
            "next_offset": chunk.next_offset,
            "size": chunk.size,
            "text": chunk.text,
            "status": step.status.status.value,
            "complete": step.done,
        }

    def metrics(self, run_id: str) -> dict[str, Any]:
        run = self.get_run(run_id)
        records = run.get_metric_records()
        return {"run_id": run_id, "metrics": run.get_metrics(), "records": records, "images": logged_images(records)}

    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self.get_run(run_id)
        record = run.record
        refusal = cancel_refusal(record, self._recorded(record).capabilities)
        if refusal:
            raise RunStateError(refusal)
        run.cancel("canceled from JupyterLab")
        return self.run_summary(run.record)

    def rerun(self, run_id: str, experiment: str | None = None) -> dict[str, Any]:
        # The recorded config was accepted when its owner submitted it; a re-run adds no path, so it is checked
        # again by the ordinary confinement (not the root: kernels submit projects from anywhere).
        new = self.get_run(run_id).rerun(experiment=experiment or None)
        return self.run_summary(new.record)

    # -- submit ----------------------------------------------------------
    def resolve_path(self, path: str, field: str = "path") -> Path:
        """A path the user sees in the file browser, as a real path; never outside the server root."""
        if not isinstance(path, str) or not path.strip():
            raise ConfigError("give a notebook or folder path relative to the Jupyter root", field=field)
        # The same confinement check as every path of a run configuration, bounded by the root alone.
        in_root = Confinement(self.root_dir, self.store.home.resolve(), root=self.root_dir)
        resolved = in_root.path(path.strip().lstrip("/"), field)
        if not resolved.exists():
            raise ConfigError(f"'{path}' does not exist under {self.root_dir}", field=field)
        return resolved

    def contents_path(self, path: Path) -> str | None:
        """The file-browser path of ``path``, or None when it is outside the server root."""
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if resolved.is_relative_to(self.root_dir):
            return str(resolved.relative_to(self.root_dir))
        return None

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a folder (or a notebook's folder) with a runconfig given as YAML, a file, or the notebook's cell."""
        from runconfig_jupyter.core.config import ScriptRunConfig
        from runconfig_jupyter.core.runs.script_run import submit

        if not isinstance(body, dict):
            raise ConfigError("the request body must be a JSON object", field="body")
        unknown = set(body) - {"path", "runconfig", "runconfig_file", "experiment", "target", "display_name", "tags"}
        if unknown:
            raise ConfigError(
                f"unknown field(s) {', '.join(sorted(unknown))}; use path, runconfig or runconfig_file, "
                "experiment, target, display_name, tags",
                field=sorted(unknown)[0],
            )
        for key, value in body.items():  # a NUL byte cannot be a path, a name or a target
            if isinstance(value, str) and "\0" in value and key != "runconfig":
                raise ConfigError("contains a NUL byte; remove it", field=key)
        path = self.resolve_path(body.get("path", ""))
        source = path if path.is_dir() else path.parent
        text = body.get("runconfig")
        if text is not None and not isinstance(text, str):
            raise ConfigError("must be the YAML text of a run configuration", field="runconfig")
        if text is None and body.get("runconfig_file"):
            config_path = self.resolve_path(str(body["runconfig_file"]), field="runconfig_file")
            if not config_path.is_file():
                raise ConfigError(f"'{body['runconfig_file']}' is not a file", field="runconfig_file")
            text = read_text_bounded(config_path, "runconfig file", field="runconfig_file")
            if config_path.suffix.lower() in NOT_RUNCONFIG_SUFFIXES:
                raise ConfigError(not_a_runconfig(config_path), field="runconfig_file")
            text = config_path.read_text(encoding="utf-8")
        if text is None:
            if path.suffix != ".ipynb":
                raise ConfigError(
                    "give the runconfig YAML ('runconfig'), a runconfig file ('runconfig_file'), or a notebook "
                    "path whose %%runconfig cell holds it",
                    field="runconfig",
                )
            text = runconfig_cell(path)
        config = ScriptRunConfig.from_yaml(text, source_directory=str(source), home=self.store.home, root=self.root_dir)
        experiment = body.get("experiment") or "default"
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise ConfigError("must map tag names to values", field="tags")
        run = submit(
            config,
            experiment,
            target=body.get("target") or None,
            tags={str(k): str(v) for k, v in tags.items()},
            display_name=body.get("display_name") or None,
            store=self.store,
            confine_to=self.root_dir,
        )
        return self.run_summary(run.record)

    # -- files and charts --------------------------------------------------
    def run_files(self, run_id: str) -> RunFiles:
        return RunFiles(self.get_run(run_id).run_dir, run_id)

    def list_files(self, run_id: str) -> dict[str, Any]:
        """The run's outputs, logs and images, read in place (nothing is copied; see files.py)."""
        return self.run_files(run_id).listing()

    def open_file(self, run_id: str, path: str) -> OpenedFile:
        return self.run_files(run_id).open(path)

    def charts(
        self, run_id: str, compare: str | None = None, log: str | None = None, metrics: str | None = None
    ) -> dict[str, Any]:
        """Vega-Lite specs from the one builder (core/charts.py), this run first, then the compared ones."""
        from runconfig_jupyter.core.runs.charts import VEGALITE_MIME, run_charts

        ids = [run_id]
        for other in _names(compare, "compare"):
            if other not in ids:
                ids.append(other)
        if len(ids) > MAX_COMPARE + 1:
            raise ConfigError(f"compare at most {MAX_COMPARE} runs in one chart request", field="compare")
        runs = [self.get_run(i) for i in ids]  # RunNotFound -> 404 names the unknown id
        log_names = _names(log, "log")
        log_scale: bool | list[str] = True if log_names in (["all"], ["true"]) else log_names
        wanted = _names(metrics, "metrics") or None
        charts = run_charts({r.id: r.get_metric_records() for r in runs}, metrics=wanted, log_scale=log_scale)
        return {"run_id": run_id, "runs": ids, "mime": VEGALITE_MIME, "charts": charts}

    # -- targets ---------------------------------------------------------
    def collect_garbage(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST gc``: what no run references, removed only with ``"dry_run": false`` (core/runs/gc.py)."""
        from runconfig_jupyter.core.runs.garbage import GcPolicy
        from runconfig_jupyter.core.runs.gc import collect_garbage

        unknown = sorted(set(body) - GC_FIELDS)
        if unknown:
            raise ConfigError(
                f"unknown field '{unknown[0]}'; the fields are {', '.join(sorted(GC_FIELDS))}", unknown[0]
            )
        dry_run = body.get("dry_run", True)
        if not isinstance(dry_run, bool):
            raise ConfigError("dry_run must be true or false (JSON booleans)", field="dry_run")
        policy = GcPolicy.parse(body.get("older_than"), body.get("max_size"), body.get("grace_seconds"))
        return collect_garbage(policy, dry_run=dry_run, store=self.store).to_dict()

    def targets(self, check: bool = True) -> list[dict[str, Any]]:
        from runconfig_jupyter.core.target.configured import list_targets

        infos = []
        for info in list_targets(check=check):
            infos.append(
                {
                    "name": info.name,
                    "type": info.type,
                    "capabilities": info.capabilities.to_dict(),
                    "available": info.available,
                    "detail": info.detail,
                    "settings": info.settings,
                }
            )
        return infos


def not_a_runconfig(path: Path) -> str:
    """Say plainly what a runconfig file is when the user picked a script or a notebook instead."""
    kind = {".py": "a Python script", ".ipynb": "a notebook"}.get(path.suffix.lower(), f"a {path.suffix} file")
    script = path.name if path.suffix.lower() == ".py" else "train.py"
    return (
        f"'{path.name}' is {kind}, not a runconfig file.\n"
        "A runconfig file is YAML that says what to run, for example:\n\n"
        f"    script: {script}\n"
        "    arguments: [--epochs, '10']\n\n"
        "Save that as .azureml/train.runconfig next to your notebook (or write one with "
        "RunConfiguration.save(path, name)), or put the same YAML in a %%runconfig cell of the notebook."
    )


def _names(value: str | None, field: str) -> list[str]:
    """A comma-separated query value as a list of names (bounded, so a query cannot be made huge)."""
    if not value:
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    if len(names) > 100:
        raise ConfigError("give at most 100 comma-separated names", field=field)
    return names


def logged_images(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Images a run logged (``{"kind": "image", "value": {"path": ...}}``) whose path the files route can serve."""
    images = []
    for record in records:
        value = record.get("value")
        if record.get("kind") != "image" or not isinstance(value, dict) or not isinstance(value.get("path"), str):
            continue
        try:
            split_request_path(value["path"])
        except ConfigError:
            continue  # a path outside the served folders is never offered
        images.append({"name": record.get("name"), "path": value["path"], "step": record.get("step")})
    return images


def runconfig_cell(notebook: Path) -> str:
    """The YAML body of the notebook's first ``%%runconfig`` cell."""
    try:
        data = json.loads(read_text_bounded(notebook, "notebook", MAX_NOTEBOOK_BYTES, field="path"))
    except (OSError, ValueError, RecursionError) as error:
        raise ConfigError(f"cannot read notebook {notebook.name}: {error}", field="path") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ConfigError(f"{notebook.name} is not a notebook (no list of cells)", field="path")
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if text.lstrip().startswith(RUNCONFIG_CELL):
            return text.lstrip().split("\n", 1)[1] if "\n" in text.lstrip() else ""
    raise ConfigError(
        f"{notebook.name} has no %%runconfig cell; add one or pass a runconfig file ('runconfig_file')",
        field="runconfig",
    )
