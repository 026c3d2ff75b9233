"""Plain words for a run's outcome: exit codes, durations, the exception that ended it.

Front-end neutral and pure (no I/O except what a caller passes in), so the
ipywidgets view, the Lab run view and the text magics say the same thing.
Why here and not in each view: a signal number, a 128+N shell code or a
traceback buried in 300 lines of log mean nothing to a reader until they are
turned into words, and every front end needs the same words.
"""

from __future__ import annotations

import re
import signal

TRACEBACK_HEAD = "Traceback (most recent call last):"
# How much of a traceback a view shows: the innermost frames and the exception line are what matter.
TRACEBACK_MAX_LINES = 40
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number this platform does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def explain_exit_code(code: int | None, status: str = "", reason: str = "") -> str:
    """What an exit code means: ``-15`` and ``143`` are both "killed by SIGTERM".

    A process killed by a signal reports ``-N`` through Python's subprocess and ``128+N``
    through a shell or a container runtime. ``status`` (``Canceled``) or a reason that
    mentions out-of-memory add the cause the signal alone does not tell.
    """
    if code is None:
        return ""
    number = -code if code < 0 else code - 128 if 128 < code < 128 + 65 else None
    if number is None:
        if code == 0:
            return "exit code 0 (success)"
        return f"exit code {code}"
    name = signal_name(number)
    how = f"exit code {code}: killed by {name}"
    if status == "Canceled":
        return f"{how} (cancel)"
    lowered = reason.lower()
    if number == signal.SIGKILL and ("oom" in lowered or "memory" in lowered):
        return f"{how} (out of memory)"
    if number == signal.SIGKILL:
        return f"{how} (out of memory, max duration or a forced stop)"
    return how


def human_duration(seconds: float | None, precise: bool = False) -> str:
    """``45 s``, ``4 min 05 s``, ``2 h 03 min``, ``30 days``: the two largest units that matter.

    ``precise`` shows tenths under a minute (a finished short run); a live clock leaves them out
    so it redraws once a second, not ten times.
    """
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s" if precise else f"{int(seconds)} s"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        unit = "day" if days == 1 else "days"
        return f"{days} {unit}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def clean_log_line(line: str, limit: int = 4000) -> str:
    """A log line as a reader sees it: colour codes removed, a carriage-return progress bar at its last state.

    ``tqdm`` rewrites one line with ``\\r``; only what is after the last ``\\r`` is on screen.
    A very long line is cut (the run's log file keeps it whole).
    """
    text = ANSI_ESCAPE.sub("", line).rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[1]
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text) - limit} more characters in the log file]"
    return text


def last_traceback(log_text: str, max_lines: int = TRACEBACK_MAX_LINES) -> str:
    """The last Python traceback in a log, through its exception line; "" when there is none.

    The exception line is the first line after the frames that is not indented; a chained
    exception ("During handling of the above exception ...") is followed to its own end.
    A long traceback keeps its head line and its innermost ``max_lines`` lines.
    """
    lines = [ANSI_ESCAPE.sub("", line) for line in log_text.splitlines()]
    start = max((i for i, line in enumerate(lines) if line.strip() == TRACEBACK_HEAD), default=-1)
    if start < 0:
        return ""
    end = len(lines)
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line and not line[0].isspace():
            end = index + 1
            # a multi-line message (e.g. an exception group or a long ValueError) continues indented or blank
            while end < len(lines) and lines[end].startswith(" ") and not lines[end].lstrip().startswith("File "):
                end += 1
            break
    block = lines[start:end]
    if len(block) > max_lines:
        block = [block[0], f"  ... {len(block) - max_lines} lines ...", *block[-(max_lines - 1) :]]
    return "\n".join(block).rstrip()
