"""v1's Dataset API in the notebook: factories, the versioned local registry, reading, v1 import paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runconfig_jupyter import Dataset, FileDataset, TabularDataset
from runconfig_jupyter.core.errors import AssetConflict, AssetNotFound, DataPathMissing, NotSupportedLocally


def test_file_dataset_lists_downloads_and_mounts(datastore, tmp_path):
    files = Dataset.File.from_files((datastore, "train/**/*.csv"))
    assert isinstance(files, FileDataset) and files.to_path() == ["/a.csv", "/more/b.csv"]
    written = files.download(tmp_path / "copy")
    assert sorted(p.removeprefix(str(tmp_path / "copy")) for p in written) == ["/a.csv", "/more/b.csv"]
    with pytest.raises(Exception, match="already exists"):
        files.download(tmp_path / "copy")
    assert len(files.download(tmp_path / "copy", overwrite=True)) == 2
    with Dataset.File.from_files((datastore, "train")).mount() as mounted:  # a local datastore: the folder itself
        assert mounted.mount_point == str((tmp_path / "data" / "train").resolve())
    with pytest.raises(DataPathMissing):
        Dataset.File.from_files((datastore, "missing/**"))
    assert Dataset.File.from_files((datastore, "missing/**"), validate=False).definition["paths"][0]["path"] == (
        "missing/**"
    )


def test_tabular_dataset_reads_with_the_v1_options(datastore, tmp_path):
    (tmp_path / "data" / "semi.txt").write_text("1;2\n3;4\n")
    table = Dataset.Tabular.from_delimited_files((datastore, "semi.txt"), separator=";", header=False)
    assert isinstance(table, TabularDataset) and table.to_pandas_dataframe().values.tolist() == [[1, 2], [3, 4]]
    (tmp_path / "data" / "rows.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    first = Dataset.Tabular.from_json_lines_files((datastore, "rows.jsonl")).take(1)
    assert isinstance(first, TabularDataset) and first.to_pandas_dataframe().to_dict("list") == {"a": [1]}
    with pytest.raises(NotSupportedLocally):
        Dataset.Tabular.from_sql_query("select 1")


def test_registry_versions_ids_and_conflicts(workspace, datastore):
    first = Dataset.File.from_files((datastore, "train/**")).register(workspace, "train", tags={"k": "v"})
    assert (first.name, first.version, first.tags) == ("train", 1, {"k": "v"})
    # the same definition again is the same version; another one needs create_new_version
    assert Dataset.File.from_files((datastore, "train/**")).register(workspace, "train").version == 1
    other = Dataset.File.from_files((datastore, "single.txt"))
    with pytest.raises(AssetConflict, match="create_new_version"):
        other.register(workspace, "train")
    second = other.register(workspace, "train", create_new_version=True)
    assert second.version == 2 and second.id != first.id
    assert Dataset.get_by_name(workspace, "train").version == 2
    assert Dataset.get_by_name(workspace, "train", version=1) == first
    assert Dataset.get_by_id(workspace, first.id).version == 1
    assert set(Dataset.get_all(workspace)) == {"train"}
    with pytest.raises(AssetNotFound):
        Dataset.get_by_name(workspace, "nothing")


def test_v1_import_paths():
    from runconfig_jupyter.core.dataset import Dataset as CoreDataset
    from runconfig_jupyter.data import DataReference, OutputFileDatasetConfig
    from runconfig_jupyter.data.data_reference import DataReference as Reference
    from runconfig_jupyter.data.dataset_consumption_config import DatasetConsumptionConfig
    from runconfig_jupyter.data.output_dataset_config import OutputFileDatasetConfig as Output

    assert CoreDataset is Dataset and Reference is DataReference and Output is OutputFileDatasetConfig
    assert DatasetConsumptionConfig.__name__ == "DatasetConsumptionConfig"


def test_mounting_a_dataset_of_some_files_shows_those_files_only(datastore, tmp_path):
    """v1's ``ds.mount()`` in a notebook of a glob dataset, or of several files (refused here before), shows the
    dataset's files at the mount point, not every file of their folder; ``stop()`` takes the links away and leaves
    the data where it is."""
    globbed = Dataset.File.from_files((datastore, "train/**/*.csv"))
    with globbed.mount() as mounted:
        point = Path(mounted.mount_point)
        found = sorted(str(p.relative_to(point)) for p in point.rglob("*") if p.is_file())
        assert found == ["a.csv", "more/b.csv"]
        assert (point / "a.csv").read_text() == "x,y\n1,2\n3,4\n"
    assert not point.exists()
    several = Dataset.File.from_files([(datastore, "train/a.csv"), (datastore, "train/notes.txt")])
    context = several.mount(tmp_path / "mnt")
    context.start()
    assert sorted(os.listdir(tmp_path / "mnt")) == ["a.csv", "notes.txt"]
    context.stop()
    assert not (tmp_path / "mnt").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "train").iterdir()) == ["a.csv", "more", "notes.txt"]
