"""What the operating system and the targets can actually take, checked before a run is recorded.

Each check mirrors a limit that would otherwise bite at run time, after the run was recorded and a
target contacted: ``execve`` refuses a NUL byte, an argument or ``NAME=value`` longer than
MAX_ARG_STRLEN and an argument list plus environment larger than ARG_MAX; Docker refuses a shm size
that does not fit in 64 bits; ``threading`` refuses (silently, in a daemon thread) a timeout past
``threading.TIMEOUT_MAX``, which left ``maxRunDurationSeconds: 1e21`` with no limit at all. Every
refusal is a ``ConfigError`` naming the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runconfig_jupyter.core.errors import ConfigError

MAX_ARG_STRLEN = 128 * 1024  # Linux: one argument or NAME=value, including its NUL terminator
POINTER_BYTES = 8  # execve also counts the argv/envp pointer of every string
MAX_RUN_DURATION_SECONDS = 366 * 24 * 3600  # a year; Azure's default is 30 days
MAX_SIZE_BYTES = 1 << 40  # 1 TiB: shared memory or memory beyond this is a typo
SIZE = re.compile(r"(\d{1,16}(?:\.\d{1,6})?)\s*([bkmgt]?)b?", re.IGNORECASE)  # Docker takes 1.5g too
UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
VARIABLE_NAME = re.compile(r"[^=\0]+")


def arg_max() -> int:
    """ARG_MAX of this machine (argv + environment bytes an ``execve`` accepts)."""
    try:
        value = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError, AttributeError):
        value = -1
    return value if value > 0 else 2 * 1024 * 1024


def check_text(value: Any, field: str, what: str = "argument") -> str:
    """``str(value)`` when an ``execve`` can carry it; refuses NUL bytes and strings over MAX_ARG_STRLEN."""
    text = "" if value is None else str(value)
    if "\0" in text:
        raise ConfigError(f"this {what} contains a NUL byte, which no program can receive; remove it", field=field)
    size = len(text.encode("utf-8", "surrogateescape")) + 1
    if size > MAX_ARG_STRLEN:
        raise ConfigError(
            f"this {what} is {size:,} bytes; the operating system takes at most {MAX_ARG_STRLEN:,} per {what}. "
            "Put the data in a file of the source directory and pass its name",
            field=field,
        )
    return text


def check_variables(variables: Mapping[str, Any], field: str) -> None:
    """Names and values of environment variables as ``execve`` needs them (non-empty, no '=' or NUL)."""
    for name, value in variables.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            raise ConfigError(f"{name!r} is not a valid variable name (no '=', NUL or empty name)", field=where)
        check_text(f"{name}={'' if value is None else value}", where, what="environment variable")


def check_exec_size(argv: Iterable[Any], variables: Mapping[str, Any], field: str = "arguments") -> None:
    """The whole command line plus the run's variables must fit ARG_MAX, leaving half for the inherited environment."""
    total = sum(len(str(a).encode("utf-8", "surrogateescape")) + 1 + POINTER_BYTES for a in argv)
    total += sum(len(f"{k}={v}".encode("utf-8", "surrogateescape")) + 1 + POINTER_BYTES for k, v in variables.items())
    budget = arg_max() // 2
    if total > budget:
        raise ConfigError(
            f"the arguments and environment variables take {total:,} bytes; a program can receive about "
            f"{budget:,} here (ARG_MAX {arg_max():,}, half kept for the inherited environment). Pass data in a file",
            field=field,
        )


def parse_size(value: Any, field: str) -> int:
    """Bytes of a Docker-style size (``2g``, ``512m``, ``1024``); refuses 0, junk and absurd values."""
    text = str(value).strip()
    match = SIZE.fullmatch(text) if not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(
            f"use a size like '2g' or '512m' (a number, then b, k, m, g or t), got {value!r}", field=field
        )
    size = int(float(match.group(1)) * UNITS[match.group(2).lower()])
    if not 0 < size <= MAX_SIZE_BYTES:
        raise ConfigError(f"must be more than 0 and at most 1t (1 TiB), got {value!r}", field=field)
    return size


def check_duration(value: Any, field: str = "max_run_duration_seconds") -> None:
    """A finite whole number of seconds in [1, MAX_RUN_DURATION_SECONDS] (or None: the default applies)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RUN_DURATION_SECONDS:
        raise ConfigError(
            f"must be a positive whole number of seconds, at most {MAX_RUN_DURATION_SECONDS:,} (366 d), got {value!r}",
            field=field,
        )


MAX_LABEL_CHARS = 255  # display names and tag names
MAX_TAG_VALUE_CHARS = 4096


def check_texts(values: Any, field: str, what: str = "argument") -> None:
    """Every item of a list that becomes an ``execve`` argument (docker flags, pip packages)."""
    if isinstance(values, list):
        for index, value in enumerate(values):
            check_text(value, f"{field}[{index}]", what)


def check_labels(tags: Any, display_name: Any) -> None:
    """Tags and the display name are recorded and shown everywhere: text, bounded, without NUL bytes."""
    if display_name is not None and (
        not isinstance(display_name, str) or "\0" in display_name or len(display_name) > MAX_LABEL_CHARS
    ):
        raise ConfigError(
            f"must be text of at most {MAX_LABEL_CHARS} characters without NUL bytes", field="display_name"
        )
    if tags is None:
        return
    if not isinstance(tags, Mapping):
        raise ConfigError("must map tag names to values", field="tags")
    for name, value in tags.items():
        text = "" if value is None else str(value)
        if isinstance(value, dict | list) or "\0" in str(name) + text or len(str(name)) > MAX_LABEL_CHARS:
            raise ConfigError(
                f"tags are short text (no NUL bytes, lists or mappings), got {value!r}", field=f"tags.{name}"
            )
        if len(text) > MAX_TAG_VALUE_CHARS:
            raise ConfigError(f"a tag value is at most {MAX_TAG_VALUE_CHARS} characters", field=f"tags.{name}")
