"""Parquet tabular datasets: v1's ``Dataset.Tabular.from_parquet_files`` and ``register_pandas_dataframe`` (both
raised NotSupportedLocally before), read with pandas and pyarrow in the notebook and in a real local run."""

from __future__ import annotations

import pandas
import pytest

from runconfig_jupyter import Dataset, Experiment, ScriptRunConfig, TabularDataset
from runconfig_jupyter.core.data.reference import DataPath
from runconfig_jupyter.core.errors import ConfigError, DataPathMissing
from tests.data.inputs_helpers import report

pytest.importorskip("pyarrow")


def _write_parts(folder) -> None:  # type: ignore[no-untyped-def]
    """Two parquet parts of one table in a datastore folder, and a CSV beside them that no glob below names."""
    (folder / "2019" / "01").mkdir(parents=True)
    (folder / "2019" / "02").mkdir(parents=True)
    pandas.DataFrame({"station": ["a", "b"], "temp": [1.5, 2.5]}).to_parquet(folder / "2019/01/part.parquet")
    pandas.DataFrame({"station": ["c"], "temp": [3.5]}).to_parquet(folder / "2019/02/part.parquet")
    (folder / "2019" / "notes.csv").write_text("station,temp\nz,99\n")


def test_parquet_files_read_in_the_notebook_and_in_a_run(workspace, tmp_path, project):
    """``from_parquet_files((store, 'weather/**/*.parquet'))``: the parts' rows in order, with ``partition_format``
    and ``include_path`` columns and ``set_column_types``; registered, the same rows reach a local run's script."""
    store = workspace.get_default_datastore()
    staged = tmp_path / "staged"
    _write_parts(staged)
    store.upload(str(staged), target_path="weather", overwrite=True, show_progress=False)

    table = Dataset.Tabular.from_parquet_files(
        (store, "weather/**/*.parquet"), partition_format="/{year}/{month}/part.parquet", include_path=True
    )
    assert isinstance(table, TabularDataset)
    frame = table.to_pandas_dataframe()
    assert frame["station"].tolist() == ["a", "b", "c"] and frame["temp"].tolist() == [1.5, 2.5, 3.5]
    assert frame["month"].tolist() == ["01", "01", "02"]
    assert frame["Path"].tolist()[-1] == "/weather/2019/02/part.parquet"
    assert table.take(1).to_pandas_dataframe()["station"].tolist() == ["a"]

    table.register(workspace, "weather")
    config = ScriptRunConfig(
        str(project),
        script="report.py",
        arguments=["--table", Dataset.get_by_name(workspace, "weather").as_named_input("table")],
    )
    run = Experiment("parquet").submit(config)
    run.wait_for_completion(timeout=90, raise_on_error=True)
    seen = report(run)["inputs"]["table"]
    assert seen == {"tabular": True, "rows": 3, "columns": ["station", "temp", "year", "month", "Path"]}


def test_register_pandas_dataframe_writes_parquet_and_registers_it(workspace):
    """v1's ``register_pandas_dataframe(df, target, name)``: the frame lands on the datastore as a parquet file in a
    new folder below the target, and the registered dataset reads it back equal; a bad name is refused before
    anything is written, and a target that is not a place on a datastore names the argument."""
    store = workspace.get_default_datastore()
    frame = pandas.DataFrame({"x": [1, 2, 3], "label": ["p", "q", "r"]})

    with pytest.raises(ConfigError):
        Dataset.Tabular.register_pandas_dataframe(frame, (store, "frames"), name=" bad name ")
    with pytest.raises(ConfigError, match="target"):
        Dataset.Tabular.register_pandas_dataframe(frame, "frames", name="frames")
    with pytest.raises(DataPathMissing):  # neither refusal wrote anything
        Dataset.File.from_files((store, "frames/**"))

    registered = Dataset.Tabular.register_pandas_dataframe(frame, (store, "frames"), "my frame", tags={"k": "v"})
    assert (registered.name, registered.version, registered.tags) == ("my frame", 1, {"k": "v"})
    again = Dataset.get_by_name(workspace, "my frame")
    assert again.to_pandas_dataframe().equals(frame)
    stored = Dataset.File.from_files((store, "frames/**")).to_path()
    assert len(stored) == 1 and stored[0].endswith("/part-00000.parquet")

    through_path = Dataset.Tabular.register_pandas_dataframe(frame.head(1), DataPath(store, "frames"), "one row")
    assert through_path.to_pandas_dataframe()["label"].tolist() == ["p"]
    assert len(Dataset.File.from_files((store, "frames/**")).to_path()) == 2
