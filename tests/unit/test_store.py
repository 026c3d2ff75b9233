"""The run store: rows, status rules and concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

import pytest

from runconfig_jupyter.core.errors import RunNotFound
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore


def make(store: RunStore, run_id: str, experiment: str = "exp") -> RunRecord:
    now = time.time()
    return store.create_run(
        RunRecord(run_id, experiment, RunStatus.QUEUED, "local", "local", created_at=now, updated_at=now)
    )


def test_create_get_list_and_filter(run_home):
    store = RunStore()
    make(store, "a_1_00000001", "a")
    make(store, "b_1_00000002", "b")
    assert store.get("a_1_00000001").experiment == "a"
    assert [r.run_id for r in store.list(experiment="b")] == ["b_1_00000002"]
    assert store.experiments() == ["a", "b"]
    assert store.count() == 2 and store.count("a") == 1
    assert store.list(status="Completed") == []


def test_count_filters_like_list(run_home):
    """The server's page total is counted in SQLite with list's own filters, not by listing every row."""
    store = RunStore()
    for i in range(6):
        make(store, f"c_{i}_0000000{i}", "ab"[i % 2])
    store.set_status("c_0_00000000", RunStatus.COMPLETED)
    store.set_status("c_1_00000001", RunStatus.FAILED)
    since = time.time()
    time.sleep(0.01)
    store.update("c_2_00000002", progress={"n": 1})
    filters = [
        {},
        {"experiment": "a"},
        {"status": "Completed"},
        {"status": ["Completed", "Failed"]},
        {"experiment": "b", "status": ["Completed", "Failed"]},
        {"updated_since": since},
        {"experiment": "b", "updated_since": since},
        {"status": "Running"},
    ]
    counts = [store.count(**f) for f in filters]
    assert counts == [len(store.list(limit=100, **f)) for f in filters] == [6, 3, 1, 2, 1, 1, 0, 0]


def test_unknown_run_is_a_typed_error_that_says_what_to_do(run_home):
    with pytest.raises(RunNotFound, match="%runs"):
        RunStore().get("nope")


def test_terminal_status_is_final_unless_forced(run_home):
    store = RunStore()
    make(store, "r")
    assert store.set_status("r", RunStatus.RUNNING)
    started = store.get("r").started_at
    assert started is not None
    assert store.set_status("r", RunStatus.COMPLETED, exit_code=0)
    assert not store.set_status("r", RunStatus.CANCELED, reason="late cancel")
    record = store.get("r")
    assert record.status == RunStatus.COMPLETED and record.reason is None and record.ended_at >= started
    assert store.set_status("r", RunStatus.FAILED, force=True)


def test_details_and_progress_merge(run_home):
    store = RunStore()
    make(store, "r")
    store.update("r", details={"pid": 1})
    store.update("r", details={"container": "c"}, progress={"phase": "build"})
    record = store.get("r")
    assert record.details == {"pid": 1, "container": "c"}
    assert record.progress == {"phase": "build"}


def _hammer(home: str, run_id: str, count: int) -> None:
    store = RunStore(home)
    for index in range(count):
        store.update(run_id, details={f"k{index % 5}": index})


def test_concurrent_writers_from_several_processes(run_home):
    store = RunStore()
    make(store, "r")
    processes = [multiprocessing.Process(target=_hammer, args=(str(run_home), "r", 50)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert set(store.get("r").details) == {"k0", "k1", "k2", "k3", "k4"}


def test_an_update_that_changes_nothing_writes_nothing(run_home):
    """Neither the row's updated_at nor record.json moves for an update equal to what is stored (a run's end
    re-indexes tags and display name a plain run never changed); any real change is still written."""
    store = RunStore()
    store.run_dir("n_1_00000001").mkdir(parents=True)
    make(store, "n_1_00000001")
    store.update("n_1_00000001", display_name="first", details={"tags": {}, "pid": 7})
    record_file = store.run_dir("n_1_00000001") / "record.json"
    before, written = store.get("n_1_00000001"), record_file.stat()
    time.sleep(0.01)
    store.update("n_1_00000001", display_name="first", details={"tags": {}})
    store.update("n_1_00000001", details={"pid": 7}, status=RunStatus.QUEUED)
    assert store.get("n_1_00000001").updated_at == before.updated_at
    assert (record_file.stat().st_ino, record_file.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    store.update("n_1_00000001", details={"tags": {"a": "b"}})
    after = store.get("n_1_00000001")
    assert after.updated_at > before.updated_at and after.details == {"tags": {"a": "b"}, "pid": 7}
    assert record_file.stat().st_ino != written.st_ino
    assert '"a": "b"' in record_file.read_text()


def test_checkpoint_leaves_nothing_in_the_log_for_the_last_close(run_home):
    """After ``checkpoint`` every frame of the write-ahead log is in runs.db: the wal-index's backfill count
    (WalCkptInfo.nBackfill, byte 96 of runs.db-shm) equals its last frame (WalIndexHdr.mxFrame, byte 16), which
    is what lets the last connection close without a checkpoint and its fsyncs (sqlite.org/walformat.html)."""
    store = RunStore()
    make(store, "w_1_00000001")
    for i in range(5):
        store.update("w_1_00000001", details={"i": i})
    shm = store.db_path.with_name(store.db_path.name + "-shm")

    def frames() -> tuple[int, int]:
        head = shm.read_bytes()[:100]
        return int.from_bytes(head[16:20], sys.byteorder), int.from_bytes(head[96:100], sys.byteorder)

    last, backfilled = frames()
    assert last > backfilled  # the writes are in the log only
    store.checkpoint()
    last, backfilled = frames()
    assert last > 0 and backfilled == last


def test_update_can_advance_the_status_in_the_same_write(run_home):
    """A driver says it is ready and moves a queued run on to Preparing in one transaction; a run a cancel
    reached first keeps CancelRequested (the driver learns it from the row returned: the row before the write)."""
    store = RunStore()
    me = os.getpid()  # a driver PID the suite's clean-up knows not to signal (no other process's PID)
    make(store, "q_1_00000001")
    before = store.update("q_1_00000001", advance=(RunStatus.QUEUED, RunStatus.PREPARING), driver_pid=me)
    assert before is not None and before.status == RunStatus.QUEUED and before.driver_pid is None
    after = store.get("q_1_00000001")
    assert (after.status, after.driver_pid) == (RunStatus.PREPARING, me)
    make(store, "q_2_00000002")
    store.set_status("q_2_00000002", RunStatus.CANCEL_REQUESTED, reason="stop")
    seen = store.update("q_2_00000002", advance=(RunStatus.QUEUED, RunStatus.PREPARING), driver_pid=me)
    assert seen is not None and seen.status == RunStatus.CANCEL_REQUESTED
    assert (store.get("q_2_00000002").status, store.get("q_2_00000002").driver_pid) == (RunStatus.CANCEL_REQUESTED, me)
