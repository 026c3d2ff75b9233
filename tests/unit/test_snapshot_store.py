"""The per-file snapshot store: only what changed is read, identical content is stored once, damage is caught,
and the garbage collector keeps what runs reference (also while submits run at the same time).

Real files in temp folders, real threads and processes; nothing is mocked except counters wrapped around the
real hash constructor to count files read.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import tarfile
import time
from pathlib import Path

import pytest
from snapshot_helpers import backdate, hash_cache, write, write_json_cache

from runconfig_jupyter.core.errors import SnapshotError, SnapshotTooLarge, UnsafeArchive
from runconfig_jupyter.core.snapshot import stored as stored_module
from runconfig_jupyter.core.snapshot.create import SnapshotLimits, extract_snapshot
from runconfig_jupyter.core.snapshot.garbage import collect_snapshot_garbage
from runconfig_jupyter.core.snapshot.hashcache import KEY
from runconfig_jupyter.core.snapshot.objects import ObjectStore
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from runconfig_jupyter.core.snapshot.stream import link_tree, materialize, tar_bytes
from tests.legacy_archive import write_legacy_archive

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "train.py", "print('hi')\n")
    write(root, "pkg/model.py", "W = 1\n")
    write(root, "data/blob.bin", os.urandom(300_000))
    (root / "outputs").mkdir()
    os.chmod(write(root, "run.sh", "#!/bin/sh\necho hi\n"), 0o755)
    os.symlink("train.py", root / "alias.py")
    backdate(root)
    return root


class ReadCounter:
    """Counts files read for storing (each gets one hasher) and the bytes copied into objects."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.files = 0
        self.bytes = 0
        real_hasher, real_copy = stored_module.new_hasher, stored_module.copy_hashing

        def hasher(*args, **kwargs):
            self.files += 1
            return real_hasher(*args, **kwargs)

        def copy(*args, **kwargs):
            copied = real_copy(*args, **kwargs)
            self.bytes += copied
            return copied

        monkeypatch.setattr(stored_module, "new_hasher", hasher)
        monkeypatch.setattr(stored_module, "copy_hashing", copy)


def object_files(store: Path) -> list[Path]:
    return [p for p in (store / "objects").rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_round_trip_keeps_content_modes_links_and_folders(src: Path, tmp_path: Path) -> None:
    snap = store_snapshot(src, tmp_path / "store")
    assert snap.path == tmp_path / "store" / "manifests" / f"{snap.id}.json"
    assert snap.path.stat().st_mode & 0o222 == 0
    assert all(p.stat().st_mode & 0o222 == 0 for p in object_files(tmp_path / "store"))
    out = tmp_path / "out"
    extract_snapshot(snap.path, out)  # the extractor every target uses dispatches on the layout
    for rel in ("train.py", "pkg/model.py", "data/blob.bin", "run.sh"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert os.readlink(out / "alias.py") == "train.py" and (out / "outputs").is_dir()
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "train.py", os.X_OK)
    assert os.access(out / "train.py", os.W_OK)  # a copy the run may change, not a link into the store


# sha256 of the archive the removed single-archive packer wrote for the tree below (checked equal to the
# store's tar stream while both existed): old run folders hold such tars, remote targets get this stream.
PACKER_TAR_SHA256 = "1a601603995ec0d739fac524572fb383dec24cf609f4b05dc184c2d2ba4ac184"


def test_tar_stream_is_the_tar_the_archive_packer_wrote(tmp_path: Path) -> None:
    root = tmp_path / "fixed"
    write(root, "train.py", "print('hi')\n")
    write(root, "pkg/model.py", "W = 1\n")
    write(root, "data/blob.bin", bytes(range(256)) * 1000)
    (root / "outputs").mkdir()
    os.chmod(write(root, "run.sh", "#!/bin/sh\necho hi\n"), 0o755)
    os.symlink("train.py", root / "alias.py")
    write(root, "deep/" + "long" * 40 + ".py", "y = 2\n")
    write(root, "naïve.py", "x = 1\n")
    backdate(root)
    stream = tar_bytes(store_snapshot(root, tmp_path / "store").path)
    assert hashlib.sha256(stream).hexdigest() == PACKER_TAR_SHA256


def test_re_snapshot_reads_only_the_changed_file(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    objects_before = len(object_files(store))
    counter = ReadCounter(monkeypatch)
    again = store_snapshot(src, store)
    assert (again.id, again.reused, counter.files, counter.bytes) == (first.id, True, 0, 0)

    edited = write(src, "pkg/model.py", "W = 2  # edited\n")
    os.utime(edited, (time.time() - 60,) * 2)
    second = store_snapshot(src, store)
    assert second.id != first.id and not second.reused
    assert (counter.files, counter.bytes) == (1, len("W = 2  # edited\n"))  # the 300 KB blob was not read
    assert (second.stored_files, second.stored_bytes) == (1, 16)
    assert len(object_files(store)) == objects_before + 1
    out = tmp_path / "out"
    materialize(second.path, out)
    assert (out / "pkg/model.py").read_text() == "W = 2  # edited\n"
    materialize(first.path, tmp_path / "old")  # the earlier snapshot is still whole
    assert (tmp_path / "old" / "pkg/model.py").read_text() == "W = 1\n"


def test_identical_trees_share_objects(src: Path, tmp_path: Path) -> None:
    import shutil

    store = tmp_path / "store"
    first = store_snapshot(src, store)
    count = len(object_files(store))
    copy = tmp_path / "copy"
    shutil.copytree(src, copy, symlinks=True)
    second = store_snapshot(copy, store)  # other inodes and mtimes, no hash cache entry: read, not stored again
    assert second.id == first.id and second.reused
    assert len(object_files(store)) == count
    write(copy, "dup.txt", (src / "train.py").read_text())  # same bytes under another name: no new object
    assert store_snapshot(copy, store).id != first.id and len(object_files(store)) == count


def test_damaged_object_is_a_typed_error_and_no_wrong_file(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    snap = store_snapshot(src, store)
    entry = next(e for e in snap.manifest.files if e.path == "pkg/model.py")
    obj = ObjectStore(store, entry.digest_alg).path(entry.digest or "", entry.mode)
    os.chmod(obj, 0o644)
    obj.write_text("W = 666\n")  # same size as "W = 1\n" would be caught by the digest, not the size
    out = tmp_path / "out"
    with pytest.raises(SnapshotError, match=r"pkg/model\.py.*damaged"):
        materialize(snap.path, out)
    assert not (out / "pkg" / "model.py").exists()
    with pytest.raises(SnapshotError, match="damaged"):
        tar_bytes(snap.path)
    with pytest.raises(SnapshotError, match="damaged"):
        link_tree(snap.path, tmp_path / "tree")


def test_missing_object_is_detected_and_re_stored_from_the_source(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    snap = store_snapshot(src, store)
    entry = next(e for e in snap.manifest.files if e.path == "data/blob.bin")
    obj = ObjectStore(store, entry.digest_alg).path(entry.digest or "", entry.mode)
    obj.unlink()
    with pytest.raises(SnapshotError, match=r"data/blob\.bin.*missing"):
        materialize(snap.path, tmp_path / "out")
    again = store_snapshot(src, store)  # the hash cache knows the file, but its object is gone: stored again
    assert again.id == snap.id and again.stored_files == 1 and obj.is_file()
    materialize(again.path, tmp_path / "out2")
    assert (tmp_path / "out2" / "data/blob.bin").read_bytes() == (src / "data/blob.bin").read_bytes()


@pytest.mark.parametrize(
    "member",
    [
        ["f", "../escape.txt", 420, 1, "ab"],
        ["f", "/etc/x", 420, 1, "ab"],
        ["l", "up", "../../x"],
        ["f", "a", 0o4755, 1, "ab"],
    ],
)
def test_hostile_manifest_is_refused_before_anything_is_written(tmp_path: Path, member: list) -> None:
    import json

    manifest = tmp_path / "store" / "manifests" / "bad.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"format": "runconfig-snapshot-manifest-v1", "hash": "sha256", "members": [member]}))
    with pytest.raises((UnsafeArchive, SnapshotError)):
        materialize(manifest, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()


def test_limits_are_checked_before_any_object_is_written(src: Path, tmp_path: Path) -> None:
    with pytest.raises(SnapshotTooLarge):
        store_snapshot(src, tmp_path / "store", SnapshotLimits(max_bytes=1000))
    assert object_files(tmp_path / "store") == []


def test_many_files_stored_in_threads_match(tmp_path: Path) -> None:
    root = tmp_path / "many"
    blobs = {f"d{i % 7}/f{i}.bin": os.urandom(40_000 + i) for i in range(200)}  # 8 MB: the threaded path
    for rel, data in blobs.items():
        write(root, rel, data)
    snap = store_snapshot(root, tmp_path / "store")
    assert snap.stored_files == 200
    out = tmp_path / "out"
    materialize(snap.path, out)
    assert all((out / rel).read_bytes() == data for rel, data in blobs.items())
    with tarfile.open(fileobj=__import__("io").BytesIO(tar_bytes(snap.path))) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == sorted(blobs)


# -- garbage collection ----------------------------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        try:
            os.utime(item, (stamp, stamp), follow_symlinks=False)
        except FileNotFoundError:
            pass  # removed meanwhile by a collector running at the same time


def test_gc_keeps_referenced_snapshots_and_removes_the_rest(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    kept = store_snapshot(src, store)
    edited = write(src, "pkg/model.py", "W = 2\n")
    os.utime(edited, (time.time() - 60,) * 2)
    dropped = store_snapshot(src, store)
    legacy = write_legacy_archive(src, store)  # an archive of the previous version, referenced by no run
    age(store, 7200)
    before = len(object_files(store))
    freed = dropped.path.stat().st_size + legacy.path.stat().st_size + len("W = 2\n")

    dry = collect_snapshot_garbage(store, {kept.id}, min_age=3600, dry_run=True)
    assert sorted(dry.snapshots) == sorted([dropped.id, legacy.id]) and dry.objects == 1
    assert len(object_files(store)) == before and dropped.path.exists() and legacy.path.exists()

    done = collect_snapshot_garbage(store, {kept.id}, min_age=3600)
    assert done.to_dict() | {"dry_run": True} == dry.to_dict()
    assert done.bytes_freed == dry.bytes_freed == freed
    assert not dropped.path.exists() and not legacy.path.exists() and kept.path.exists()
    assert len(object_files(store)) == before - 1  # only the edited file's object: the rest is shared
    materialize(kept.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg/model.py").read_text() == "W = 1\n"


def test_gc_keeps_young_and_run_linked_snapshots(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    snap = store_snapshot(src, store)
    assert collect_snapshot_garbage(store, set(), min_age=3600).snapshots == []  # young: a submit may be recording it
    age(store, 7200)
    run_dir = tmp_path / "home" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    os.link(snap.path, run_dir / "snapshot.json")  # a run folder links it even if the caller forgot the run
    report = collect_snapshot_garbage(store, set(), min_age=3600)
    assert report.snapshots == [] and report.objects == 0 and snap.path.exists()
    (run_dir / "snapshot.json").unlink()
    report = collect_snapshot_garbage(store, set(), min_age=3600)
    assert report.snapshots == [snap.id] and report.objects == 4  # train.py, model.py, blob.bin, run.sh
    assert object_files(store) == []


def _gc_loop(store: str, stop_at: float, counts) -> None:  # a separate process: a real concurrent collector
    while time.time() < stop_at:
        report = collect_snapshot_garbage(store, set(), min_age=3600)
        counts.append(report.objects)


def test_concurrent_submits_and_gc_never_lose_an_object(src: Path, tmp_path: Path) -> None:
    """Each round every object is old and unreferenced, so a collector racing the submit would remove what
    the submit re-uses; the store lock and the fresh manifest keep every stored snapshot whole."""
    store = tmp_path / "store"
    ctx = multiprocessing.get_context("spawn")
    counts = ctx.Manager().list()
    stop_at = time.time() + 6
    collector = ctx.Process(target=_gc_loop, args=(str(store), stop_at, counts))
    collector.start()
    try:
        rounds = 0
        while time.time() < stop_at - 0.5:
            rounds += 1
            write(src, "round.txt", f"round {rounds}\n")
            os.utime(src / "round.txt", (time.time() - 60,) * 2)
            snap = store_snapshot(src, store)
            out = tmp_path / f"out{rounds}"
            materialize(snap.path, out)  # raises if the collector removed an object it names
            assert (out / "round.txt").read_text() == f"round {rounds}\n"
            assert (out / "data/blob.bin").read_bytes() == (src / "data/blob.bin").read_bytes()
            age(snap.path, 7200)  # unreferenced and old: the collector may now take it, and the objects
            age(store / "objects", 7200)
    finally:
        collector.join(timeout=30)
    assert collector.exitcode == 0 and rounds >= 3
    assert sum(counts) > 0  # the collector really removed objects while the submits ran


def test_an_interrupted_store_leaves_the_store_as_it_was(src: Path, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C (or a full disk) after some files were stored: their objects go again, nothing half is left."""
    store = tmp_path / "store"
    real = stored_module._store_one
    seen: list[int] = []

    def interrupted(*args, **kwargs):
        if seen:
            raise KeyboardInterrupt
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stored_module, "_store_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store_snapshot(src, store)
    assert seen == [1]  # one object had been stored before the interrupt
    assert sorted(p.name for p in store.iterdir()) == []
    monkeypatch.undo()
    snap = store_snapshot(src, store)  # and the next attempt stores everything
    materialize(snap.path, tmp_path / "out")
    assert (tmp_path / "out" / "data/blob.bin").read_bytes() == (src / "data/blob.bin").read_bytes()


def test_a_store_inside_the_source_is_never_packaged_whatever_path_names_it(src: Path, tmp_path: Path) -> None:
    """The walk recognises the store folder by (device, inode): also when it is named through a symlink."""
    store = src / "runs-home" / "snapshots"
    first = store_snapshot(src, store)
    again = store_snapshot(src, store)  # the store now exists inside the folder being packaged
    os.symlink(src / "runs-home", tmp_path / "alias")
    through_link = store_snapshot(src, tmp_path / "alias" / "snapshots")
    assert first.id == again.id == through_link.id
    for snap in (again, through_link):
        assert not [e.path for e in snap.manifest.files if e.path.startswith("runs-home")]
        assert ("runs-home/snapshots/", "snapshot store") in snap.manifest.excluded


def test_content_changed_with_size_and_mtime_set_back_is_read_again(src: Path, tmp_path: Path) -> None:
    """Same inode, same size, mtime restored (``cp -p``, ``touch -d``): the ctime moved on, so it is read."""
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    target = src / "pkg" / "model.py"
    before = target.stat()
    with open(target, "r+") as handle:  # rewritten in place: the inode stays
        handle.write("W = 9\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    again = store_snapshot(src, store)
    assert again.id != first.id and again.stored_files == 1
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg/model.py").read_text() == "W = 9\n"


def test_a_hash_cache_written_before_ctimes_were_kept_is_used_and_upgraded(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    json_file = write_json_cache(store, src, with_ctime=False)  # the earlier format: five fields, no ctime
    again = store_snapshot(src, store)
    assert again.id == first.id and again.stored_files == 0  # nothing read again after the upgrade
    upgraded = hash_cache(store, src).entries
    assert upgraded and all(
        KEY.unpack(key)[3] == (src / path).lstat().st_ctime_ns for path, (key, _) in upgraded.items()
    )
    assert not json_file.exists()


def test_link_tree_is_the_snapshot_as_read_only_links_to_checked_objects(src: Path, tmp_path: Path) -> None:
    """Files are checked and linked in threads, links placed after them: the tree is the snapshot's, whole."""
    for index in range(40):  # enough files for every worker to take several
        write(src, f"many/file_{index}.txt", f"content {index}\n" * (index + 1))
    snap = store_snapshot(src, tmp_path / "store")
    tree = tmp_path / "tree"
    read = link_tree(snap.path, tree)
    # the manifest it read comes back, so docker learns the executables without reading it again
    assert [name for name, entry in read.members if entry is not None and entry.mode == 0o755] == ["run.sh"]
    for entry in snap.manifest.files:
        placed = tree / entry.path
        if entry.kind == "symlink":
            assert placed.is_symlink() and os.readlink(placed) == entry.link_target
            continue
        assert placed.read_bytes() == (src / entry.path).read_bytes()
        info = placed.lstat()
        assert info.st_nlink >= 2 and stat.S_IMODE(info.st_mode) == (0o555 if entry.mode == 0o755 else 0o444)
    assert (tree / "alias.py").is_symlink() and (tree / "outputs").is_dir()


def test_the_read_check_takes_only_a_resolved_source_folder(tmp_path, monkeypatch):
    """The inside-the-folder prefix is remembered per folder: a relative folder would make it follow the working
    directory, so it is refused; a resolved one reads, and a file reached through a link swapped in is refused."""
    from runconfig_jupyter.core.snapshot.archive import open_member_stat

    (tmp_path / "src").mkdir()
    write(tmp_path / "src", "a.txt", "inside")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not resolved"):
        open_member_stat(Path("src"), "a.txt")
    fd, opened = open_member_stat((tmp_path / "src").resolve(), "a.txt")
    os.close(fd)
    assert opened.st_size == len("inside")
    write(tmp_path, "secret.txt", "outside")
    (tmp_path / "src" / "sub").symlink_to(tmp_path)  # a folder on the way swapped for a link out
    with pytest.raises(SnapshotError, match="leads out of the source folder"):
        open_member_stat((tmp_path / "src").resolve(), "sub/secret.txt")
