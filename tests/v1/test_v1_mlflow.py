"""Azure ML v1's MLflow tracking (``history.enableMLflowTracking``): what a script logs through ``mlflow`` is the run's.

Real runs of real scripts. Those that ``import mlflow`` skip when it is not importable (the test extra carries it);
the rest need only the standard library: the environment a run gets, tracking turned off, a damaged store, and
the docker target, whose base image has no MLflow (its script writes the store with ``sqlite3`` in MLflow's own
table layout - the tables, columns and constraints MLflow 3.x creates - exactly what the driver reads).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, RunConfiguration, ScriptRunConfig, Workspace
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.mlflow_import import MAX_NAME_CHARS, StoreRefused, import_mlflow_store
from runconfig_jupyter.core.runs.store import RunStore
from tests.v1.helpers import aliased_target

needs_mlflow = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("sqlalchemy") is None,
    reason="mlflow (with sqlalchemy and alembic for its SQLite store) is not installed: the test extra brings it",
)

# MLflow 3.x's own tables of a tracking store, as ``CREATE TABLE`` reads in its SQLite file (the part the driver
# reads); a store written with these is what mlflow writes, without needing mlflow in the image.
MLFLOW_TABLES = """
CREATE TABLE experiments (experiment_id INTEGER NOT NULL, name VARCHAR(256) NOT NULL, artifact_location VARCHAR(256),
    lifecycle_stage VARCHAR(32), creation_time BIGINT, last_update_time BIGINT,
    CONSTRAINT experiment_pk PRIMARY KEY (experiment_id));
CREATE TABLE runs (run_uuid VARCHAR(32) NOT NULL, name VARCHAR(250), source_type VARCHAR(20), source_name VARCHAR(500),
    entry_point_name VARCHAR(50), user_id VARCHAR(256), status VARCHAR(9), start_time BIGINT, end_time BIGINT,
    source_version VARCHAR(50), lifecycle_stage VARCHAR(20), artifact_uri VARCHAR(200), experiment_id INTEGER,
    deleted_time BIGINT, CONSTRAINT run_pk PRIMARY KEY (run_uuid));
CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
    run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
    CONSTRAINT metric_pk PRIMARY KEY ("key", timestamp, step, run_uuid, value, is_nan));
CREATE TABLE params ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000) NOT NULL, run_uuid VARCHAR(32) NOT NULL,
    CONSTRAINT param_pk PRIMARY KEY ("key", run_uuid));
CREATE TABLE tags ("key" VARCHAR(250) NOT NULL, value VARCHAR(8000), run_uuid VARCHAR(32) NOT NULL,
    CONSTRAINT tag_pk PRIMARY KEY ("key", run_uuid));
"""

# A script that writes the run's MLflow store the way mlflow would (one run, a series, a param, a tag), with the
# standard library: for images without mlflow. It finds the store where mlflow would: MLFLOW_TRACKING_URI.
STORE_WRITER = (
    textwrap.dedent(
        """
    import os, sqlite3, sys, time
    uri = os.environ["MLFLOW_TRACKING_URI"]
    assert uri.startswith("sqlite:///"), uri
    path = uri[len("sqlite:///"):]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(TABLES)
    now = int(time.time() * 1000)
    db.execute("INSERT INTO experiments VALUES (1, ?, './mlruns/1', 'active', ?, ?)",
               (os.environ["MLFLOW_EXPERIMENT_NAME"], now, now))
    db.execute("INSERT INTO runs VALUES ('r1', 'in-docker', 'LOCAL', 'train.py', '', 'root', 'FINISHED', ?, ?, '',"
               " 'active', '../../../../etc', 1, NULL)", (now, now))
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        db.execute("INSERT INTO metrics VALUES ('loss', ?, ?, 'r1', ?, 0)", (loss, now + step, step))
    db.execute("INSERT INTO params VALUES ('lr', '0.01', 'r1')")
    db.execute("INSERT INTO tags VALUES ('stage', 'docker', 'r1')")
    db.execute("INSERT INTO tags VALUES ('mlflow.user', 'root', 'r1')")
    db.commit()
    db.close()
    print("store written to", path)
    """
    )
    .replace("TABLES", repr(MLFLOW_TABLES))
    .strip()
)


def _submit(project: Path, script: str, name: str = "mlflow", **run_config: object):
    """Submit ``script`` (text) from ``project`` and wait for its end; the run."""
    (project / "train_mlflow.py").write_text(textwrap.dedent(script))
    config = ScriptRunConfig(source_directory=str(project), script="train_mlflow.py", **run_config)
    run = Experiment(Workspace.from_config(), name).submit(config)
    run.wait_for_completion(timeout=240, raise_on_error=False)
    return run


def _driver_log(run) -> str:
    return RunFolder(run.run_dir).driver_log.read_text()


# -- with mlflow ------------------------------------------------------------------------------------------------
@needs_mlflow
def test_mlflow_in_start_run_lands_on_the_run(v1_project):
    run = _submit(
        v1_project,
        """
        import mlflow
        with mlflow.start_run():
            mlflow.log_param("alpha", 0.03)
            mlflow.set_tag("framework", "sklearn")
            for step, loss in enumerate([0.9, 0.5, 0.25]):
                mlflow.log_metric("loss", loss, step=step)
            mlflow.log_metric("mse", 0.125)
            with mlflow.start_run(nested=True, run_name="fold-0"):
                mlflow.log_metric("fold_score", 0.75)
        """,
    )
    assert run.get_status() == "Completed", _driver_log(run)
    metrics = run.get_metrics()
    assert metrics == {"loss": [0.9, 0.5, 0.25], "mse": 0.125}
    assert [r["step"] for r in run.get_metric_records() if r["name"] == "loss"] == [0, 1, 2]
    tags = run.get_tags()
    assert tags["alpha"] == "0.03" and tags["framework"] == "sklearn"
    assert not any(key.startswith("mlflow.") for key in tags)
    (child,) = run.get_children()
    assert child.get_metrics() == {"fold_score": 0.75} and child.get_status() == "Completed"
    assert child.record.display_name == "fold-0"


@needs_mlflow
def test_mlflow_without_start_run_and_the_v1_uri_in_the_script(v1_project):
    """The v1 remote-training script shape: ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())`` in the
    script, then logging with no explicit run (MLflow starts one)."""
    run = _submit(
        v1_project,
        """
        import mlflow, os
        from runconfig_jupyter import Run
        ws = Run.get_context().experiment.workspace
        mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
        mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
        mlflow.log_param("epochs", 3)
        for i in range(3):
            mlflow.log_metric("acc", 0.5 + i / 10, step=i)
        mlflow.end_run()
        """,
        name="v1-remote",
    )
    assert run.get_status() == "Completed", _driver_log(run)
    assert run.get_metrics() == {"acc": [0.5, 0.6, 0.7]}
    assert run.get_tags()["epochs"] == "3"


@needs_mlflow
def test_a_script_with_its_own_tracking_uri_keeps_it(v1_project):
    run = _submit(
        v1_project,
        """
        import mlflow
        mlflow.set_tracking_uri("sqlite:///outputs/own.db")
        with mlflow.start_run():
            mlflow.log_metric("loss", 0.5)
        """,
    )
    assert run.get_status() == "Completed", _driver_log(run)
    assert run.get_metrics() == {}
    assert not RunFolder(run.run_dir).mlflow_store.exists()
    assert (Path(run.run_dir) / "outputs" / "own.db").is_file()  # where the user sent it


@needs_mlflow
def test_metrics_logged_before_a_failure_are_kept(v1_project):
    run = _submit(
        v1_project,
        """
        import mlflow
        mlflow.start_run()
        mlflow.log_metric("loss", 0.9, step=0)
        mlflow.log_metric("loss", 0.8, step=1)
        raise RuntimeError("diverged")
        """,
    )
    assert run.get_status() == "Failed"
    assert run.get_metrics() == {"loss": [0.9, 0.8]}


@needs_mlflow
def test_notebook_mlflow_uses_the_run_home_store(v1_project, run_home, monkeypatch):
    """v1's train-local notebook: ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())`` then
    ``mlflow.start_run()`` in the notebook itself; the runs are in ``<home>/mlflow/mlflow.db``.

    ``set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``; a run submitted afterwards still gets its own
    store (the run's variable wins over the kernel's), as the first test checks. Restored here at the end."""
    import mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    ws = Workspace.from_config()
    uri = ws.get_mlflow_tracking_uri()
    assert uri == f"sqlite:///{(run_home / 'mlflow' / 'mlflow.db').resolve().as_posix()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("experiment-with-mlflow")
    with mlflow.start_run() as active:
        mlflow.log_param("alpha", 0.1)
        mlflow.log_metric("mse", 0.2)
    client = mlflow.tracking.MlflowClient(uri)
    assert client.get_run(active.info.run_id).data.metrics == {"mse": 0.2}
    run = _submit(v1_project, ENV_PRINTER, name="after-notebook-mlflow")
    assert _printed_env(run)["MLFLOW_TRACKING_URI"] == "sqlite:///.runconfig-mlflow/mlflow.db"
    with sqlite3.connect(run_home / "mlflow" / "mlflow.db") as db:
        assert db.execute("SELECT key, value FROM metrics").fetchall() == [("mse", 0.2)]


# -- without mlflow -----------------------------------------------------------------------------------------------
ENV_PRINTER = """
import json, os
print("MLENV=" + json.dumps({k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}))
"""


def _printed_env(run) -> dict[str, str | None]:
    line = next(line for line in run.get_log().splitlines() if line.startswith("MLENV="))
    return json.loads(line.removeprefix("MLENV="))


def test_the_script_gets_its_runs_store_and_experiment(v1_project):
    run = _submit(v1_project, ENV_PRINTER, name="env-check")
    assert _printed_env(run) == {
        "MLFLOW_TRACKING_URI": "sqlite:///.runconfig-mlflow/mlflow.db",
        "MLFLOW_EXPERIMENT_NAME": "env-check",
    }


def test_the_run_configurations_own_mlflow_variables_win(v1_project):
    rc = RunConfiguration()
    rc.environment_variables = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    run = _submit(v1_project, ENV_PRINTER, name="env-own", run_config=rc)
    assert _printed_env(run) == {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "MLFLOW_EXPERIMENT_NAME": "env-own"}


def test_tracking_off_sets_and_imports_nothing(v1_project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # as a kernel that never called mlflow
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    rc = RunConfiguration()
    rc.history.enable_mlflow_tracking = False
    script = ENV_PRINTER + STORE_WRITER.replace(
        'os.environ["MLFLOW_TRACKING_URI"]', '"sqlite:///.runconfig-mlflow/mlflow.db"'
    )
    script = script.replace('os.environ["MLFLOW_EXPERIMENT_NAME"]', '"x"')
    run = _submit(v1_project, script, run_config=rc)
    assert run.get_status() == "Completed", run.get_log()
    assert _printed_env(run) == {"MLFLOW_TRACKING_URI": None, "MLFLOW_EXPERIMENT_NAME": None}
    assert run.get_metrics() == {} and "lr" not in run.get_tags()


def test_a_store_written_in_mlflows_layout_is_imported(v1_project):
    """The same import as with mlflow, from a store the script wrote itself (also the docker test's script)."""
    run = _submit(v1_project, STORE_WRITER)
    assert run.get_status() == "Completed", run.get_log()
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.25]}
    assert run.get_tags() == {"lr": "0.01", "stage": "docker"}
    assert "MLflow: 3 metric values and 2 params and tags recorded on the run" in _driver_log(run)


def test_a_damaged_store_leaves_the_run_completed(v1_project):
    run = _submit(
        v1_project,
        """
        import os
        os.makedirs(".runconfig-mlflow")
        with open(".runconfig-mlflow/mlflow.db", "wb") as out:
            out.write(b"this is not a database" * 100)
        print("done")
        """,
    )
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {}
    assert "could not import the run's MLflow store" in _driver_log(run)


def test_a_linked_store_is_refused(v1_project, tmp_path):
    """A store that is a link (to a file outside the run folder) is not read."""
    outside = tmp_path / "outside.db"
    with sqlite3.connect(outside) as db:
        db.executescript(MLFLOW_TABLES)
    run = _submit(
        v1_project,
        f"""
        import os
        os.makedirs(".runconfig-mlflow")
        os.symlink({str(outside)!r}, ".runconfig-mlflow/mlflow.db")
        """,
    )
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {}
    assert "not collected" in run.get_log() or "not a regular file" in _driver_log(run)


def test_bounds_on_names_values_and_repeat_imports(tmp_path):
    """The reader on its own, on a real run: an over-long name and a non-number are left out and said so; a
    second import (a driver that re-attached) records nothing twice."""
    store = RunStore()
    run = Experiment("bounds").start_logging()
    store_file = RunFolder(run.run_dir).mlflow_store
    store_file.parent.mkdir()
    with sqlite3.connect(store_file) as db:
        db.executescript(MLFLOW_TABLES)
        db.execute(
            "INSERT INTO runs (run_uuid, status, start_time, lifecycle_stage) VALUES ('a', 'RUNNING', 1, 'active')"
        )
        db.execute("INSERT INTO metrics VALUES (?, 1.0, 1, 'a', 0, 0)", ("n" * (MAX_NAME_CHARS + 1),))
        db.execute("INSERT INTO metrics VALUES ('text', 'oops', 2, 'a', 0, 0)")
        db.execute("INSERT INTO metrics VALUES ('nan', 0, 3, 'a', 0, 1)")
        db.execute("INSERT INTO metrics VALUES ('ok', 2, 4, 'a', 5, 0)")
    lines = import_mlflow_store(store, run.id, store_file)
    assert any("without a usable name" in line for line in lines)
    assert any("not numbers" in line for line in lines)
    records = RunFolder(run.run_dir).metric_records()
    assert [(r["name"], r["step"]) for r in records] == [("nan", 0), ("ok", 5)]
    assert import_mlflow_store(store, run.id, store_file) == []
    assert len(RunFolder(run.run_dir).metric_records()) == 2
    run.complete()

    other = Experiment("bounds").start_logging()
    not_mlflow = RunFolder(other.run_dir).mlflow_store
    not_mlflow.parent.mkdir()
    with sqlite3.connect(not_mlflow) as db:
        db.execute("CREATE TABLE something (x)")
    with pytest.raises(StoreRefused, match="not an MLflow tracking store"):
        import_mlflow_store(store, other.id, not_mlflow)
    other.complete()


# -- docker ---------------------------------------------------------------------------------------------------------
def test_docker_run_brings_its_mlflow_store_home(v1_project, docker_engine):
    """The container's working directory is its own (/workspace, not a mount of the run folder): the store is
    copied out with outputs/ and imported. The base image has no mlflow: the script writes MLflow's layout."""
    with aliased_target("gpu-cluster", "docker") as alias:
        run = _submit(v1_project, STORE_WRITER, name="mlflow-docker", compute_target=alias)
    assert run.record.target_type == "docker"
    assert run.get_status() == "Completed", run.get_log()
    assert "store written to .runconfig-mlflow/mlflow.db" in run.get_log()
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.25]}
    assert run.get_tags() == {"lr": "0.01", "stage": "docker"}


# -- remote kernel ----------------------------------------------------------------------------------------------------
@pytest.fixture
def kernel_target(tmp_path_factory, monkeypatch):
    """A real ``jupyter server`` on 127.0.0.1 as a kernel target (tests/integration/kernel/servers.py)."""
    from tests.integration.kernel.servers import launch, stop

    server = launch("server", tmp_path_factory.mktemp("mlflow-jupyter-server"), extra_env={})
    monkeypatch.setenv("RCJ_MLFLOW_KERNEL_TOKEN", server.token)
    spec = {"type": "kernel", "url": server.url, "token_env": "RCJ_MLFLOW_KERNEL_TOKEN", "grace_seconds": 2}
    try:
        with aliased_target("remote-box", "mlflow-kernel", **spec) as alias:
            yield alias
    finally:
        stop(server)


def test_kernel_run_brings_its_mlflow_store_home(v1_project, kernel_target):
    """The same mechanism on a remote kernel: the store is packed with outputs/ on the remote side."""
    run = _submit(v1_project, STORE_WRITER, name="mlflow-kernel", compute_target=kernel_target)
    assert run.record.target_type == "kernel"
    assert run.get_status() == "Completed", run.get_log()
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.25]}
    assert run.get_tags() == {"lr": "0.01", "stage": "docker"}
