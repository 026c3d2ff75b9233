"""The pure parts of the mpirun launcher: choosing it, reading mpirun's verdict, splitting tagged output."""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.targets.processes.mpi_launch import TagDemux, failed_rank_from, mpi_outcome, requested_launcher

# Real `mpirun --tag-output` output (Open MPI 4.1.4) of two ranks printing under PYTHONUNBUFFERED, then rank 1 failing.
TAGGED = (
    b"[1,1]<stdout>:a1\n[1,1]<stdout>:part[1,0]<stdout>:a0\n[1,0]<stdout>:part[1,1]<stdout>:ial\n"
    b"[1,1]<stderr>:err[1,1]<stderr>:\n"
    b"--------------------------------------------------------------------------\n"
    b"[1,0]<stdout>:ial\n"
    b"  Process name: [[28558,1],1]\n  Exit code:    2\n"
)


def test_tag_demux_rejoins_lines_split_by_tags_in_any_chunking():
    expected = [
        (1, b"a1\n"),
        (0, b"a0\n"),
        (1, b"partial\n"),
        (1, b"err\n"),
        (None, b"-" * 74 + b"\n"),
        (0, b"partial\n"),
        (None, b"  Process name: [[28558,1],1]\n"),
        (None, b"  Exit code:    2\n"),
    ]
    for size in (1, 7, len(TAGGED)):
        demux = TagDemux()
        lines = []
        for start in range(0, len(TAGGED), size):
            lines += demux.feed(TAGGED[start : start + size])
        lines += demux.feed(b"", final=True)
        assert lines == expected, size


def test_failed_rank_and_outcome_from_mpirun_output():
    output = TAGGED.decode()
    assert failed_rank_from(output) == (1, 2)
    outcome = mpi_outcome(2, output, stopped_by_us=False)
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 2
    assert outcome.reason.startswith("rank 1 exited with code 2 (the other ranks were stopped by mpirun)")
    signaled = "mpirun noticed that process rank 0 with PID 123 on node box exited on signal 9 (Killed)."
    assert failed_rank_from(signaled) == (0, -9)
    assert mpi_outcome(0, "", stopped_by_us=False).status is RunStatus.COMPLETED


def test_launcher_choice_order_and_typos(monkeypatch):
    monkeypatch.delenv("RUNCONFIG_MPI_LAUNCHER", raising=False)
    assert requested_launcher({}) == "auto"
    assert requested_launcher({}, "Direct") == "direct"
    monkeypatch.setenv("RUNCONFIG_MPI_LAUNCHER", "mpirun")
    assert requested_launcher({}, "direct") == "mpirun"  # the environment wins over the target setting
    assert requested_launcher({"RUNCONFIG_MPI_LAUNCHER": "direct"}, None) == "direct"  # the run's own wins
    with pytest.raises(ConfigError, match="use one of auto, mpirun, direct") as info:
        requested_launcher({"RUNCONFIG_MPI_LAUNCHER": "mpiexec"})
    assert info.value.field == "RUNCONFIG_MPI_LAUNCHER"


def test_a_stderr_line_between_the_two_writes_of_a_stdout_line_stays_apart():
    """mpirun reads a rank's stdout and stderr pipes apart: a marker on stderr can land inside print's two writes.

    Seen on a loaded machine: ``print(json)`` under PYTHONUNBUFFERED writes the text, then the newline; the
    metric marker the rank wrote to stderr came between them, and a shared half-line buffer glued the JSON onto
    the marker and left an empty line in the rank's file.
    """
    stream = (
        b'[1,0]<stdout>:{"r": 0}[1,0]<stderr>:\x1e@runconfig:metric {}\n'
        b'[1,1]<stdout>:{"r": 1}[1,1]<stderr>:warn\n[1,0]<stdout>:\n[1,1]<stdout>:\n'
    )
    for size in (1, 5, len(stream)):
        demux = TagDemux()
        lines = []
        for start in range(0, len(stream), size):
            lines += demux.feed(stream[start : start + size])
        lines += demux.feed(b"", final=True)
        assert sorted(lines) == sorted(
            [(0, b"\x1e@runconfig:metric {}\n"), (1, b"warn\n"), (0, b'{"r": 0}\n'), (1, b'{"r": 1}\n')]
        ), size
        assert b"\n" not in [line for _, line in lines]  # no empty line left behind
