"""The server's run list after runs.db was damaged under the running server (real server, real runs)."""

from __future__ import annotations

import warnings

import pytest

from runconfig_jupyter.core.store import RunStoreWarning
from tests.faults.index_damage import DAMAGE, damage, finished_runs


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
