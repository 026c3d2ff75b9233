"""How the source snapshot reaches the container: read-only mounts unpacked inside (local engine), or a copy.

Real dockerd and real containers; the checks are what a script can see and do, not how fast it got there.
"""

from __future__ import annotations

import io
import stat
import tarfile
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.targets.docker.container import (
    INPUT_DIR,
    MERGE_STREAMS,
    SNAPSHOT_TREE,
    SUPPORT_TAR,
    WORKDIR,
    Unpack,
    check_members,
    unpack_first,
)
from tests.snapshot_store import run_snapshot_file, run_snapshot_names

pytestmark = pytest.mark.docker
TEST_IMAGE_LABEL = "runconfig-jupyter.test"

PROBE = textwrap.dedent(
    f"""
    import os, sys
    print("data:", open("data/input.txt").read().strip(), flush=True)
    print("shim:", os.path.isdir(".runconfig/shim"), flush=True)
    for mounted in ("{INPUT_DIR}/snapshot.tar", "{INPUT_DIR}/snapshot/data/input.txt"):
        if os.path.exists(mounted):  # a tar (older run folders) or a tree of the snapshot store
            try:
                open(mounted, "ab").write(b"x")
                print("snapshot writable", flush=True)
            except OSError as error:
                print("snapshot read-only:", error.errno, flush=True)
    open("data/input.txt", "w").write("changed in the container")
    os.makedirs("outputs", exist_ok=True)
    open("outputs/done.txt", "w").write("ok")
    """
)


def _write_probe(project: Path) -> None:
    (project / "probe.py").write_text(PROBE)
    (project / "data").mkdir()
    (project / "data" / "input.txt").write_text("from the host\n")


def test_local_engine_unpacks_read_only_mounted_snapshot(project, docker_client, our_containers):
    _write_probe(project)
    run = Experiment("dk-in").submit(ScriptRunConfig(str(project), script="probe.py", compute_target="docker"))
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", details
    log = run.get_log()
    assert "data: from the host" in log and "shim: True" in log
    assert "snapshot read-only: 30" in log  # EROFS: the mounted snapshot cannot be changed from inside
    assert "snapshot writable" not in log
    assert (project / "data" / "input.txt").read_text() == "from the host\n"  # the user's folder is untouched
    assert run_snapshot_file(run.run_dir, "data/input.txt") == b"from the host\n"  # and so is the run's snapshot
    assert (run.outputs_dir() / "done.txt").read_text() == "ok"
    assert not (run.run_dir / SUPPORT_TAR).exists()  # the shim tar is removed with the container
    assert not (run.run_dir / SNAPSHOT_TREE).exists()  # and so is the snapshot's tree of links
    assert our_containers(run.id) == []


MODES = textwrap.dedent(
    """
    import os, stat
    for name in ("run.sh", "probe_modes.py", "alias.py", "pkg/m.py"):
        st = os.lstat(name)
        print("MODE", name, oct(stat.S_IMODE(st.st_mode)), stat.S_ISLNK(st.st_mode), flush=True)
    print("LINK", os.readlink("alias.py"), flush=True)
    open("pkg/m.py", "a").write("# the run may change its own copy")
    print("RUNSH", os.popen("./run.sh").read().strip(), flush=True)
    """
)


def _write_modes_project(project: Path) -> None:
    """The MODES probe and what it looks at: an executable, a plain file in a folder, a link."""
    (project / "probe_modes.py").write_text(MODES)
    (project / "run.sh").write_text("#!/bin/sh\necho from-run-sh\n")
    (project / "run.sh").chmod(0o755)
    (project / "pkg").mkdir()
    (project / "pkg" / "m.py").write_text("x = 1\n")
    (project / "alias.py").symlink_to("probe_modes.py")


def test_stored_snapshot_tree_has_the_modes_links_and_content_of_the_tar(project, docker_client, our_containers):
    """The local engine copies the store's read-only link tree: modes, links and writability as tar gave."""
    _write_modes_project(project)
    run = Experiment("dk-in").submit(ScriptRunConfig(str(project), script="probe_modes.py", compute_target="docker"))
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", details
    log = run.get_log()
    assert "MODE run.sh 0o755 False" in log and "MODE probe_modes.py 0o644 False" in log
    assert "MODE pkg/m.py 0o644 False" in log and "MODE alias.py 0o777 True" in log
    assert "LINK probe_modes.py" in log and "RUNSH from-run-sh" in log
    assert run_snapshot_file(run.run_dir, "pkg/m.py") == b"x = 1\n"  # the run's change stayed in the container
    assert (project / "pkg" / "m.py").read_text() == "x = 1\n"
    assert our_containers(run.id) == []


def test_user_option_falls_back_to_copying(project, docker_client, our_containers):
    """With ``--user`` the container could not unpack into the root-owned working dir: the engine copies."""
    (project / "who.py").write_text("import os\nprint('uid', os.getuid(), open('who.py').readline().strip())\n")
    config = ScriptRunConfig(str(project), script="who.py", compute_target="docker")
    config.run_config.docker.arguments = ["--user", "1000"]
    run = Experiment("dk-in").submit(config)
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", details
    assert "uid 1000 import os" in run.get_log()
    assert our_containers(run.id) == []


def test_unpack_keeps_the_merged_streams_and_the_argv():
    merged = unpack_first([*MERGE_STREAMS, "python", "a b.py", "--x"])
    assert merged[:2] == ["/bin/sh", "-c"] and merged[2].endswith('exec "$@" 2>&1')
    assert merged[3:] == ["sh", "python", "a b.py", "--x"]
    plain = unpack_first(["python", "t.py"])
    assert plain[2].endswith('exec "$@"') and plain[3:] == ["sh", "python", "t.py"]
    assert f"tar -xf {INPUT_DIR}/snapshot.tar" in plain[2]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt"])
def test_snapshot_with_escaping_member_is_refused(tmp_path, name):
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo(name)
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PreparationFailed, match="unsafe member"):
        check_members(path)


def test_attached_output_outlives_the_client_read_timeout(docker_client):
    """A script silent for longer than the client's read timeout still has its later lines delivered."""
    import docker

    from runconfig_jupyter.targets.docker.logs import attach_output

    client = docker.from_env(timeout=1)
    container = client.containers.create(
        "runconfig-jupyter/python:bookworm",
        ["sh", "-c", "echo before; sleep 2.5; echo after"],
        labels={TEST_IMAGE_LABEL: "attach-timeout"},
    )
    try:
        output = attach_output(client, container.id)
        container.start()
        assert b"".join(output) == b"before\nafter\n"  # ends when the container exits
    finally:
        container.remove(force=True)
        client.close()


STORE_PROBE = textwrap.dedent(
    f"""
    import os, stat
    names = ["plain.py", "run me.sh", "-dash.sh", "it's.sh", "sub dir/tool.sh", "sub dir/lib.py"]
    for name in names:
        print("MODE", repr(name), oct(stat.S_IMODE(os.lstat(name).st_mode)), flush=True)
    print("DIR", oct(stat.S_IMODE(os.stat("sub dir").st_mode)), flush=True)
    for name in names:  # the run's own copy is writable, executables included
        open(name, "a").write("# changed in the container\\n")
    os.chmod("run me.sh", 0o777)
    mounted = "{INPUT_DIR}/snapshot"
    for name in ("plain.py", "run me.sh", ".runconfig/shim/runconfig_jupyter/__init__.py"):
        try:  # the mounted tree: links into the snapshot store, and the shim written next to them
            open(os.path.join(mounted, name), "ab").write(b"x")
            print("WROTE", name, flush=True)
        except OSError as error:
            print("REFUSED", name, error.errno, flush=True)
        try:
            os.chmod(os.path.join(mounted, name), 0o666)
            print("CHMODDED", name, flush=True)
        except OSError as error:
            print("CHMOD REFUSED", name, error.errno, flush=True)
    print("MOUNTS", sorted(os.listdir("/runconfig/in")), flush=True)
    from runconfig_jupyter import Run
    Run.get_context().log("shim", 1)
    """
)


def _objects(home: Path) -> dict[Path, tuple[int, bytes]]:
    """Every object of the snapshot store: its mode and content."""
    return {
        path: (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
        for path in (home / "snapshots" / "objects").rglob("*")
        if path.is_file()
    }


def test_script_changes_its_copy_never_the_store_objects(project, run_home, docker_client, our_containers):
    """One mount (the store's link tree with the shim inside), copied with the tar's modes; executables with
    awkward names keep 0755; whatever the script writes or chmods, the store's objects stay as they were."""
    (project / "probe.py").write_text(STORE_PROBE)
    (project / "plain.py").write_text("x = 1\n")
    (project / "sub dir").mkdir()
    (project / "sub dir" / "lib.py").write_text("y = 2\n")
    for name in ("run me.sh", "-dash.sh", "it's.sh", "sub dir/tool.sh"):
        (project / name).write_text("#!/bin/sh\necho hi\n")
        (project / name).chmod(0o755)
    run = Experiment("dk-in").submit(ScriptRunConfig(str(project), script="probe.py", compute_target="docker"))
    before = _objects(run_home)
    stored = set(before.values())  # the originals (unchanged on the host), as read-only objects
    assert (0o444, b"x = 1\n") in stored and (0o555, b"#!/bin/sh\necho hi\n") in stored
    assert {mode for mode, _content in stored} <= {0o444, 0o555}
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", details
    log = run.get_log()
    for name in ("run me.sh", "-dash.sh", "it's.sh", "sub dir/tool.sh"):
        assert f"MODE {name!r} 0o755" in log, log
    assert "MODE 'plain.py' 0o644" in log and "MODE 'sub dir/lib.py' 0o644" in log and "DIR 0o755" in log
    assert "WROTE" not in log and "CHMODDED" not in log
    assert log.count("REFUSED") == 6 and "REFUSED plain.py 30" in log  # EROFS, links and shim alike
    assert "MOUNTS ['snapshot']" in log  # the shim came inside the tree: no second mount, nothing to untar
    assert run.get_metrics()["shim"] == 1
    assert _objects(run_home) == before  # not a byte, not a mode bit of the store changed
    assert run_snapshot_file(run.run_dir, "run me.sh") == b"#!/bin/sh\necho hi\n"
    assert (project / "plain.py").read_text() == "x = 1\n"
    assert not (run.run_dir / SNAPSHOT_TREE).exists()
    assert our_containers(run.id) == []


OWN_RUNCONFIG = textwrap.dedent(
    """
    import os
    print("NOTES", open(".runconfig/notes.txt").read().strip(), flush=True)
    print("MOUNTS", sorted(os.listdir("/runconfig/in")), flush=True)
    from runconfig_jupyter import Run
    Run.get_context().log("shim", 2)
    """
)


def test_snapshot_with_its_own_runconfig_folder_keeps_it_and_gets_the_shim(project, docker_client, our_containers):
    """The shim is never written into a snapshot's own ``.runconfig/`` on the host: it comes as its own tar."""
    (project / "own.py").write_text(OWN_RUNCONFIG)
    (project / ".runconfig").mkdir()
    (project / ".runconfig" / "notes.txt").write_text("mine\n")
    run = Experiment("dk-in").submit(ScriptRunConfig(str(project), script="own.py", compute_target="docker"))
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", details
    log = run.get_log()
    assert "NOTES mine" in log and "MOUNTS ['snapshot', 'support.tar']" in log
    assert run.get_metrics()["shim"] == 2
    assert run_snapshot_names(run.run_dir) >= {".runconfig", ".runconfig/notes.txt"}
    assert our_containers(run.id) == []


def test_tree_copy_names_the_executables_quoted_or_falls_back_to_chmod_r():
    command = ["python", "t.py"]
    plain = unpack_first(command, "", Unpack(tree=True, support_in_tree=True, executables=()))[2]
    assert plain.startswith(f"{{ cp -R --no-preserve=mode {INPUT_DIR}/snapshot/. {WORKDIR} 2>/dev/null || ")
    assert "support.tar" not in plain
    named = unpack_first(command, "", Unpack(tree=True, support_in_tree=True, executables=("a b.sh", "$(x)")))[2]
    assert f"chmod 755 -- {WORKDIR}/'a b.sh' {WORKDIR}/'$(x)'" in named
    many = tuple(f"tool-{index:05}.sh" for index in range(5000))
    fallback = unpack_first(command, "", Unpack(tree=True, executables=many))[2]
    assert f"chmod -R u+w {WORKDIR}" in fallback and "--no-preserve" not in fallback
    assert f"tar -xf {INPUT_DIR}/support.tar" in fallback


BUSYBOX_CP = """#!/bin/sh
# cp without GNU's long options, as busybox's (alpine images)
for arg in "$@"; do case "$arg" in --*) echo "cp: unrecognized option '$arg'" >&2; exit 1;; esac; done
exec /bin/cp "$@"
"""


def test_an_image_without_gnu_cp_gets_the_portable_copy(project, docker_client, session_nonce, image_remover):
    """The image's ``cp`` refuses --no-preserve=mode (as busybox's does): the run still gets its copy, modes
    as the tar would give them."""
    tag = f"runconfig-jupyter/test-nognucp:{session_nonce}"
    dockerfile = b"FROM runconfig-jupyter/python:bookworm\nCOPY cp /usr/local/bin/cp\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, content in (("Dockerfile", dockerfile), ("cp", BUSYBOX_CP.encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755
            archive.addfile(info, io.BytesIO(content))
    context.seek(0)
    docker_client.images.build(
        fileobj=context, custom_context=True, tag=tag, labels={TEST_IMAGE_LABEL: session_nonce}, forcerm=True
    )
    try:
        _write_modes_project(project)
        config = ScriptRunConfig(str(project), script="probe_modes.py", compute_target="docker")
        config.environment.docker.base_image = tag
        config.environment.python.user_managed_dependencies = True
        run = Experiment("dk-in").submit(config)
        details = run.wait_for_completion(timeout=120)
        assert details["status"] == "Completed", details
        log = run.get_log()
        assert "unrecognized option" not in log  # the refused attempt is not in the run's log
        assert "MODE run.sh 0o755 False" in log and "MODE probe_modes.py 0o644 False" in log
        assert "MODE pkg/m.py 0o644 False" in log and "RUNSH from-run-sh" in log
    finally:
        image_remover([tag])
