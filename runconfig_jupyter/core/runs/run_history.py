"""Azure ML v1's run-history methods on a run handle (tags, properties, details, children, logs).

Mixed into ``ScriptRun`` (script_run.py), which provides ``store``, ``id``, ``run_dir``, ``record`` and
``get_spec``. Everything reads the run folder (``run.json``, ``history.json``, ``logs/``) and the
index afresh, so two handles on the same run, in two processes, always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.history import read_history, record_history
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import is_interactive
from runconfig_jupyter.core.system.remembered import file_state

if TYPE_CHECKING:
    from runconfig_jupyter.core.config.environment import Environment
    from runconfig_jupyter.core.runs.store import RunRecord, RunStore

SCRIPT_RUN_TYPE = "azureml.scriptrun"
INTERACTIVE_RUN_TYPE = "interactive"


def iso_utc(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def tags_match(tags: Mapping[str, Any], wanted: Any) -> bool:
    """Azure's tag filter: a name (present), a dict of name -> value, or a list whose items are names or
    ``[name, value]`` pairs (``Model.list(ws, tags=[['Store', '1000']])``; a pair is not a tag's name)."""
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted in tags
    if isinstance(wanted, Mapping):
        return all(key in tags and (value is None or tags[key] == str(value)) for key, value in wanted.items())
    return all(_tag_item_matches(tags, item) for item in wanted)


def _tag_item_matches(tags: Mapping[str, Any], item: Any) -> bool:
    """One item of a list filter: ``'name'`` (present) or ``['name', 'value']`` (that value, compared as text)."""
    if not isinstance(item, (list, tuple)):
        return str(item) in tags
    if len(item) != 2:
        raise ConfigError(f"each item must be a tag name or a [name, value] pair, not {item!r}", field="tags")
    name, value = item
    return str(name) in tags and tags[str(name)] == str(value)


def is_child_of(record: RunRecord, parent_id: str) -> bool:
    """A v1 child run; a re-run also points at the run it repeats, but is not its child."""
    return record.parent_run_id == parent_id and not record.details.get("rerun_of")


class RunHistory:
    """Tags, properties, description, children and Azure-shaped details of one run."""

    store: RunStore
    id: str
    run_dir: Path

    if TYPE_CHECKING:

        @property
        def record(self) -> RunRecord: ...

        def get_spec(self) -> dict[str, Any]: ...

        def _log_paths(self) -> dict[str, Path]: ...

    # -- tags and properties ----------------------------------------------------
    def get_tags(self) -> dict[str, str | None]:
        return dict(read_history(self.run_dir)["tags"])

    @property
    def tags(self) -> dict[str, str | None]:
        return self.get_tags()

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag; ``run.tag("name")`` alone is a tag whose value is None, as in Azure."""
        record_history(self.store, self.id, tags={key: value})

    def set_tags(self, tags: Mapping[str, Any] | str | list[str]) -> None:
        """Add or change tags (a dict, or names whose value is None)."""
        if isinstance(tags, str):
            tags = {tags: None}
        elif not isinstance(tags, Mapping):
            tags = {str(name): None for name in tags}
        record_history(self.store, self.id, tags=tags)

    def remove_tags(self, tags: str | list[str]) -> None:
        record_history(self.store, self.id, remove_tags=[tags] if isinstance(tags, str) else list(tags))

    def get_properties(self) -> dict[str, Any]:
        """System properties of the run plus what ``add_properties`` recorded."""
        record = self.record
        system: dict[str, Any] = {"_azureml.ComputeTargetType": record.target_type}
        if record.snapshot_id:
            system["ContentSnapshotId"] = record.snapshot_id
        return {**system, **read_history(self.run_dir)["properties"]}

    @property
    def properties(self) -> dict[str, Any]:
        return self.get_properties()

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        """Add immutable properties; changing one that is set raises ``AssetConflict``."""
        record_history(self.store, self.id, properties=properties)

    @property
    def display_name(self) -> str | None:
        return read_history(self.run_dir)["display_name"] or self.record.display_name

    @display_name.setter
    def display_name(self, value: str | None) -> None:
        record_history(self.store, self.id, display_name=value)

    @property
    def name(self) -> str | None:
        return self.display_name

    @property
    def description(self) -> str | None:
        return read_history(self.run_dir)["description"]

    @description.setter
    def description(self, value: str | None) -> None:
        record_history(self.store, self.id, description=value)

    @property
    def number(self) -> int:
        """v1's run number: the run's 1-based position, by creation time, among its experiment's runs."""
        record = self.record
        return self.store.count(experiment=record.experiment, created_at_most=record.created_at)

    def clean(self) -> list[str]:
        """v1 removes the run's files left on the target; local targets already remove the working copy when
        the run ends (outputs and logs are kept in the run home), so nothing is left to delete."""
        return []

    @property
    def type(self) -> str:
        return INTERACTIVE_RUN_TYPE if is_interactive(self.record) else SCRIPT_RUN_TYPE

    # -- family -------------------------------------------------------------------
    def _handle(self, run_id: str) -> RunHistory:
        """A handle of this run's own class (``ScriptRun``) for another run: a parent or a child."""
        return type(self)(run_id, store=self.store)  # type: ignore[call-arg]

    @property
    def parent(self) -> RunHistory | None:
        record = self.record
        if record.parent_run_id is None or record.details.get("rerun_of"):
            return None
        return self._handle(record.parent_run_id)

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[RunHistory]:
        """Child runs, newest first (with ``recursive``, grandchildren follow their parent)."""
        for record in self.store.list(parent_run_id=self.id, status=status, limit=100_000):
            if not is_child_of(record, self.id):
                continue
            child = self._handle(record.run_id)
            if child.matches(tags=tags, properties=properties, run_type=type):
                yield child
            if recursive:
                yield from child.get_children(True, tags, properties, type, status)

    def matches(self, tags: Any = None, properties: Any = None, run_type: str | None = None) -> bool:
        """Azure's run filters (``tags``, ``properties``, ``type``)."""
        if run_type is not None and self.type != run_type:
            return False
        if tags is not None and not tags_match(self.get_tags(), tags):
            return False
        return properties is None or tags_match({k: str(v) for k, v in self.get_properties().items()}, properties)

    # -- details and logs ----------------------------------------------------------
    def get_snapshot_id(self) -> str | None:
        return self.record.snapshot_id

    def get_environment(self) -> Environment:
        """The environment the run was defined with (for a re-run or to register it)."""
        from runconfig_jupyter.core.config import ScriptRunConfig
        from runconfig_jupyter.core.config.environment import Environment

        config = self.get_spec().get("config")
        if not config:
            return Environment(name="interactive")
        return ScriptRunConfig.from_dict(config).run_config.environment

    def _run_definition(self, record: RunRecord) -> dict[str, Any]:
        definition = json.loads(self._definition_text())
        definition["target"] = record.target
        return definition

    def _definition_text(self) -> str:
        """v1's runDefinition of this run as JSON text, its target left to fill in.

        Built from run.json through the configuration classes (2-5 ms here), so it is remembered by the handle
        while that file stays the same file with the same size and mtime (a submit writes it once): the
        ``get_details()`` that ends every ``wait_for_completion`` then costs a ``json.loads``, and the wait
        builds it while the run is still going (``prepare_details``).
        """
        stamp = file_state(str(self.folder.spec_path))
        remembered = self.__dict__.get("_definition")  # not getattr: a handle's __getattr__ serves the in-script API
        if remembered is not None and remembered[0] == stamp:
            return remembered[1]
        spec = self.get_spec()
        if not spec.get("config"):
            text = '{"target": null}'
        else:
            from runconfig_jupyter.core.config import ScriptRunConfig

            config = ScriptRunConfig.from_dict(spec["config"])
            definition = config.run_config.to_dict()
            definition["target"] = None
            definition["sourceDirectory"] = config.source_directory
            text = json.dumps(definition, default=str)
        self._definition = (stamp, text)
        return text

    def prepare_details(self) -> None:
        """Do now what ``get_details`` can do ahead of the run's end (a waiter calls it before it waits)."""
        try:
            self._definition_text()
        except Exception:  # get_details reports it, in its own words, when it is asked for
            pass

    def _data_details(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """v1's ``inputDatasets`` / ``outputDatasets``; a run without a plan file named no data, and then the
        data plan module (core/data/plan.py) is not imported for it."""
        from runconfig_jupyter.core.data.mentions import PLAN_FILE

        if not (self.run_dir / PLAN_FILE).exists():
            return [], []
        from runconfig_jupyter.core.data.plan import DataPlan

        return DataPlan.load(self.run_dir).run_details()

    def get_details(self) -> dict[str, Any]:
        """Azure's run details (camelCase keys: runId, status, target, startTimeUtc, runDefinition, logFiles, ...)."""
        record = self.record
        history = read_history(self.run_dir)
        inputs, outputs = self._data_details()
        details: dict[str, Any] = {
            "runId": record.run_id,
            "runType": self.type,
            "experiment": record.experiment,
            "displayName": history["display_name"] or record.display_name,
            "description": history["description"],
            "target": record.target,
            "targetType": record.target_type,
            "status": record.status.value,
            "createdTimeUtc": iso_utc(record.created_at),
            "startTimeUtc": iso_utc(record.started_at),
            "endTimeUtc": iso_utc(record.ended_at),
            "durationSeconds": record.duration,
            "exitCode": record.exit_code,
            "properties": self.get_properties(),
            "tags": dict(history["tags"]),
            "inputDatasets": inputs,
            "outputDatasets": outputs,
            "runDefinition": self._run_definition(record),
            "logFiles": {name: str(path) for name, path in self._log_paths().items()},
            "parentRunId": None if record.details.get("rerun_of") else record.parent_run_id,
            "rerunOf": record.details.get("rerun_of"),
            "progress": record.progress,
        }
        if record.status in (RunStatus.FAILED, RunStatus.CANCELED) or record.reason:
            details["error"] = {"phase": record.phase, "message": record.reason}
        target_details = {k: v for k, v in record.details.items() if k not in ("tags", "rerun_of")}
        if target_details:
            details["targetDetails"] = target_details
        return details

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with each log file's content instead of its path."""
        details = self.get_details()
        details["logFiles"] = {
            name: path.read_text(encoding="utf-8", errors="replace") for name, path in self._log_paths().items()
        }
        return details

    def get_all_logs(self, destination: str | Path | None = None) -> list[str]:
        """Copy every log file of the run under ``destination`` (default ./logs_<run id>); their paths."""
        root = Path(destination) if destination else Path.cwd() / f"logs_{self.id}"
        written = []
        for name, path in self._log_paths().items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            written.append(str(target))
        return written

    def get_detailed_status(self) -> dict[str, Any]:
        """Status plus what it is doing or why it ended (Azure: status and details)."""
        record = self.record
        detail = record.reason or (record.progress or {}).get("message") or (record.progress or {}).get("phase")
        return {"status": record.status.value, "details": detail, "phase": record.phase}

    def restore_snapshot(self, snapshot_id: str | None = None, path: str | Path | None = None) -> str:
        """Write the run's snapshot (the packaged source directory) as a zip; returns the zip's path."""
        from runconfig_jupyter.core.errors import RunNotFound
        from runconfig_jupyter.core.snapshot.stream import snapshot_files

        tar_path = RunFolder(self.run_dir).snapshot_path
        if snapshot_id is not None and snapshot_id != self.record.snapshot_id:
            tar_path = self.store.snapshots_dir / "manifests" / f"{snapshot_id}.json"
            if not tar_path.is_file():  # stored by a version before the per-file store
                tar_path = self.store.snapshots_dir / f"{snapshot_id}.tar"
        if not tar_path.is_file():
            raise RunNotFound(
                f"run {self.id} has no snapshot{f' {snapshot_id}' if snapshot_id else ''}: interactive runs "
                "take one only with start_logging(snapshot_directory=...)"
            )
        folder = Path(path) if path else Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        zip_path = folder / f"{snapshot_id or self.record.snapshot_id}.zip"
        import zipfile  # only for a snapshot download: not on the import of the run API

        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as out:
            for name, content in snapshot_files(tar_path):  # regular files only; the snapshot holds no links out
                out.writestr(name, content)
        return str(zip_path)
