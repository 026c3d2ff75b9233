"""The dataset API as Microsoft's v1 work-with-data samples use it, in the notebook and in real runs on the local
target: tabular transformations (``take``, ``skip``, ``random_split``, ``keep_columns``, ``time_*``...), dataset
names with spaces, ``set_column_types``, registry verbs, ``mount()`` onto a folder the script made, and the
Azure-only modules.

v1's ``take(3)`` returns a dataset (``dataset.take(3).to_pandas_dataframe()``), and a transformed dataset handed to a
run reads the same rows in the script; both are checked against a real datastore folder and a real script.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from runconfig_jupyter import Dataset, Experiment, ScriptRunConfig
from runconfig_jupyter.core.data.dataset import TabularDataset
from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally
from tests.data.inputs_helpers import report


@pytest.fixture
def table(datastore, tmp_path):  # type: ignore[no-untyped-def]
    """Ten rows, one a day from 2019-01-01, in the datastore's folder."""
    rows = "".join(f"{i},{i * i},2019-01-{i + 1:02d}\n" for i in range(10))
    (tmp_path / "data" / "days.csv").write_text("n,square,day\n" + rows)
    return Dataset.Tabular.from_delimited_files(path=[(datastore, "days.csv")])


def test_take_skip_and_columns_return_datasets(table):
    first = table.take(3)
    assert isinstance(first, TabularDataset) and first.to_pandas_dataframe()["n"].tolist() == [0, 1, 2]
    assert table.skip(8).to_pandas_dataframe()["n"].tolist() == [8, 9]
    assert table.skip(2).take(2).to_pandas_dataframe()["n"].tolist() == [2, 3]
    assert table.keep_columns(["square", "missing"]).take(1).to_pandas_dataframe().columns.tolist() == ["square"]
    assert table.drop_columns("day").to_pandas_dataframe().columns.tolist() == ["n", "square"]
    assert table.to_pandas_dataframe().shape == (10, 3)  # the original dataset is unchanged
    assert first.id != table.id and first.id == table.take(3).id  # the transformation is part of the definition
    with pytest.raises(ValueError, match="whole number"):
        table.take(-1)


def test_random_split_and_sample_are_disjoint_and_repeatable(table):
    train, test = table.random_split(0.7, seed=3)
    a, b = train.to_pandas_dataframe()["n"].tolist(), test.to_pandas_dataframe()["n"].tolist()
    assert sorted(a + b) == list(range(10)) and not set(a) & set(b)
    again, _ = table.random_split(0.7, seed=3)
    assert again.to_pandas_dataframe()["n"].tolist() == a
    sample = table.take_sample(0.5, seed=1).to_pandas_dataframe()["n"].tolist()
    assert sample == table.take_sample(0.5, seed=1).to_pandas_dataframe()["n"].tolist() and set(sample) <= set(
        range(10)
    )


def test_time_filters_follow_the_timestamp_column(table):
    series = table.with_timestamp_columns(timestamp="day")
    assert series.timestamp_columns == ("day", None)
    assert series.time_before(datetime(2019, 1, 3)).to_pandas_dataframe()["n"].tolist() == [0, 1, 2]
    after = series.time_after(datetime(2019, 1, 8), include_boundary=False)
    assert after.to_pandas_dataframe()["n"].tolist() == [8, 9]
    chained = series.time_after(datetime(2019, 1, 2)).time_before(datetime(2019, 1, 4))
    assert chained.to_pandas_dataframe()["n"].tolist() == [1, 2, 3]
    between = series.time_between(datetime(2019, 1, 5), datetime(2019, 1, 6))
    assert between.to_pandas_dataframe()["n"].tolist() == [4, 5]
    assert series.time_recent(timedelta(days=2)).to_pandas_dataframe().empty  # 2019 is long gone
    # dropping the timestamp column drops the time series traits, as in v1; keeping it keeps them
    with pytest.raises(ValueError, match="no timestamp column"):
        series.drop_columns(["day"]).time_before(datetime(2019, 1, 3))
    assert series.keep_columns(["n", "day"]).time_before(datetime(2019, 1, 1)).to_pandas_dataframe().shape == (1, 2)
    with pytest.raises(ValueError, match="fine grain"):
        series.with_timestamp_columns(fine_grain_timestamp=None, coarse_grain_timestamp="day")
    assert series.with_timestamp_columns(timestamp=None).timestamp_columns == (None, None)


def test_azure_only_table_verbs_say_what_to_use(table):
    for verb in (table.to_spark_dataframe, table.to_dask_dataframe, table.get_profile):
        with pytest.raises(NotSupportedLocally, match="to_pandas_dataframe"):
            verb()


def test_a_run_reads_the_transformed_rows_and_a_name_with_spaces(table, workspace, project):
    """The unregistered ``skip(...).keep_columns(...)`` and a registered ``take(...)`` named with spaces (as v1
    samples name them, 'diabetes dataset') both reach the script as the rows the notebook sees."""
    registered = table.take(4).register(workspace, "first four days", description="take(4)")
    assert Dataset.get_by_name(workspace, "first four days").to_pandas_dataframe().shape == (4, 3)
    assert "first four days" in Dataset.get_all(workspace)
    arguments = [
        table.skip(7).keep_columns(["n"]).as_named_input("tail"),
        Dataset.get_by_name(workspace, name="first four days").as_named_input("head"),
    ]
    run = Experiment(workspace, "transforms").submit(ScriptRunConfig(str(project), "report.py", arguments=arguments))
    run.wait_for_completion(timeout=90)
    seen = report(run)
    assert seen["inputs"]["tail"] == {"tabular": True, "rows": 3, "columns": ["n"]}
    assert seen["inputs"]["head"] == {"tabular": True, "rows": 4, "columns": ["n", "square", "day"]}
    assert registered.version == 1
    for bad in (" leading", "trailing ", "a/b", ""):
        with pytest.raises(ConfigError, match="dataset name"):
            table.register(workspace, bad)


def test_set_column_types_converts_when_read(datastore, tmp_path):
    from runconfig_jupyter.data.dataset_factory import DataType

    (tmp_path / "data" / "typed.csv").write_text("id,score,ok,when\n1,2.5,true,03/01/2019\nx,bad,0,2019-01-04\n")
    types = {
        "id": DataType.to_long(),
        "score": DataType.to_float(),
        "ok": DataType.to_bool(),
        "when": DataType.to_datetime(["%d/%m/%Y", "%Y-%m-%d"]),
    }
    frame = Dataset.Tabular.from_delimited_files((datastore, "typed.csv"), set_column_types=types).to_pandas_dataframe()
    assert frame["id"].tolist()[0] == 1 and frame["id"].isna().tolist() == [False, True]  # 'x' is null, as in v1
    assert frame["score"].tolist()[0] == 2.5 and frame["score"].isna().tolist() == [False, True]
    assert frame["ok"].tolist() == [True, False]
    assert [d.isoformat() for d in frame["when"]] == ["2019-01-03T00:00:00", "2019-01-04T00:00:00"]
    with pytest.raises(ConfigError, match="DataType"):
        Dataset.Tabular.from_delimited_files((datastore, "typed.csv"), set_column_types={"id": int})
    with pytest.raises(NotSupportedLocally):
        DataType.to_stream()


def test_registered_versions_take_tags_descriptions_and_unregister(table, workspace):
    registered = table.register(workspace, "days", tags={"kind": "csv"})
    assert Dataset.get(workspace, name="days").version == 1 and Dataset.get(workspace, id=registered.id).name == "days"
    registered.add_tags({"stage": "raw"}).remove_tags(["kind"])
    registered.update(description="ten days")
    again = Dataset.get_by_name(workspace, "days")
    assert (again.tags, again.description) == ({"stage": "raw"}, "ten days")
    table.take(1).register(workspace, "days", create_new_version=True)
    again.unregister_all_versions()
    assert "days" not in Dataset.get_all(workspace)
    with pytest.raises(ConfigError, match="not registered"):
        table.add_tags({"a": "b"})


def test_v1_data_modules_and_azure_only_ones(datastore):
    import importlib

    import runconfig_jupyter.data
    from runconfig_jupyter.data.datapath import DataPath, DataPathComputeBinding

    assert runconfig_jupyter.data.__version__
    binding = DataPathComputeBinding(mode="download", path_on_compute="/data/in", overwrite=True)
    reference = DataPath(datastore, "train").create_data_reference("train_in", binding)
    assert (reference.mode, reference.path_on_compute, reference.overwrite) == ("download", "/data/in", True)
    for module in ("runconfig_jupyter.dataprep", "runconfig_jupyter.datadrift", "runconfig_jupyter.contrib.dataset"):
        with pytest.raises(NotSupportedLocally) as refused:
            importlib.import_module(module)
        assert str(refused.value).count(". ") == 1 and f"(azureml.{module.split('.', 1)[1]})" in str(refused.value)
    files = Dataset.File.from_files((datastore, "train/**"))
    for verb in (files.take, files.skip, files.random_split):
        with pytest.raises(NotSupportedLocally, match="glob"):
            verb(1)


MOUNTING_SCRIPT = """
import glob, os, sys
from runconfig_jupyter.core import Dataset, Run

run = Run.get_context()
dataset = Dataset.get_by_name(workspace=run.experiment.workspace, name=sys.argv[1])
data_folder = os.path.abspath("mnt/data")
os.makedirs(data_folder)  # v1 samples create the mount point first
with dataset.mount(data_folder):
    found = sorted(os.path.relpath(p, data_folder) for p in glob.glob(data_folder + "/**/*.csv", recursive=True))
run.log("found", ",".join(found))
run.log("left", ",".join(os.listdir(data_folder)) or "empty")
"""


def test_mount_onto_an_existing_folder_in_the_notebook_and_in_a_script(datastore, workspace, tmp_path):
    files = Dataset.File.from_files((datastore, "train"))
    point = tmp_path / "point"
    point.mkdir()
    context = files.mount(str(point))  # v1's start()/stop() form
    context.start()
    assert sorted(p.name for p in point.rglob("*.csv")) == ["a.csv", "b.csv"] and context.mount_point == str(point)
    context.stop()
    assert point.is_dir() and not point.is_symlink() and not any(point.iterdir())  # the empty folder is back
    (point / "x").write_text("busy")
    with pytest.raises(ConfigError, match="not empty"):
        files.mount(str(point)).start()
    files.register(workspace, "train files")
    project = tmp_path / "mounting"
    project.mkdir()
    (project / "train.py").write_text(MOUNTING_SCRIPT)
    config = ScriptRunConfig(str(project), "train.py", arguments=["train files"])
    run = Experiment(workspace, "mounting").submit(config)
    run.wait_for_completion(timeout=90)
    assert run.get_status() == "Completed", run.get_details_with_logs()
    assert run.get_metrics() == {"found": "a.csv,more/b.csv", "left": "empty"}


@pytest.fixture
def web_folder(tmp_path):  # type: ignore[no-untyped-def]
    """A folder served by Python's own http.server on 127.0.0.1 (the stand-in for a sample's public URL)."""
    import subprocess
    import sys

    from tests.data_servers import free_port, stop, wait_for_port

    folder = tmp_path / "web"
    folder.mkdir()
    port, log = free_port(), tmp_path / "http.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, server, log)
        yield folder, f"http://127.0.0.1:{port}/"
    finally:
        stop(server)


def test_a_web_file_reaches_a_run_through_the_download_cache(web_folder, workspace, project):
    """A sample's public CSV URL, registered as an fsspec datastore: HTTP listings give no file sizes, which the
    download cache used to read as 0 bytes and refuse the file ('arrived with 4760 bytes, 0 listed')."""
    from runconfig_jupyter import Datastore

    folder, url = web_folder
    (folder / "iris.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(30)))
    web = Datastore.register_fsspec(workspace, "web", url)
    table = Dataset.Tabular.from_delimited_files(path=[(web, "iris.csv")])
    assert table.take(2).to_pandas_dataframe()["b"].tolist() == [0, 2]
    arguments = [table.take(7).as_named_input("iris")]
    run = Experiment(workspace, "web").submit(ScriptRunConfig(str(project), "report.py", arguments=arguments))
    run.wait_for_completion(timeout=90)
    assert report(run)["inputs"]["iris"] == {"tabular": True, "rows": 7, "columns": ["a", "b"]}


def test_a_fixed_output_destination_takes_a_second_run_in_mount_mode_only(workspace, project, out_store):
    """OutputFileDatasetConfig's default mode (mount) wrote through on Azure: a sample whose destination has no
    {run-id} ran again and replaced the files. as_upload() keeps what is there unless overwrite=True."""
    from runconfig_jupyter.data import OutputFileDatasetConfig

    def submit(output):  # type: ignore[no-untyped-def]
        config = ScriptRunConfig(str(project), "report.py", arguments=[output])
        run = Experiment(workspace, "outputs").submit(config)
        run.wait_for_completion(timeout=90, raise_on_error=False)
        return run

    mounted = OutputFileDatasetConfig(name="out", destination=(out_store, "sample/outputdataset"))
    assert [submit(mounted).get_status() for _ in range(2)] == ["Completed", "Completed"]
    uploaded = OutputFileDatasetConfig(name="out", destination=(out_store, "sample/outputdataset")).as_upload()
    refused = submit(uploaded)
    assert refused.get_status() == "Failed" and "already there" in refused.get_details()["error"]["message"]
    assert submit(uploaded.as_upload(overwrite=True)).get_status() == "Completed"
    written = Path(out_store.path_on_host) / "sample" / "outputdataset" / "result.txt"
    assert written.read_text() == "written by the script"
