"""The hash cache's file and the manifest's bytes, which the fast re-snapshot writes in its own way: a damaged
cache is rebuilt and never trusted, caches of earlier versions are read and replaced, a file changed within the
racy window is read again, concurrent submits leave a cache that names the right content, and snapshot ids are
the ones earlier versions gave the same tree.

Real files, real processes; nothing is mocked.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from snapshot_helpers import backdate, hash_cache, module_tree, write, write_json_cache

from runconfig_jupyter.core.snapshot.hashcache import HEADER_BYTES, JOURNAL_RECORDS, file_key
from runconfig_jupyter.core.snapshot.shards import FINE_MARGIN_NS
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from runconfig_jupyter.core.snapshot.stream import materialize

pytestmark = pytest.mark.timeout(120)

# The id main (2f59e92, JSON encoder) gave the tree of ``awkward_tree`` with SHA-256 digests.
AWKWARD_TREE_ID = "fd169da4cb086d5e19a4d6a9f33f6434"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return module_tree(tmp_path / "src", modules=30, packages=3, blob_bytes=100_000)


def regular_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def awkward_tree(root: Path) -> None:
    """Names the JSON encoder escapes (quote, backslash, control characters, non-ASCII, an undecodable byte),
    an empty folder, an executable file and a link."""
    for rel, content in {
        "train.py": b"print('hi')\n",
        'quote"d.txt': b"q\n",
        "back\\slash.txt": b"b\n",
        "new\nline.txt": b"n\n",
        "tab\t.txt": b"t\n",
        "na\u00efve.py": b"x = 1\n",
        "emoji-\U0001f600.txt": b"e\n",
        "pkg/sub/model.py": b"W = 1\n",
        os.fsdecode(b"raw-\xff.txt"): b"r\n",
    }.items():
        write(root, rel, content)
    os.chmod(root / "pkg/sub/model.py", 0o755)
    (root / "empty").mkdir()
    os.symlink("pkg/sub/model.py", root / "link.py")
    backdate(root)


def test_snapshot_ids_and_manifest_bytes_are_those_of_earlier_versions(tmp_path: Path) -> None:
    """The manifest is written member by member: its bytes must stay the JSON encoder's, or every id changes."""
    root = tmp_path / "awkward"
    awkward_tree(root)
    snap = store_snapshot(root, tmp_path / "store", alg="sha256")
    document = snap.path.read_bytes()
    canonical = json.dumps(json.loads(document), separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
    assert document == canonical
    assert snap.id == AWKWARD_TREE_ID
    materialize(snap.path, tmp_path / "out")
    assert regular_files(tmp_path / "out") == regular_files(root)


def flip_digest_char(raw: bytes, digest: str) -> bytes:
    """The cache file with one hex character of ``digest`` changed: still a well-formed payload."""
    at = raw.index(digest.encode(), HEADER_BYTES)
    changed = b"0" if raw[at : at + 1] != b"0" else b"1"
    return raw[:at] + changed + raw[at + 1 :]


DAMAGE = {
    "truncated": lambda raw, digest: raw[: len(raw) // 2],
    "empty": lambda raw, digest: b"",
    "garbage": lambda raw, digest: os.urandom(len(raw)),
    "header only": lambda raw, digest: raw[:HEADER_BYTES],
    "one digest character changed": flip_digest_char,
    "trailing bytes": lambda raw, digest: raw + b"\0",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_hash_cache_is_rebuilt_and_never_trusted(src: Path, tmp_path: Path, damage: str) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    cache = hash_cache(store, src)
    digest = cache.entries["data/blob.bin"][1]
    cache.path.write_bytes(DAMAGE[damage](cache.path.read_bytes(), digest))
    again = store_snapshot(src, store)
    assert again.stored_files == len(regular_files(src))  # nothing taken from the damaged file: all read again
    assert again.id == first.id
    assert hash_cache(store, src).entries["data/blob.bin"][1] == digest  # rebuilt from the files
    assert store_snapshot(src, store).stored_files == 0  # and used again


@pytest.mark.parametrize(
    "row",
    [
        lambda key, digest: 7,  # not a row
        lambda key, digest: (key,),  # too short
        lambda key, digest: (key, 12345),  # a digest that is not text
        lambda key, digest: [key, digest.encode()],  # a digest of the wrong type
    ],
    ids=["number", "short", "int digest", "bytes digest"],
)
def test_a_cache_of_the_wrong_shape_is_not_trusted(src: Path, tmp_path: Path, row) -> None:
    """Rows of a well-formed file (valid checksum) that are not the shape this version writes: every file is
    read again and the right content stored, whatever row was met first."""
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    cache = hash_cache(store, src)
    for path, (key, digest) in list(cache.entries.items())[:3]:
        cache.entries[path] = row(key, digest)
    cache.write_whole(cache.shards)
    again = store_snapshot(src, store)
    assert again.id == first.id and again.stored_files >= 1
    materialize(again.path, tmp_path / "out")
    assert regular_files(tmp_path / "out") == regular_files(src)


def test_a_cache_of_another_folder_is_not_used(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store_snapshot(src, store)
    other = tmp_path / "other"
    write(other, "a.py", "A = 1\n")
    backdate(other)
    store_snapshot(other, store)
    hash_cache(store, other).path.replace(hash_cache(store, src).path)  # src's cache file now holds other's rows
    assert store_snapshot(src, store).stored_files == len(regular_files(src))


def test_a_json_cache_of_the_earlier_version_is_read_replaced_and_keeps_its_guarantees(
    src: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    json_file = write_json_cache(store, src)
    target = src / "pkg1" / "mod4.py"
    before = target.stat()
    with open(target, "r+") as handle:  # rewritten in place, size kept, mtime set back: only the ctime tells
        handle.write("Y")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    again = store_snapshot(src, store)
    assert again.stored_files == 1 and again.id != first.id  # that file alone was read
    assert not json_file.exists() and hash_cache(store, src).path.is_file()
    assert store_snapshot(src, store).stored_files == 0
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg1" / "mod4.py").read_bytes() == target.read_bytes()


def test_a_damaged_json_cache_of_the_earlier_version_costs_a_read(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = store_snapshot(src, store)
    json_file = write_json_cache(store, src)
    document = json.loads(json_file.read_text())
    for fields in document["entries"].values():
        fields[4] = "../../../../etc/passwd"  # not a digest: such a row is dropped, not followed
    json_file.write_text(json.dumps(document))
    again = store_snapshot(src, store)
    assert again.id == first.id and again.stored_files == len(regular_files(src))


def test_a_file_changed_within_the_racy_window_is_read_again(src: Path, tmp_path: Path) -> None:
    """A file modified less than 2 s before it was hashed could change again within the same timestamp tick:
    its digest is not remembered, so the next snapshot reads it again (and only it)."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    fresh = write(src, "fresh.py", "F = 1\n")  # mtime: now
    assert store_snapshot(src, store).stored_files == 1
    assert "fresh.py" not in hash_cache(store, src).entries
    assert store_snapshot(src, store).stored_files == 1  # read again, the others not
    os.utime(fresh, (time.time() - 60,) * 2)
    store_snapshot(src, store)
    assert hash_cache(store, src).entries["fresh.py"][0] == file_key_of(src, "fresh.py")
    assert store_snapshot(src, store).stored_files == 0


def file_key_of(root: Path, rel: str) -> bytes:
    from runconfig_jupyter.core.snapshot.manifest import ManifestEntry

    entry = ManifestEntry(rel, 0, 0o644)
    entry.take_stat((root / rel).lstat())
    return file_key(entry)


def _snapshot_loop(src: str, store: str, rounds: int) -> None:  # a separate process: a real concurrent submit
    for _ in range(rounds):
        store_snapshot(src, store)


def test_concurrent_snapshots_leave_a_cache_that_names_the_right_content(src: Path, tmp_path: Path) -> None:
    """Several processes snapshot the folder while it is edited; each writes the cache whole (renamed into
    place), so whichever wins, every row it holds names the content its file had with that key."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_snapshot_loop, args=(str(src), str(store), 15)) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for i in range(40):
            edited = write(src, f"pkg{i % 3}/mod{i % 30}.py", f"X = 'edit {i}'\n")
            os.utime(edited, (time.time() - 60 + i * 0.01,) * 2)
            time.sleep(0.01)
    finally:
        for worker in workers:
            worker.join(timeout=60)
    assert all(worker.exitcode == 0 for worker in workers)
    last = store_snapshot(src, store)
    materialize(last.path, tmp_path / "out")
    assert regular_files(tmp_path / "out") == regular_files(src)
    assert store_snapshot(src, store).stored_files == 0


def test_snapshots_in_threads_of_one_process_leave_a_usable_cache(src: Path, tmp_path: Path) -> None:
    """Submits in threads of one kernel, the folder edited meanwhile: every snapshot succeeds, the cache left
    behind loads and is used, and the last snapshot holds the folder's content."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            for round_ in range(10):
                # Saved as editors do (a new file renamed over the old one): what is exercised is the cache shared
                # by concurrent snapshots. A file rewritten in place while it is read is the racy-file tests' case;
                # here three threads rewriting in a tight loop could make a read meet a change three times running
                # ("keeps changing", which is the right answer to that, not what this test is about).
                edited = write(tmp_path, f"new{index}.py", f"X = 'thread {index} round {round_}'\n")
                os.utime(edited, (time.time() - 60,) * 2)
                os.replace(edited, src / f"pkg{index}" / f"mod{index}.py")
                store_snapshot(src, store)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert hash_cache(store, src).entries  # a whole file: it loads
    last = store_snapshot(src, store)
    materialize(last.path, tmp_path / "out")
    assert regular_files(tmp_path / "out") == regular_files(src)
    assert store_snapshot(src, store).stored_files == 0


def _edit_and_snapshot(src: str, store: str, rel: str) -> None:  # another process: a submit from elsewhere
    edited = write(Path(src), rel, "X = 'edited elsewhere'\n")
    os.utime(edited, (time.time() - 60,) * 2)
    store_snapshot(src, store)


def test_a_cache_another_process_wrote_since_is_read_not_the_one_in_memory(src: Path, tmp_path: Path) -> None:
    """A process keeps the rows of the cache file it last wrote, and uses them while that file is in place. After
    another process stored an edit (its own cache file renamed over it), the rows come from the new file: the
    edited file is known and not read again, and the snapshot holds the edit."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    assert store_snapshot(src, store).stored_files == 0  # the rows this process wrote, still in place
    other = multiprocessing.get_context("spawn").Process(
        target=_edit_and_snapshot, args=(str(src), str(store), "pkg2/mod5.py")
    )
    other.start()
    other.join(timeout=60)
    assert other.exitcode == 0
    again = store_snapshot(src, store)
    assert again.stored_files == 0  # the other process's row for the edited file was used
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg2" / "mod5.py").read_text() == "X = 'edited elsewhere'\n"


def edit(root: Path, rel: str, text: str) -> Path:
    """Change a file as a user does between submits (its mtime well outside the racy window)."""
    edited = write(root, rel, text)
    os.utime(edited, (time.time() - 60,) * 2)
    return edited


def test_an_edit_appends_to_the_journal_and_the_file_is_written_whole_every_few_records(
    src: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store_snapshot(src, store)
    # The first snapshot's new shard folders are too young to be stamped (shards.py); once they are old enough the
    # next save gains all their stamps at once and writes the file whole, by design. Let that happen here, so the
    # rounds below depend on no timing (it used to fail when the first edit came more than 50 ms later).
    time.sleep(2 * FINE_MARGIN_NS / 1e9)
    assert store_snapshot(src, store).stored_files == 0
    cache_file = hash_cache(store, src).path
    inode = cache_file.stat().st_ino
    for round_ in range(JOURNAL_RECORDS):
        edited = edit(src, "pkg0/mod0.py", f"X = {round_}\n")
        assert store_snapshot(src, store).stored_files == 1
        assert cache_file.stat().st_ino == inode  # not rewritten: one record appended
        key = hash_cache(store, src).entries["pkg0/mod0.py"][0]
        assert key == file_key_of(src, "pkg0/mod0.py")  # what a fresh load sees: the journaled row
        assert store_snapshot(src, store).stored_files == 0
    edit(src, "pkg0/mod0.py", "X = 'last'\n")
    store_snapshot(src, store)
    assert cache_file.stat().st_ino != inode and not hash_cache(store, src).journal_path.exists()  # compacted
    assert store_snapshot(src, store).stored_files == 0
    materialize(store_snapshot(src, store).path, tmp_path / "out")
    assert (tmp_path / "out" / edited.relative_to(src)).read_text() == "X = 'last'\n"


def test_a_journal_record_cut_short_costs_a_read_never_a_wrong_digest(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store_snapshot(src, store)
    edit(src, "pkg1/mod1.py", "X = 'first'\n")
    store_snapshot(src, store)
    edit(src, "pkg1/mod1.py", "X = 'second'\n")
    store_snapshot(src, store)
    journal = hash_cache(store, src).journal_path
    journal.write_bytes(journal.read_bytes()[:-3])  # the last record's write was cut short
    again = store_snapshot(src, store)
    assert again.stored_files == 1  # that record's row is not trusted: the file is read again
    assert not journal.exists()  # and the cache written whole: nothing appended after the cut would be read
    assert store_snapshot(src, store).stored_files == 0
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg1" / "mod1.py").read_text() == "X = 'second'\n"


def test_journal_records_for_an_earlier_cache_file_are_passed_over(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store_snapshot(src, store)
    edit(src, "pkg2/mod2.py", "X = 'old'\n")
    store_snapshot(src, store)
    cache = hash_cache(store, src)
    old_records = cache.journal_path.read_bytes()
    edit(src, "pkg2/mod2.py", "X = 'new'\n")
    store_snapshot(src, store)
    hash_cache(store, src).write_whole(cache.shards)  # a new file (a new token); its journal is dropped
    cache.journal_path.write_bytes(old_records)  # a late record written against the previous file
    assert hash_cache(store, src).entries["pkg2/mod2.py"][0] == file_key_of(src, "pkg2/mod2.py")
    again = store_snapshot(src, store)
    assert again.stored_files == 0
    materialize(again.path, tmp_path / "out")
    assert (tmp_path / "out" / "pkg2" / "mod2.py").read_text() == "X = 'new'\n"


def test_after_a_journaled_edit_an_unchanged_folder_still_writes_nothing(src: Path, tmp_path: Path) -> None:
    """The shard that took the edited file's object settles and could be stamped again; that alone is not
    worth a write: the re-snapshots that follow leave the cache file and the journal as they are."""
    store = tmp_path / "store"
    store_snapshot(src, store)
    time.sleep(0.2)  # the shards settle (shards.py): the next snapshot records them, written whole
    store_snapshot(src, store)
    edit(src, "pkg0/mod3.py", "X = 'edited'\n")
    assert store_snapshot(src, store).stored_files == 1
    cache = hash_cache(store, src)
    before = [(p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in (cache.path, cache.journal_path)]
    time.sleep(0.2)
    for _ in range(3):
        assert store_snapshot(src, store).stored_files == 0
    after = [(p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in (cache.path, cache.journal_path)]
    assert after == before
