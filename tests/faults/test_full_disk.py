"""A full disk, for real (a 2 MiB tmpfs as the run home): the cause is recorded and nothing is half-written."""

from __future__ import annotations

import os
import textwrap

import pytest

from runconfig_jupyter import Experiment, Run, ScriptRunConfig
from runconfig_jupyter.core.errors import DiskFull
from runconfig_jupyter.core.runs.store import RunStore
from tests.faults.small_disk import fill

FLOOD = textwrap.dedent(
    """
    import os, sys
    print("starting", flush=True)
    line = "x" * 4000
    for n in range(int(os.environ.get("FLOOD_LINES", "100000"))):
        print(line)
    """
)


def _project(tmp_path, text: str = FLOOD, extra: bytes = b""):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "flood.py").write_text(text)
    if extra:
        (root / "data.bin").write_bytes(extra)
    return root


def _leftovers(home) -> dict[str, list[str]]:
    snapshots = home / "snapshots"
    return {
        "runs": sorted(p.name for p in (home / "runs").iterdir()),
        "snapshots": sorted(p.name for p in snapshots.iterdir() if p.name != ".hashcache"),
    }


def test_a_full_disk_while_the_script_logs_is_recorded_as_running_no_space(tmp_path, small_home):
    run = Experiment("flood").submit(ScriptRunConfig(str(_project(tmp_path)), script="flood.py"))
    run.wait_for_completion(timeout=120, raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Failed", details
    assert details["error"]["phase"] == "Running"
    assert "no space left on device writing logs/std_log.txt" in details["error"]["message"]
    assert details["exitCode"] not in (None, 0)  # the script's own code is kept
    assert run.get_log().startswith("starting")
    # the outcome reached the run folder too (the index can be rebuilt from it), and the space came back
    record = (run.run_dir / "record.json").read_text()
    assert '"status": "Failed"' in record and "no space left" in record
    assert not (run.run_dir / "working").exists() and not (run.run_dir / ".space_reserve").exists()
    assert Run.get(run.id).get_status() == "Failed"


def test_a_snapshot_that_does_not_fit_is_a_typed_error_and_leaves_nothing(tmp_path, small_home):
    RunStore()  # the index exists before the disk fills, as it would in a used home
    before = _leftovers(small_home)
    project = _project(tmp_path, "print('hi')\n", extra=os.urandom(3 * 1024 * 1024))
    with pytest.raises(DiskFull, match="no space left") as caught:
        Experiment("big").submit(ScriptRunConfig(str(project), script="flood.py"))
    assert caught.value.http_status == 507
    assert _leftovers(small_home) == before  # no partial snapshot, no run folder
    assert not [p for p in (small_home / "snapshots").iterdir() if p.name.startswith(".tmp-")]
    assert RunStore().count() == 0


def test_a_run_folder_that_does_not_fit_is_a_typed_error_and_leaves_nothing(tmp_path, small_home):
    project = _project(tmp_path, "print('hi')\n")
    first = Experiment("fits").submit(ScriptRunConfig(str(project), script="flood.py"))
    first.wait_for_completion(timeout=60)
    before = _leftovers(small_home)
    ballast = fill(small_home)
    try:
        with pytest.raises(DiskFull, match="no space left"):
            Experiment("fits").submit(ScriptRunConfig(str(project), script="flood.py"))
        assert _leftovers(small_home) == before
        assert [r.run_id for r in RunStore().list()] == [first.id]
    finally:
        ballast.unlink()
    assert Experiment("fits").submit(ScriptRunConfig(str(project), script="flood.py")).wait_for_completion(timeout=60)


def test_an_index_write_on_a_full_disk_is_a_typed_error_and_changes_nothing(tmp_path, small_home):
    project = _project(tmp_path, "print('hi')\n")
    run = Experiment("idx").submit(ScriptRunConfig(str(project), script="flood.py"))
    run.wait_for_completion(timeout=60)
    store = RunStore()
    ballast = fill(small_home)
    try:
        with pytest.raises(DiskFull, match="no space left") as caught:
            store.update(run.id, details={"note": "x" * 200_000})
        assert caught.value.http_status == 507 and "runs.db" in str(caught.value)
        assert "note" not in store.get(run.id).details and store.get(run.id).status.value == "Completed"
    finally:
        ballast.unlink()
    store.update(run.id, details={"note": "fits now"})
    assert store.get(run.id).details["note"] == "fits now"
