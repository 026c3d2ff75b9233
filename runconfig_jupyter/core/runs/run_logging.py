"""Azure ML v1's richer in-script logging: images, uploaded files and the chart metrics.

Standard library only: this module ships inside the in-script shim. ``RunContext`` (context.py)
mixes it in; it relies on ``_emit``, ``_steps``, ``offline`` and ``_metrics_file`` from there.

Images follow one contract other parts of the project read: the file is stored in the run folder
(core/artifacts.py says where) and a metric record ``{"name", "kind": "image", "value": {"path":
<relative to the run folder>, "description"}, "step", "time"}`` is appended *after* the file is in
place. The chart metrics (confusion matrix, accuracy table, residuals, predictions) take Azure's
documented ``{"schema_type", "schema_version", "data": {...}}`` value (a dict or its JSON text); their
``data`` is checked here, because Azure rejected a malformed one too and a silently broken chart
is worse than a ValueError naming the field.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.artifacts import (
    MAX_STREAMED_FILE_BYTES,
    artifact_name,
    chunk_records,
    confined,
    image_relative_path,
    run_relative_path,
)
from runconfig_jupyter.core.runs.folder import OUTPUTS_DIR
from runconfig_jupyter.core.runs.logsink import METRIC_MARKER

# schema_type -> the keys its ``data`` must carry (Azure ML v1's documented chart metrics).
CHART_SCHEMAS = {
    "confusion_matrix": ("class_labels", "matrix"),
    "accuracy_table": (
        "probability_tables",
        "percentile_tables",
        "probability_thresholds",
        "percentile_thresholds",
        "class_labels",
    ),
    "residuals": ("bin_edges", "bin_counts"),
    "predictions": ("bin_averages", "bin_errors", "bin_counts", "bin_edges"),
}


def chart_value(schema_type: str, value: Any) -> dict[str, Any]:
    """Azure's chart value, parsed and checked; raises ValueError naming what is wrong."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"{schema_type}: value is not valid JSON ({error})") from None
    if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
        raise ValueError(f"{schema_type}: value must be a dict with a 'data' dict (Azure ML's chart schema)")
    data = value["data"]
    missing = [key for key in CHART_SCHEMAS[schema_type] if key not in data]
    if missing:
        raise ValueError(f"{schema_type}: data is missing {', '.join(missing)}")
    if schema_type == "confusion_matrix":
        labels, matrix = data["class_labels"], data["matrix"]
        if not isinstance(matrix, list) or len(matrix) != len(labels) or any(len(r) != len(labels) for r in matrix):
            raise ValueError(f"confusion_matrix: data.matrix must be {len(labels)}x{len(labels)} (one row per label)")
    elif schema_type in ("residuals", "predictions"):
        edges, counts = data["bin_edges"], data["bin_counts"]
        if len(edges) != len(counts) + 1:
            raise ValueError(f"{schema_type}: data.bin_edges needs one more entry than data.bin_counts")
        if schema_type == "predictions" and not len(data["bin_averages"]) == len(data["bin_errors"]) == len(counts):
            raise ValueError("predictions: data.bin_averages, bin_errors and bin_counts must have the same length")
    return {"schema_type": schema_type, "schema_version": str(value.get("schema_version", "1.0.0")), "data": data}


class UploadedArtifact(str):
    """What ``upload_file`` returns: the artifact's name (as ``get_file_names`` lists it) that also answers v1's
    ``serialize()`` of an upload's result (``props = run.upload_file(...); props.serialize()``)."""

    run_id: str
    content_uri: str | None

    def __new__(cls, name: str, run_id: str, content_uri: str | None) -> UploadedArtifact:
        artifact = super().__new__(cls, name)
        artifact.run_id, artifact.content_uri = run_id, content_uri
        return artifact

    def serialize(self) -> dict[str, Any]:
        """v1's batch artifact record: ``artifacts`` and ``artifactContentInformation`` by name, and ``errors``."""
        name, container = str(self), f"dcid.{self.run_id}"
        where = {"origin": "ExperimentRun", "container": container, "path": name}
        return {
            "artifacts": {name: {"artifactId": f"ExperimentRun/{container}/{name}", **where}},
            "artifactContentInformation": {name: {"contentUri": self.content_uri, **where}},
            "errors": {},
        }


class RichLogging:
    """Mixed into the in-script run: log_image, upload_*, and the chart metrics."""

    id: str
    offline: bool
    _metrics_file: Path | None
    _steps: dict[str, int]

    def _emit(self, name: str, value: Any, kind: str, step: int | None, description: str) -> None:
        raise NotImplementedError

    # -- charts --------------------------------------------------------------
    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._emit(name, chart_value("confusion_matrix", value), "confusion_matrix", None, description)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._emit(name, chart_value("accuracy_table", value), "accuracy_table", None, description)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._emit(name, chart_value("residuals", value), "residuals", None, description)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._emit(name, chart_value("predictions", value), "predictions", None, description)

    # -- images --------------------------------------------------------------
    def log_image(self, name: str, path: Any = None, plot: Any = None, description: str = "") -> None:
        """A PNG (or other image) file or stream with ``path=``, or a matplotlib figure / pyplot with ``plot=``."""
        if (path is None) == (plot is None):
            raise ValueError("log_image needs exactly one of path= (an image file or stream) or plot= (a figure)")
        if plot is not None:
            if not hasattr(plot, "savefig"):
                raise TypeError("log_image(plot=...) takes a matplotlib Figure or matplotlib.pyplot")
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            data, suffix = buffer.getvalue(), ".png"
        else:
            data = _read_all(path)
            suffix = Path(str(getattr(path, "name", path))).suffix.lower()
            suffix = suffix if 1 < len(suffix) <= 6 else ".png"
        step = self._steps.get(str(name), 0)
        relative = image_relative_path(name, step, suffix, uuid.uuid4().hex[:8])
        if self._store(relative, data=data):
            self._emit(name, {"path": relative, "description": description}, "image", step, "")

    # -- files ---------------------------------------------------------------
    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> UploadedArtifact | None:
        """Store a file (path or binary stream) as run artifact ``name``; ``get_file_names`` lists it."""
        relative = run_relative_path(name)
        if isinstance(path_or_stream, str | os.PathLike):
            stored = self._store(relative, source=Path(path_or_stream))
        else:
            stored = self._store(relative, data=_read_all(path_or_stream))
        if not stored:
            return None
        here = self._metrics_file  # the run folder is right here: the file's own URI; streamed: not known yet
        uri = confined(here.parent, relative).as_uri() if here is not None else None
        return UploadedArtifact(artifact_name(relative), self.id, uri)

    def upload_files(
        self,
        names: list[str],
        paths: list[Any],
        return_artifacts: bool = False,
        timeout_seconds: float | None = None,
        datastore_name: str | None = None,
    ) -> list[UploadedArtifact | None]:
        if len(names) != len(paths):
            raise ValueError(f"upload_files: {len(names)} names but {len(paths)} paths")
        return [self.upload_file(name, path) for name, path in zip(names, paths, strict=True)]

    def upload_folder(self, name: str, path: str | os.PathLike[str], datastore_name: str | None = None) -> list[str]:
        """Every file under ``path`` becomes ``name/<relative path>``."""
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"upload_folder: {str(path)!r} is not a folder")
        stored = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            uploaded = self.upload_file(f"{name}/{file.relative_to(root).as_posix()}", file)
            if uploaded:
                stored.append(uploaded)
        return stored

    # -- transport -----------------------------------------------------------
    def _store(self, relative: str, data: bytes | None = None, source: Path | None = None) -> bool:
        """Put a file into the run folder by the way this run can reach it; False when it was skipped."""
        if source is not None and not source.is_file():
            raise FileNotFoundError(f"no file {str(source)!r} to upload")
        if self.offline:
            what = str(source) if source is not None else f"{len(data or b'')} bytes"
            print(f"Attempted to upload {what} as {artifact_name(relative)}")
            return False
        if self._metrics_file is not None:  # the run folder is right here
            _write_to(confined(self._metrics_file.parent, relative), data, source)
            return True
        size = source.stat().st_size if source is not None else len(data or b"")
        if size > MAX_STREAMED_FILE_BYTES:
            return self._too_big_to_stream(relative, size, data, source)
        payload = source.read_bytes() if source is not None else (data or b"")
        for record in chunk_records(relative, payload):
            line = json.dumps(record, separators=(",", ":")).encode()
            sys.stderr.buffer.write(METRIC_MARKER + line + b"\n")
        sys.stderr.flush()
        return True

    def _too_big_to_stream(self, relative: str, size: int, data: bytes | None, source: Path | None) -> bool:
        """Outputs still arrive (through ./outputs, copied back when the run ends); anything else is skipped."""
        if relative.startswith(OUTPUTS_DIR + "/"):
            _write_to(Path.cwd() / relative, data, source)
            return True
        warnings.warn(
            f"{artifact_name(relative)} is {size} bytes, more than the {MAX_STREAMED_FILE_BYTES} this target streams "
            "back while running; it was skipped. Upload it under 'outputs/' (copied back when the run ends).",
            RuntimeWarning,
            stacklevel=4,
        )
        return False


def _write_to(target: Path, data: bytes | None, source: Path | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copyfile(source, target)
    else:
        target.write_bytes(data or b"")


def _read_all(path_or_stream: Any) -> bytes:
    if isinstance(path_or_stream, str | os.PathLike):
        return Path(path_or_stream).read_bytes()
    if hasattr(path_or_stream, "read"):
        data = path_or_stream.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    raise TypeError(f"expected a path or a readable stream, got {type(path_or_stream).__name__}")
