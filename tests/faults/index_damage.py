"""Real runs in a home, then real damage to its runs.db: shared by the core, magics and server tests."""

from __future__ import annotations

import os
import sqlite3
import textwrap
from pathlib import Path

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.store import RunStore, driver_alive
from tests.conftest import wait_for

DAMAGE = ("truncate-empty", "truncate-half", "garbage", "delete", "rm-db-only")


def finished_runs(tmp_path: Path) -> dict[str, tuple[str, int]]:
    """Three real local runs (Completed 0, Failed 3, tagged); returns {run_id: (status, exit code)}."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "job.py").write_text(textwrap.dedent("import sys\nprint('hello')\nsys.exit(int(sys.argv[1]))\n"))
    expected = {}
    for experiment, code in (("alpha", 0), ("beta", 3), ("alpha", 0)):
        run = Experiment(experiment).submit(
            ScriptRunConfig(str(root), script="job.py", arguments=[code]), tags={"kind": experiment}
        )
        run.wait_for_completion(timeout=60, raise_on_error=False)
        expected[run.id] = (run.get_status(), code)
    assert sorted(status for status, _code in expected.values()) == ["Completed", "Completed", "Failed"]
    # A driver still opens runs.db after its run's end is recorded (its checkpoint). One still running when a
    # test damages the file would rebuild the index itself, and the process the test watches would find it
    # repaired already: wait until every driver has exited.
    store = RunStore()
    wait_for(
        lambda: not any(driver_alive(store.get(run_id)) for run_id in expected),
        timeout=30,
        message="the runs' drivers to exit",
    )
    store.close()
    return expected


def damage(home: Path, how: str) -> None:
    """Damage runs.db the way a crash, a full disk or a careless user would (its data checkpointed first)."""
    db_path = home / "runs.db"
    if how == "rm-db-only":  # `rm runs.db` with writes still in the -wal file beside it
        db_path.unlink()
        return
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = db_path.stat().st_size
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    if how == "truncate-empty":
        os.truncate(db_path, 0)
    elif how == "truncate-half":
        os.truncate(db_path, size // 2)
    elif how == "garbage":
        db_path.write_bytes(os.urandom(size))
    elif how == "delete":
        db_path.unlink()
    else:
        raise ValueError(how)


def assert_all_listed(store: RunStore, expected: dict[str, tuple[str, int]]) -> None:
    records = {record.run_id: record for record in store.list(limit=100)}
    assert set(records) == set(expected)
    for run_id, (status, code) in expected.items():
        assert records[run_id].status.value == status and records[run_id].exit_code == code
        assert records[run_id].details["tags"]["kind"] == records[run_id].experiment
