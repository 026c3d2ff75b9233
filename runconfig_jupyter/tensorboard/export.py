"""``azureml.tensorboard.export``: ``export_to_tensorboard(run, logsdir)`` writes a run history as TensorBoard logs.

v1 did it with TensorFlow's summary writer. Here the event files are written directly (TFRecord framing around
hand-encoded ``Event``/``Summary`` protocol buffers, a few fields of each), so an export needs neither TensorFlow
nor TensorBoard installed; only viewing them does (``tensorboard --logdir <logsdir>``).

Each run gets its folder ``<logsdir>/<run id>`` (TensorBoard shows each as a run) holding one event file; every
numeric metric is a scalar series whose steps count the values logged under that name (a ``log_list`` is one
value per step), as v1 exported them. Tables, rows, images and text are not scalars and are left out.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.system.atomic import write_bytes_atomically

_CRC32C_TABLE: list[int] = []


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord framing; zlib only has the other CRC-32."""
    if not _CRC32C_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
            _CRC32C_TABLE.append(crc)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC (all little-endian)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # protobuf's two's complement for a negative int64
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None, scalar: tuple[str, float] | None = None):
    """``Event{wall_time=1 (double), step=2 (int64), file_version=3 | summary=5}``; the summary holds one
    ``Value{tag=1, simple_value=2 (float)}``."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalar is not None:
        tag, value = scalar
        summary_value = _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
        out += _field_bytes(5, _field_bytes(1, summary_value))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar_points(records: Iterable[dict[str, Any]]) -> list[tuple[str, int, float, float]]:
    """``(name, step, value, wall time)`` of every numeric value, stepped per name in the order logged."""
    points: list[tuple[str, int, float, float]] = []
    steps: dict[str, int] = {}
    for record in records:
        name, kind, when = record.get("name"), record.get("kind", "scalar"), float(record.get("time") or 0.0)
        if not isinstance(name, str):
            continue
        values = record.get("value") if kind == "list" else [record.get("value")] if kind == "scalar" else []
        for value in values if isinstance(values, list) else []:
            if _is_number(value):
                step = steps.get(name, 0)
                points.append((name, step, float(value), when))
                steps[name] = step + 1
    return points


def _export_run(run: Any, logsdir: Path) -> Path:
    points = _scalar_points(run.get_metric_records())
    first = min((when for *_, when in points), default=time.time())
    data = _record(_event(first, 0, file_version="brain.Event:2"))
    for name, step, value, when in points:
        data += _record(_event(when, step, scalar=(name, value)))
    folder = logsdir / run.id
    folder.mkdir(parents=True, exist_ok=True)
    # One file per run, named the same each time: exporting again replaces it instead of doubling every point.
    path = folder / "events.out.tfevents.0.runconfig-jupyter-export"
    write_bytes_atomically(path, data, durable=False)
    return path


def export_to_tensorboard(run_data: Any, logsdir: str | os.PathLike[str], logger: Any = None, recursive: bool = True):
    """v1's signature. ``run_data``: a run or a list of runs; ``recursive`` adds their descendants.

    Returns the event files written, one per run (v1 returned nothing; the list is there to look at).
    """
    runs = list(run_data) if isinstance(run_data, (list, tuple)) else [run_data]
    if recursive:
        runs = [member for run in runs for member in (run, *run.get_children(recursive=True))]
    root = Path(logsdir)
    written = []
    seen: set[str] = set()
    for run in runs:
        if run.id in seen:
            continue
        seen.add(run.id)
        written.append(_export_run(run, root))
        if logger is not None:
            logger.info("exported run %s to %s", run.id, written[-1])
    return written


__all__ = ["export_to_tensorboard"]
