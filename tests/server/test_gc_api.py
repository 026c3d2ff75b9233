"""``POST runconfig/api/gc`` on a real Jupyter server (pytest-jupyter's ServerApp) with real local runs."""

from __future__ import annotations

import shutil

import pytest
from tornado.httpclient import HTTPClientError

from runconfig_jupyter.core.runs.store import RunStore
from tests.server.test_api import finished, submit_local
from tests.snapshot_store import stored_snapshot

pytestmark = pytest.mark.timeout(60)


async def test_gc_is_a_dry_run_unless_asked_and_removes_only_what_no_run_references(api, workspace, run_home):
    kept = submit_local(workspace, "gc")
    await finished(api, kept.id)
    (workspace / "train.py").write_text((workspace / "train.py").read_text() + "\n# another snapshot\n")
    forgotten = submit_local(workspace, "gc")
    await finished(api, forgotten.id)
    gone_id = forgotten.record.snapshot_id
    gone = stored_snapshot(run_home, gone_id)
    store = RunStore()
    store.delete(forgotten.id)
    shutil.rmtree(store.run_dir(forgotten.id))

    code, report = await api("gc", method="POST", body={"grace_seconds": 0})
    assert code == 200 and report["dry_run"] is True
    by_name = {e["name"]: e for e in report["entries"] if e["kind"] == "snapshot"}
    assert by_name[gone_id]["action"] == "remove" and gone.exists()
    assert by_name[kept.record.snapshot_id]["action"] == "keep" and kept.id in by_name[kept.record.snapshot_id]["why"]

    code, report = await api("gc", method="POST", body={"grace_seconds": 0, "dry_run": False})
    assert code == 200 and report["dry_run"] is False and report["freed_bytes"] > 0
    assert not gone.exists() and (stored_snapshot(run_home, kept.record.snapshot_id)).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dry_run": "false"}, "dry_run"),  # a string is not a yes: nothing is removed by a typo
        ({"max_size": "huge"}, "max_size"),
        ({"older_than": "-1d"}, "older_than"),
        ({"grace_seconds": "none"}, "grace_seconds"),
        ({"dry_rn": False}, "dry_rn"),
        ([1, 2], "body"),
    ],
)
async def test_gc_refusals_are_typed_and_name_the_field(api, body, field):
    code, error = await api("gc", method="POST", body=body)
    assert code == 400 and error["error"] == "ConfigError" and error["field"] == field, error


async def test_gc_needs_authentication(jp_fetch, run_home):
    (run_home / "snapshots").mkdir(parents=True, exist_ok=True)
    (run_home / "snapshots" / ("ab" * 16 + ".tar")).write_bytes(b"x" * 512)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "runconfig", "api", "gc", method="POST", body='{"dry_run": false}', headers={"Authorization": ""}
        )
    assert info.value.code == 403
    assert (run_home / "snapshots" / ("ab" * 16 + ".tar")).exists()
