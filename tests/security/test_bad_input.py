"""Bad input is refused before anything is recorded, with the field named, through the front end it came from.

REST cases go to a real ``jupyter server`` subprocess (tests/security/inputs_server.py) and real local runs;
magic cases to a real IPython shell; file-name and permission cases to the real packer and extractor.
Each case asserts the typed refusal *and* that no run row or run folder appeared.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.config.input_checks import MAX_ARG_STRLEN, arg_max
from runconfig_jupyter.core.errors import ConfigError, SnapshotError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.snapshot.extract import extract_snapshot
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from tests.legacy_archive import write_legacy_archive
from tests.security.inputs_server import REPO, LiveServer

pytestmark = pytest.mark.timeout(180)

TRAIN = "import sys, pathlib\nprint('args', len(sys.argv) - 1)\nprint('link', pathlib.Path('sub/link').read_text())\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("bad-input-server")).start()
    project = live.root / "proj"
    (project / "sub").mkdir(parents=True)
    (project / "train.py").write_text(TRAIN)
    (project / "sub" / "x.txt").write_text("inside")
    # An inside link written through the parent (valid on disk): packed as 'x.txt', so the extractor takes it.
    os.symlink("../sub/x.txt", project / "sub" / "link")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def finished_run(server) -> str:
    """A completed run whose log says 'args 1'."""
    code, body = submit_yaml(server, "script: train.py\narguments: [7]\n")
    assert code == 201, body
    assert server.wait_finished(body["run_id"])["status"] == "Completed"
    return body["run_id"]


def submit_yaml(server: LiveServer, text: str, path: str = "proj") -> tuple[int, dict]:
    return server.call("runs", method="POST", body={"path": path, "runconfig": text})


def recorded(server: LiveServer) -> tuple[int, set[str]]:
    runs = server.home / "runs"
    return server.run_count(), set(os.listdir(runs)) if runs.exists() else set()


def assert_refused(server: LiveServer, send, field: str, status: int = 400) -> dict:
    """``send()`` is answered ``status`` naming ``field``, and no run row or run folder appeared."""
    before = recorded(server)
    code, body = send()
    assert code == status, body
    assert body.get("field", "").startswith(field), body
    assert recorded(server) == before
    return body


BAD_YAML = [
    ('script: train.py\narguments: ["a\\0b"]\n', "arguments[0]"),
    ('script: train.py\nenvironmentVariables:\n  X: "bad\\0value"\n', "environment_variables.X"),
    ('script: train.py\nenvironmentVariables:\n  "A\\0B": "1"\n', "environment_variables.A"),
    ('script: train.py\nenvironmentVariables:\n  "A=B": "1"\n', "environment_variables.A=B"),
    ('script: train.py\nenvironment:\n  environmentVariables:\n    Y: "x\\0"\n', "environment.environment_variables.Y"),
    ('command: ["python", "train.py", "x\\0y"]\n', "command[2]"),
    ("script: train.py\narguments: [" + "a" * MAX_ARG_STRLEN + "]\n", "arguments[0]"),
    ("script: train.py\ndocker:\n  shmSize: 99999999999g\n", "run_config.docker.shm_size"),
    ("script: train.py\ndocker:\n  shmSize: 2.5.1g\n", "run_config.docker.shm_size"),
    ("script: train.py\ndocker:\n  shmSize: -1g\n", "run_config.docker.shm_size"),
    ("script: train.py\ndocker:\n  shmSize: 0\n", "run_config.docker.shm_size"),
    ("script: train.py\ndocker:\n  shmSize: lots\n", "run_config.docker.shm_size"),
    ("script: train.py\nenvironment:\n  docker:\n    shmSize: 2000t\n", "environment.docker.shm_size"),
    ("script: train.py\nmaxRunDurationSeconds: 1e21\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: 1.0e+21\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: 1000000000000000000000\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: .inf\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: .nan\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: -5\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: '3600'\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: true\n", "max_run_duration_seconds"),
    ("script: train.py\nmaxRunDurationSeconds: 99999999\n", "max_run_duration_seconds"),
]


@pytest.mark.parametrize(("text", "field"), BAD_YAML, ids=[f for _, f in BAD_YAML])
def test_rest_refuses_bad_values_naming_the_field(server, text, field):
    started = time.monotonic()
    body = assert_refused(server, lambda: submit_yaml(server, text), field)
    assert body["error"] == "ConfigError", body
    assert time.monotonic() - started < 5


BAD_BODIES = [
    ({"display_name": ["a"]}, "display_name"),
    ({"display_name": "a\0b"}, "display_name"),
    ({"display_name": "x" * 300}, "display_name"),
    ({"target": ["local"]}, "compute_target"),
    ({"target": 5}, "compute_target"),
    ({"experiment": ["x"]}, "experiment"),
    ({"path": "proj\0x"}, "path"),
    ({"runconfig_file": "a\0b", "runconfig": None}, "runconfig_file"),
    ({"tags": {"k\0": "v"}}, "tags.k"),
    (
        {
            "runconfig": "script: train.py\nenvironment:\n  python:\n    condaDependencies:\n"
            '      dependencies: [{pip: ["six\\0"]}]\n'
        },
        "environment.python.conda_dependencies.pip[0]",
    ),
    ({"runconfig": 'script: train.py\ndocker:\n  arguments: ["--env=A\\0B"]\n'}, "run_config.docker.arguments[0]"),
    ({"runconfig": "script: train.py\nnodeCount: 100000000000\n"}, "run_config.node_count"),
    ({"runconfig": "script: train.py\npriority: 1.0e+400\n"}, "run_config.priority"),
    ({"runconfig": "script: train.py\narguments: [!!binary aGVsbG8=]\n"}, "arguments[0]"),
    ({"runconfig": "script: !!python/object/apply:os.system [id]\n"}, ""),
]


@pytest.mark.parametrize(("change", "field"), BAD_BODIES, ids=[f or "yaml-tag" for _, f in BAD_BODIES])
def test_rest_refuses_bad_body_fields_naming_the_field(server, change, field):
    body = {"path": "proj", "runconfig": "script: train.py\n", **change}
    answer = assert_refused(server, lambda: server.call("runs", method="POST", body=body), field)
    assert answer["error"] == "ConfigError", answer


@pytest.mark.parametrize("query", ["updated_since=nan", "updated_since=inf", "limit=-1", "offset=-1"])
def test_rest_list_queries_are_typed_400(server, query):
    code, body = server.call(f"runs?{query}")
    assert code == 400 and body["field"] == query.split("=")[0], body


def test_python_api_refuses_an_argument_list_larger_than_arg_max(project):
    """Each argument is fine alone; together they exceed what execve takes (ARG_MAX)."""
    piece = "x" * (MAX_ARG_STRLEN // 2)
    count = arg_max() // len(piece) + 2
    config = ScriptRunConfig(str(project), script="train.py", arguments=[piece] * count)
    with pytest.raises(ConfigError) as caught:
        submit(config, "toolong")
    assert caught.value.field == "arguments" and "ARG_MAX" in str(caught.value)
    assert RunStore().list() == []


def test_python_api_refuses_huge_duration_given_as_int(project):
    config = ScriptRunConfig(str(project), script="train.py", max_run_duration_seconds=10**21)
    with pytest.raises(ConfigError) as caught:
        submit(config, "forever")
    assert caught.value.field == "max_run_duration_seconds"
    assert RunStore().list() == []


def test_rest_inside_link_through_parent_is_packed_so_it_extracts_and_runs(server):
    code, body = submit_yaml(server, "script: train.py\narguments: [1, 2]\n")
    assert code == 201, body
    run = server.wait_finished(body["run_id"])
    assert run["status"] == "Completed", run
    log = server.call(f"runs/{body['run_id']}/log")[1]["text"]
    assert "args 2" in log and "link inside" in log
    manifest = json.loads((server.home / "runs" / body["run_id"] / "manifest.json").read_text())
    links = {f["path"]: f["target"] for f in manifest["files"] if f["type"] == "symlink"}
    assert links == {"sub/link": "x.txt"}


# Names Linux allows that another system (or a careless extractor) would read as a climb or an absolute path.
TRICKY_NAMES = ["a\\..\\b", "..\\up", "c:evil", "x\\..", "dots...", "a\\b", " .. ", "-rf", "новый.txt"]


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_packer_and_extractor_agree_on_every_name(tmp_path, name):
    """Whatever the packer accepts, the extractor writes: a name is either refused at packing, naming it, or
    extracted; never accepted, recorded and refused at run time."""
    source = tmp_path / "src"
    source.mkdir()
    (source / name).write_text("data")
    try:
        snapshot = store_snapshot(source, tmp_path / "snaps")
    except SnapshotError as error:
        assert name in str(error)
        return
    archive = write_legacy_archive(source, tmp_path / "tars")  # the same tree as a tar (old runs, remote targets)
    for packed, out in ((snapshot.path, tmp_path / "out"), (archive.path, tmp_path / "out-tar")):
        extract_snapshot(packed, out)
        assert (out / name).read_text() == "data"


def test_rest_refuses_a_source_with_a_backslash_climb_name(server):
    hostile = server.root / "hostile"
    hostile.mkdir()
    (hostile / "train.py").write_text("print(1)\n")
    (hostile / "a\\..\\b").write_text("x")
    body = assert_refused(server, lambda: submit_yaml(server, "script: train.py\n", path="hostile"), "")
    assert body["error"] == "SnapshotError" and "a\\..\\b" in body["message"]


def test_deep_source_tree_is_a_snapshot_error_naming_the_limit(tmp_path):
    source = tmp_path / "deep"
    source.mkdir()
    (source / "train.py").write_text("print(1)\n")
    folder = source
    for _ in range(400):  # deeper than the recursion a recursive walk survives
        folder = folder / "d"
        folder.mkdir()
    (folder / "leaf.txt").write_text("x")
    config = ScriptRunConfig(str(source), script="train.py")
    with pytest.raises(SnapshotError) as caught:
        submit(config, "deep")
    assert "128 folders" in str(caught.value) and "/d/d/d" in str(caught.value)
    assert RunStore().list() == []


def test_unreadable_files_are_typed_errors_naming_the_path():
    """Root reads everything, so the check drops to 'nobody' in a subprocess (imports done first: the
    interpreter lives under /root). Nothing may be recorded in the home it uses."""
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="runconfig-perm-"))  # pytest's tmp_path sits under a 0700 folder
    try:
        _probe_as_nobody(nobody, base)
    finally:
        shutil.rmtree(base)


def _probe_as_nobody(nobody: pwd.struct_passwd, base: Path) -> None:
    os.chmod(base, 0o755)
    readable = base / "open"
    readable.mkdir(mode=0o755)
    (readable / "train.py").write_text("print(1)\n")
    (readable / "secret.bin").write_text("root only")
    os.chmod(readable / "secret.bin", 0o600)
    locked = base / "locked"
    locked.mkdir(mode=0o700)
    (locked / "train.py").write_text("print(1)\n")
    closed_sub = base / "closed_sub"
    closed_sub.mkdir(mode=0o755)
    (closed_sub / "train.py").write_text("print(1)\n")
    (closed_sub / "private").mkdir(mode=0o700)
    looping = base / "loop"
    looping.mkdir(mode=0o755)
    os.symlink("train.py", looping / "train.py")  # a link to itself: ELOOP when opened
    home = base / "home"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    probe = textwrap.dedent(
        f"""
        import json, os, sys
        import importlib, pkgutil
        import runconfig_jupyter.core, runconfig_jupyter.targets.local, runconfig_jupyter.targets.processes
        # Every module a submit may load lazily, and the standard library under them, is loaded now: the
        # interpreter's own files (under /root) are unreadable once this process is 'nobody'.
        for package in (runconfig_jupyter.core, runconfig_jupyter.targets.local, runconfig_jupyter.targets.processes):
            for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(found.name)
        import yaml, sqlite3, pathspec
        from runconfig_jupyter.core.config import ScriptRunConfig
        from runconfig_jupyter.core.errors import RunConfigError
        from runconfig_jupyter.core.runs.script_run import submit
        from runconfig_jupyter.core.target.plugins import target_class
        target_class("local")  # the entry-point scan reads site-packages, kept under /root by this interpreter
        os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})
        out = {{}}
        for name in ("open", "locked", "closed_sub", "loop"):
            try:
                submit(ScriptRunConfig(os.path.join({str(base)!r}, name), script="train.py"), "perm")
                out[name] = ["accepted"]
            except RunConfigError as error:
                out[name] = [type(error).__name__, str(error), getattr(error, "field", None)]
            except Exception as error:
                out[name] = ["UNTYPED " + type(error).__name__, str(error), None]
        out["recorded"] = sorted(os.listdir(os.path.join({str(home)!r}, "runs"))) if os.path.isdir(
            os.path.join({str(home)!r}, "runs")) else []
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "RUNCONFIG_JUPYTER_HOME": str(home), "HOME": str(home), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["open"][0] == "SnapshotError", result
    assert str(readable / "secret.bin") in result["open"][1]
    assert result["locked"][0] == "ConfigError" and result["locked"][2] == "script"
    assert "Permission denied" in result["locked"][1]
    assert result["closed_sub"][0] == "SnapshotError" and str(closed_sub / "private") in result["closed_sub"][1]
    assert result["loop"][0] == "ConfigError" and result["loop"][2] == "script"
    assert result["recorded"] == []


@pytest.mark.parametrize(
    ("offset", "status"),
    [(str(2**62), 200), (str(2**63 - 1), 200), (str(2**63), 400), ("-1", 400), ("abc", 400), ("1e3", 400)],
)
def test_rest_log_offsets_never_500(server, finished_run, offset, status):
    run_id = finished_run
    code, body = server.call(f"runs/{run_id}/log?offset={offset}")
    assert code == status, body
    if status == 200:
        assert body["text"] == "" and body["next_offset"] == int(offset)
    else:
        assert body["field"] == "offset"


def test_websocket_bad_follow_gets_typed_errors_and_the_socket_stays_usable(server, finished_run):
    run_id = finished_run
    bad = [
        {"action": "follow", "run_id": run_id, "offsets": {"std_log.txt": -1}},
        {"action": "follow", "run_id": run_id, "offsets": [0, 1]},
        {"action": "follow", "run_id": run_id, "offsets": {"std_log.txt": "zero"}},
        {"action": "follow", "run_id": run_id, "offsets": {"std_log.txt": 2**64}},
        {"action": "follow", "run_id": [run_id]},
        {"action": ["follow"]},
        "[" * 100_000,
        "not json",
    ]
    follow = {"action": "follow", "run_id": run_id, "offsets": {}}
    replies = server.socket_session([*bad, follow], stop=lambda got: any(r["type"] == "log_end" for r in got))
    errors, rest = replies[: len(bad)], replies[len(bad) :]
    assert all(r["type"] == "error" and r["status"] == 400 for r in errors), errors
    assert [r.get("field") for r in errors] == [
        "offsets.std_log.txt",
        "offsets",
        "offsets.std_log.txt",
        "offsets.std_log.txt",
        "run_id",
        "action",
        "message",
        "message",
    ]
    # The same socket still follows logs after eight bad messages.
    assert any(r["type"] == "log" and r["name"] == "std_log.txt" and "args 1" in r["text"] for r in rest), rest


def test_rest_json_bodies_are_bounded(server):
    started = time.monotonic()
    deep = ("[" * 200_000 + "]" * 200_000).encode()
    body = assert_refused(server, lambda: server.call("runs", method="POST", raw=deep), "body")
    assert "nests" in body["message"]
    nested = json.dumps({"path": "proj", "tags": json.loads("[" * 80 + "]" * 80)}).encode()
    body = assert_refused(server, lambda: server.call("runs", method="POST", raw=nested), "body")
    assert "nests deeper" in body["message"]
    huge = b'{"path": "' + b"x" * (2 << 20) + b'"}'
    body = assert_refused(server, lambda: server.call("runs", method="POST", raw=huge), "body")
    assert "limit" in body["message"]
    assert time.monotonic() - started < 10


def test_magics_refuse_bad_values_naming_the_field(project, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    for body, field in [
        ('script: train.py\narguments: ["a\\0b"]\n', "arguments[0]"),
        ("script: train.py\ndocker:\n  shmSize: 99999999999g\n", "run_config.docker.shm_size"),
        ("script: train.py\nmaxRunDurationSeconds: 1.0e+21\n", "max_run_duration_seconds"),
    ]:
        shell.user_ns.pop("bad", None)
        with capture_output() as captured:
            shell.run_cell_magic("runconfig", "bad", body)
        assert "ConfigError" in captured.stderr and field in captured.stderr, captured.stderr
        assert "bad" not in shell.user_ns
    assert RunStore().list() == []


def test_widget_form_refuses_bad_values_under_their_fields(project):
    """The ipywidgets form (headless): each bad value lands under its own field and nothing is recorded."""
    from runconfig_jupyter.widgets.form import RunConfigForm

    form = RunConfigForm(source_directory=str(project))
    form.script.value = "train.py"
    for widget, value, key in [
        (form.arguments, "--lr a\0b", "arguments"),
        (form.env_vars, "TOKEN=a\0b", "env_vars"),
        (form.max_duration, 10**21, "max_duration"),
    ]:
        good = widget.value
        widget.value = value
        assert form.submit() is None
        assert set(form.field_errors) == {key}, form.field_errors
        widget.value = good
    assert RunStore().list() == []
