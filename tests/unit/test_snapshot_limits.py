"""Snapshot limits: configuration from the environment and an error that says what to exclude."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_helpers import write

from runconfig_jupyter.core.errors import ConfigError, SnapshotTooLarge
from runconfig_jupyter.core.snapshot.create import SnapshotLimits, build_manifest
from runconfig_jupyter.core.snapshot.stored import store_snapshot

MB = 1024 * 1024


def test_defaults_and_env() -> None:
    assert SnapshotLimits() == SnapshotLimits(max_bytes=300 * MB, max_files=2000)
    assert SnapshotLimits.from_env({}) == SnapshotLimits()
    env = {"RUNCONFIG_SNAPSHOT_MAX_MB": "1.5", "RUNCONFIG_SNAPSHOT_MAX_FILES": "10"}
    assert SnapshotLimits.from_env(env) == SnapshotLimits(max_bytes=int(1.5 * MB), max_files=10)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"RUNCONFIG_SNAPSHOT_MAX_MB": "lots"}, "RUNCONFIG_SNAPSHOT_MAX_MB"),
        ({"RUNCONFIG_SNAPSHOT_MAX_MB": "-1"}, "RUNCONFIG_SNAPSHOT_MAX_MB"),
        ({"RUNCONFIG_SNAPSHOT_MAX_FILES": "2.5"}, "RUNCONFIG_SNAPSHOT_MAX_FILES"),
        ({"RUNCONFIG_SNAPSHOT_MAX_FILES": "0"}, "RUNCONFIG_SNAPSHOT_MAX_FILES"),
    ],
)
def test_bad_env_values_name_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        SnapshotLimits.from_env(env)
    assert info.value.field == field and field in str(info.value)


def test_from_env_reads_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNCONFIG_SNAPSHOT_MAX_FILES", "7")
    assert SnapshotLimits.from_env().max_files == 7


def make_big_tree(root: Path) -> None:
    write(root, "train.py", "print(1)\n")
    write(root, "data/raw/a.bin", b"a" * 600_000)
    write(root, "data/raw/b.bin", b"b" * 500_000)
    write(root, "data/small.csv", b"c" * 10_000)
    write(root, "ckpt/model.pt", b"m" * 400_000)
    write(root, "notes.md", b"n" * 300_000)
    write(root, "misc/x.txt", b"x" * 100)


def test_too_large_names_files_folders_and_fix(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_big_tree(src)
    store = tmp_path / "store"
    with pytest.raises(SnapshotTooLarge) as info:
        store_snapshot(src, store, SnapshotLimits(max_bytes=1 * MB))
    text = str(info.value)
    assert "exceeds the limit of 1.0 MB" in text
    files_part = text.split("Largest files:")[1].split("Largest folders:")[0]
    assert [line.split()[-1] for line in files_part.strip().splitlines()] == [
        "data/raw/a.bin",
        "data/raw/b.bin",
        "ckpt/model.pt",
        "notes.md",
        "data/small.csv",
    ]
    assert "585.9 KB  data/raw/a.bin" in text
    folders_part = text.split("Largest folders:")[1].split("To exclude")[0]
    assert "data/  (3 files)" in folders_part and "ckpt/  (1 files)" in folders_part
    assert f"create {src / '.amlignore'}" in text
    assert "\n  data/\n" in text and "\n  ckpt/\n" in text
    assert "RUNCONFIG_SNAPSHOT_MAX_MB" in text
    assert info.value.http_status == 413
    assert not store.exists() or not any(store.iterdir())  # nothing packaged


def test_too_many_files_ranks_folders_by_count(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "train.py")
    for i in range(12):
        write(src, f"node_modules/pkg{i}/index.js", "x")
    write(src, "weights/w.bin", b"w" * 50_000)
    write(src, ".amlignore", "*.tmp\n")
    with pytest.raises(SnapshotTooLarge) as info:
        store_snapshot(src, tmp_path / "store", SnapshotLimits(max_files=10))
    text = str(info.value)
    assert "15 files exceed the limit of 10 files" in text
    folders = text.split("Largest folders:")[1].strip().splitlines()
    assert folders[0].endswith("node_modules/  (12 files)")
    assert f"add lines to {src / '.amlignore'}" in text and "\n  node_modules/\n" in text


def test_gitignore_hint_warns_that_amlignore_replaces_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_big_tree(src)
    write(src, ".gitignore", "*.log\n")
    with pytest.raises(SnapshotTooLarge, match=r"replaces \.gitignore"):
        store_snapshot(src, tmp_path / "store", SnapshotLimits(max_bytes=1 * MB))


def test_manifest_before_submit_reports_without_raising(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_big_tree(src)
    manifest = build_manifest(src, SnapshotLimits(max_bytes=1 * MB))
    assert manifest.file_count == 7 and manifest.total_bytes == 1_810_109
    assert [e.path for e in manifest.largest(2)] == ["data/raw/a.bin", "data/raw/b.bin"]
    assert "over the limit" in manifest.summary()
    with pytest.raises(SnapshotTooLarge):
        manifest.check()
    d = manifest.to_dict()
    assert d["file_count"] == 7 and d["total_bytes"] == 1_810_109 and len(d["files"]) == 7
