"""Red team: a run id is one rule everywhere (core/paths.py ``check_run_id``), never a path.

``RunStore.run_dir`` used to join whatever it was given under ``runs/``; each front end had its own idea of
a run id (the REST routes one regex, the websocket any text, the standby handover another regex). Now the
store refuses anything but a run id before a path is built, and every front end uses the same rule.

A decoy "run" is planted next to ``runs/`` (and in the server root) with a canary in its record and log;
the tests try to reach it with traversal ids through the Python API, the magics on a real IPython shell,
every REST route and the websocket of a real ``jupyter server``, and assert the canary never comes back and
that every refusal is a typed answer (never a 500, never a closed socket).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter import Run
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import ScriptRun
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.system.paths import check_run_id
from tests.security.inputs_server import LiveServer

pytestmark = pytest.mark.timeout(180)
CANARY = "redteam-run-id-canary-0b7d"
HOSTILE_IDS = [
    "../evil",
    "../../evil",
    "..",
    ".",
    "runs/../evil",
    "/tmp",
    "evil/../../evil",
    ".hidden",
    "a\0b",
    "-rf",
    "a" * 301,
    "",
    "x\nWARNING",
    "..\\evil",
]


def plant_decoy(folder: Path) -> None:
    """Something shaped like a run folder, outside ``runs/``: reaching it would show the canary."""
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    (folder / "outputs").mkdir(exist_ok=True)
    (folder / "logs" / "std_log.txt").write_text(CANARY)
    (folder / "outputs" / "loot.txt").write_text(CANARY)
    (folder / "run.json").write_text(json.dumps({"run_id": "evil", "note": CANARY}))
    record = {"run_id": "evil", "experiment": "x", "status": "Completed", "target": "local", "created_at": 1.0}
    (folder / "record.json").write_text(json.dumps({**record, "updated_at": 1.0, "reason": CANARY}))


@pytest.mark.parametrize("run_id", HOSTILE_IDS)
def test_python_api_refuses_every_non_run_id_before_building_a_path(run_home, run_id):
    plant_decoy(run_home / "evil")
    store = RunStore(run_home)
    for attempt in (lambda: store.run_dir(run_id), lambda: ScriptRun(run_id, store=store), lambda: Run.get(run_id)):
        with pytest.raises(ConfigError) as refused:
            attempt()
        assert refused.value.field == "run_id" and CANARY not in str(refused.value)
    assert not (run_home / "runs").exists() or list((run_home / "runs").iterdir()) == []


def test_the_rule_accepts_every_id_the_project_makes():
    from runconfig_jupyter.core.runs.submit import new_run_id

    for experiment in ("a", "mnist-baseline", "x" * 255, "A_1-b"):
        run_id = new_run_id(experiment)
        assert check_run_id(run_id) == run_id


@pytest.fixture
def shell(run_home, tmp_path, monkeypatch):
    plant_decoy(run_home / "evil")
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    return ip


@pytest.mark.parametrize("run_id", ["../evil", "..", "runs/../evil", "../../evil"])
def test_magics_refuse_traversal_ids_with_a_typed_error(shell, run_id):
    for magic in ("logs", "cancel"):
        with capture_output() as out:
            shell.run_line_magic(magic, run_id)
        assert "not a run id" in out.stderr, (magic, out.stdout, out.stderr)
        assert CANARY not in out.stdout + out.stderr


# -- a real jupyter server ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("redteam-ids")).start()
    plant_decoy(live.home / "evil")
    plant_decoy(live.root / "evil")
    (live.root / "proj").mkdir()
    (live.root / "proj" / "train.py").write_text("print('ok')\n")
    yield live
    live.stop()


ROUTE_IDS = ["..%2Fevil", "%2E%2E%2Fevil", "..%252Fevil", "a..b", "evil%00", "%2E%2E", "x%0Aevil", "-rf"]


@pytest.mark.parametrize("run_id", ROUTE_IDS)
def test_rest_routes_never_reach_a_folder_outside_runs(server, run_id):
    before = server.run_count()
    for route, method in (
        ("", "GET"),
        ("/log", "GET"),
        ("/log?name=std_log.txt", "GET"),
        ("/metrics", "GET"),
        ("/cancel", "POST"),
        ("/rerun", "POST"),
        ("/outputs", "POST"),
    ):
        code, body = server.call(f"runs/{run_id}{route}", method=method)
        assert code in (400, 404), (route, code, body)
        assert CANARY not in json.dumps(body), (route, body)
    assert server.run_count() == before
    assert not (server.root / "runconfig-outputs").exists()


def test_websocket_follow_refuses_traversal_ids_and_stays_open(server):
    code, run = server.call("runs", method="POST", body={"path": "proj", "runconfig": "script: train.py\n"})
    assert code == 201, run
    hostile = [{"action": "follow", "run_id": run_id, "offsets": {}} for run_id in HOSTILE_IDS]
    hostile += [{"action": "unfollow", "run_id": "../evil"}]
    follow = {"action": "follow", "run_id": run["run_id"], "offsets": {}}
    replies = server.socket_session([*hostile, follow], stop=lambda got: any(r["type"] == "log_end" for r in got))
    errors = replies[: len(hostile)]
    assert all(r["type"] == "error" and r["status"] == 400 and r["field"] == "run_id" for r in errors), errors
    assert CANARY not in json.dumps(replies)
    assert any(r["type"] == "log_end" and r["run_id"] == run["run_id"] for r in replies)


def test_a_quoted_id_in_a_url_is_refused_the_same_way(server):
    quoted = urllib.parse.quote("../evil", safe="")
    code, body = server.call(f"runs/{quoted}")
    assert code == 404 and CANARY not in json.dumps(body)


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ("--limit 99999999999999999999", "No runs yet"),  # was an untyped OverflowError from sqlite
        ("--limit -5", "limit"),
        ("--status Evil", "status"),
    ],
)
def test_runs_magic_answers_every_page_value_without_a_traceback(shell, line, expect):
    with capture_output() as out:
        shell.run_line_magic("runs", line)
    text = out.stdout + out.stderr
    assert expect in text and "Traceback" not in text and "OverflowError" not in text, text


def test_store_listing_bounds_are_typed(run_home):
    store = RunStore(run_home)
    assert store.list(limit=2**80, offset=2**70) == []
    for limit, offset in ((-1, 0), (1, -1), ("5", 0), (True, 0)):
        with pytest.raises(ConfigError):
            store.list(limit=limit, offset=offset)


def test_an_index_rebuild_never_indexes_a_folder_whose_name_is_not_a_run_id(run_home, project):
    """A folder dropped into runs/ by hand ('bad name', '-rf') stays out of the index; real runs stay listed."""
    from runconfig_jupyter import ScriptRunConfig
    from runconfig_jupyter.core.runs.script_run import submit
    from runconfig_jupyter.core.runs.store import rebuild_index

    run = submit(ScriptRunConfig(str(project), script="train.py"), "good")
    run.wait_for_completion(timeout=60)
    for name in ("bad name", "-rf", "x\tevil"):
        folder = run_home / "runs" / name
        folder.mkdir()
        record = {"run_id": name, "experiment": "x", "status": "Completed", "target": "local", "created_at": 1.0}
        (folder / "record.json").write_text(json.dumps({**record, "updated_at": 1.0, "reason": CANARY}))
    with pytest.warns(Warning):
        report = rebuild_index(run_home)
    assert report.indexed == 1 and len(report.skipped) == 3
    assert [r.run_id for r in RunStore(run_home).list(limit=10)] == [run.id]
