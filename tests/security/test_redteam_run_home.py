"""Red team: the run home is never a source folder, and inside it only runs' outputs are a place.

The run home holds ``secrets/`` (the secret values of every run), ``runs.db`` and every run's logs and
snapshot. ``source_directory: <home>/secrets`` was accepted: the snapshot carried every run's secret values
to a script that could print them into a log anyone with the server's token reads. And when the home sits
inside a project or the server root, a conda file ``<home>/secrets/<run>.json`` passed as "inside the
source folder". Now a source inside the home is refused, and a path inside the home is allowed only in a
run's ``outputs/`` - whatever folder holds the home. Through the Python API, the magics and a real server.
"""

from __future__ import annotations

import json
import tarfile

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from tests.security.inputs_server import LiveServer
from tests.snapshot_store import run_snapshot_names, stored_files

pytestmark = pytest.mark.timeout(180)
SECRET = "redteam-home-secret-c4f0"
LIST = "import os\nfor d, _, fs in os.walk('.'):\n    for f in fs:\n        print(open(os.path.join(d, f)).read())\n"


@pytest.fixture
def home_with_a_secret(project, run_home):
    """One finished run whose HF_TOKEN sits in <home>/secrets, and a script planted in each home folder."""
    config = ScriptRunConfig(str(project), script="train.py")
    config.run_config.environment_variables = {"HF_TOKEN": SECRET}
    run = submit(config, "owner")
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    assert any(SECRET in p.read_text() for p in (run_home / "secrets").iterdir())
    folders = [run_home, run_home / "secrets", run_home / "runs", run.run_dir, run.run_dir / "outputs"]
    for folder in folders:
        (folder / "train.py").write_text(LIST)
    return folders


def snapshots_hold_the_secret(home) -> bool:
    return any(SECRET in p.read_bytes().decode("latin-1") for p in [*home.rglob("*.tar"), *stored_files(home)])


def test_python_api_never_packages_the_run_home(home_with_a_secret, run_home):
    before = len(RunStore(run_home).list(limit=100))
    for folder in home_with_a_secret:
        with pytest.raises(ConfigError) as refused:
            submit(ScriptRunConfig(str(folder), script="train.py"), "thief")
        assert refused.value.field == "source_directory" and "run home" in str(refused.value)
    assert len(RunStore(run_home).list(limit=100)) == before
    assert not snapshots_hold_the_secret(run_home)


def test_magics_refuse_the_run_home_as_source(home_with_a_secret, run_home, monkeypatch):
    monkeypatch.chdir(run_home / "secrets")  # a notebook opened there: the cell's default source
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    for line in ("thief", f"thief -s {run_home}"):
        with capture_output() as out:
            shell.run_cell_magic("runconfig", line, "script: train.py\n")
        assert "thief" not in shell.user_ns and "run home" in out.stderr
        assert SECRET not in out.stdout + out.stderr


def test_a_conda_file_in_a_home_inside_the_project_is_refused(project, tmp_path, monkeypatch):
    home = project / "rc-home"  # a user who keeps the run home in the project
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(home))
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "old_run.json").write_text(json.dumps({"name": SECRET, "dependencies": []}))
    config = ScriptRunConfig(str(project), script="train.py")
    config.run_config.environment.python.conda_dependencies_file = "rc-home/secrets/old_run.json"
    with pytest.raises(ConfigError) as refused:
        submit(config, "thief")
    assert refused.value.field == "environment.python.conda_dependencies_file"
    assert SECRET not in str(refused.value)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A server whose run home lies under its root (a user who set RUNCONFIG_JUPYTER_HOME there)."""
    base = tmp_path_factory.mktemp("redteam-home")
    home = base / "root" / "rc-home"
    live = LiveServer(base, env={"RUNCONFIG_JUPYTER_HOME": str(home)}).start()
    (live.root / "proj").mkdir()
    (live.root / "proj" / "train.py").write_text("print('ok')\n")
    live.run_home = home
    yield live
    live.stop()


def test_rest_refuses_the_run_home_under_the_root(server):
    text = "script: train.py\nenvironment_variables: {HF_TOKEN: " + SECRET + "}\n"
    code, run = server.call("runs", method="POST", body={"path": "proj", "runconfig": text})
    assert code == 201, run
    server.wait_finished(run["run_id"])
    for folder in ("rc-home", "rc-home/secrets", "rc-home/runs", f"rc-home/runs/{run['run_id']}"):
        (server.run_home / folder.removeprefix("rc-home").lstrip("/") / "train.py").write_text(LIST)
        for body in (
            {"path": folder, "runconfig": "script: train.py\n"},
            {"path": "proj", "runconfig": f"source_directory: ../{folder}\nscript: train.py\n"},
        ):
            code, answer = server.call("runs", method="POST", body=body)
            assert code == 400 and answer["field"] in ("path", "source_directory"), (body, answer)
            assert SECRET not in json.dumps(answer)
    assert server.run_count() == 1
    for tar in server.run_home.rglob("*.tar"):
        with tarfile.open(tar) as archive:
            assert not [n for n in archive.getnames() if n.endswith(".json") and "secrets" in n]
    for stored in server.run_home.glob("runs/*/snapshot.json"):  # runs of the per-file store
        assert not [n for n in run_snapshot_names(stored.parent) if n.endswith(".json") and "secrets" in n]
    assert not snapshots_hold_the_secret(server.run_home)


def test_the_run_artifact_datastore_reaches_only_runs_outputs(home_with_a_secret, project, tmp_path):
    """``workspaceartifactstore`` (v1's store of run outputs) is the home's ``runs`` folder, registered read-only on
    first use so that ``run._get_outputs_datapath()`` can be resumed from. A hostile config naming it must reach
    only a run's ``outputs/``: not the whole runs folder, every run's logs, another run's logs or record. Each
    refusal is a typed ConfigError at submit, naming the argument; no run is recorded."""
    from runconfig_jupyter.core import Dataset, Datastore, Workspace

    ws = Workspace()
    store = Datastore.get(ws, "workspaceartifactstore")
    earlier = RunStore().list()[0].run_id
    before = len(RunStore().list())
    hostile = {
        "the whole runs folder": store.path("").as_mount(),
        "every run's logs": Dataset.File.from_files(path=(store, "*/logs/*")).as_mount(),
        "another run's logs": store.path(f"{earlier}/logs").as_download(),
        "another run's record": Dataset.File.from_files(path=(store, f"{earlier}/run.json")).as_download(),
        # Several paths become one input over their common folder (core/data/definitions.py one_place): outputs of
        # a run next to its logs, or its record with its log, must not widen that folder into the run or runs folder.
        "a run's outputs with its logs": Dataset.File.from_files(
            path=[(store, f"{earlier}/outputs/model.txt"), (store, f"{earlier}/logs/driver_log.txt")]
        ).as_mount(),
        "a run's record with its log": Dataset.File.from_files(
            path=[(store, f"{earlier}/run.json"), (store, f"{earlier}/logs/driver_log.txt")]
        ).as_download(),
    }
    for what, data in hostile.items():
        config = ScriptRunConfig(str(project), script="train.py", arguments=["--data", data])
        with pytest.raises(ConfigError, match="in the run home") as refused:
            submit(config, "attacker")
        assert refused.value.field and refused.value.field.startswith("arguments"), (what, refused.value.field)
    assert len(RunStore().list()) == before
    resume = tmp_path / "resume"
    resume.mkdir()
    (resume / "resume.py").write_text("import os, sys\nprint('resumed from', sorted(os.listdir(sys.argv[1])))\n")
    outputs = Dataset.File.from_files(path=(store, f"{earlier}/outputs")).as_download()
    allowed = submit(ScriptRunConfig(str(resume), script="resume.py", arguments=[outputs]), "resume")
    assert allowed.wait_for_completion(timeout=60)["status"] == "Completed"
    assert "resumed from [" in allowed.get_log()
