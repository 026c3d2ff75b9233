"""A pip requirements file read as pip reads it, for ``Environment.from_pip_requirements``.

v1 read the file's requirements: ``-r other.txt`` / ``--requirement other.txt`` lines bring in another file's, and
option lines (``--index-url``, ``--extra-index-url``, ...) are pip options, not packages. Kept as packages they made
pip fail on a package named ``-r other.txt``. The file comes from a notebook cell, so it is untrusted input: an
include is read only inside the folder of the file the user named (a path leaving it, through ``..``, an absolute
path or a link, is a ConfigError naming the line), at most ``MAX_INCLUDE_DEPTH`` deep and each file once. Option
lines become the environment's ``pip_options``; the target decides at submit which it passes on (the local target
takes only those that read no local file, ``targets/local/env.py`` ``host_pip_options``).
"""

from __future__ import annotations

from pathlib import Path

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.safety.bounded import read_text_bounded
from runconfig_jupyter.core.safety.confine import check_system_path

MAX_INCLUDE_DEPTH = 5
INCLUDE_OPTIONS = ("-r", "--requirement")
FIELD = "file_path"


def _logical_lines(text: str) -> list[str]:
    """Lines with pip's rules: a trailing backslash continues the line, ``#`` at the start or after a space is a
    comment."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = (pending + raw).strip()
        pending = ""
        if line.startswith("#"):
            continue
        line = line.split(" #")[0].strip()
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _include_target(line: str) -> str | None:
    """The file a ``-r`` / ``--requirement`` line names (``-r x``, ``-rx``, ``--requirement=x``), else None."""
    for option in INCLUDE_OPTIONS:
        if line == option:
            return ""
        for separator in (" ", "\t", "=", ""):
            if separator == "" and option != "-r":
                continue
            if line.startswith(option + separator) and len(line) > len(option + separator):
                return line[len(option + separator) :].strip()
    return None


def read_requirements(path: Path) -> tuple[list[str], list[str]]:
    """``(packages, pip_options)`` of the requirements file ``path`` (already checked by the caller), includes
    resolved relative to the file that names them and confined to ``path``'s folder."""
    root = path.resolve().parent
    packages: list[str] = []
    options: list[str] = []
    seen: set[Path] = set()

    def read(file: Path, depth: int) -> None:
        seen.add(file)
        for line in _logical_lines(read_text_bounded(file, "requirements file", field=FIELD)):
            target = _include_target(line)
            if target is None:
                if line.startswith("-"):
                    if line not in options:
                        options.append(line)
                elif line not in packages:
                    packages.append(line)
                continue
            where = f"'{line}' in {file}"
            if not target:
                raise ConfigError(f"{where} names no file", field=FIELD)
            if depth >= MAX_INCLUDE_DEPTH:
                raise ConfigError(f"{where}: includes nest deeper than {MAX_INCLUDE_DEPTH} files", field=FIELD)
            included = (file.parent / target).resolve()
            if not included.is_relative_to(root):
                raise ConfigError(
                    f"{where} reads a file outside {root}, the folder of the requirements file given; "
                    "put the included file in that folder",
                    field=FIELD,
                )
            if not included.is_file():
                raise ConfigError(f"{where}: {included} does not exist", field=FIELD)
            check_system_path(included, FIELD)  # the places never read (keys, credentials) stay refused inside too
            if included not in seen:  # a file included twice (or a cycle) is read once, as pip's result is the same
                read(included, depth + 1)

    read(path.resolve(), 0)
    return packages, options
