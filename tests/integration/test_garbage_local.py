"""Garbage collection on a real run home: real local runs, real snapshots, real conda prefixes (py-rattler).

A run is "forgotten" the only way there is today: its row deleted and its folder removed (what a user does by
hand); what it alone referenced then becomes garbage. Everything else must stay: what a run references (also a
run recorded before run.json carried the environment hash), what a builder's lock holds, what is young.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter import CondaDependencies, Environment, Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.garbage import KEEP, REMOVE, REMOVED, GcPolicy
from runconfig_jupyter.core.runs.gc import collect_garbage
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.snapshot.stored import objects_named
from tests.snapshot_store import stored_snapshot
from tests.v1.conda_channel import build_channel

NOW = GcPolicy(grace_seconds=0)  # the tests' items are seconds old: no grace period


def _project(tmp_path: Path, name: str, text: str = "print('hello')\n") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "t.py").write_text(text)
    return folder


def _run(folder: Path, environment: Environment | None = None, wait: bool = True):
    config = ScriptRunConfig(str(folder), script="t.py", environment=environment)
    run = Experiment("gc").submit(config)
    if wait:
        assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log()
    return run


def _forget(run) -> None:
    store = RunStore()
    store.delete(run.id)
    shutil.rmtree(store.run_dir(run.id))


def _entries(report, kind: str) -> dict[str, object]:
    return {e.name: e for e in report.entries if e.kind == kind}


def _snapshot_id(run) -> str:
    return json.loads((RunStore().run_dir(run.id) / "run.json").read_text())["snapshot"]["id"]


def test_a_forgotten_runs_snapshot_goes_a_referenced_one_stays_and_a_dry_run_removes_nothing(tmp_path, run_home):
    kept_run = _run(_project(tmp_path, "a", "print('a')\n"))
    forgotten = _run(_project(tmp_path, "b", "print('b' * 100)\n"))
    kept_id, gone_id = _snapshot_id(kept_run), _snapshot_id(forgotten)
    _forget(forgotten)
    gone_path = stored_snapshot(run_home, gone_id)
    kept_objects = objects_named(run_home / "snapshots", stored_snapshot(run_home, kept_id))
    only_gone = objects_named(run_home / "snapshots", gone_path) - kept_objects  # its train.py, not shared
    size = gone_path.stat().st_size + sum(path.stat().st_size for path in only_gone)
    assert only_gone and all(path.exists() for path in only_gone)

    assert all(e.action == KEEP for e in collect_garbage().entries)  # default grace: seconds-old items stay
    dry = _entries(collect_garbage(NOW), "snapshot")
    assert dry[gone_id].action == REMOVE and dry[gone_id].bytes == size
    assert dry[kept_id].action == KEEP and kept_run.id in dry[kept_id].why
    assert gone_path.exists()  # a dry run removes nothing

    done = collect_garbage(NOW, dry_run=False)
    assert _entries(done, "snapshot")[gone_id].action == REMOVED and done.freed_bytes >= size
    assert not gone_path.exists() and not any(path.exists() for path in only_gone)  # its objects went too
    assert stored_snapshot(run_home, kept_id).exists() and all(path.exists() for path in kept_objects)
    # the same folder submitted again packs its snapshot again (the hash cache does not point at nothing)
    again = _run(tmp_path / "b")
    assert _snapshot_id(again) == gone_id and gone_path.exists()


def test_an_unfinished_runs_snapshot_is_kept(tmp_path):
    running = _run(_project(tmp_path, "slow", "import time\ntime.sleep(60)\n"), wait=False)
    try:
        deadline = time.monotonic() + 30
        while running.get_status() != "Running" and time.monotonic() < deadline:
            time.sleep(0.1)
        report = collect_garbage(NOW, dry_run=False)
        snapshot = _entries(report, "snapshot")[_snapshot_id(running)]
        assert snapshot.action == KEEP and f"unfinished run {running.id}" in snapshot.why
        assert (stored_snapshot(RunStore().home, snapshot.name)).exists()
    finally:
        running.cancel()
        running.wait_for_completion(timeout=60, raise_on_error=False)


def _conda_environment(channel: str, version: str) -> Environment:
    environment = Environment(f"tiny-{version}")
    environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=[f"tinytool={version}"], python_version="3.11", channels=[channel]
    )
    return environment


def test_conda_prefixes_referenced_locked_aged_and_forgotten(tmp_path, run_home):
    pytest.importorskip("rattler")
    channel_root = tmp_path / "channel"
    build_channel(channel_root, version="1.0")
    channel = build_channel(channel_root, version="2.0")
    project = _project(tmp_path, "conda", "import shutil\nprint(shutil.which('tinytool'))\n")
    old_run = _run(project, _conda_environment(channel, "1.0"))
    new_run = _run(project, _conda_environment(channel, "2.0"))
    kept = f"conda-{_conda_environment(channel, '1.0').content_hash()[:16]}"
    gone = f"conda-{_conda_environment(channel, '2.0').content_hash()[:16]}"
    envs = run_home / "envs"
    assert (envs / kept).is_dir() and (envs / gone).is_dir()
    # a run recorded before run.json carried the environment hash still references its prefix
    spec_path = RunStore().run_dir(old_run.id) / "run.json"
    spec = json.loads(spec_path.read_text())
    del spec["environment"]
    spec_path.write_text(json.dumps(spec))
    _forget(new_run)

    prefixes = _entries(collect_garbage(NOW), "conda-prefix")
    assert prefixes[kept].action == KEEP and old_run.id in prefixes[kept].why
    assert prefixes[gone].action == REMOVE

    # a builder holding the prefix's lock (a run checking or building it): never touched
    with open(envs / f"{gone}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = _entries(collect_garbage(NOW, dry_run=False), "conda-prefix")[gone]
        assert held.action == KEEP and "being built" in held.why and (envs / gone).is_dir()

    # last used three days ago: kept under --older-than 7d, removed under --older-than 1d
    three_days = time.time() - 3 * 86400
    for path in (envs / gone, *(envs / gone).glob(".runconfig-*")):
        os.utime(path, (three_days, three_days))
    week = collect_garbage(GcPolicy.parse("7d", grace_seconds=0), dry_run=False)
    assert _entries(week, "conda-prefix")[gone].action == KEEP and (envs / gone).is_dir()
    day = collect_garbage(GcPolicy.parse("1d", grace_seconds=0), dry_run=False)
    assert _entries(day, "conda-prefix")[gone].action == REMOVED and not (envs / gone).exists()
    assert (envs / kept / ".runconfig-ready").exists()

    # the kept prefix still serves its environment without installing again
    again = _run(project, _conda_environment(channel, "1.0"))
    assert "is cached" in again.read_log(name="prepare_log.txt")[0]


def test_cli_lists_by_default_and_refuses_a_bad_limit_naming_it(tmp_path, run_home):
    forgotten = _run(_project(tmp_path, "c"))
    gone_id = _snapshot_id(forgotten)
    _forget(forgotten)
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", os.getcwd())}
    command = [sys.executable, "-m", "runconfig_jupyter.core.runs.gc", "--home", str(run_home), "--grace", "0"]
    listed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "would remove snapshot" in listed.stdout and gone_id in listed.stdout and "--yes" in listed.stdout
    assert (stored_snapshot(run_home, gone_id)).exists()
    as_json = subprocess.run([*command, "--json", "--yes"], capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(as_json.stdout)
    assert report["dry_run"] is False and any(
        e["name"] == gone_id and e["action"] == "removed" for e in report["entries"]
    )
    assert not (stored_snapshot(run_home, gone_id)).exists()
    bad = subprocess.run([*command, "--max-size", "lots"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "max_size" in bad.stderr and "500M" in bad.stderr


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    return ip


def test_runs_gc_magic_is_a_dry_run_unless_yes(tmp_path, run_home, shell):
    forgotten = _run(_project(tmp_path, "m"))
    gone = stored_snapshot(run_home, _snapshot_id(forgotten))
    _forget(forgotten)
    with capture_output() as young:
        shell.run_line_magic("runs", "--gc")
    assert "would remove 0 item(s)" in young.stdout and gone.exists()  # the default grace period keeps it
    with capture_output() as listed:
        shell.run_line_magic("runs", "--gc --grace 0")
    assert "would remove snapshot" in listed.stdout and "--yes" in listed.stdout and gone.exists()
    with capture_output() as refused:
        shell.run_line_magic("runs", "--yes --grace 0")
    assert "--gc" in refused.stderr and gone.exists()
    with capture_output() as bad:
        shell.run_line_magic("runs", "--gc --yes --older-than yesterday")
    assert "older_than" in bad.stderr and gone.exists()
    with capture_output() as removed:
        shell.run_line_magic("runs", "--gc --yes --grace 0")
    assert re.search(r"^removed +snapshot .*no run references it", removed.stdout, re.M) and not gone.exists()


def test_two_collections_of_one_home_never_run_at_once(run_home):
    from runconfig_jupyter.core.errors import RunStateError

    RunStore()
    with open(run_home / "gc.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another collection is running
        with pytest.raises(RunStateError, match="another garbage collection"):
            collect_garbage(NOW, dry_run=False)
    assert collect_garbage(NOW).dry_run  # free again once it ended


def test_a_collection_reads_each_manifest_once_and_still_frees_the_objects(tmp_path, run_home, monkeypatch):
    """Listing and the orphaned-object sweep share what was read (a manifest's name is its content's hash)."""
    import runconfig_jupyter.core.runs.garbage_snapshots as source_module
    import runconfig_jupyter.core.snapshot.garbage as sweep_module

    runs = [_run(_project(tmp_path, name, f"print({name!r} * 50)\n")) for name in ("a", "b", "c")]
    gone = runs[0]
    gone_path = stored_snapshot(run_home, _snapshot_id(gone))
    only_gone = objects_named(run_home / "snapshots", gone_path) - set().union(
        *(objects_named(run_home / "snapshots", stored_snapshot(run_home, _snapshot_id(r))) for r in runs[1:])
    )
    _forget(gone)
    reads: list[Path] = []

    def counted(snapshots_dir, path):
        reads.append(Path(path))
        return objects_named(snapshots_dir, path)

    monkeypatch.setattr(source_module, "objects_named", counted)
    monkeypatch.setattr(sweep_module, "objects_named", counted)
    collect_garbage(NOW, dry_run=False)
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 3  # three manifests, each read once
    assert only_gone and not gone_path.exists() and not any(path.exists() for path in only_gone)
