"""``RunFolder``: the one place that knows how a run folder is laid out on disk.

The run folder is the source of truth for a run's logs, metrics and outputs (the store's row is an index,
see reindex.py). Every module that needs one of its files asks this one for the path instead of joining
names itself, so the layout can change in one place and a reader cannot disagree with a writer about where
something lives::

    runs/<run id>/
      run.json              what was submitted (config, target spec, snapshot): written once at submit
      record.json           the store's row, rewritten with every store write (reindex.py)
      snapshot.json         the packaged source directory: a hard link to its manifest in the snapshot store
                            (<home>/snapshots/manifests/<id>.json; the files are objects there)
      snapshot.tar          the same as one tar, in run folders written by versions before the store
      manifest.json         the snapshot's file list with sizes
      metrics.jsonl         one JSON record per logged metric (appended by the script or the driver)
      history.json          tags, properties, display name (history.py)
      logs/prepare_log.txt  preparation (image build, upload), written by the driver
      logs/std_log.txt      the script's output (stdout and stderr), what "the log" of a run means
      logs/driver_log.txt   the driver's own diagnostics
      logs/user/            the script's own ./logs folder, collected when it ends
      outputs/              the script's ./outputs, collected when it ends
      artifacts/            files uploaded with upload_file / log_image under another name, and the files the
                            script logged through MLflow (log_artifact(s), log_text, log_dict, log_model) at
                            the names v1 gave them: hard links to (or copies of) the store's files
      ranks/                exit codes, pids and the merge journal of a distributed run's ranks
      script_exit.json      a local script's exit code, written by its supervisor
      mlflow/mlruns/        the script's own MLflow tracking store (MLflow's file store: <experiment>/<run>/
                            metrics, params, tags, meta.yaml, artifacts), collected from its working directory
                            (./.runconfig-mlflow) and imported into metrics.jsonl and history.json when the run
                            ends (mlflow_import.py), its logged files placed under artifacts/ (a nested MLflow
                            run's under its child run's; mlflow_artifacts.py), never moved: `mlflow ui` still
                            browses it; mlflow/imported.json marks it imported

Standard library only and importing nothing else of the package: the in-script shim ships this module
(core/runs/shim.py), because the in-script API needs the metrics file's name too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUN_SPEC = "run.json"
RECORD_FILE = "record.json"
SNAPSHOT_FILE = "snapshot.tar"  # runs written before the per-file store
STORED_SNAPSHOT_FILE = "snapshot.json"
MANIFEST_FILE = "manifest.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.jsonl"
SCRIPT_EXIT_FILE = "script_exit.json"
LOGS_DIR = "logs"
OUTPUTS_DIR = "outputs"
DATA_OUTPUTS = "data_outputs"  # in the run folder, and in the script's working dir on kernel and Ray
ARTIFACTS_DIR = "artifacts"
RANKS_DIR = "ranks"
USER_LOGS_DIR = "user"  # under logs/: the script's own ./logs folder
MLFLOW_DIR = "mlflow"  # the script's MLflow store; script_env.py names the store the same (MLFLOW_STORE_NAME)
MLFLOW_STORE = "mlruns"
PREPARE_LOG = "prepare_log.txt"
STD_LOG = "std_log.txt"
DRIVER_LOG = "driver_log.txt"
# What a reader shows as "the run's log", in this order: preparation first, then the script's output.
FOLLOWED_LOGS = (PREPARE_LOG, STD_LOG)
# The folders whose files a run lists as its own (get_file_names, the server's file listing).
FILE_FOLDERS = (OUTPUTS_DIR, LOGS_DIR, ARTIFACTS_DIR)


class RunFolder:
    """Paths of one run folder and the few reads every front end needs (spec, log files, metrics, outputs).

    Cheap to create and holding no state besides the path: every call looks at the disk again, so a
    folder written by another process (a driver, a script) is always seen as it is now.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- paths ---------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def spec_path(self) -> Path:
        return self.path / RUN_SPEC

    @property
    def record_path(self) -> Path:
        return self.path / RECORD_FILE

    @property
    def snapshot_path(self) -> Path:
        """The run's snapshot as targets read it: the store manifest, or the tar of an older run folder."""
        stored = self.stored_snapshot_path
        return stored if stored.exists() else self.path / SNAPSHOT_FILE

    @property
    def stored_snapshot_path(self) -> Path:
        return self.path / STORED_SNAPSHOT_FILE

    def link_snapshot(self, snapshot: Path) -> Path:
        """Give the run its snapshot (a store manifest ``*.json`` or a tar): a hard link, so the run keeps it
        whatever happens to the store's name for it; a copy on another file system. Replaces an earlier one."""
        target = self.stored_snapshot_path if snapshot.suffix == ".json" else self.path / SNAPSHOT_FILE
        for old in (self.stored_snapshot_path, self.path / SNAPSHOT_FILE):
            old.unlink(missing_ok=True)
        try:
            os.link(snapshot, target)
        except OSError:  # another file system: a copy is slower but equivalent
            import shutil

            shutil.copyfile(snapshot, target)
        return target

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def script_exit_path(self) -> Path:
        return self.path / SCRIPT_EXIT_FILE

    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def user_logs_dir(self) -> Path:
        return self.logs_dir / USER_LOGS_DIR

    @property
    def outputs_dir(self) -> Path:
        return self.path / OUTPUTS_DIR

    @property
    def artifacts_dir(self) -> Path:
        return self.path / ARTIFACTS_DIR

    @property
    def mlflow_dir(self) -> Path:
        return self.path / MLFLOW_DIR

    @property
    def mlflow_store(self) -> Path:
        """The run's MLflow file store as collected from the script's working directory (present only if it used
        MLflow)."""
        return self.mlflow_dir / MLFLOW_STORE

    @property
    def ranks_dir(self) -> Path:
        return self.path / RANKS_DIR

    def log_path(self, name: str = STD_LOG) -> Path:
        """A file under logs/; ``std_log.txt`` (the default) is the script's output."""
        return self.logs_dir / name

    @property
    def std_log(self) -> Path:
        return self.log_path(STD_LOG)

    @property
    def prepare_log(self) -> Path:
        return self.log_path(PREPARE_LOG)

    @property
    def driver_log(self) -> Path:
        return self.log_path(DRIVER_LOG)

    # -- writing (submit and interactive runs create folders) ----------------------
    def create(self) -> None:
        """Make the folder with its empty logs/ and outputs/; an existing folder is an error (run ids are new)."""
        self.logs_dir.mkdir(parents=True)
        self.outputs_dir.mkdir()

    def write_spec(self, spec: dict[str, Any]) -> None:
        self.spec_path.write_text(json.dumps(spec, indent=2, default=str))

    # -- reading --------------------------------------------------------------------
    def log_files(self) -> dict[str, Path]:
        """Every file under logs/ (also logs/user/...), by its name relative to the run folder, sorted."""
        if not self.logs_dir.is_dir():
            return {}
        return {p.relative_to(self.path).as_posix(): p for p in sorted(self.logs_dir.rglob("*")) if p.is_file()}

    def log_names(self) -> set[str]:
        """The names a reader may ask for by name alone (``?name=driver_log.txt``): the followed logs and the
        file names found under logs/."""
        return {path.name for path in self.log_files().values()} | set(FOLLOWED_LOGS)

    def log_size(self, name: str = STD_LOG) -> int:
        """Bytes in a log now (0 when it does not exist yet)."""
        try:
            return self.log_path(name).stat().st_size
        except FileNotFoundError:
            return 0

    def metric_records(self) -> list[dict[str, Any]]:
        """Every complete metric record logged so far; a line being written right now is left for later."""
        try:
            data = self.metrics_path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a damaged line costs only itself
            if isinstance(record, dict):
                records.append(record)
        return records

    def files(self, folders: tuple[str, ...] = FILE_FOLDERS, limit: int | None = None) -> list[tuple[str, int]]:
        """``(name relative to the run folder, size)`` of the regular files under ``folders``, sorted per folder.

        A file that disappears while listed (a rename by the collector) is left out rather than failing.
        """
        found: list[tuple[str, int]] = []
        for folder in folders:
            root = self.path / folder
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if limit is not None and len(found) >= limit:
                    return found
                try:
                    if path.is_file():
                        found.append((path.relative_to(self.path).as_posix(), path.stat().st_size))
                except OSError:
                    continue
        return found

    def outputs(self, limit: int | None = None) -> list[tuple[str, int]]:
        """The files under outputs/ with their sizes (``outputs/model.pt``, ...)."""
        return self.files((OUTPUTS_DIR,), limit)
