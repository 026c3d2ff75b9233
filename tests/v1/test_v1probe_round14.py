"""Call patterns of further v1 samples (the time series dataset filtering tutorial, ...) that broke when ported by
imports only, each against the real local target (docker where the sample uses docker)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from runconfig_jupyter.core.errors import ConfigError


def _weather(root, months=("01", "02"), days=(3, 20)) -> None:
    """weather-data-florida/<yyyy>/<MM>/data.csv: one row per day, the month only in the folder names."""
    for month in months:
        folder = root / "weather-data" / "2019" / month
        folder.mkdir(parents=True)
        rows = "".join(f"2019-{month}-{day:02d} 12:00:00,{int(month) * 10 + day}\n" for day in days)
        (folder / "data.csv").write_text("datetime,temperature\n" + rows)


def test_partition_format_adds_the_path_columns_the_time_filters_use(v1_project):
    """tabular-timeseries-dataset-filtering: ``Dataset.Tabular.from_*_files(path=[(dstore, name + '/*/*/data.*')],
    partition_format=name + '/{coarse_time:yyyy/MM}/data.*')`` then ``with_timestamp_columns(fine_grain_timestamp=
    'datetime', coarse_grain_timestamp='coarse_time')``: ``partition_format`` and ``include_path`` were silently
    ignored, so the frame had no ``coarse_time`` (or ``Path``) column and every coarse-grain time filter raised
    KeyError. Now each file's path on its datastore gives those columns, in the notebook and in a run's script."""
    from runconfig_jupyter.core import Dataset, Experiment, ScriptRunConfig, Workspace

    ws = Workspace.from_config()
    dstore = ws.get_default_datastore()
    _weather(v1_project)
    dset_name = "weather-data-florida"
    dstore.upload("weather-data", dset_name, overwrite=True, show_progress=False)
    dataset = Dataset.Tabular.from_delimited_files(
        path=[(dstore, dset_name + "/*/*/data.csv")],
        partition_format=dset_name + "/{coarse_time:yyyy/MM}/data.csv",
        include_path=True,
    )
    frame = dataset.to_pandas_dataframe()
    assert list(frame.columns) == ["datetime", "temperature", "coarse_time", "Path"]
    assert [t.isoformat() for t in frame["coarse_time"]] == ["2019-01-01T00:00:00"] * 2 + ["2019-02-01T00:00:00"] * 2
    assert frame["Path"].tolist() == [f"/{dset_name}/2019/01/data.csv"] * 2 + [f"/{dset_name}/2019/02/data.csv"] * 2

    tsd = dataset.with_timestamp_columns(fine_grain_timestamp="datetime", coarse_grain_timestamp="coarse_time")
    tsd = tsd.register(ws, dset_name, create_new_version=True, description="demo", tags={"type": "TabularDataset"})
    tsd = Dataset.get_by_name(ws, name=dset_name)
    # the coarse (partition) column decides: every row of January's partition is before February
    assert tsd.time_before(datetime(2019, 1, 31)).to_pandas_dataframe()["temperature"].tolist() == [13, 30]
    assert tsd.time_after(datetime(2019, 2, 1)).to_pandas_dataframe()["temperature"].tolist() == [23, 40]
    fine = tsd.with_timestamp_columns(fine_grain_timestamp="datetime", coarse_grain_timestamp=None)
    assert fine.time_between(datetime(2019, 1, 10), datetime(2019, 2, 10)).to_pandas_dataframe()[
        "temperature"
    ].tolist() == [30, 23]

    # a virtual string column from a folder name, as the sample's tip ('/{STATE}/{CITY}/...') has it
    by_month = Dataset.Tabular.from_delimited_files(
        path=(dstore, dset_name + "/**/data.csv"), partition_format="/{year}/{month}/data.csv"
    ).to_pandas_dataframe()
    assert by_month["month"].tolist() == ["01", "01", "02", "02"] and by_month["year"].tolist() == ["2019"] * 4

    (v1_project / "read.py").write_text(
        "import json\nfrom runconfig_jupyter import Run\nrun = Run.get_context()\n"
        "frame = run.input_datasets['weather'].to_pandas_dataframe()\n"
        "print('SEEN', json.dumps({'columns': list(frame.columns), 'coarse': [str(t.date()) for t in "
        "frame['coarse_time']], 'paths': sorted(set(frame['Path']))}))\n"
    )
    src = ScriptRunConfig(
        source_directory=str(v1_project),
        script="read.py",
        arguments=[tsd.time_after(datetime(2019, 2, 1)).as_named_input("weather")],
    )
    run = Experiment(ws, "timeseries").submit(src)
    run.wait_for_completion(raise_on_error=True)
    log = (run.get_details_with_logs()["logFiles"]["logs/std_log.txt"]).splitlines()
    seen = json.loads(next(line for line in log if line.startswith("SEEN "))[5:])
    assert seen == {
        "columns": ["datetime", "temperature", "coarse_time", "Path"],
        "coarse": ["2019-02-01", "2019-02-01"],
        "paths": [f"/{dset_name}/2019/02/data.csv"],
    }


def test_partition_format_mistakes_are_said_not_hidden(v1_project):
    """A ``partition_format`` that is not one (unbalanced braces, an unknown date part) is refused when the dataset
    is made; one that a file's path does not fit says which file, instead of silently leaving nulls."""
    from runconfig_jupyter.core import Dataset, Workspace

    dstore = Workspace.from_config().get_default_datastore()
    _weather(v1_project, months=("01",))
    dstore.upload("weather-data", "w", overwrite=True, show_progress=False)
    for bad in (
        "w/{coarse_time:yyyy/MM/data.csv",
        "w/{coarse_time:yyyy/QQ}/data.csv",
        "w/{}/data.csv",
        "w/{a}-{b}/data.csv",  # two text columns in one folder name (below)
    ):
        with pytest.raises(ConfigError, match="partition_format"):
            Dataset.Tabular.from_delimited_files(path=(dstore, "w/**/data.csv"), partition_format=bad)
    wrong = Dataset.Tabular.from_delimited_files(path=(dstore, "w/**/data.csv"), partition_format="/{a}/{b}/x.csv")
    with pytest.raises(ValueError, match=r"/w/2019/01/data.csv.*partition_format"):
        wrong.to_pandas_dataframe()


def test_a_hostile_partition_format_cannot_stall_the_reader():
    """A shared notebook's ``partition_format`` is untrusted: twelve text columns in one folder name
    (``{c0}-{c1}-...``) would let a regular expression try every way to split a long name, time growing as a power
    of its length. One folder level may hold one text column (dates are fixed-width), so such a format is refused
    when the dataset is made; a text column beside a date in one folder name still works."""
    from runconfig_jupyter.core.runs.partitions import PartitionFormat

    with pytest.raises(ValueError, match="two text columns in one folder name"):
        PartitionFormat("/" + "-".join(f"{{c{i}}}" for i in range(12)) + "/data.csv")
    layout = PartitionFormat("/{name}-{day:yyyyMMdd}/{kind}/data.csv")
    assert layout.values("/w/run-20190105/raw/data.csv") == {
        "name": "run",
        "day": datetime(2019, 1, 5),
        "kind": "raw",
    }
    with pytest.raises(ValueError, match="does not fit"):
        layout.values("/" + "-" * 4000 + "/raw/data.csv")


def test_numpy_integers_are_logged_as_integers(v1_project):
    """train-hyperparameter-tune-deploy-with-pytorch / keras: training scripts log numpy results
    (``run.log('correct', np.sum(y_hat == y))``, ``run.log_row(..., epoch=np.int32(e))``): a numpy integer was
    stored as a float (3.0), and a Python int too large for a float lost its last digits; v1 kept both as
    integers. numpy floats stay floats."""
    np = pytest.importorskip("numpy")
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    (v1_project / "counts.py").write_text(
        "import numpy as np\nfrom runconfig_jupyter.core.run import Run\nrun = Run.get_context()\n"
        "run.log('correct', np.sum(np.array([1, 0, 1]) == np.array([1, 1, 1])))\n"
        "run.log('best_val_acc', np.float32(0.5))\n"
        "run.log('big', 2**60 + 1)\n"
        "run.log_row('per epoch', epoch=np.int32(1), loss=np.float64(0.25))\n"
        "run.log_list('sizes', np.array([10, 20], dtype=np.int64))\n"
    )
    run = Experiment(Workspace.from_config(), "numpy-metrics").submit(
        ScriptRunConfig(source_directory=str(v1_project), script="counts.py")
    )
    run.wait_for_completion(raise_on_error=True)
    metrics = run.get_metrics()
    assert metrics["correct"] == 2 and isinstance(metrics["correct"], int)
    assert metrics["best_val_acc"] == 0.5 and isinstance(metrics["best_val_acc"], float)
    assert metrics["big"] == 2**60 + 1
    assert metrics["per epoch"] == {"epoch": [1], "loss": [0.25]} and isinstance(metrics["per epoch"]["epoch"][0], int)
    assert metrics["sizes"] == [10, 20] and all(isinstance(size, int) for size in metrics["sizes"])

    interactive = Experiment(Workspace.from_config(), "numpy-metrics").start_logging()
    interactive.log("correct", np.int64(7))
    interactive.complete()
    assert interactive.get_metrics() == {"correct": 7} and isinstance(interactive.get_metrics()["correct"], int)


def test_getting_a_deployed_service_names_that_call(v1_project):
    """The deployment part of the train-hyperparameter-tune-deploy-with-* notebooks gets its service back with
    ``AciWebservice(ws, 'keras-mnist-svc')`` / ``Webservice(workspace=ws, name=...)``: the refusal named
    ``Webservice.deploy()``, a call the notebook never made; it names the class that was called, still with the
    local alternative."""
    from runconfig_jupyter.core import Workspace
    from runconfig_jupyter.core.errors import NotSupportedLocally
    from runconfig_jupyter.core.webservice import AciWebservice, AksWebservice, Webservice

    ws = Workspace.from_config()
    for kind in (AciWebservice, AksWebservice, Webservice):
        with pytest.raises(NotSupportedLocally) as refused:
            kind(workspace=ws, name="keras-mnist-svc")
        said = str(refused.value)
        assert said.startswith(f"{kind.__name__}()") and "deploy()" not in said, said
        assert "Model.get_model_path" in said


def test_fail_on_a_submitted_run_reads_failed_when_it_returns(v1_project):
    """manage-runs: ``local_script_run = exp.submit(run_config); local_script_run.fail();
    print(local_script_run.get_status())`` printed ``CancelRequested``: ``fail()`` returned before the driver had
    stopped the script and recorded the end. As in v1, the status read after ``fail()`` is ``Failed`` (also for a
    run already running), with the reason given, and the script was stopped."""
    import time

    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    (v1_project / "hello_with_delay.py").write_text(
        "import time\nprint('Hello', flush=True)\ntime.sleep(60)\nprint('Goodbye')\n"
    )
    exp = Experiment(Workspace.from_config(), "manage-runs")
    run_config = ScriptRunConfig(source_directory=str(v1_project), script="hello_with_delay.py")

    just_submitted = exp.submit(run_config)
    just_submitted.fail()
    assert just_submitted.get_status() == "Failed"

    running = exp.submit(run_config)
    deadline = time.monotonic() + 60
    while running.get_status() != "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running.get_status() == "Running"
    started = time.monotonic()
    running.fail(error_details="diverged", error_code="UserError")
    assert running.get_status() == "Failed" and time.monotonic() - started < 30
    assert "diverged" in running.get_details()["error"]["message"]
    assert "Goodbye" not in running.get_details_with_logs()["logFiles"]["logs/std_log.txt"]


def test_reinforcement_learning_import_says_what_to_use(v1_project):
    """cartpole-on-single-compute / pong_rllib / minecraft: ``from azureml.contrib.train.rl import
    ReinforcementLearningEstimator, Ray`` raised ModuleNotFoundError (it read like a broken install); it raises
    NotSupportedLocally in one sentence naming what to run instead: the RLlib script as an ordinary run."""
    import importlib

    from runconfig_jupyter.core.errors import NotSupportedLocally

    importlib.import_module("runconfig_jupyter.contrib.train")  # the package itself is importable, as in v1
    with pytest.raises(NotSupportedLocally) as refused:
        importlib.import_module("runconfig_jupyter.contrib.train.rl")
    said = str(refused.value)
    assert "(azureml.contrib.train.rl" in said and said.count(". ") == 1, said
    assert "ScriptRunConfig" in said and "ray.init()" in said


BASE_IMAGE = "runconfig-jupyter/python:bookworm"


def _wrapped_interpreter_run(v1_project, interpreter: str, docker: bool):
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace

    (v1_project / "cartpole_training.py").write_text(
        "import os, sys\nfrom runconfig_jupyter.core import Run\n"
        "Run.get_context().log('display', os.environ.get('DISPLAY_WRAPPER', 'none'))\n"
        "Run.get_context().log('args', ' '.join(sys.argv[1:]))\n"
    )
    env = Environment(name="xvfb-vdisplay")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = interpreter
    if docker:
        env.docker.enabled = True
        env.docker.base_image = BASE_IMAGE
    src = ScriptRunConfig(
        source_directory=str(v1_project),
        script="cartpole_training.py",
        arguments=["--run", "PPO", "--stop", '{"episode_reward_mean": 200}'],
        compute_target="docker" if docker else "local",
        environment=env,
    )
    run = Experiment(Workspace.from_config(), "rl-cartpole").submit(src)
    run.wait_for_completion(raise_on_error=True)
    return run.get_metrics()


def test_interpreter_path_may_be_a_command_line_on_the_local_target(v1_project):
    """cartpole-on-single-compute (video capture): ``xvfb_env.python.interpreter_path = "xvfb-run -s '-screen 0
    640x480x16' python"``, a wrapper command before python, as v1 put it in front of the script. The local target
    refused it ('does not exist on this machine'); now the words run in order (quotes as in sh, no shell), the
    first must exist, and the script's arguments are unchanged."""
    import sys

    metrics = _wrapped_interpreter_run(v1_project, f"/usr/bin/env 'DISPLAY_WRAPPER=:99 screen' {sys.executable}", False)
    assert metrics == {"display": ":99 screen", "args": '--run PPO --stop {"episode_reward_mean": 200}'}
    with pytest.raises(ConfigError, match="no-such-wrapper"):
        _wrapped_interpreter_run(v1_project, "no-such-wrapper -s x python", False)


@pytest.mark.usefixtures("docker_engine")
def test_interpreter_path_may_be_a_command_line_in_docker(v1_project):
    """The same wrapper in the image the notebook's docker environment runs: the run failed with exit code 127
    (the whole text was taken as one program name); now the wrapper runs python."""
    metrics = _wrapped_interpreter_run(v1_project, "env DISPLAY_WRAPPER=:99 python", True)
    assert metrics == {"display": ":99", "args": '--run PPO --stop {"episode_reward_mean": 200}'}
