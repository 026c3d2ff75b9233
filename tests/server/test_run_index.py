"""The server over a damaged runs.db and over a full disk (real server, real runs, a real tmpfs)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from runconfig_jupyter.core.runs.store import RunStoreWarning
from tests.faults.index_damage import DAMAGE, damage, finished_runs
from tests.faults.small_disk import fill, small_home  # noqa: F401 - a fixture, used by name


@pytest.mark.parametrize("how", DAMAGE)
async def test_the_run_list_still_shows_every_run_with_its_status(api, run_home, tmp_path, how):
    expected = finished_runs(tmp_path)
    code, before = await api("runs")
    assert code == 200 and before["total"] == 3
    damage(run_home, how)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunStoreWarning)  # said in the server's log and store_log.txt
        code, page = await api("runs")
        assert code == 200, page
        assert page["total"] == 3
        assert {r["run_id"]: (r["status"], r["exit_code"]) for r in page["runs"]} == expected
        assert sorted(page["experiments"]) == ["alpha", "beta"]
        run_id = next(iter(expected))
        code, detail = await api("runs", run_id)
        assert code == 200 and detail["status"] == expected[run_id][0]


@pytest.mark.usefixtures("small_home")
async def test_a_submit_on_a_full_disk_is_507_and_records_nothing(api, workspace):
    """The run home is a full 2 MiB tmpfs (real): REST answers 507 DiskFull, no run, no folder, no snapshot."""
    home = Path(os.environ["RUNCONFIG_JUPYTER_HOME"])
    code, before = await api("runs")
    assert code == 200 and before["total"] == 0
    ballast = fill(home)
    try:
        code, body = await api("runs", method="POST", body={"path": "proj", "runconfig": "script: train.py"})
        assert code == 507, body
        assert body["error"] == "DiskFull" and "no space left" in body["message"]
        assert list((home / "runs").iterdir()) == []
        assert [p.name for p in (home / "snapshots").iterdir() if p.name != ".hashcache"] == []
    finally:
        ballast.unlink()
    code, after = await api("runs")
    assert code == 200 and after["total"] == 0
