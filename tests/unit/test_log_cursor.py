"""The one log cursor (core/runs/log_cursor.py) and the run folder it reads (core/runs/folder.py).

Real files throughout: a writer thread appends while the cursor reads, logs are truncated and replaced on
disk, and the status-before-files rule is checked against real local runs (a real driver and script).
"""

from __future__ import annotations

import json
import os
import random
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.folder import FOLLOWED_LOGS, STD_LOG, RunFolder
from runconfig_jupyter.core.runs.log_cursor import (
    PARTIAL_LINE_MAX,
    PARTIAL_LINE_SECONDS,
    LogCursor,
    complete_utf8,
    follow_texts,
    read_log_chunk,
)
from runconfig_jupyter.core.runs.run_target import read_spec
from runconfig_jupyter.core.runs.script_run import submit


@dataclass
class Status:
    is_terminal: bool


def _folder(tmp_path: Path) -> RunFolder:
    folder = RunFolder(tmp_path / "run_1")
    folder.create()
    return folder


def _busy(path: Path) -> float:
    """A moment at which the file counts as being written (its mtime is now)."""
    return path.stat().st_mtime


# -- partial lines and characters ----------------------------------------------------------------
def test_a_partly_written_last_line_is_held_back_until_the_writer_is_quiet_or_the_run_ended(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"one\ntwo\nthr")
    busy = read_log_chunk(folder.std_log, 0, now=_busy(folder.std_log))
    assert (busy.text, busy.next_offset, busy.at_end) == ("one\ntwo\n", 8, False)
    quiet = read_log_chunk(folder.std_log, 8, now=_busy(folder.std_log) + PARTIAL_LINE_SECONDS + 0.01)
    assert (quiet.text, quiet.next_offset) == ("thr", 11)  # a prompt or a stalled line is shown, not kept forever
    ended = read_log_chunk(folder.std_log, 8, final=True, now=_busy(folder.std_log))
    assert (ended.text, ended.at_end) == ("thr", True)


def test_a_line_being_written_alone_reads_nothing_yet_and_keeps_the_offset(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"no newline yet")
    chunk = read_log_chunk(folder.std_log, 0, now=_busy(folder.std_log))
    assert (chunk.text, chunk.next_offset, chunk.size) == ("", 0, 14)


def test_a_progress_bar_redrawn_with_carriage_returns_is_shown_while_it_runs(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"10%|#  \r20%|## \r30%")
    chunk = read_log_chunk(folder.std_log, 0, now=_busy(folder.std_log))
    assert chunk.text == "10%|#  \r20%|## \r"


def test_a_line_that_never_ends_is_released_once_it_is_long(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"x" * PARTIAL_LINE_MAX)
    chunk = read_log_chunk(folder.std_log, 0, now=_busy(folder.std_log))
    assert chunk.next_offset == PARTIAL_LINE_MAX


def test_no_chunk_ever_ends_inside_a_utf8_character(tmp_path):
    folder = _folder(tmp_path)
    text = "".join(random.Random(7).choice("aé€😀\n") for _ in range(3000))
    folder.std_log.write_text(text, encoding="utf-8")
    for max_bytes in (1, 2, 3, 5, 64):
        offset, parts = 0, []
        for _ in range(20_000):
            chunk = read_log_chunk(folder.std_log, offset, max_bytes, final=True)
            if chunk.at_end and not chunk.text:
                break
            assert "\ufffd" not in chunk.text, f"a character was split at {max_bytes} bytes per read"
            assert chunk.next_offset - chunk.offset <= max(max_bytes, 4)
            parts.append(chunk.text)
            offset = chunk.next_offset
        assert "".join(parts) == text, max_bytes


def test_complete_utf8_counts_only_whole_characters():
    euro = "€".encode()
    assert complete_utf8(b"ab" + euro[:2]) == 2
    assert complete_utf8(b"ab" + euro) == 5
    assert complete_utf8("😀".encode()[:3]) == 0
    assert complete_utf8(b"\x80\x80") == 2  # not UTF-8 at all: nothing to wait for


def test_an_offset_from_the_future_reads_nothing_and_is_kept(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"short\n")
    cursor = LogCursor(folder, names=(STD_LOG,), offsets={STD_LOG: 2**62})
    for _ in range(2):
        assert cursor.read(final=True)[0].text == ""
    assert cursor.offsets[STD_LOG] == 2**62


def test_a_link_or_a_fifo_planted_as_a_log_is_never_read_through(tmp_path):
    folder = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:hash\n")
    folder.std_log.symlink_to(secret)
    assert read_log_chunk(folder.std_log, 0, final=True).text == ""
    assert "root:hash" not in LogCursor(folder).poll(lambda: Status(True)).text
    os.mkfifo(folder.prepare_log)  # no writer: an ordinary open would block the reader forever
    started = time.monotonic()
    assert LogCursor(folder).read(final=True)[0].text == "" and time.monotonic() - started < 2


# -- growth, truncation, replacement, several files ---------------------------------------------------------
def test_a_file_that_grows_while_it_is_read_is_read_whole_in_whole_lines(tmp_path):
    folder = _folder(tmp_path)
    lines = [f"line {n} " + "x" * random.Random(n).randint(0, 300) + "\n" for n in range(3000)]
    done = threading.Event()

    def write() -> None:
        with open(folder.std_log, "ab") as log:
            for line in lines:  # each line in two writes, so the reader sees half lines
                data = line.encode()
                log.write(data[:5])
                log.flush()
                log.write(data[5:])
                log.flush()
        done.set()

    cursor = LogCursor(folder, names=(STD_LOG,), max_bytes=4096)
    writer = threading.Thread(target=write)
    writer.start()
    parts = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = done.is_set()  # like a status: read before the file
        chunk = cursor.read(final=finished)[0]
        if chunk.text and not finished:
            assert chunk.text.endswith("\n"), "a live read ended inside a line"
        parts.append(chunk.text)
        if finished and cursor.at_end:
            break
    writer.join()
    assert "".join(parts) == "".join(lines)


def test_a_log_cut_shorter_in_place_is_read_on_from_its_new_end(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"kept\nblock cut off later\n")
    cursor = LogCursor(folder, names=(STD_LOG,))
    assert cursor.read(final=True)[0].text == "kept\nblock cut off later\n"
    with open(folder.std_log, "r+b") as log:  # what the rank merger does when an adopting driver resumes
        log.truncate(5)
    chunk = cursor.read(final=True)[0]
    assert chunk.truncated and (chunk.offset, chunk.text) == (5, "")
    with open(folder.std_log, "ab") as log:
        log.write(b"merged again\n")
    again = cursor.read(final=True)[0]
    assert (again.offset, again.text, again.truncated) == (5, "merged again\n", False)
    assert cursor.read(final=True)[0].text == ""  # nothing shown twice afterwards


def test_a_log_replaced_by_a_new_file_is_read_from_its_start(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_bytes(b"old file, quite a long first line\n")
    cursor = LogCursor(folder, names=(STD_LOG,))
    cursor.read(final=True)
    fresh = folder.logs_dir / "fresh.txt"
    fresh.write_bytes(b"new\n")
    os.replace(fresh, folder.std_log)  # rotation by rename
    chunk = cursor.read(final=True)[0]
    assert (chunk.offset, chunk.text, chunk.truncated) == (0, "new\n", True)


def test_several_logs_are_read_in_order_with_their_own_offsets(tmp_path):
    folder = _folder(tmp_path)
    folder.prepare_log.write_bytes(b"building image\n")
    cursor = LogCursor(folder)
    assert [c.name for c in cursor.read()] == list(FOLLOWED_LOGS)
    folder.std_log.write_bytes(b"epoch 0\n")
    with open(folder.prepare_log, "ab") as log:
        log.write(b"image ready\n")
    chunks = cursor.read(final=True)
    assert [(c.name, c.text) for c in chunks] == [("prepare_log.txt", "image ready\n"), ("std_log.txt", "epoch 0\n")]
    assert cursor.offsets == {"prepare_log.txt": 27, "std_log.txt": 8}


def test_keep_tail_jumps_ahead_to_a_whole_line_and_counts_what_it_skipped(tmp_path):
    folder = _folder(tmp_path)
    lines = [f"{n:05d}\n" for n in range(1000)]  # 6 bytes each
    folder.std_log.write_text("".join(lines))
    cursor = LogCursor(folder, names=(STD_LOG,), keep_tail=100)
    chunk = cursor.read(final=True)[0]
    assert chunk.text == "".join(lines[-16:])  # 100 bytes back land inside a line: it is dropped
    assert chunk.skipped + len(chunk.text) == 6000 and chunk.offset == chunk.skipped


# -- the run folder ------------------------------------------------------------------------------------------
def test_the_run_folder_reads_metrics_logs_and_outputs(tmp_path):
    folder = _folder(tmp_path)
    record = {"name": "loss", "kind": "scalar", "value": 0.5}
    folder.metrics_path.write_bytes(json.dumps(record).encode() + b"\n[1, 2]\nnot json\n" + b'{"name": "lo')
    assert folder.metric_records() == [record]  # a line being written and damaged lines are left out
    (folder.user_logs_dir).mkdir()
    (folder.user_logs_dir / "trainer.log").write_text("x")
    folder.std_log.write_text("y")
    assert list(folder.log_files()) == ["logs/std_log.txt", "logs/user/trainer.log"]
    assert folder.log_names() == {"prepare_log.txt", "std_log.txt", "trainer.log"}
    (folder.outputs_dir / "model.bin").write_bytes(b"12345")
    assert folder.outputs() == [("outputs/model.bin", 5)]
    assert folder.files(limit=2) == [("outputs/model.bin", 5), ("logs/std_log.txt", 1)]
    folder.write_spec({"run_id": "run_1"})
    assert read_spec(folder.path) == {"run_id": "run_1"} and folder.run_id == "run_1"  # the one run.json reader


# -- status before files, with real runs ------------------------------------------------------------------------
LAST_LINE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    for n in range(40):
        print(f"line {n}", flush=True)
        time.sleep(0.005)
    sys.stdout.write("last words without a newline")
    """
)


def test_the_status_is_read_before_the_files(project):
    (project / "last.py").write_text(LAST_LINE_SCRIPT)
    run = submit(ScriptRunConfig(str(project), script="last.py"), "cursor")
    run.wait_for_completion(timeout=60)
    folder = RunFolder(run.run_dir)
    complete = folder.std_log.read_text()

    def status_then_a_late_write() -> object:
        record = run.record
        with open(folder.std_log, "a") as log:  # lands after the status was read
            log.write("written after the status\n")
        return record

    step = LogCursor(folder).poll(status_then_a_late_write)
    assert step.done and step.text.endswith(complete + "written after the status\n"), "the files were read first"


def test_files_read_complete_under_a_stale_running_status_do_not_end_the_follow(project):
    (project / "last.py").write_text(LAST_LINE_SCRIPT)
    run = submit(ScriptRunConfig(str(project), script="last.py"), "cursor")

    def status_then_the_run_ends() -> object:
        record = run.record  # not ended yet ...
        run.wait_for_completion(timeout=60)  # ... but it ends before the files are read
        return record

    cursor = LogCursor(RunFolder(run.run_dir))
    first = cursor.poll(status_then_the_run_ends)
    assert not first.status.is_terminal and not first.done, "done was inferred from the files, not the status"
    second = cursor.poll(lambda: run.record)
    assert second.done
    assert first.text + second.text == run.read_log(name="prepare_log.txt")[0] + run.read_log()[0]
    assert (first.text + second.text).endswith("line 39\nlast words without a newline")


def test_following_a_real_run_yields_its_whole_log_once(project):
    (project / "last.py").write_text(LAST_LINE_SCRIPT)
    run = submit(ScriptRunConfig(str(project), script="last.py"), "cursor")
    offsets: dict[str, int] = {}
    text = "".join(run.follow(offsets=offsets, timeout=60))
    assert run.record.is_terminal, "follow returned before the run ended"
    assert text == run.get_log() and text.count("line 7\n") == 1
    assert text.endswith("last words without a newline")
    assert offsets[STD_LOG] == RunFolder(run.run_dir).log_size()


def test_follow_texts_stops_at_its_timeout_on_a_run_that_goes_on(tmp_path):
    folder = _folder(tmp_path)
    folder.std_log.write_text("waiting\n")
    waits: list[float | None] = []
    started = time.monotonic()

    def wait(left: float | None) -> None:
        waits.append(left)
        time.sleep(0.01)

    texts = list(follow_texts(LogCursor(folder), lambda: Status(False), wait, 0.2))
    assert texts == ["waiting\n"] and time.monotonic() - started < 5
    assert waits and all(left is not None and 0 <= left <= 0.2 for left in waits)
