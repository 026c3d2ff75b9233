"""Packaging a folder into the snapshot store: content-addressed ids, re-use via the hash cache, symlinks,
progress, stale temp files, odd names, files that change after the walk.

These rules were first written for the single-archive packer (removed); the per-file store (core/snapshot/
stored.py) keeps every one of them. The store's own mechanics (objects, garbage collection, an interrupted
store rolled back) are in test_snapshot_store.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from snapshot_helpers import backdate, paths, write

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot import create as create_module
from runconfig_jupyter.core.snapshot import stored as stored_module
from runconfig_jupyter.core.snapshot.create import SnapshotLimits, extract_snapshot
from runconfig_jupyter.core.snapshot.objects import ObjectStore
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from runconfig_jupyter.core.snapshot.stream import member_infos, snapshot_files


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "train.py", "print('hi')\n")
    write(root, "pkg/model.py", "W = 1\n")
    write(root, "data/blob.bin", os.urandom(200_000))
    (root / "outputs").mkdir()  # empty folders are kept
    os.chmod(write(root, "run.sh", "#!/bin/sh\necho hi\n"), 0o755)
    backdate(root)
    return root


class DigestCounter:
    """Counts content digests started, i.e. files read for hashing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        real = stored_module.new_hasher

        def counting(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(stored_module, "new_hasher", counting)


def test_snapshot_round_trip(src: Path, tmp_path: Path) -> None:
    snap = store_snapshot(src, tmp_path / "store", SnapshotLimits())
    assert snap.path == tmp_path / "store" / "manifests" / f"{snap.id}.json" and snap.path.is_file()
    assert snap.path.stat().st_mode & 0o222 == 0  # read-only: run folders hard-link it
    assert snap.manifest.file_count == 4 and snap.manifest.total_bytes == sum(e.size for e in snap.manifest.files)
    assert all(e.digest for e in snap.manifest.files)
    out = tmp_path / "out"
    extract_snapshot(snap.path, out)
    for rel in ("train.py", "pkg/model.py", "data/blob.bin", "run.sh"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert (out / "outputs").is_dir()
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "train.py", os.X_OK)


def test_same_content_same_id_and_bytes(src: Path, tmp_path: Path) -> None:
    first = store_snapshot(src, tmp_path / "store1")
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)  # other inodes, other mtimes: the id depends on content only
    second = store_snapshot(copy, tmp_path / "store2")
    assert first.id == second.id
    assert first.path.read_bytes() == second.path.read_bytes()
    write(copy, "train.py", "print('changed')\n")
    assert store_snapshot(copy, tmp_path / "store2").id != first.id


def test_unchanged_folder_is_not_reread(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    counter = DigestCounter(monkeypatch)
    again = store_snapshot(src, store)
    assert (again.id, again.path, again.reused) == (first.id, first.path, True)
    assert counter.count == 0 and again.stored_files == 0

    edited_file = write(src, "train.py", "print('edited')\n")
    os.utime(edited_file, (os.stat(edited_file).st_mtime - 60,) * 2)  # edited a minute ago
    edited = store_snapshot(src, store)
    assert counter.count == 1  # only the edited file was hashed
    assert edited.id != first.id and edited.path.is_file() and first.path.is_file()

    os.utime(src / "pkg" / "model.py")  # touched, not changed: hashed once, then the stored snapshot is re-used
    touched_at = os.stat(src / "pkg" / "model.py").st_mtime - 60
    os.utime(src / "pkg" / "model.py", (touched_at, touched_at))
    assert store_snapshot(src, store).reused and counter.count == 2
    assert store_snapshot(src, store).reused and counter.count == 2


def test_recently_modified_files_are_rehashed(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file hashed in the same instant it was written could change without a new mtime: never trust it."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    write(src, "fresh.py", "x = 1\n")
    store_snapshot(src, store)
    counter = DigestCounter(monkeypatch)
    snap = store_snapshot(src, store)
    assert counter.count == 1 and snap.reused


def test_symlinks_inside_kept_outside_skipped(src: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "secret.txt", "do not upload")
    os.symlink(outside, src / "abs_out")
    os.symlink("../../secret.txt", src / "pkg" / "rel_out")
    os.symlink("model.py", src / "pkg" / "alias.py")
    os.symlink(src / "train.py", src / "abs_in")
    os.symlink(tmp_path, src / "dir_out")
    snap = store_snapshot(src, tmp_path / "store")
    skipped = dict(snap.manifest.skipped)
    assert set(skipped) == {"abs_out", "pkg/rel_out", "dir_out"}
    assert all("outside the source directory" in reason for reason in skipped.values())
    links = {e.path: e.link_target for e in snap.manifest.files if e.kind == "symlink"}
    assert links == {"pkg/alias.py": "model.py", "abs_in": "train.py"}
    names = {info.name for info in member_infos(snap.path)}
    assert "abs_out" not in names and "dir_out" not in names and "pkg/rel_out" not in names
    out = tmp_path / "out"
    extract_snapshot(snap.path, out)
    assert os.readlink(out / "abs_in") == "train.py" and (out / "abs_in").read_text() == "print('hi')\n"


def test_progress_reports_up_to_total(src: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    snap = store_snapshot(src, tmp_path / "store", progress=lambda done, total: calls.append((done, total)))
    total = snap.manifest.total_bytes
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    store_snapshot(src, tmp_path / "store", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(total, total)]


def test_stale_temp_of_dead_writer_removed(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    objects = ObjectStore(store).root
    objects.mkdir(parents=True)
    stale = objects / ".tmp-4194305-abcdef"  # above Linux's pid_max: no such process
    stale.write_bytes(b"partial")
    store_snapshot(src, store)
    assert not stale.exists()


def test_store_inside_source_is_not_packaged(src: Path) -> None:
    store = src / ".runs" / "snapshots"
    first = store_snapshot(src, store)
    second = store_snapshot(src, store)
    assert first.id == second.id
    assert not any(p.startswith(".runs") for p in paths(second.manifest))


def test_bad_source_directory(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        store_snapshot(tmp_path / "missing", tmp_path / "store")
    write(tmp_path, "file.py")
    with pytest.raises(SnapshotError, match="not a directory"):
        store_snapshot(tmp_path / "file.py", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_special_files_skipped(src: Path, tmp_path: Path) -> None:
    os.mkfifo(src / "pipe")
    snap = store_snapshot(src, tmp_path / "store")
    assert "pipe" in dict(snap.manifest.skipped)
    assert "pipe" not in {info.name for info in member_infos(snap.path)}


def test_odd_names_round_trip(tmp_path: Path) -> None:
    """Non-UTF-8 bytes, non-ASCII and >100-character names survive, with a stable id."""
    src = tmp_path / "src"
    src.mkdir()
    with open(os.path.join(os.fsencode(src), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"latin-1 name")
    write(src, "naïve.py", "x = 1\n")
    write(src, "deep/" + "long" * 40 + ".py", "y = 2\n")
    snap = store_snapshot(src, tmp_path / "store")
    assert store_snapshot(src, tmp_path / "store").id == snap.id
    out = tmp_path / "out"
    extract_snapshot(snap.path, out)
    with open(os.path.join(os.fsencode(out), b"caf\xe9.txt"), "rb") as handle:
        assert handle.read() == b"latin-1 name"
    assert (out / "naïve.py").read_text() == "x = 1\n"
    assert (out / "deep" / ("long" * 40 + ".py")).read_text() == "y = 2\n"


def test_contract_used_by_submit(src: Path) -> None:
    """core/runs/submit.py: store_snapshot(Path, store.snapshots_dir, SnapshotLimits.from_env()) and the fields
    it reads."""
    from runconfig_jupyter.core.runs.store import RunStore

    store = RunStore()
    snap = store_snapshot(Path(src), store.snapshots_dir, SnapshotLimits.from_env())
    assert snap.path.parent == store.snapshots_dir / "manifests" and snap.path.suffix == ".json"
    assert (snap.manifest.file_count, snap.manifest.total_bytes) == (4, 200_000 + 12 + 6 + 18)
    assert json.loads(json.dumps(snap.manifest.to_dict(), default=str))["file_count"] == 4


def test_file_changed_after_walk_is_packaged_as_it_is_now(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = create_module.build_manifest

    def walk_then_edit(*args, **kwargs):
        manifest = real(*args, **kwargs)
        write(src, "train.py", "print('grown after the walk')\n")
        return manifest

    monkeypatch.setattr(create_module, "build_manifest", walk_then_edit)
    snap = store_snapshot(src, tmp_path / "store")
    monkeypatch.undo()
    assert dict(snapshot_files(snap.path))["train.py"] == b"print('grown after the walk')\n"
    assert store_snapshot(src, tmp_path / "other").id == snap.id


def test_archive_order_is_the_order_of_path_components() -> None:
    """Parents first, and a name that is a prefix of a sibling's ('a' before 'a.txt', 'a-b', 'a b') keeps
    its children before that sibling, for any characters (the ids of stored snapshots depend on it)."""
    import random

    from runconfig_jupyter.core.snapshot.archive import ordered_members
    from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry

    rng = random.Random(7)
    pieces = ["a", "b", ".", "-", " ", "a.txt", "é", "\udcff", "~", "A", "0", "\t"]
    paths = {
        "/".join("".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 4)))
        for _ in range(3000)
    }
    manifest = Manifest(source=Path("/src"), files=[ManifestEntry(p, 0, 0o644) for p in sorted(paths)])
    ordered = [path for path, _entry in ordered_members(manifest)]
    assert ordered == sorted(paths, key=lambda p: tuple(p.split("/")))
