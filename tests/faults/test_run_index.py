"""runs.db truncated, overwritten or deleted: every run is still there, rebuilt from its folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from runconfig_jupyter import Run
from runconfig_jupyter.core.runs.store import RunStore, RunStoreWarning, rebuild_index
from tests.faults.index_damage import DAMAGE, assert_all_listed, damage, finished_runs


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_index_is_rebuilt_from_the_run_folders(tmp_path, run_home, how):
    expected = finished_runs(tmp_path)
    damage(run_home, how)
    # A fresh process (a new kernel, the server after a restart): Run.get and the list see every run.
    code = (
        "import json, warnings; warnings.simplefilter('always')\n"
        "from runconfig_jupyter import Run\nfrom runconfig_jupyter.core.runs.store import RunStore\n"
        f"ids = {list(expected)!r}\n"
        "print(json.dumps({i: [Run.get(i).get_status(), Run.get(i).get_details()['exitCode']] for i in ids}))\n"
        "print(json.dumps(sorted(r.run_id for r in RunStore().list())))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    statuses, listed = (json.loads(line) for line in result.stdout.splitlines())
    assert {run_id: tuple(value) for run_id, value in statuses.items()} == expected
    assert listed == sorted(expected)
    assert "rebuilt the run index" in result.stderr  # never silent: a RunStoreWarning ...
    assert "rebuilt the run index" in (run_home / "store_log.txt").read_text()  # ... and the store's log
    if how in ("truncate-half", "garbage"):
        assert list(run_home.glob("runs.db.damaged-*")), "the damaged file is kept aside"
    assert_all_listed(RunStore(), expected)


def test_a_process_with_the_index_open_survives_its_replacement(tmp_path, run_home):
    """This process keeps a connection; the file is overwritten with garbage under it, then deleted."""
    expected = finished_runs(tmp_path)
    store = RunStore()
    assert_all_listed(store, expected)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        damage(run_home, "garbage")
        assert_all_listed(store, expected)
        damage(run_home, "delete")
        assert_all_listed(store, expected)
        run_id = next(iter(expected))
        assert Run.get(run_id).get_status() == expected[run_id][0]
    assert any(issubclass(w.category, RunStoreWarning) for w in caught)


def test_rebuild_on_demand_command_and_function(tmp_path, run_home):
    expected = finished_runs(tmp_path)
    gone = next(iter(expected))
    # A row whose folder was removed by hand is dropped; a folder the index lost is added back.
    import shutil

    shutil.rmtree(run_home / "runs" / gone)
    lost = next(run_id for run_id in expected if run_id != gone)
    RunStore().delete(lost)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    result = subprocess.run(
        [sys.executable, "-m", "runconfig_jupyter.core.runs.store", "--rebuild", "--home", str(run_home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "2 runs indexed (2 from record.json" in result.stdout and "1 rows without a run folder" in result.stdout
    del expected[gone]
    assert_all_listed(RunStore(), expected)
    with pytest.warns(RunStoreWarning):
        assert rebuild_index().indexed == 2


def test_a_folder_without_record_json_is_derived_not_dropped(tmp_path, run_home):
    """Runs made before record.json existed: status from the driver's last line or the script's exit file."""
    expected = finished_runs(tmp_path)
    for run_id in expected:
        (run_home / "runs" / run_id / "record.json").unlink()
    damage(run_home, "delete")
    with pytest.warns(RunStoreWarning, match="3 derived from run.json"):
        store = RunStore()
    assert_all_listed(store, expected)


@pytest.mark.parametrize("how", ["garbage", "truncate-empty"])
def test_the_runs_magic_lists_every_run_after_damage_and_rebuilds_on_demand(tmp_path, run_home, how):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    expected = finished_runs(tmp_path)
    damage(run_home, how)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunStoreWarning)
        with capture_output() as listed:
            shell.run_line_magic("runs", "")
        with capture_output() as rebuilt:
            shell.run_line_magic("runs", "--rebuild-index")
    for run_id, (status, _code) in expected.items():
        row = next(line for line in listed.stdout.splitlines() if line.startswith(run_id))
        assert status in row
    assert "Run index rebuilt: 3 runs indexed (3 from record.json" in rebuilt.stdout
