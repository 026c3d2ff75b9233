"""Runs on the local target with both snapshot layouts: the per-file store (new runs) and ``snapshot.tar``
(run folders written by the previous version), restored, re-run and garbage-collected.

Real submits, real drivers and scripts; the only patch makes a submit package the way the previous version
did (one read-only ``<id>.tar``, written by tests/legacy_archive.py), to produce an old run folder for real.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.snapshot import stored as stored_module
from runconfig_jupyter.core.snapshot.garbage import collect_snapshot_garbage
from runconfig_jupyter.core.snapshot.objects import ObjectStore
from runconfig_jupyter.core.snapshot.stream import load_manifest
from tests.legacy_archive import write_legacy_archive

pytestmark = pytest.mark.timeout(180)


def _restored(run, tmp_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(run.restore_snapshot(path=tmp_path / "restored")) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_new_runs_link_the_store_manifest_and_run_restore_and_rerun(project, run_home, tmp_path):
    run = Experiment("layout").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    assert run.wait_for_completion(timeout=120)["status"] == "Completed"
    assert (run.run_dir / "snapshot.json").is_file() and not (run.run_dir / "snapshot.tar").exists()
    assert (run.run_dir / "snapshot.json").stat().st_nlink == 2  # the store's manifest, not a copy
    assert _restored(run, tmp_path) == {"train.py": (project / "train.py").read_bytes(), "data.csv": b"a,b\n1,2\n"}
    again = run.rerun()
    assert again.wait_for_completion(timeout=120)["status"] == "Completed"
    assert again.get_snapshot_id() == run.get_snapshot_id()  # unchanged folder: the same snapshot
    assert not list((run_home / "snapshots").glob("*.tar"))  # no archive per snapshot any more


def test_run_folders_of_the_previous_version_still_run_restore_and_are_kept_by_gc(
    project, run_home, tmp_path, monkeypatch
):
    monkeypatch.setattr(stored_module, "store_snapshot", write_legacy_archive)
    old = Experiment("layout").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    monkeypatch.undo()
    assert (old.run_dir / "snapshot.tar").is_file() and not (old.run_dir / "snapshot.json").exists()
    assert old.wait_for_completion(timeout=120)["status"] == "Completed"  # the driver unpacked the tar
    assert "epoch 0" in old.get_log()
    assert _restored(old, tmp_path)["train.py"] == (project / "train.py").read_bytes()
    again = old.rerun()  # re-run of an old run: packaged into the store this time
    assert again.wait_for_completion(timeout=120)["status"] == "Completed"
    assert (again.run_dir / "snapshot.json").is_file()

    store = RunStore(run_home)
    referenced = {r.snapshot_id for r in store.list(limit=100) if r.snapshot_id}
    report = collect_snapshot_garbage(store.snapshots_dir, referenced, min_age=0)
    assert report.snapshots == [] and report.objects == 0  # every snapshot a run references stays
    archive = store.snapshots_dir / f"{old.get_snapshot_id()}.tar"
    assert archive.is_file()
    (old.run_dir / "snapshot.tar").unlink()  # the run is gone (as a policy that deletes runs would do)
    report = collect_snapshot_garbage(store.snapshots_dir, referenced - {old.get_snapshot_id()}, min_age=0)
    assert report.snapshots == [old.get_snapshot_id()] and not archive.exists()
    assert report.bytes_freed > 0 and report.objects == 0  # the new run's objects are all still named


def test_a_damaged_object_fails_the_run_with_a_typed_error_not_a_wrong_file(project, run_home):
    first = Experiment("layout").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    assert first.wait_for_completion(timeout=120)["status"] == "Completed"
    stored = load_manifest(first.run_dir / "snapshot.json")
    entry = next(e for name, e in stored.members if name == "train.py")
    assert entry is not None and entry.digest
    obj = ObjectStore(run_home / "snapshots", stored.alg).path(entry.digest, entry.mode)
    os.chmod(obj, 0o644)
    damaged = bytearray(obj.read_bytes())
    damaged[-2] ^= 0x01  # one bit, same size: only the digest can tell
    obj.write_bytes(bytes(damaged))
    run = Experiment("layout").submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]))
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == "Failed", details
    assert "damaged" in str(details) and "train.py" in str(details)
    assert "epoch 0" not in run.get_log()  # the script never ran on the wrong bytes
