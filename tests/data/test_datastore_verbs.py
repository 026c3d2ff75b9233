"""The v1 Datastore verbs on every kind: a local folder, Azure Blob (Azurite) and S3 (moto), all real.

What is on the store is read back with a separate client (tests/data/conftest.py ``Store.files``), never
through the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter import DataReference, Datastore, Workspace
from runconfig_jupyter.core.errors import DataPathMissing, UnknownDatastore


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_upload_puts_the_tree_under_target_path_and_keeps_existing_files_unless_overwrite(store, tmp_path):
    source = _tree(tmp_path / "src", {"a.csv": "1,2", "sub/b.csv": "3,4", "sub/deep/c.txt": "c"})
    reference = store.datastore.upload(str(source), target_path="train", show_progress=False)
    assert isinstance(reference, DataReference) and reference.path_on_datastore == "train"
    assert store.files() == {"train/a.csv": b"1,2", "train/sub/b.csv": b"3,4", "train/sub/deep/c.txt": b"c"}

    (source / "a.csv").write_text("changed")
    store.datastore.upload(str(source), target_path="train", overwrite=False, show_progress=False)
    assert store.files()["train/a.csv"] == b"1,2"  # v1: existing files are kept without overwrite
    store.datastore.upload(str(source), target_path="train", overwrite=True, show_progress=False)
    assert store.files()["train/a.csv"] == b"changed"

    store.datastore.upload(str(source / "sub"), show_progress=False)  # no target_path: the datastore's root
    assert store.files()["deep/c.txt"] == b"c" and store.files()["b.csv"] == b"3,4"


def test_upload_files_uses_relative_root_or_the_common_folder(store, tmp_path):
    source = _tree(tmp_path / "src", {"x/one.txt": "1", "x/y/two.txt": "2", "z/three.txt": "3"})
    store.datastore.upload_files(
        [str(source / "x/one.txt"), str(source / "x/y/two.txt")], target_path="files", show_progress=False
    )
    assert store.files() == {"files/one.txt": b"1", "files/y/two.txt": b"2"}  # common folder: src/x
    store.datastore.upload_files(
        [str(source / "z/three.txt")], relative_root=str(source), target_path="rooted", show_progress=False
    )
    assert store.files()["rooted/z/three.txt"] == b"3"
    with pytest.raises(Exception, match="relative_root") as caught:
        store.datastore.upload_files([str(source / "z/three.txt")], relative_root=str(source / "x"))
    assert getattr(caught.value, "field", None) == "relative_root"


def test_download_with_prefix_and_overwrite(store, tmp_path):
    store.put("train/a.csv", b"A")
    store.put("train/sub/b.csv", b"B")
    store.put("trainer.txt", b"T")  # v1's prefix is a string prefix: 'train' matches it too
    store.put("test/c.csv", b"C")
    target = tmp_path / "dl"
    count = store.datastore.download(str(target), prefix="train/", show_progress=False)
    assert count == 2
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "train/a.csv",
        "train/sub/b.csv",
    ]
    assert store.datastore.download(str(target), prefix="train", show_progress=False) == 1  # trainer.txt only
    (target / "train/a.csv").write_text("local edit")
    store.datastore.download(str(target), prefix="train/", show_progress=False)
    assert (target / "train/a.csv").read_text() == "local edit"  # kept without overwrite
    assert store.datastore.download(str(target), prefix="train/", overwrite=True, show_progress=False) == 2
    assert (target / "train/a.csv").read_text() == "A"
    everything = tmp_path / "all"
    assert store.datastore.download(str(everything), show_progress=False) == 4
    with pytest.raises(DataPathMissing) as caught:
        store.datastore.download(str(tmp_path / "none"), prefix="nothing-here/")
    assert caught.value.field == "datastores.data"
    assert not (tmp_path / "none").exists()


def test_progress_lines_are_printed_when_asked(store, tmp_path, capsys):
    source = _tree(tmp_path / "src", {"a.txt": "a"})
    store.datastore.upload(str(source), target_path="p", show_progress=True)
    store.datastore.download(str(tmp_path / "dl"), prefix="p/", show_progress=True)
    out = capsys.readouterr().out
    assert "Uploaded 1 file(s)" in out and "Downloaded 1 file(s)" in out
    store.datastore.upload(str(source), target_path="q", show_progress=False)
    assert capsys.readouterr().out == ""


def test_get_default_and_workspace_listing(store):
    ws = Workspace()
    got = Datastore.get(ws, "data")
    expected_type = {"local": "Local", "azure_blob": "AzureBlob", "s3": "S3", "fsspec": "Fsspec"}[store.kind]
    assert (got.name, got.datastore_type, got.read_only) == ("data", expected_type, False)
    if store.kind in ("azure_blob", "s3"):
        assert got.container_name == store.root
    if store.kind == "azure_blob":
        assert got.account_name == "devstoreaccount1"
    assert set(ws.datastores) == {"workspaceblobstore", "data"}
    assert ws.get_default_datastore().name == "workspaceblobstore"
    ws.set_default_datastore("data")
    assert ws.get_default_datastore().name == "data" and Datastore(ws).name == "data"
    assert Datastore.get_default(Workspace()).name == "data"  # kept in datastores.yaml, seen by a new object
    got.unregister()
    assert set(ws.datastores) == {"workspaceblobstore"} and ws.get_default_datastore().name == "workspaceblobstore"
    with pytest.raises(UnknownDatastore) as caught:
        Datastore.get(ws, "data")
    assert "workspaceblobstore" in str(caught.value)
    with pytest.raises(UnknownDatastore):
        ws.set_default_datastore("nope")


def test_path_and_references_follow_the_v1_schema(store):
    ds = store.datastore
    mount = ds.path("train/images").as_mount()
    assert mount.to_config() == {
        "dataStoreName": "data",
        "mode": "mount",
        "pathOnDataStore": "train/images",
        "pathOnCompute": None,
        "overwrite": False,
    }
    download = ds.path("train", data_reference_name="training").as_download(path_on_compute="/tmp/train")
    assert download.to_config()["mode"] == "download" and download.to_config()["pathOnCompute"] == "/tmp/train"
    assert str(download) == "$AZUREML_DATAREFERENCE_training" and download.env_name == "AZUREML_DATAREFERENCE_training"
    assert ds.as_mount().to_config()["pathOnDataStore"] is None and ds.as_download().mode == "download"
    assert ds.path("a").path("b").path_on_datastore == "a/b"
    with pytest.raises(Exception, match="mode") as caught:
        DataReference(ds, mode="copy")
    assert caught.value.field == "mode"


def test_default_datastore_is_a_writable_folder_of_the_run_home(run_home, tmp_path):
    ws = Workspace()
    default = ws.get_default_datastore()
    assert Path(default.path_on_host) == (run_home / "datastores" / "workspaceblobstore").resolve()
    _tree(tmp_path / "src", {"m.txt": "m"})
    default.upload(str(tmp_path / "src"), target_path="models", show_progress=False)
    assert (run_home / "datastores/workspaceblobstore/models/m.txt").read_text() == "m"
    with pytest.raises(Exception, match="workspace's own folder"):
        Datastore.register_local(ws, "workspaceblobstore", tmp_path)


def test_transfers_report_byte_progress(store, tmp_path):
    """What run outputs use at the end of a run (core/data/transfer.py): bytes, not file counts."""
    from runconfig_jupyter.core.data import transfer

    source = _tree(tmp_path / "src", {"a.bin": "a" * 3000, "b/c.bin": "c" * 2000})
    files = [source / "a.bin", source / "b/c.bin"]
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    assert transfer.upload(store.datastore.spec, files, source, "out", False, progress=progress) == 2
    assert seen[-1] == (5000, 5000)
    seen.clear()
    assert transfer.download(store.datastore.spec, tmp_path / "dl", "out/", False, progress=progress) == 2
    assert seen[-1] == (5000, 5000) and (tmp_path / "dl/out/b/c.bin").read_text() == "c" * 2000
