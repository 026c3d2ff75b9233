"""core/explain.py: the words every front end uses for exit codes, durations and a failed run's exception."""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.runs.explain import clean_log_line, explain_exit_code, human_duration, last_traceback


@pytest.mark.parametrize(
    ("code", "status", "reason", "words"),
    [
        (0, "Completed", "", "exit code 0 (success)"),
        (1, "Failed", "", "exit code 1"),
        (-15, "Canceled", "", "exit code -15: killed by SIGTERM (cancel)"),
        (143, "Canceled", "", "exit code 143: killed by SIGTERM (cancel)"),
        (-2, "Failed", "", "exit code -2: killed by SIGINT"),
        (137, "Failed", "OOMKilled", "exit code 137: killed by SIGKILL (out of memory)"),
        (-9, "Failed", "", "exit code -9: killed by SIGKILL (out of memory, max duration or a forced stop)"),
        (128, "Failed", "", "exit code 128"),
        (255, "Failed", "", "exit code 255"),
        (None, "Running", "", ""),
    ],
)
def test_exit_codes_are_explained(code, status, reason, words):
    assert explain_exit_code(code, status, reason) == words


def test_an_unnamed_signal_is_still_said():
    assert explain_exit_code(-99) == "exit code -99: killed by signal 99"


@pytest.mark.parametrize(
    ("seconds", "precise", "text"),
    [
        (2592000, False, "30 days"),
        (86400 + 3 * 3600 + 5, False, "1 day 3 h"),
        (3725, False, "1 h 02 min"),
        (245, False, "4 min 05 s"),
        (12.34, True, "12.3 s"),
        (12.94, False, "12 s"),
        (-3, False, "0 s"),
        (None, False, "-"),
    ],
)
def test_durations_in_human_units(seconds, precise, text):
    assert human_duration(seconds, precise=precise) == text


def test_log_lines_lose_colour_codes_and_show_a_progress_bar_at_its_last_state():
    assert clean_log_line("\x1b[31mred\x1b[0m text") == "red text"
    assert clean_log_line(" 10%|#   |\r 50%|#### |\r100%|#####|\r") == "100%|#####|"
    long = clean_log_line("x" * 5000, limit=100)
    assert long.startswith("x" * 100) and "4900 more characters" in long


def test_the_last_traceback_is_found_through_its_exception_line():
    log = "\n".join(
        [
            "epoch 1",
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in <module>',
            "KeyError: 'old'",
            "retrying",
            "Traceback (most recent call last):",
            '  File "train.py", line 9, in <module>',
            "    main()",
            '  File "train.py", line 5, in main',
            "    raise ValueError('bad lr')",
            "ValueError: bad lr",
            "cleanup done",
        ]
    )
    found = last_traceback(log)
    assert found.startswith("Traceback") and found.endswith("ValueError: bad lr")
    assert "KeyError" not in found and "cleanup" not in found
    assert last_traceback("all good\n") == ""


def test_a_long_traceback_keeps_its_head_and_innermost_frames():
    frames = [f'  File "f.py", line {n}, in f\n    f()' for n in range(100)]
    log = "Traceback (most recent call last):\n" + "\n".join(frames) + "\nRecursionError: too deep"
    found = last_traceback(log, max_lines=10).splitlines()
    assert len(found) == 11 and found[0].startswith("Traceback") and found[-1] == "RecursionError: too deep"
    assert "lines ..." in found[1]
