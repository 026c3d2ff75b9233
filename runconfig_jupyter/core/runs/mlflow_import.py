"""What a script logged through MLflow becomes its run's metrics, tags and child runs, as in Azure ML v1.

v1 pointed ``mlflow`` at the run (``history.enableMLflowTracking``, on by default): ``mlflow.log_metric`` values
came back from ``run.get_metrics()``. Here the driver gives the script a tracking store of its own
(core/runs/script_env.py ``mlflow_environment``: MLflow's file store in its working directory, which mlflow-skinny
writes without SQLAlchemy), the targets collect it into the run folder's ``mlflow/`` with the outputs
(targets/collect.py), and once the script ended (completed, failed or canceled) the driver calls
``import_mlflow_store`` - only when that folder exists and the driver pointed the script at it, so a run that
never used MLflow loads nothing of this, and a store the user chose is never imported.

The store is read in MLflow's file-store layout (the same in MLflow 2.x and 3.x), never by importing mlflow,
which the driver's interpreter need not have::

    <root>/<experiment id>/<run id>/meta.yaml        run_name, status, lifecycle_stage, start_time (scalars)
                                   /metrics/<key>    one line per value: "<ms timestamp> <value> <step>"
                                                     (a key with '/' is a sub-folder)
                                   /params/<key>     the value
                                   /tags/<key>       the value
    <root>/.trash, <experiment>/{tags,datasets,traces}: not read
    <run>/artifacts, <experiment>/models/<id>/artifacts (MLflow 3's logged models): the run's files, placed by
                                                     mlflow_artifacts.py (links skipped there, not refusing)

* every metric value of a top-level MLflow run becomes a scalar metric record of the run with its step and
  time, in the order logged (each key's lines as written, keys merged by their timestamps; a line repeated with
  the same time, value and step counts once, as MLflow's SQL store keys it): a name logged once reads back as a
  number, a series as a list;
* params and tags (MLflow's own ``mlflow.*`` system tags aside) become run tags, where v1's ``run.get_tags()``
  showed them;
* a nested MLflow run (``mlflow.start_run(nested=True)``, tag ``mlflow.parentRunId``) becomes a child run of
  the run (or of the child its parent became), ended with MLflow's status for it.

The folder was written by the script, so it is data and nothing more: it is walked with ``os.scandir`` without
following anything, a link or special file wherever the reader looks refuses the whole store, files are opened
with ``O_NOFOLLOW`` and checked to be the regular file that was listed, and the number of entries, the bytes per
file and in all, names, values, runs, metric values and the time spent are bounded. ``meta.yaml`` is read by a
line reader that takes five top-level scalars, never by a YAML loader. What was left out is said in the driver's
log, which receives every line this returns. Artifact locations are text that nothing here follows. An
``imported.json`` beside the store keeps a driver that re-attached after a crash from importing twice.
"""

from __future__ import annotations

import heapq
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import record_history
from runconfig_jupyter.core.runs.mlflow_artifacts import usable_name
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunStore

IMPORTED_MARK = "imported.json"
MAX_ENTRIES = 50_000  # files and folders the reader lists, over the whole store
MAX_METRIC_FILE_BYTES = 64 << 20  # one metric key's values (~40 bytes a line); a bigger file is left out
MAX_SMALL_FILE_BYTES = 64 << 10  # a meta.yaml, a param or a tag; a bigger one is left out
MAX_TOTAL_BYTES = 512 << 20  # everything read
MAX_KEY_DEPTH = 16  # sub-folders of a metric key with '/'
MAX_METRIC_ROWS = 200_000  # over every MLflow run of the store
MAX_RUNS = 100  # top-level and nested MLflow runs
MAX_EXPERIMENTS = 1_000  # experiments of the notebook's store listed by ws.experiments
MAX_KEYS = 10_000  # params + tags per MLflow run
MAX_NAME_CHARS = 250  # MLflow's own limit for a metric, param or tag key
MAX_VALUE_CHARS = 8_000  # MLflow's own limit for a tag value (params: 6,000)
MAX_META_LINES = 200  # a run's meta.yaml has ~15
READ_SECONDS = 20.0  # the whole store
TRASH = ".trash"
NOT_RUNS = frozenset({"tags", "datasets", "traces", "models"})  # an experiment's folders that are not runs
META = "meta.yaml"
META_KEYS = frozenset({"run_id", "run_name", "status", "lifecycle_stage", "start_time"})
MODEL_META_KEYS = frozenset({"name", "source_run_id", "status"})  # an MLflow 3 logged model's meta.yaml
ARTIFACTS = "artifacts"
PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
SYSTEM_TAG_PREFIX = "mlflow."
# MLflow's run statuses (the file store keeps the number) -> ours; a nested run still RUNNING ends with its
# parent (core/runs/interactive.py).
STATUS_NAMES = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}
END_STATUS = {"FINISHED": RunStatus.COMPLETED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.CANCELED}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class StoreRefused(Exception):
    """The store holds a link or special file, is too big, or took too long to read: nothing of it is recorded."""


def import_mlflow_store(store: RunStore, run_id: str, root: Path) -> list[str]:
    """Record what the MLflow file store at ``root`` holds on run ``run_id``; lines for the driver's log.

    Raises on a store that cannot be read (refused, vanished): the caller logs it, and nothing of the store was
    recorded then. A store read to its end is recorded whole, and marked as imported.
    """
    mark = root.parent / IMPORTED_MARK
    if os.path.lexists(mark):
        return []
    reader = _Reader(root)
    runs = reader.read_store()
    lines = [f"MLflow store: {note}" for note in reader.notes()]
    recorded, placed_on = _record(store, run_id, runs)
    lines += recorded
    lines += _place_artifacts(store, runs, placed_on)
    mark.write_text(json.dumps({"imported_at": time.time(), "runs": len(runs)}))
    return lines


# -- reading -----------------------------------------------------------------------------------------------------
class _MlflowRun:
    """One MLflow run as read from the store: what will be recorded of it."""

    def __init__(self, uuid: str, name: str | None, status: str | None, start: int, folder: Path | None = None):
        self.uuid, self.name, self.status, self.start = uuid, name, status, start
        self.folder = folder  # <experiment>/<run> in the store: its artifacts/ and its experiment's models/
        self.parent: str | None = None
        self.metrics: list[dict[str, Any]] = []
        self.tags: dict[str, str] = {}


class _Reader:
    """One bounded walk of a file store: listings and reads count against the bounds, links are refused."""

    def __init__(self, root: Path):
        self.root = root
        self.deadline = time.monotonic() + READ_SECONDS
        self.entries = 0
        self.bytes_read = 0
        self.budget = MAX_METRIC_ROWS
        self.skipped = {"names": 0, "values": 0, "truncated": 0, "big": 0, "runs": 0, "keys": 0}

    # -- the store ----------------------------------------------------------------------------------------------
    def read_store(self) -> list[_MlflowRun]:
        """The store's active runs (oldest first) with their metrics, params and tags."""
        info = os.lstat(self.root)
        if not stat.S_ISDIR(info.st_mode):
            raise StoreRefused(f"{self.root.name} is not a folder (a link or a file); not read")
        found: list[tuple[int, str, Path, dict[str, str]]] = []
        for experiment in self._folders(self.root):
            if experiment.name == TRASH:
                continue
            for run_dir in self._folders(experiment):
                if run_dir.name in NOT_RUNS:
                    continue
                meta = self._meta(run_dir)
                if meta is None or meta.get("lifecycle_stage") == "deleted":
                    continue
                start = meta.get("start_time", "")
                found.append((int(start) if start.isdigit() else 0, run_dir.name, run_dir, meta))
        found.sort(key=lambda item: (item[0], item[1]))
        if len(found) > MAX_RUNS:
            self.skipped["runs"] = len(found) - MAX_RUNS
            found = found[:MAX_RUNS]
        runs: list[_MlflowRun] = []
        for start, folder_name, run_dir, meta in found:
            status = meta.get("status", "")
            run = _MlflowRun(
                _text(meta.get("run_id"), 64) or folder_name,
                _text(meta.get("run_name"), MAX_NAME_CHARS),
                STATUS_NAMES.get(status, status.upper()[:16]),
                start,
                run_dir,
            )
            self._read_metrics(run, run_dir)
            self._read_keys(run, run_dir)
            runs.append(run)
        return runs

    def notes(self) -> list[str]:
        skipped, notes = self.skipped, []
        if skipped["runs"]:
            notes.append(f"more than {MAX_RUNS} MLflow runs; the first {MAX_RUNS} were imported")
        if self.budget < 0:
            notes.append(f"more than {MAX_METRIC_ROWS} metric values; the first {MAX_METRIC_ROWS} were imported")
        if skipped["names"]:
            notes.append(f"{skipped['names']} names not usable (1-{MAX_NAME_CHARS} chars of text) left out")
        if skipped["values"]:
            notes.append(f"{skipped['values']} metric lines that are not MLflow's '<time> <value> <step>' left out")
        if skipped["truncated"]:
            notes.append(f"{skipped['truncated']} param or tag values cut to {MAX_VALUE_CHARS} characters")
        if skipped["big"]:
            notes.append(
                f"{skipped['big']} files over their size bound (meta.yaml, params, tags: "
                f"{MAX_SMALL_FILE_BYTES} bytes; metrics: {MAX_METRIC_FILE_BYTES}) left out"
            )
        if skipped["keys"]:
            notes.append(f"more than {MAX_KEYS} params and tags in an MLflow run; the rest left out")
        return notes

    # -- one run -------------------------------------------------------------------------------------------------
    def _meta(self, run_dir: Path) -> dict[str, str] | None:
        """The run's few scalars of its meta.yaml; None when it has none (not a run) or it is too big."""
        files = dict(self._files(run_dir))
        if META not in files:
            return None
        raw = self._read(run_dir / META, files[META], MAX_SMALL_FILE_BYTES)
        return None if raw is None else _meta_scalars(raw.decode("utf-8", "replace"))

    def _read_metrics(self, run: _MlflowRun, run_dir: Path) -> None:
        """The run's metric values: each key's lines in the order written, keys merged by timestamp."""
        folder = run_dir / "metrics"
        if not self._is_folder(run_dir, "metrics"):
            return
        series: list[list[dict[str, Any]]] = []
        for name, path, info in self._key_files(folder):
            if self.budget < 0:
                break
            raw = self._read(path, info, MAX_METRIC_FILE_BYTES)
            if raw is not None:
                series.append(self._metric_lines(name, raw))
        run.metrics = list(heapq.merge(*series, key=lambda record: record["time"]))

    def _metric_lines(self, name: str, raw: bytes) -> list[dict[str, Any]]:
        """One key's values in the order written, each (timestamp, value, step) once.

        MLflow 3's file store writes a run's metric lines a second time when the script logs a model
        (``mlflow.<flavor>.log_model`` links the run's metrics to the LoggedModel, even one that then fails); its
        SQL store keys a value by exactly these fields, so the repeat is the same value and counts once, as it
        did in v1's run history.
        """
        records: list[dict[str, Any]] = []
        seen: set[tuple[int, str, int]] = set()
        for count, line in enumerate(raw.decode("utf-8", "replace").splitlines()):
            if count % 4096 == 0:
                self._check_time()
            if not line.strip():
                continue
            if self.budget <= 0:
                self.budget = -1  # one value more than the budget: some were left out
                break
            self.budget -= 1
            parts = line.split(" ")
            try:
                if len(parts) not in (2, 3, 5):
                    raise ValueError(line)
                timestamp, value = int(parts[0]), float(parts[1])
                step = int(parts[2]) if len(parts) >= 3 else 0
            except ValueError:
                self.skipped["values"] += 1
                continue
            if (timestamp, parts[1], step) in seen:
                self.budget += 1  # the repeat is not a value of its own
                continue
            seen.add((timestamp, parts[1], step))
            records.append({"name": name, "value": value, "kind": "scalar", "step": step, "time": timestamp / 1000.0})
        return records

    def _read_keys(self, run: _MlflowRun, run_dir: Path) -> None:
        """Params, then tags (a tag of the same name wins); MLflow's system tags only for the parent and the name."""
        seen = 0
        for kind in ("params", "tags"):
            if not self._is_folder(run_dir, kind):
                continue
            for name, path, info in self._key_files(run_dir / kind):
                seen += 1
                if seen > MAX_KEYS:
                    self.skipped["keys"] += 1
                    return
                raw = self._read(path, info, MAX_SMALL_FILE_BYTES)
                if raw is None:
                    continue
                value = raw.decode("utf-8", "replace")
                if name == PARENT_TAG:
                    run.parent = _text(value.strip(), 64)
                elif name == RUN_NAME_TAG:
                    run.name = run.name or _text(value.strip(), MAX_NAME_CHARS)
                if name.startswith(SYSTEM_TAG_PREFIX):
                    continue
                if len(value) > MAX_VALUE_CHARS:
                    self.skipped["truncated"] += 1
                    value = value[:MAX_VALUE_CHARS]
                run.tags[name] = value

    # -- the walk ------------------------------------------------------------------------------------------------
    def _list(self, folder: Path) -> list[tuple[str, os.stat_result]]:
        """The folder's entries (name, lstat), sorted; a link or special file refuses the store."""
        self._check_time()
        listed: list[tuple[str, os.stat_result]] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                self.entries += 1
                if self.entries > MAX_ENTRIES:
                    raise StoreRefused(f"more than {MAX_ENTRIES} files and folders; not read")
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise StoreRefused(f"{self._shown(folder / entry.name)} is a link; the store was not read")
                if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                    raise StoreRefused(f"{self._shown(folder / entry.name)} is a special file; the store was not read")
                listed.append((entry.name, info))
        return sorted(listed, key=lambda item: item[0])

    def _folders(self, folder: Path) -> list[Path]:
        return [folder / name for name, info in self._list(folder) if stat.S_ISDIR(info.st_mode)]

    def _files(self, folder: Path) -> list[tuple[str, os.stat_result]]:
        return [(name, info) for name, info in self._list(folder) if stat.S_ISREG(info.st_mode)]

    def _is_folder(self, parent: Path, name: str) -> bool:
        try:
            info = os.lstat(parent / name)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(info.st_mode):
            raise StoreRefused(f"{self._shown(parent / name)} is a link; the store was not read")
        return stat.S_ISDIR(info.st_mode)

    def _key_files(self, folder: Path, prefix: str = "", depth: int = 0) -> list[tuple[str, Path, os.stat_result]]:
        """(key, path, lstat) of every file under a metrics/params/tags folder; a sub-folder is a '/' of the key."""
        found: list[tuple[str, Path, os.stat_result]] = []
        for name, info in self._list(folder):
            key = f"{prefix}{name}"
            if not usable_name(name) or len(key) > MAX_NAME_CHARS:
                self.skipped["names"] += 1
                continue
            if stat.S_ISDIR(info.st_mode):
                if depth >= MAX_KEY_DEPTH:
                    self.skipped["names"] += 1
                    continue
                found += self._key_files(folder / name, f"{key}/", depth + 1)
            else:
                found.append((key, folder / name, info))
        return found

    def _read(self, path: Path, listed: os.stat_result, limit: int) -> bytes | None:
        """The file's bytes (None when over ``limit``): opened without following a link, and only if it is
        still the regular file that was listed."""
        if listed.st_size > limit:
            self.skipped["big"] += 1
            return None
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (listed.st_dev, listed.st_ino):
                raise StoreRefused(f"{self._shown(path)} changed while the store was read; not read")
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        if size > limit:  # grew since it was listed
            self.skipped["big"] += 1
            return None
        self.bytes_read += size
        if self.bytes_read > MAX_TOTAL_BYTES:
            raise StoreRefused(f"more than {MAX_TOTAL_BYTES} bytes to read; not read")
        return b"".join(chunks)

    def _check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise StoreRefused(f"reading took more than {READ_SECONDS:g} s; not read")

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def home_experiment_names(folder: Path) -> list[str]:
    """The active experiments of the notebook's MLflow store in ``folder`` (``<home>/mlflow``, what
    ``ws.get_mlflow_tracking_uri()`` gives outside a run): ``mlruns/<id>/meta.yaml`` of the file store, or the
    ``experiments`` table of ``mlflow.db``.

    In v1 ``mlflow.set_experiment(name)`` in a notebook made an Azure ML experiment, so train-local's
    ``ws.experiments[experiment_name]`` found it. The store is the kernel's data, read as the run import reads
    one: folders listed without following links, at most MAX_EXPERIMENTS, each meta.yaml opened without
    following a link and bounded, never given to a YAML loader; the database opened read-only. MLflow's own
    ``Default`` experiment (id 0) counts only once it holds a run.
    """
    names: list[str] = []
    files = folder / "mlruns"
    if stat.S_ISDIR(_lstat_mode(files)):
        with os.scandir(files) as entries:
            experiments = [e for e in entries if e.is_dir(follow_symlinks=False) and e.name != TRASH]
        for entry in sorted(experiments, key=lambda e: e.name)[:MAX_EXPERIMENTS]:
            meta = _small_file(Path(entry.path) / META)
            found = {} if meta is None else _meta_scalars(meta, frozenset({"name", "lifecycle_stage"}))
            if found.get("lifecycle_stage", "active") != "active" or not found.get("name"):
                continue
            if entry.name == "0" and not _holds_a_run(Path(entry.path)):
                continue
            names.append(found["name"])
    database = folder / "mlflow.db"
    if stat.S_ISREG(_lstat_mode(database)):
        import sqlite3

        try:
            with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as db:
                rows = db.execute(
                    "SELECT name FROM experiments WHERE lifecycle_stage = 'active' AND (experiment_id != 0 "
                    "OR EXISTS (SELECT 1 FROM runs WHERE runs.experiment_id = 0)) LIMIT ?",
                    (MAX_EXPERIMENTS,),
                ).fetchall()
            names += [row[0] for row in rows if isinstance(row[0], str)]
        except sqlite3.Error:
            pass  # not MLflow's schema (or not a database): no experiment of it
    return names


def _lstat_mode(path: Path) -> int:
    """``path``'s mode without following a link; 0 when it is missing."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def _small_file(path: Path) -> str | None:
    """A regular file of at most MAX_SMALL_FILE_BYTES as text, opened without following a link; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SMALL_FILE_BYTES:
            return None
        return os.read(fd, MAX_SMALL_FILE_BYTES).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _holds_a_run(experiment: Path) -> bool:
    """Whether an experiment folder of a file store has a run folder (one with a meta.yaml)."""
    with os.scandir(experiment) as entries:
        return any(
            e.is_dir(follow_symlinks=False) and e.name not in NOT_RUNS and os.path.lexists(Path(e.path) / META)
            for e in entries
        )


def _meta_scalars(text: str, keys: frozenset[str] = META_KEYS) -> dict[str, str]:
    """The few top-level ``key: scalar`` lines of a meta.yaml the import uses (never a YAML loader: the
    text is the script's). Quoted scalars lose their quotes; anything else (lists, nesting) is ignored."""
    found: dict[str, str] = {}
    for line in text.splitlines()[:MAX_META_LINES]:
        if not line or line[0] in " \t-#":
            continue
        key, sep, value = line.partition(":")
        if not sep or key not in keys:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        found[key] = value
    return found


def _text(value: Any, limit: int) -> str | None:
    """Text of at most ``limit`` characters (cut when longer); None when empty or not text."""
    if not isinstance(value, str) or not value:
        return None
    return value[:limit]


# -- recording -------------------------------------------------------------------------------------------------------
def _record(store: RunStore, run_id: str, runs: list[_MlflowRun]) -> tuple[list[str], dict[str, str]]:
    """Top-level MLflow runs onto ``run_id``; nested ones as its child runs (grandchildren under their parent).

    Returns the driver-log lines and which of our runs each MLflow run (by uuid) became.
    """
    from runconfig_jupyter.core.runs.interactive import start_interactive

    known = {run.uuid for run in runs}
    ours = {run.uuid: run_id for run in runs if run.parent not in known}  # top-level (or its parent was left out)
    lines: list[str] = []
    tags: dict[str, str] = {}
    metrics: list[dict[str, Any]] = []
    for run in runs:
        if run.uuid in ours:
            metrics += run.metrics
            tags.update(run.tags)
    _append_metrics(store, run_id, metrics)
    if tags:
        record_history(store, run_id, tags=tags)
    lines.append(f"MLflow: {len(metrics)} metric values and {len(tags)} params and tags recorded on the run")
    experiment = store.get(run_id).experiment
    for run in runs:  # oldest first: a nested run's parent has its run id by now
        if run.uuid in ours:
            continue
        parent = ours.get(run.parent or "", run_id)
        child_id = f"{run_id}_mlflow_{''.join(ch for ch in run.uuid if ch.isalnum())[:32]}"
        start_interactive(
            store, experiment, parent_run_id=parent, display_name=run.name, run_id=child_id, tags=run.tags
        )
        ours[run.uuid] = child_id
        _append_metrics(store, child_id, run.metrics)
        ended = END_STATUS.get(run.status or "")
        if ended is not None:
            reason = None if ended == RunStatus.COMPLETED else f"the MLflow run ended {run.status}"
            store.set_status(child_id, ended, reason=reason)
        lines.append(f"MLflow: nested run {run.uuid} ({run.name or 'unnamed'}) recorded as child run {child_id}")
    return lines, ours


def _place_artifacts(store: RunStore, runs: list[_MlflowRun], placed_on: dict[str, str]) -> list[str]:
    """Each MLflow run's logged files (its ``artifacts/``, and MLflow 3's models it logged) become files of the run
    it became (mlflow_artifacts.py, loaded only here: for a store that exists). A failure is a line: the metrics
    and tags are recorded already, and the run keeps its outcome."""
    from runconfig_jupyter.core.runs.mlflow_artifacts import model_roots, place_artifacts

    def model_meta(path: Path) -> dict[str, str] | None:
        text = _small_file(path)
        return None if text is None else _meta_scalars(text, MODEL_META_KEYS)

    try:
        sources: list[tuple[Path, str, Path]] = []
        for run in runs:
            if run.folder is None or run.uuid not in placed_on:
                continue
            run_dir = store.run_dir(placed_on[run.uuid])
            if os.path.lexists(run.folder / ARTIFACTS):
                sources.append((run.folder / ARTIFACTS, "", run_dir))
            for root, name in model_roots(run.folder.parent, run.uuid, model_meta):
                sources.append((root, f"{name}/", run_dir))
        return place_artifacts(sources) if sources else []
    except Exception as error:  # whatever it is, the run keeps its outcome
        return [f"MLflow: logged files not placed as the run's files: {type(error).__name__}: {error}"]


def _append_metrics(store: RunStore, run_id: str, records: list[dict[str, Any]]) -> None:
    """The records appended to the run's metrics.jsonl, in writes of whole lines (a reader never sees half one)."""
    if not records:
        return
    path = RunFolder(store.run_dir(run_id)).metrics_path
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        block: list[str] = []
        for record in records:
            block.append(json.dumps(record, separators=(",", ":")))
            if len(block) == 1000:
                os.write(fd, ("\n".join(block) + "\n").encode("utf-8"))
                block = []
        if block:
            os.write(fd, ("\n".join(block) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
