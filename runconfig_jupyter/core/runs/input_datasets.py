"""``Run.get_context().input_datasets`` / ``output_datasets`` inside a script, from what the target passed.

Standard library only: this module ships in the in-script shim (core/runs/shim.py), where nothing else is
installed. The target puts a JSON description of each input into ``RUNCONFIG_INPUT_DATASETS`` (core/data/plan.py,
``script_environment``): a file input reads as the path the script sees, as on Azure; a tabular one as a small
object whose ``to_pandas_dataframe()`` reads the files with pandas (imported only then, so a script that never asks
for a data frame does not need pandas).
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

INPUT_DATASETS_ENV = "RUNCONFIG_INPUT_DATASETS"
OUTPUT_DATASETS_ENV = "RUNCONFIG_OUTPUT_DATASETS"
TABULAR = "tabular"


def files_under(root: Path, pattern: str | None) -> list[Path]:
    """The files of an input: ``root`` itself when it is a file, else the files below it matching ``pattern``."""
    if root.is_file():
        return [root]
    found = sorted(p for p in root.rglob("*") if p.is_file())
    if pattern:
        found = [p for p in found if matches(p.relative_to(root).as_posix(), pattern)]
    return found


def matches(relative: str, pattern: str) -> bool:
    """A glob over relative posix paths where ``**/`` may also match nothing (``**/*.csv`` takes ``a.csv``)."""
    return fnmatch.fnmatchcase(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:])
    )


def read_delimited(files: Iterable[Any], options: dict[str, Any]) -> Any:
    """One pandas DataFrame from delimited files (paths or open binary files), with v1's reading options."""
    try:
        import pandas
    except ImportError:
        raise RuntimeError(
            "to_pandas_dataframe() needs pandas in the run's environment: add 'pandas' to its pip packages"
        ) from None
    header = options.get("header", True)
    frames = [
        pandas.read_csv(
            source,
            sep=options.get("separator", ","),
            header=0 if header not in (False, "no_headers", "NO_HEADERS") else None,
            encoding=options.get("encoding", "utf8"),
            skiprows=options.get("skip_rows") or None,
        )
        for source in files
    ]
    if not frames:
        return pandas.DataFrame()
    return frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)


class LocalTabularDataset:
    """A tabular input as the script sees it: the files on this machine, read on request."""

    def __init__(self, name: str, description: dict[str, Any]):
        self.name = name
        self.path = Path(description["path"])
        self.pattern = description.get("pattern")
        self.options = dict(description.get("options") or {})
        self.id = description.get("id")
        self.version = description.get("version")

    def to_path(self) -> list[str]:
        base = self.path.parent if self.path.is_file() else self.path
        return ["/" + p.relative_to(base).as_posix() for p in files_under(self.path, self.pattern)]

    def to_pandas_dataframe(self) -> Any:
        return read_delimited(files_under(self.path, self.pattern), self.options)

    def take(self, count: int) -> Any:
        return self.to_pandas_dataframe().head(count)

    def __repr__(self) -> str:
        return f"TabularDataset(name={self.name!r}, path={str(self.path)!r})"


def _described(variable: str) -> dict[str, Any]:
    try:
        value = json.loads(os.environ.get(variable) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def input_datasets() -> dict[str, Any]:
    """Name -> the path (file inputs and data references) or a ``LocalTabularDataset`` (tabular inputs)."""
    found: dict[str, Any] = {}
    for name, description in _described(INPUT_DATASETS_ENV).items():
        if description.get("type") == TABULAR:
            found[name] = LocalTabularDataset(name, description)
        else:
            found[name] = description.get("path")
    return found


def output_datasets() -> dict[str, Any]:
    """Name -> the folder the script writes that output to (uploaded when the run ends)."""
    return {name: d.get("path") for name, d in _described(OUTPUT_DATASETS_ENV).items()}
