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
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.partitions import PartitionFormat

INPUT_DATASETS_ENV = "RUNCONFIG_INPUT_DATASETS"
OUTPUT_DATASETS_ENV = "RUNCONFIG_OUTPUT_DATASETS"
TABULAR = "tabular"
PARQUET = "parquet"
PARQUET_NEEDS = "reading or writing parquet needs pyarrow: pip install pyarrow (in the run's environment for a script)"


def datastore_path(folder: str, relative: str = "") -> str:
    """A file's path on its datastore as ``partition_format`` and ``include_path`` read it ('/folder/file.csv'):
    the folder there and the file's place below it (nothing when the folder is the file itself)."""
    return "/" + "/".join(part for part in (folder.strip("/"), relative) if part)


def files_under(root: Path, pattern: str | None) -> list[Path]:
    """The files of an input: ``root`` itself when it is a file, else the files below it matching ``pattern``."""
    if root.is_file():
        return [root]
    found = sorted(p for p in root.rglob("*") if p.is_file())
    if pattern:
        found = [p for p in found if matches(p.relative_to(root).as_posix(), pattern)]
    return found


def listed_paths(pattern: str | None) -> list[str] | None:
    """The paths of a file-list pattern (``{a.gz,b/c.gz}``, what a dataset of several paths becomes as one run
    input, core/data/resolve.py), or None for a glob. A listed path that is a folder stands for what it holds."""
    if pattern and pattern.startswith("{") and pattern.endswith("}") and not set(pattern) & set("*?["):
        return pattern[1:-1].split(",")
    return None


def matches(relative: str, pattern: str) -> bool:
    """A glob over relative posix paths where ``**/`` may also match nothing (``**/*.csv`` takes ``a.csv``), or a
    file list (``listed_paths``)."""
    listed = listed_paths(pattern)
    if listed is not None:
        return any(relative == path or relative.startswith(path + "/") for path in listed)
    return fnmatch.fnmatchcase(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:])
    )


def read_table(files: Iterable[Any], options: dict[str, Any], paths: list[str] | None = None) -> Any:
    """One pandas DataFrame from a tabular dataset's files (paths or open binary files): read with its reading
    options (delimited text or JSON lines), then its transformations applied. ``paths`` are the files' paths on
    their datastore ('/folder/file.csv'), which ``partition_format`` and ``include_path`` turn into columns."""
    pandas = _pandas()
    sources = list(files)
    if options.get("format") == "json_lines":
        frames = [pandas.read_json(source, lines=True) for source in sources]
    elif options.get("format") == PARQUET:
        frames = [_read_parquet(pandas, source) for source in sources]
    else:
        frames = [_read_delimited(pandas, source, options) for source in sources]
    frames = _with_path_columns(frames, paths, options)
    frame = pandas.concat(frames, ignore_index=True) if frames else pandas.DataFrame()
    return apply_transforms(set_column_types(frame, options.get("column_types") or {}), options)


def _with_path_columns(frames: list[Any], paths: list[str] | None, options: dict[str, Any]) -> list[Any]:
    """v1's ``partition_format`` columns and ``include_path``'s ``Path`` column, from each file's datastore path."""
    layout, include_path = options.get("partition_format"), options.get("include_path")
    if not layout and not include_path:
        return frames
    if paths is None or len(paths) != len(frames):
        raise ValueError("partition_format and include_path need each file's path on its datastore")
    partitions = PartitionFormat(layout) if layout else None
    for frame, path in zip(frames, paths, strict=True):
        for column, value in (partitions.values(path) if partitions else {}).items():
            frame[column] = value
        if include_path:
            frame["Path"] = path
    return frames


def set_column_types(frame: Any, types: dict[str, list[Any]]) -> Any:
    """v1's ``set_column_types={column: DataType.to_float()}``: a value that does not convert becomes null."""
    if not types:
        return frame
    pandas = _pandas()
    for column, (kind, *args) in types.items():
        if column not in frame.columns:
            continue
        values = frame[column]
        if kind == "string":
            frame[column] = values.astype("string")
        elif kind in ("long", "float"):
            numbers = pandas.to_numeric(values, errors="coerce")
            frame[column] = numbers.astype("Int64") if kind == "long" else numbers.astype("float64")
        elif kind == "bool":
            text = values.astype("string").str.strip().str.lower()
            frame[column] = text.map({"true": True, "1": True, "false": False, "0": False}).astype("boolean")
        elif kind == "datetime":
            formats = args[0] if args else None
            frame[column] = _datetimes(pandas, values, formats)
        else:
            raise ValueError(f"unknown column type {kind!r} for column {column!r}")
    return frame


def _datetimes(pandas: Any, values: Any, formats: list[str] | None) -> Any:
    if not formats:
        return pandas.to_datetime(values, errors="coerce")
    parsed = pandas.to_datetime(values, format=formats[0], errors="coerce")
    for form in formats[1:]:  # v1 tried each format in turn
        parsed = parsed.fillna(pandas.to_datetime(values, format=form, errors="coerce"))
    return parsed


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise RuntimeError(
            "to_pandas_dataframe() needs pandas in the run's environment: add 'pandas' to its pip packages"
        ) from None
    return pandas


def _read_parquet(pandas: Any, source: Any) -> Any:
    """One parquet file; pandas reads it with pyarrow (or fastparquet), which a run's environment may lack."""
    try:
        return pandas.read_parquet(source)
    except ImportError as error:
        raise ImportError(f"{PARQUET_NEEDS} ({error})") from None


def _read_delimited(pandas: Any, source: Any, options: dict[str, Any]) -> Any:
    """One delimited file (a path or an open binary file) with v1's reading options."""
    header = options.get("header", True)
    return pandas.read_csv(
        source,
        sep=options.get("separator", ","),
        header=0 if header not in (False, "no_headers", "NO_HEADERS") else None,
        encoding=options.get("encoding", "utf8"),
        skiprows=options.get("skip_rows") or None,
    )


def apply_transforms(frame: Any, options: dict[str, Any]) -> Any:
    """The rows and columns a tabular dataset's transformations (``take``, ``keep_columns``, ...) leave."""
    for step in options.get("transforms") or []:
        op, args = step[0], step[1:]
        if op == "take":
            frame = frame.head(args[0])
        elif op == "skip":
            frame = frame.iloc[args[0] :]
        elif op in ("sample", "split"):
            chance, seed = args[0], args[1]
            draw = random.Random(seed)
            kept = [draw.random() < chance for _ in range(len(frame))]
            if op == "split" and not args[2]:
                kept = [not k for k in kept]
            frame = frame[kept]
        elif op == "keep":
            frame = frame[[c for c in args[0] if c in frame.columns]]
        elif op == "drop":
            frame = frame.drop(columns=[c for c in args[0] if c in frame.columns])
        elif op == "time":
            frame = _between(frame, *args)
        else:
            raise ValueError(f"unknown dataset transformation {op!r}: this dataset was made by a newer version")
    return frame.reset_index(drop=True)


def _between(frame: Any, column: str, start: str | None, end: str | None, include_boundary: bool) -> Any:
    import pandas

    stamps = pandas.to_datetime(frame[column])
    kept = pandas.Series(True, index=frame.index)
    if start is not None:
        bound = pandas.Timestamp(start)
        kept &= stamps >= bound if include_boundary else stamps > bound
    if end is not None:
        bound = pandas.Timestamp(end)
        kept &= stamps <= bound if include_boundary else stamps < bound
    return frame[kept]


class TabularTransforms:
    """v1's ``TabularDataset`` transformations: each returns a new dataset that reads the same files and then
    keeps some rows or columns. Subclasses give ``_options`` and ``_with_options(options)``."""

    _options: dict[str, Any]

    def _with_options(self, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _then(self, *step: Any, **changes: Any) -> Any:
        options = json.loads(json.dumps(self._options))
        options["transforms"] = [*(options.get("transforms") or []), list(step)]
        options.update(changes)
        return self._with_options(options)

    def take(self, count: int) -> Any:
        """The first ``count`` rows."""
        return self._then("take", _count(count, "count"))

    def skip(self, count: int) -> Any:
        """Every row but the first ``count``."""
        return self._then("skip", _count(count, "count"))

    def take_sample(self, probability: float, seed: int | None = None) -> Any:
        """Each row kept with ``probability`` (the same rows for the same ``seed``)."""
        return self._then("sample", _fraction(probability, "probability"), _seed(seed))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[Any, Any]:
        """Two datasets: about ``percentage`` of the rows, and the rest (the same split for the same ``seed``)."""
        chance, seed = _fraction(percentage, "percentage"), _seed(seed)
        return self._then("split", chance, seed, True), self._then("split", chance, seed, False)

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> Any:
        """Only ``columns``; a timestamp column left out is no longer the dataset's timestamp."""
        kept = _columns(columns)
        stamps = {k: v for k, v in self.timestamp_columns_dict().items() if v in kept}
        return self._then("keep", kept, timestamp=_valid_stamps(stamps))

    def drop_columns(self, columns: str | list[str]) -> Any:
        """All columns but ``columns``; a dropped timestamp column is no longer the dataset's timestamp."""
        dropped = _columns(columns)
        stamps = {k: v for k, v in self.timestamp_columns_dict().items() if v not in dropped}
        return self._then("drop", dropped, timestamp=_valid_stamps(stamps))

    # -- time series --------------------------------------------------------------------------------------------
    def timestamp_columns_dict(self) -> dict[str, str]:
        return dict(self._options.get("timestamp") or {})

    @property
    def timestamp_columns(self) -> tuple[str | None, str | None]:
        stamps = self.timestamp_columns_dict()
        return stamps.get("fine"), stamps.get("coarse")

    def with_timestamp_columns(
        self,
        timestamp: str | None = None,
        partition_timestamp: str | None = None,
        validate: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Name the column the ``time_*`` filters compare (v1 also called them fine and coarse grain)."""
        fine = kwargs.pop("fine_grain_timestamp", timestamp)
        coarse = kwargs.pop("coarse_grain_timestamp", partition_timestamp)
        if kwargs:
            raise TypeError(f"with_timestamp_columns() got unexpected arguments {sorted(kwargs)}")
        if fine is None and coarse is not None:
            raise ValueError("a partition (coarse grain) timestamp needs a timestamp (fine grain) column too")
        stamps = {k: v for k, v in (("fine", fine), ("coarse", coarse)) if v is not None}
        options = {**json.loads(json.dumps(self._options)), "timestamp": stamps}
        return self._with_options(options)

    def time_before(self, end_time: datetime, include_boundary: bool = True, validate: bool = True) -> Any:
        return self._time(None, end_time, include_boundary)

    def time_after(self, start_time: datetime, include_boundary: bool = True, validate: bool = True) -> Any:
        return self._time(start_time, None, include_boundary)

    def time_between(
        self, start_time: datetime, end_time: datetime, include_boundary: bool = True, validate: bool = True
    ) -> Any:
        return self._time(start_time, end_time, include_boundary)

    def time_recent(self, time_delta: timedelta, include_boundary: bool = True, validate: bool = True) -> Any:
        """The rows of the last ``time_delta`` before now."""
        return self._time(datetime.now() - time_delta, None, include_boundary)

    def _time(self, start: datetime | None, end: datetime | None, include_boundary: bool) -> Any:
        fine, coarse = self.timestamp_columns
        if fine is None:
            raise ValueError(
                "this dataset has no timestamp column (or it was dropped): name it with "
                "dataset.with_timestamp_columns(timestamp='column') before filtering by time"
            )
        bounds = [None if t is None else t.isoformat() for t in (start, end)]
        return self._then("time", coarse or fine, *bounds, bool(include_boundary))


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of rows (0 or more), got {value!r}")
    return value


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _seed(seed: Any) -> int:
    return random.randrange(2**31) if seed is None else int(seed)


def _columns(columns: Any) -> list[str]:
    names = [columns] if isinstance(columns, str) else list(columns)
    if not all(isinstance(c, str) for c in names):
        raise ValueError(f"columns must be column names, got {columns!r}")
    return names


def _valid_stamps(stamps: dict[str, str]) -> dict[str, str]:
    """Without its timestamp (fine grain) column a dataset has no time series traits at all, as in v1."""
    return stamps if "fine" in stamps else {}


class LocalTabularDataset(TabularTransforms):
    """A tabular input as the script sees it: the files on this machine, read on request."""

    def __init__(self, name: str, description: dict[str, Any]):
        self.name = name
        self.path = Path(description["path"])
        self.pattern = description.get("pattern")
        self.options = dict(description.get("options") or {})
        self.id = description.get("id")
        self.version = description.get("version")
        self.root = str(description.get("root") or "")  # the input's path on its datastore

    def to_path(self) -> list[str]:
        base = self.path.parent if self.path.is_file() else self.path
        return ["/" + p.relative_to(base).as_posix() for p in files_under(self.path, self.pattern)]

    @property
    def _options(self) -> dict[str, Any]:  # type: ignore[override]
        return self.options

    def _with_options(self, options: dict[str, Any]) -> LocalTabularDataset:
        copy = LocalTabularDataset.__new__(LocalTabularDataset)
        copy.__dict__.update(self.__dict__, options=options)
        return copy

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        files = files_under(self.path, self.pattern)
        return read_table(files, self.options, [self._on_store(file) for file in files])

    def _on_store(self, file: Path) -> str:
        """The file's path on its datastore: the input's folder there (``root``) and the file's place below it."""
        return datastore_path(self.root, "" if self.path.is_file() else file.relative_to(self.path).as_posix())

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
