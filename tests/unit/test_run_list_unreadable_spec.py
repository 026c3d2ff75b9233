"""The run list and rows whose run.json cannot be read.

Such a row (made without ``submit``, which writes run.json before the row, or with a damaged run.json) is
served with its target's capabilities by name and no arguments. Its run.json is not read again for every row
of every list request (that was most of the REST list's time for such rows): it is read again when the row
changes. These tests use a real run store in a temporary run home.
"""

from __future__ import annotations

import json
import time

from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore
from runconfig_jupyter.core.target.configured import resolve_target
from runconfig_jupyter.server.service import RunService


def _row(store: RunStore, run_id: str) -> None:
    now = time.time()
    store.create_run(RunRecord(run_id, "exp", RunStatus.COMPLETED, "local", "local", now, now, script="t.py"))


def _summary(service: RunService, run_id: str) -> dict:
    (row,) = [r for r in service.list_runs()["runs"] if r["run_id"] == run_id]
    return row


def _write_spec(store: RunStore, run_id: str, arguments: list[str], capabilities: dict) -> None:
    spec = {"config": {"run_config": {"arguments": arguments}}, "capabilities": capabilities}
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(spec))


def test_a_row_without_run_json_is_listed_with_its_targets_capabilities_and_read_again_when_it_changes():
    store = RunStore()
    service = RunService(store)
    _row(store, "no_spec_1")
    local = resolve_target("local").capabilities().to_dict()
    first = _summary(service, "no_spec_1")
    assert first["arguments"] == [] and first["capabilities"] == local and first["can_cancel"] is False

    recorded = {**local, "reattach": False}
    _write_spec(store, "no_spec_1", ["--lr", "0.1"], recorded)
    unchanged = _summary(service, "no_spec_1")  # same row: the failed read is remembered, not repeated
    assert unchanged["arguments"] == [] and unchanged["capabilities"] == local

    store.update("no_spec_1", details={"seen": 1})  # the row changed: run.json is read again
    changed = _summary(service, "no_spec_1")
    assert changed["arguments"] == ["--lr", "0.1"] and changed["capabilities"]["reattach"] is False


def test_a_damaged_run_json_is_served_by_name_and_never_fails_the_list():
    store = RunStore()
    service = RunService(store)
    _row(store, "bad_spec_1")
    run_dir = store.run_dir("bad_spec_1")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text("{not json")
    for _ in range(2):  # read and failed, then answered from the remembered failure: neither fails the list
        row = _summary(service, "bad_spec_1")
        assert row["arguments"] == [] and row["capabilities"] == resolve_target("local").capabilities().to_dict()
