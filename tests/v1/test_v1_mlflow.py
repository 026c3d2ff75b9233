"""Azure ML v1's MLflow tracking (``history.enableMLflowTracking``): what a script logs through ``mlflow`` is the run's.

Real runs of real scripts. Those that ``import mlflow`` skip when it is not importable (the test extra brings
``mlflow-skinny`` without SQLAlchemy, what v1 environments had through ``azureml-mlflow``); one runs with an
interpreter that has mlflow-skinny and no SQLAlchemy (``skinny_python``). The rest need only the standard library:
the environment a run gets, tracking turned off, a hostile store, and the docker and kernel targets, whose
scripts write MLflow's file-store layout with the standard library (the base image has no mlflow) - the layout
MLflow 2.x and 3.x write, exactly what the driver reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, RunConfiguration, ScriptRunConfig, Workspace
from runconfig_jupyter.core.config.environment import installed_pip_packages
from runconfig_jupyter.core.runs import mlflow_import
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.mlflow_import import MAX_NAME_CHARS, StoreRefused, import_mlflow_store
from runconfig_jupyter.core.runs.store import RunStore
from tests.v1.helpers import aliased_target

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_mlflow = pytest.mark.skipif(
    not HAS_MLFLOW, reason="mlflow is not importable here: the test extra brings mlflow-skinny"
)
SKINNY_PYTHON_ENV = "RCJ_MLFLOW_SKINNY_PYTHON"  # an interpreter with mlflow-skinny and without SQLAlchemy


@pytest.fixture(scope="session")
def skinny_python() -> str:
    """An interpreter with mlflow-skinny and no SQLAlchemy, as v1's azureml-mlflow environments: this one when it
    is such (the test extra), else ``$RCJ_MLFLOW_SKINNY_PYTHON`` (e.g. a venv with ``pip install mlflow-skinny``);
    none is made here, which would need the network."""
    given = os.environ.get(SKINNY_PYTHON_ENV)
    if given:
        return given
    if HAS_MLFLOW and importlib.util.find_spec("sqlalchemy") is None:
        return sys.executable
    pytest.skip(
        f"needs mlflow-skinny without SQLAlchemy: this interpreter has {'SQLAlchemy' if HAS_MLFLOW else 'no mlflow'}; "
        f"set {SKINNY_PYTHON_ENV} to such an interpreter"
    )


# A script that writes the run's MLflow store the way mlflow's file store does (MLflow 2.x and 3.x: one run with a
# series, a key with '/', a param and tags; a nested run; a deleted run and the trash, which are not imported),
# with the standard library: for images without mlflow. It finds the store where mlflow would: MLFLOW_TRACKING_URI.
STORE_WRITER = textwrap.dedent(
    """
    import os, time
    root = os.environ["MLFLOW_TRACKING_URI"]
    assert "://" not in root and os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true", root
    now = int(time.time() * 1000)

    def write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write(text)

    def run(exp, run_id, name, stage="active", status=3, start=now):
        meta = (f"artifact_uri: /somewhere/../../etc/{run_id}/artifacts\\nend_time: {start + 5}\\n"
                f"entry_point_name: ''\\nexperiment_id: '{exp}'\\nlifecycle_stage: {stage}\\nrun_id: {run_id}\\n"
                f"run_name: {name}\\nrun_uuid: {run_id}\\nsource_type: 4\\nstart_time: {start}\\n"
                f"status: {status}\\ntags: []\\nuser_id: root\\n")
        write(f"{root}/{exp}/{run_id}/meta.yaml", meta)
        os.makedirs(f"{root}/{exp}/{run_id}/artifacts", exist_ok=True)
        write(f"{root}/{exp}/{run_id}/tags/mlflow.runName", name)
        write(f"{root}/{exp}/{run_id}/tags/mlflow.user", "root")
        return f"{root}/{exp}/{run_id}"

    write(f"{root}/0/meta.yaml", "experiment_id: '0'\\nlifecycle_stage: active\\nname: Default\\n")
    write(f"{root}/42/meta.yaml", "experiment_id: '42'\\nlifecycle_stage: active\\nname: "
          + os.environ["MLFLOW_EXPERIMENT_NAME"] + "\\n")
    top = run("42", "a" * 32, "in-docker")
    write(f"{top}/metrics/loss", "".join(f"{now + i} {v} {i}\\n" for i, v in enumerate([0.9, 0.5, 0.25])))
    write(f"{top}/metrics/acc/top1", f"{now + 1} 0.5 0\\n")
    write(f"{top}/params/lr", "0.01")
    write(f"{top}/tags/stage", "docker")
    child = run("42", "b" * 32, "fold-0", start=now + 1)
    write(f"{child}/tags/mlflow.parentRunId", "a" * 32)
    write(f"{child}/metrics/fold_score", f"{now + 2} 0.75 0\\n")
    gone = run("42", "c" * 32, "deleted", stage="deleted")
    write(f"{gone}/metrics/loss", f"{now} 99 0\\n")
    write(f"{root}/.trash/{'d' * 32}/metrics/loss", f"{now} 98 0\\n")
    print("store written to", root)
    """
).strip()

# v1's remote-training scripts: the workspace of the run's experiment gives the tracking URI, on every target.
ASK_URI = """
from runconfig_jupyter import Run
print("URI", Run.get_context().experiment.workspace.get_mlflow_tracking_uri())
"""


def _submit(project: Path, script: str, name: str = "mlflow", **run_config: object):
    """Submit ``script`` (text) from ``project`` and wait for its end; the run."""
    (project / "train_mlflow.py").write_text(textwrap.dedent(script))
    config = ScriptRunConfig(source_directory=str(project), script="train_mlflow.py", **run_config)
    run = Experiment(Workspace.from_config(), name).submit(config)
    run.wait_for_completion(timeout=240, raise_on_error=False)
    return run


def _driver_log(run) -> str:
    return RunFolder(run.run_dir).driver_log.read_text()


def _check_written_store(run) -> None:
    """What STORE_WRITER's store becomes, on any target."""
    assert run.get_status() == "Completed", run.get_log()
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.25], "acc/top1": 0.5}
    assert [r["name"] for r in run.get_metric_records()] == ["loss", "acc/top1", "loss", "loss"]  # by time, then name
    assert run.get_tags() == {"lr": "0.01", "stage": "docker"}
    (child,) = run.get_children()
    assert child.get_metrics() == {"fold_score": 0.75} and child.get_status() == "Completed"
    assert child.record.display_name == "fold-0"


# -- with mlflow ------------------------------------------------------------------------------------------------
MLFLOW_SCRIPT = """
import importlib.util, os, sys
import mlflow
print("MLFLOW", mlflow.__version__, "sqlalchemy:", importlib.util.find_spec("sqlalchemy") is not None)
mlflow.log_param("before", "start_run")  # no run yet: MLflow starts one, in the run's experiment
mlflow.log_metric("warmup", 1.0)
mlflow.end_run()
with mlflow.start_run():
    mlflow.log_param("alpha", 0.03)
    mlflow.set_tag("framework", "sklearn")
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        mlflow.log_metric("loss", loss, step=step)
    mlflow.log_metric("eval/mse", 0.125)
    with mlflow.start_run(nested=True, run_name="fold-0"):
        mlflow.log_metric("fold_score", 0.75)
"""


def _check_mlflow_script(run) -> None:
    assert run.get_status() == "Completed", run.get_log() + _driver_log(run)
    assert run.get_metrics() == {"warmup": 1.0, "loss": [0.9, 0.5, 0.25], "eval/mse": 0.125}
    assert [r["step"] for r in run.get_metric_records() if r["name"] == "loss"] == [0, 1, 2]
    tags = run.get_tags()
    assert tags["before"] == "start_run" and tags["alpha"] == "0.03" and tags["framework"] == "sklearn"
    assert not any(key.startswith("mlflow.") for key in tags)
    (child,) = run.get_children()
    assert child.get_metrics() == {"fold_score": 0.75} and child.get_status() == "Completed"
    assert child.record.display_name == "fold-0"


@needs_mlflow
def test_mlflow_with_and_without_start_run_lands_on_the_run(v1_project):
    _check_mlflow_script(_submit(v1_project, MLFLOW_SCRIPT))


def test_mlflow_skinny_without_sqlalchemy(v1_project, skinny_python):
    """What azureml-mlflow gave v1 environments: mlflow-skinny, no SQLAlchemy. The run's store is MLflow's file
    store, which needs nothing more (an SQLite store failed at the first log_metric)."""
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = True
    rc.environment.python.interpreter_path = skinny_python
    run = _submit(v1_project, MLFLOW_SCRIPT, name="skinny", run_config=rc)
    assert "sqlalchemy: False" in run.get_log(), run.get_log()
    _check_mlflow_script(run)


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
        print("URI", ws.get_mlflow_tracking_uri())
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
    assert "URI .runconfig-mlflow/mlruns" in run.get_log()
    assert run.get_metrics() == {"acc": [0.5, 0.6, 0.7]}
    assert run.get_tags()["epochs"] == "3"


@needs_mlflow
def test_a_script_with_its_own_tracking_uri_keeps_it(v1_project):
    run = _submit(
        v1_project,
        """
        import mlflow
        mlflow.set_tracking_uri("outputs/own-mlruns")
        with mlflow.start_run():
            mlflow.log_metric("loss", 0.5)
        """,
    )
    assert run.get_status() == "Completed", _driver_log(run)
    assert run.get_metrics() == {}
    assert not RunFolder(run.run_dir).mlflow_store.exists()
    assert (Path(run.run_dir) / "outputs" / "own-mlruns").is_dir()  # where the user sent it


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
    ``mlflow.start_run()`` in the notebook itself; the runs are in the run home's ``mlflow/``: an SQLite store
    with SQLAlchemy, else a file store (and ``MLFLOW_ALLOW_FILE_STORE`` set for MLflow 3.x).

    ``set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``; a run submitted afterwards still gets its own
    store (the run's variable wins over the kernel's). Restored here at the end."""
    import mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.delenv(name, raising=False)
    ws = Workspace.from_config()
    uri = ws.get_mlflow_tracking_uri()
    if importlib.util.find_spec("sqlalchemy") is not None:
        assert uri == f"sqlite:///{(run_home / 'mlflow' / 'mlflow.db').resolve().as_posix()}"
    else:
        assert uri == (run_home / "mlflow" / "mlruns").resolve().as_uri()
        assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("experiment-with-mlflow")
    with mlflow.start_run() as active:
        mlflow.log_param("alpha", 0.1)
        mlflow.log_metric("mse", 0.2)
    client = mlflow.tracking.MlflowClient(uri)
    assert client.get_run(active.info.run_id).data.metrics == {"mse": 0.2}
    run = _submit(v1_project, ENV_PRINTER, name="after-notebook-mlflow")
    assert _printed_env(run)["MLFLOW_TRACKING_URI"] == ".runconfig-mlflow/mlruns"


# -- without mlflow -----------------------------------------------------------------------------------------------
MLFLOW_NAMES = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_ALLOW_FILE_STORE")
ENV_PRINTER = f"""
import json, os
print("MLENV=" + json.dumps({{k: os.environ.get(k) for k in {MLFLOW_NAMES!r}}}))
"""


def _printed_env(run) -> dict[str, str | None]:
    line = next(line for line in run.get_log().splitlines() if line.startswith("MLENV="))
    return json.loads(line.removeprefix("MLENV="))


@pytest.fixture
def clean_kernel_env(monkeypatch):
    """As a kernel that never called mlflow (another test's ``set_tracking_uri`` exported its URI)."""
    for name in MLFLOW_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_the_script_gets_its_runs_store_and_experiment(v1_project):
    run = _submit(v1_project, ENV_PRINTER, name="env-check")
    assert _printed_env(run) == {
        "MLFLOW_TRACKING_URI": ".runconfig-mlflow/mlruns",
        "MLFLOW_EXPERIMENT_NAME": "env-check",
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }


def test_the_run_configurations_own_mlflow_variables_win(v1_project, clean_kernel_env):
    rc = RunConfiguration()
    rc.environment_variables = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    run = _submit(v1_project, ENV_PRINTER, name="env-own", run_config=rc)
    assert _printed_env(run) == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "MLFLOW_EXPERIMENT_NAME": "env-own",
        "MLFLOW_ALLOW_FILE_STORE": None,  # set only with the run's own store
    }
    rc.environment_variables = {"MLFLOW_ALLOW_FILE_STORE": "false"}
    run = _submit(v1_project, ENV_PRINTER, name="env-own", run_config=rc)
    assert _printed_env(run)["MLFLOW_ALLOW_FILE_STORE"] == "false"
    assert _printed_env(run)["MLFLOW_TRACKING_URI"] == ".runconfig-mlflow/mlruns"


def test_a_store_the_run_did_not_give_is_not_imported(v1_project):
    """The run configuration names the tracking URI itself (here the very folder the run would use): the user
    chose it, so it is collected with the outputs but nothing of it is imported."""
    rc = RunConfiguration()
    rc.environment_variables = {"MLFLOW_TRACKING_URI": ".runconfig-mlflow/mlruns", "MLFLOW_ALLOW_FILE_STORE": "true"}
    run = _submit(v1_project, STORE_WRITER, run_config=rc)
    assert run.get_status() == "Completed", run.get_log()
    assert RunFolder(run.run_dir).mlflow_store.is_dir()
    assert run.get_metrics() == {} and run.get_tags() == {} and list(run.get_children()) == []


def test_tracking_off_sets_and_imports_nothing(v1_project, clean_kernel_env):
    rc = RunConfiguration()
    rc.history.enable_mlflow_tracking = False
    script = ENV_PRINTER + STORE_WRITER.replace('os.environ["MLFLOW_TRACKING_URI"]', '".runconfig-mlflow/mlruns"')
    script = script.replace('os.environ["MLFLOW_EXPERIMENT_NAME"]', '"x"')
    script = script.replace('and os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"', "")
    run = _submit(v1_project, script, run_config=rc)
    assert run.get_status() == "Completed", run.get_log()
    assert _printed_env(run) == dict.fromkeys(MLFLOW_NAMES)
    assert run.get_metrics() == {} and "lr" not in run.get_tags()


def test_a_store_written_in_mlflows_layout_is_imported(v1_project):
    """The same import as with mlflow, from a store the script wrote itself (also the docker and kernel tests')."""
    run = _submit(v1_project, STORE_WRITER)
    _check_written_store(run)
    assert "MLflow: 4 metric values and 2 params and tags recorded on the run" in _driver_log(run)


def test_a_damaged_store_leaves_the_run_completed(v1_project):
    run = _submit(
        v1_project,
        """
        import os
        os.makedirs(".runconfig-mlflow")
        with open(".runconfig-mlflow/mlruns", "wb") as out:  # a file where the folder should be
            out.write(b"this is not a store" * 100)
        print("done")
        """,
    )
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {}
    assert "could not import the run's MLflow store" in _driver_log(run)


def test_a_link_in_the_store_is_not_followed(v1_project, tmp_path):
    """A metric file that is a link out of the store is not collected, and nothing is read through it."""
    outside = tmp_path / "outside"
    outside.write_text("1 12345 0\n")
    script = STORE_WRITER + f"\nos.symlink({str(outside)!r}, root + '/42/' + 'a' * 32 + '/metrics/stolen')\n"
    run = _submit(v1_project, script)
    _check_written_store(run)  # the rest of the store is imported
    assert "stolen" not in run.get_metrics()


# -- the reader on its own: hostile stores ----------------------------------------------------------------------
def _store(tmp_path: Path, name: str = "bounds"):
    """A real run and an MLflow file store of one run (``r1``) in its run folder; (run, store root, run folder)."""
    run = Experiment(name).start_logging()
    root = RunFolder(run.run_dir).mlflow_store
    run_dir = root / "1" / "r1"
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "meta.yaml").write_text("run_id: r1\nrun_name: 'it''s'\nstatus: 1\nlifecycle_stage: active\n")
    return run, root, run_dir


def test_names_values_and_repeat_imports(tmp_path):
    """Over-long and unprintable names and lines that are not MLflow's are left out and said so; a second import
    (a driver that re-attached) records nothing twice."""
    run, root, run_dir = _store(tmp_path)
    metrics = run_dir / "metrics"
    (metrics / ("n" * (MAX_NAME_CHARS + 1))).write_text("1 1.0 0\n")
    (metrics / "bell\x07").write_text("1 1.0 0\n")
    os.mkdir(os.fsencode(metrics) + b"/bad\xff")
    (metrics / "text").write_text("2 oops 0\n3\n")
    (metrics / "nan").write_text("3 nan 0\n")
    (metrics / "ok").write_text("4 2 5\n")
    lines = import_mlflow_store(RunStore(), run.id, root)
    assert any("names not usable" in line for line in lines), lines
    assert any("not MLflow's" in line for line in lines), lines
    records = RunFolder(run.run_dir).metric_records()
    assert [(r["name"], r["step"]) for r in records] == [("nan", 0), ("ok", 5)]
    assert import_mlflow_store(RunStore(), run.id, root) == []
    assert len(RunFolder(run.run_dir).metric_records()) == 2
    run.complete()


@pytest.mark.parametrize("where", ["metric", "run folder", "params folder", "experiment"])
def test_a_link_anywhere_refuses_the_store(tmp_path, where):
    run, root, run_dir = _store(tmp_path)
    (run_dir / "metrics" / "loss").write_text("1 0.5 0\n")
    secret = tmp_path / "secret"
    secret.write_text("1 42 0\n")
    link = {
        "metric": run_dir / "metrics" / "stolen",
        "run folder": root / "1" / "r2",
        "params folder": run_dir / "params",
        "experiment": root / "7",
    }[where]
    link.symlink_to(secret if where == "metric" else tmp_path)
    with pytest.raises(StoreRefused, match="is a link"):
        import_mlflow_store(RunStore(), run.id, root)
    assert RunFolder(run.run_dir).metric_records() == []  # nothing recorded, not even the good file
    run.complete()


def test_a_linked_store_folder_and_special_files_are_refused(tmp_path):
    run, root, run_dir = _store(tmp_path)
    os.mkfifo(run_dir / "metrics" / "fifo")  # opening it would block the driver
    with pytest.raises(StoreRefused, match="special file"):
        import_mlflow_store(RunStore(), run.id, root)
    shutil.rmtree(root)
    root.symlink_to(tmp_path)
    with pytest.raises(StoreRefused, match="not a folder"):
        import_mlflow_store(RunStore(), run.id, root)
    run.complete()


def test_huge_files_and_a_meta_yaml_bomb_are_left_out(tmp_path, monkeypatch):
    """A metric file over its bound is left out (said so); a meta.yaml bomb (aliases, megabytes) is never given to a
    YAML loader: over its bound, that run is not imported; under it, only five scalars are taken."""
    monkeypatch.setattr(mlflow_import, "MAX_METRIC_FILE_BYTES", 1000)
    run, root, run_dir = _store(tmp_path)
    (run_dir / "metrics" / "big").write_text("1 0.5 0\n" * 200)
    (run_dir / "metrics" / "small").write_text("1 0.5 0\n")
    bomb = 'a: &a ["lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
    (run_dir / "meta.yaml").write_text(bomb + "status: 3\nrun_name: bomb\n" + "x: " + "y" * 100 + "\n")
    other = root / "1" / "r2"
    (other / "metrics").mkdir(parents=True)
    (other / "metrics" / "loss").write_text("2 0.1 0\n")
    (other / "meta.yaml").write_text("status: 3\n" + "# " * (mlflow_import.MAX_SMALL_FILE_BYTES // 2 + 1))
    lines = import_mlflow_store(RunStore(), run.id, root)
    assert any("over their size bound" in line for line in lines), lines
    assert [r["name"] for r in RunFolder(run.run_dir).metric_records()] == ["small"]
    run.complete()


def test_entry_row_and_time_bounds(tmp_path, monkeypatch):
    run, root, run_dir = _store(tmp_path)
    (run_dir / "metrics" / "loss").write_text("".join(f"{i} {i} {i}\n" for i in range(10)))
    monkeypatch.setattr(mlflow_import, "MAX_METRIC_ROWS", 4)
    lines = import_mlflow_store(RunStore(), run.id, root)
    assert any("more than 4 metric values" in line for line in lines)
    assert len(RunFolder(run.run_dir).metric_records()) == 4
    run.complete()

    run, root, run_dir = _store(tmp_path)
    monkeypatch.setattr(mlflow_import, "MAX_ENTRIES", 3)
    with pytest.raises(StoreRefused, match="more than 3 files and folders"):
        import_mlflow_store(RunStore(), run.id, root)
    monkeypatch.setattr(mlflow_import, "MAX_ENTRIES", 1000)
    monkeypatch.setattr(mlflow_import, "READ_SECONDS", -1.0)
    with pytest.raises(StoreRefused, match="reading took more than"):
        import_mlflow_store(RunStore(), run.id, root)
    run.complete()


# -- environments: azureml-mlflow ----------------------------------------------------------------------------------
def test_azureml_mlflow_is_installed_as_mlflow_skinny():
    """The one list every environment build installs (local venv, docker image, remote kernel, Ray, conda prefixes'
    pip step): azureml-* left out, azureml-mlflow replaced by mlflow-skinny, unless mlflow is listed itself."""
    from runconfig_jupyter.core import Environment
    from runconfig_jupyter.targets.docker.image import plan_image

    assert installed_pip_packages(["azureml-sdk", "azureml-mlflow==1.57.0", "numpy"]) == ["mlflow-skinny", "numpy"]
    assert installed_pip_packages(["azureml_mlflow", "azureml-mlflow"]) == ["mlflow-skinny"]
    assert installed_pip_packages(["azureml-mlflow", "mlflow==2.9.2"]) == ["mlflow==2.9.2"]
    assert installed_pip_packages(["azureml-core", "six"]) == ["six"]
    env = Environment("mlflow-env")
    env.python.conda_dependencies.add_pip_package("azureml-mlflow")
    env.python.conda_dependencies.add_pip_package("scikit-learn")
    assert env.python.conda_dependencies.installed_pip_packages() == ["mlflow-skinny", "scikit-learn"]
    plan = plan_image(env, "python:3.11-slim", None)
    assert plan.pip_packages == ["mlflow-skinny", "scikit-learn"]
    assert "mlflow-skinny" in plan.dockerfile and "azureml" not in plan.dockerfile.split("LABEL", 1)[1]


def test_an_environment_with_azureml_mlflow_says_what_it_installs():
    """The submit-time check (RunConfiguration's) names what is installed instead."""
    from runconfig_jupyter.core import Environment
    from runconfig_jupyter.core.config.runconfig import check_environment

    env = Environment("aml-mlflow")
    env.python.conda_dependencies.add_pip_package("azureml-mlflow")
    with pytest.warns(UserWarning, match=r"azureml-mlflow, which will not be installed.*mlflow-skinny is installed"):
        check_environment(env)


# -- docker ---------------------------------------------------------------------------------------------------------
def test_docker_run_brings_its_mlflow_store_home(v1_project, docker_engine):
    """The container's working directory is its own (/workspace, not a mount of the run folder): the store is
    copied out with outputs/ and imported. The base image has no mlflow: the script writes MLflow's layout."""
    with aliased_target("gpu-cluster", "docker") as alias:
        run = _submit(v1_project, STORE_WRITER + ASK_URI, name="mlflow-docker", compute_target=alias)
    assert run.record.target_type == "docker"
    _check_written_store(run)
    assert "store written to .runconfig-mlflow/mlruns" in run.get_log()
    assert "URI .runconfig-mlflow/mlruns" in run.get_log()  # run.experiment.workspace reaches that much


# -- remote kernel ----------------------------------------------------------------------------------------------------
@pytest.fixture
def kernel_target(tmp_path_factory, monkeypatch):
    """A real ``jupyter server`` on 127.0.0.1 as a kernel target (tests/integration/kernel/servers.py)."""
    from tests.integration.kernel.servers import launch, stop

    # This checkout's package as the one "installed on the remote machine" (not another one the interpreter has).
    checkout = str(Path(__file__).resolve().parents[2])
    server = launch("server", tmp_path_factory.mktemp("mlflow-jupyter-server"), extra_env={"PYTHONPATH": checkout})
    monkeypatch.setenv("RCJ_MLFLOW_KERNEL_TOKEN", server.token)
    spec = {"type": "kernel", "url": server.url, "token_env": "RCJ_MLFLOW_KERNEL_TOKEN", "grace_seconds": 2}
    try:
        with aliased_target("remote-box", "mlflow-kernel", **spec) as alias:
            yield alias
    finally:
        stop(server)


def test_kernel_run_brings_its_mlflow_store_home(v1_project, kernel_target):
    """The same mechanism on a remote kernel: the store is packed with outputs/ on the remote side."""
    run = _submit(v1_project, STORE_WRITER + ASK_URI, name="mlflow-kernel", compute_target=kernel_target)
    assert run.record.target_type == "kernel"
    _check_written_store(run)
    assert "URI .runconfig-mlflow/mlruns" in run.get_log()


# -- logged files: the run's files at v1's names -------------------------------------------------------------------
ARTIFACT_SCRIPT = """
import os
import mlflow

class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input

with open("model.pkl", "w") as out:
    out.write("weights")
os.makedirs("plots/sub", exist_ok=True)
for name in ("plots/a.txt", "plots/sub/b.txt"):
    with open(name, "w") as out:
        out.write(name)
with mlflow.start_run():
    mlflow.log_artifact("model.pkl")
    mlflow.log_artifacts("plots", artifact_path="charts")
    mlflow.log_text("hello", "notes/readme.txt")
    mlflow.log_dict({"alpha": 0.5}, "config.json")
    try:
        mlflow.pyfunc.log_model(name="model", python_model=Echo())  # MLflow 3
    except TypeError:
        mlflow.pyfunc.log_model(artifact_path="model", python_model=Echo())  # MLflow 2
    with mlflow.start_run(nested=True, run_name="fold-0"):
        mlflow.log_text("child", "fold.txt")
"""


@needs_mlflow
def test_logged_files_become_the_runs_files(v1_project, tmp_path):
    """v1 (azureml-mlflow): ``log_artifact("model.pkl")`` was run file ``model.pkl``, ``log_model(m, "model")`` the
    folder ``model`` that ``run.register_model(model_path="model")`` registered; a nested run's files its child's."""
    from runconfig_jupyter import Model

    run = _submit(v1_project, ARTIFACT_SCRIPT, name="mlflow-files")
    assert run.get_status() == "Completed", run.get_log() + _driver_log(run)
    names = run.get_file_names()
    for name in ("model.pkl", "charts/a.txt", "charts/sub/b.txt", "notes/readme.txt", "config.json", "model/MLmodel"):
        assert name in names, (name, names, _driver_log(run))
    assert not any(".part" in name or name.startswith("mlflow/") for name in names)
    assert Path(run.download_file("config.json", tmp_path / "c.json")).read_text() == '{\n  "alpha": 0.5\n}'
    assert Path(run.download_file("notes/readme.txt", tmp_path / "r.txt")).read_text() == "hello"
    model = run.register_model(model_name="echo", model_path="model")
    assert (Path(Model.get_model_path("echo", version=model.version)) / "MLmodel").is_file()
    (child,) = run.get_children()
    assert child.get_file_names() == ["fold.txt"] and "fold.txt" not in names
    store_files = [p for p in RunFolder(run.run_dir).mlflow_store.rglob("*") if p.is_file()]
    assert any(p.name == "model.pkl" for p in store_files)  # MLflow's store stays whole, for `mlflow ui`
    assert "logged files placed as files of run" in _driver_log(run)


# A store written by a stdlib script: one good file, and what must never become a run file.
HOSTILE_ARTIFACTS = (
    STORE_WRITER
    + """
art = root + "/42/" + "a" * 32 + "/artifacts"
write(art + "/good.txt", "good")
write(art + "/outputs/result.txt", "from mlflow")  # the run's own outputs/result.txt is kept
os.makedirs("outputs", exist_ok=True)
write("outputs/result.txt", "from the script")
os.symlink("/etc/passwd", art + "/passwd")
os.symlink("../meta.yaml", art + "/meta-link")  # stays inside the store: collected as a link, not followed here
os.symlink("..", art + "/up")
write(art + "/..\\\\escape", "backslash")
write(art + "/bell\\x07", "control")
with open(art + "/huge.bin", "wb") as out:  # sparse: no disk used
    out.truncate((4 << 30) + 1)
"""
)


def test_hostile_logged_files_are_left_out_and_said(v1_project):
    run = _submit(v1_project, HOSTILE_ARTIFACTS)
    _check_written_store(run)
    names = run.get_file_names()
    assert "good.txt" in names, (names, _driver_log(run))
    assert not {"passwd", "meta-link", "huge.bin", "..\\escape", "bell\x07"} & set(names)
    assert not any(name.startswith(("up/", "meta-link")) for name in names)
    assert Path(run.run_dir, "outputs", "result.txt").read_text() == "from the script"
    log = _driver_log(run)
    assert "have a run file of that name, which was kept: 'outputs/result.txt'" in log, log
    assert "logged links (not followed) left out" in log and "'meta-link'" in log, log
    assert f"logged files over {4 << 30} bytes left out" in log and "'huge.bin'" in log, log
    assert "names that are not plain relative text" in log, log


def test_links_fifos_and_hard_links_in_a_stores_artifacts(tmp_path):
    """What a collector might not drop (another target's, an older one's): a link to /etc/passwd or out of the run
    folder, a FIFO (opening it would block the driver), a hard link; the store's metrics still import."""
    run, root, run_dir = _store(tmp_path)
    (run_dir / "metrics" / "loss").write_text("1 0.5 0\n")
    art = run_dir / "artifacts"
    (art / "dir").mkdir(parents=True)
    (art / "dir" / "ok.txt").write_text("ok")
    (art / "passwd").symlink_to("/etc/passwd")
    (art / "outside").symlink_to(tmp_path)
    os.mkfifo(art / "fifo")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    os.link(secret, art / "hard.txt")
    lines = import_mlflow_store(RunStore(), run.id, root)
    assert RunFolder(run.run_dir).metric_records()[0]["name"] == "loss"
    assert sorted(run.get_file_names()) == ["dir/ok.txt"], lines
    text = "\n".join(lines)
    assert "2 logged links (not followed) left out" in text and "special files" in text and "hard links" in text
    run.complete()
