"""The fast path (issue 15): what the hot path imports, how waits wake, and the stdlib stand-ins behind them.

Real processes throughout: a real submit in a fresh interpreter (its imports read from ``sys.modules``),
a real driver (its imports recorded by ``-X importtime`` in its own log), real ``/proc`` entries
compared with psutil, a real inotify watch on a real run store, a real Docker socket.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import TargetUnavailable
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.watch import Watch, record_watch, run_watch

ROOT = Path(__file__).resolve().parents[2]


def _fresh_submit(project: Path, target: str) -> list[str]:
    """Submit and wait from a new interpreter and report which heavy modules it imported."""
    code = textwrap.dedent(
        f"""
        import sys
        from runconfig_jupyter import Experiment, ScriptRunConfig
        config = ScriptRunConfig({str(project)!r}, script="train.py", compute_target={target!r})
        run = Experiment("fast").submit(config)
        run.wait_for_completion(timeout=120)  # a plain wait: the run's end, not its logs
        heavy = ("docker", "yaml", "psutil", "pathspec", "ray", "IPython", "tornado")
        print(sorted(m for m in (*heavy, "runconfig_jupyter.core.runs.log_cursor") if m in sys.modules))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[0])


def test_a_local_submit_imports_neither_docker_yaml_nor_psutil(project):
    # pathspec (the snapshot's ignore rules) derives the rules' pre-filter once; a project where no path matches a
    # rule then needs it no more (core/snapshot/prefilters.py).
    assert _fresh_submit(project, "local") == ["pathspec"]
    assert _fresh_submit(project, "local") == []


def test_a_docker_submit_validates_without_the_docker_sdk(project):
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("no Docker engine running (scripts/ensure_docker.sh)")
    assert _fresh_submit(project, "docker") == ["pathspec"]
    assert _fresh_submit(project, "docker") == []


def test_a_local_run_driver_imports_no_snapshot_writer_mpi_or_psutil(project, monkeypatch):
    """The driver extracts the snapshot; it has no use for the archive writer, pathspec, MPI or psutil."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the driver inherits it; its stderr is driver_log.txt
    run = Experiment("fast").submit(ScriptRunConfig(str(project), script="train.py"))
    monkeypatch.delenv("PYTHONPROFILEIMPORTTIME")
    run.wait_for_completion(timeout=60)
    driver_log = (run.run_dir / "logs" / "driver_log.txt").read_text()
    imported = {line.rsplit("|", 1)[1].strip() for line in driver_log.splitlines() if line.startswith("import time:")}
    assert "runconfig_jupyter.core.snapshot.extract" in imported  # the record is real: it lists what the driver used
    unwanted = {
        "runconfig_jupyter.core.snapshot.archive",
        "pathspec",
        "psutil",
        "runconfig_jupyter.targets.processes.mpi_launch",
        "yaml",
    }
    assert imported & unwanted == set()


def test_proc_agrees_with_psutil_and_tells_zombies_and_gone_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert proc.start_time(child.pid) == pytest.approx(psutil.Process(child.pid).create_time(), abs=0.02)
        # Popen returns when exec has closed the child's close-on-exec pipe; the kernel sets the new program's
        # arguments a moment later, and /proc/PID/cmdline reads empty until then (a full CI run caught it).
        deadline = time.monotonic() + 10
        while not proc.command_line(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.command_line(child.pid) == psutil.Process(child.pid).cmdline()
        assert not proc.is_zombie(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while not proc.is_zombie(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.is_zombie(child.pid) and proc.command_line(child.pid) == []
    finally:
        child.kill()
        child.wait()
    assert proc.start_time(child.pid) is None and not proc.is_zombie(child.pid)


def test_watch_wakes_on_a_store_change_from_another_process(tmp_path):
    store = RunStore(tmp_path / "home")
    with Watch([store.home]) as watch:
        assert watch.active
        assert watch.wait(0.05) is False  # nothing changed: it times out
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time; from runconfig_jupyter.core.runs.store import RunRecord, RunStore; "
                "from runconfig_jupyter.core.runs.status import RunStatus; s = RunStore(sys.argv[1]); time.sleep(0.3); "
                "s.create_run(RunRecord('w_1', 'w', RunStatus.QUEUED, 'local', 'local', time.time(), time.time()))",
                str(store.home),
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert watch.wait(30) is True  # woken by the other process's write, long before 30 s
        finally:
            writer.wait(30)


def test_a_record_watch_wakes_for_its_own_runs_changes_only(tmp_path):
    """A wait for a run's end is woken by a change of that run's row (its record.json is replaced in the same
    transaction), not by another run's writes to the store nor by what the script writes in the run folder."""
    store = RunStore(tmp_path / "home")
    now = time.time()
    for run_id in ("mine_1", "other_1"):
        store.run_dir(run_id).mkdir()
        store.create_run(RunRecord(run_id, "w", RunStatus.QUEUED, "local", "local", now, now))
    with record_watch(store.run_dir("mine_1")) as watch:
        assert watch.active
        store.set_status("other_1", RunStatus.RUNNING)
        (store.run_dir("mine_1") / "metrics.jsonl").write_text('{"name": "loss", "value": 1}\n')
        assert watch.wait(0.2) is False
        writer = threading.Timer(0.1, store.set_status, ("mine_1", RunStatus.COMPLETED))
        writer.start()
        try:
            assert watch.wait(30) is True  # woken by the change, long before 30 s
        finally:
            writer.join()
    assert store.get("mine_1").status == RunStatus.COMPLETED


def test_watch_without_inotify_sleeps_and_reports_no_event(tmp_path, monkeypatch):
    from runconfig_jupyter.core.system import watch as module

    monkeypatch.setattr(module, "_libc", False)  # as on a system without inotify
    with Watch([tmp_path]) as watch:
        assert not watch.active
        (tmp_path / "f").write_text("x")
        assert watch.wait(0.01) is False


def test_a_closed_watch_leaves_its_descriptor_open_for_the_next_without_its_watches(tmp_path):
    """Closing an inotify descriptor waits for the kernel's grace period (ms, at the run's end): a closed
    Watch removes its watches and the next Watch of the process reuses the descriptor, events drained."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with Watch([first]) as watch:
        fd = watch.fd
        (first / "a").write_text("x")  # an event left unread when the watch closes
    assert watch.fd == -1 and os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"  # still open
    (first / "b").write_text("x")  # no longer watched
    with Watch([second]) as again:
        assert again.fd == fd
        assert again.wait(0.05) is False  # nothing of the first watch's reaches the second
        (first / "c").write_text("x")
        assert again.wait(0.05) is False
        (second / "d").write_text("x")
        assert again.wait(30) is True


def test_a_forked_child_does_not_share_its_parents_idle_descriptor(tmp_path):
    """A descriptor inherited across fork names the parent's inotify instance: reusing it, the two
    processes would read each other's events. The child forgets it before any Watch of its own."""
    with Watch([tmp_path]) as watch:
        idle = watch.fd
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when the inherited descriptor is already closed
        try:
            os.fstat(idle)
            os._exit(1)
        except OSError:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.readlink(f"/proc/self/fd/{idle}") == "anon_inode:inotify"  # the parent keeps it


def test_wait_for_completion_and_follow_return_once_the_run_ends(project):
    run = Experiment("fast").submit(ScriptRunConfig(str(project), script="train.py"))
    chunks = list(run.follow(timeout=60))
    assert "epoch 2" in "".join(chunks)
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    with run_watch(run.store.home, run.run_dir) as watch:
        assert watch.active


def test_wait_for_completion_sees_a_cancel_written_by_another_thread(project):
    (project / "slow.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    run = Experiment("fast").submit(ScriptRunConfig(str(project), script="slow.py"))
    canceller = threading.Timer(1.0, run.cancel)
    canceller.start()
    try:
        details = run.wait_for_completion(timeout=60, raise_on_error=False)
    finally:
        canceller.cancel()
    assert details["status"] == RunStatus.CANCELED.value


def test_docker_check_reachable_names_the_address_and_the_fix(tmp_path):
    from runconfig_jupyter.targets.docker.client import check_reachable

    with pytest.raises(TargetUnavailable, match=r"Docker engine not reachable at unix://.*start it with"):
        check_reachable(f"unix://{tmp_path}/none.sock", timeout=2)
    not_docker = tmp_path / "plain.sock"
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(not_docker))
    server.listen(1)

    def answer() -> None:
        connection, _ = server.accept()
        connection.recv(1024)
        connection.sendall(b"HTTP/1.0 404 Not Found\r\n\r\n")
        connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(TargetUnavailable, match="not reachable"):
            check_reachable(f"unix://{not_docker}", timeout=5)
    finally:
        thread.join(5)
        server.close()


def test_ray_packages_are_zipped_like_ray_and_named_by_content(tmp_path):
    """The zip layout Ray's SDK makes (a module under its folder name) and a name that follows the content.

    Uploading them to a real head is covered by tests/integration/ray (every run ships two packages).
    """
    from runconfig_jupyter.targets.ray.jobs import exclude_matcher, package_files, package_uri, zip_package

    module = tmp_path / "mymod"
    (module / "sub").mkdir(parents=True)
    (module / "__init__.py").write_text("x = 1\n")
    (module / "sub" / "a.py").write_text("y = 2\n")
    (module / "sub" / "a.pyc").write_bytes(b"junk")
    (module / "__pycache__").mkdir()
    (module / "__pycache__" / "c.pyc").write_bytes(b"junk")
    (module / "empty").mkdir()
    excludes = exclude_matcher(["__pycache__/", "*.pyc"])
    files = package_files(module, excludes)
    assert [name for name, _ in files] == ["__init__.py", "empty/", "sub/a.py"]
    with zipfile.ZipFile(io.BytesIO(zip_package(module, files, include_parent=True))) as archive:
        assert sorted(archive.namelist()) == ["mymod/__init__.py", "mymod/empty/", "mymod/sub/a.py"]
        assert archive.read("mymod/sub/a.py") == b"y = 2\n"
    with zipfile.ZipFile(io.BytesIO(zip_package(module, files, include_parent=False))) as archive:
        assert sorted(archive.namelist()) == ["__init__.py", "empty/", "sub/a.py"]
    uri = package_uri(files, include_parent=True)
    assert uri.startswith("gcs://_ray_pkg_") and uri.endswith(".zip")
    assert package_uri(package_files(module, excludes), include_parent=True) == uri  # same content, same name
    assert package_uri(files, include_parent=False) != uri
    (module / "sub" / "a.py").write_text("y = 3\n")
    assert package_uri(package_files(module, excludes), include_parent=True) != uri  # new content, new name
