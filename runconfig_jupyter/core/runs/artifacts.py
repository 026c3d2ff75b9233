"""Where files a script uploads (``upload_file``, ``log_image``) live in the run folder, and how they travel.

Standard library only: this module ships inside the in-script shim.

Naming (Azure's artifact names mapped onto one run folder):

* a name under ``outputs/`` is the run's ``outputs/`` folder itself (Azure also showed uploads there
  next to the captured ``./outputs``), so ``upload_file("outputs/model.pkl", ...)`` and a file the
  script saved in ``./outputs`` end up in the same place;
* any other name lives under ``artifacts/`` (never in ``logs/``, which the run's own logs own).

Transport: the local target knows the run folder (``RUNCONFIG_METRICS_FILE`` sits in it) and writes
files there directly. Targets that cannot reach it (docker, kernel, ray) carry the bytes the way they
carry metrics: marker lines on stderr, each a self-contained base64 chunk ``{"kind": "file-chunk",
"path", "offset", "data"}`` that the driver's LogSink places with ``place_chunk``. Chunks of several
ranks may interleave; each names its own file and offset, so order between files never matters.
The sink re-checks every path and the size bound: a script cannot write outside its run folder by
forging marker lines.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import ARTIFACTS_DIR, OUTPUTS_DIR

IMAGES_DIR = "images"
# A bound on one uploaded file when it travels through the log stream (bytes, before base64).
MAX_STREAMED_FILE_BYTES = 32 * 1024 * 1024
# ... and on everything one run streams that way, so a script cannot fill the host's disk through its log.
MAX_STREAMED_RUN_BYTES = 1024 * 1024 * 1024
CHUNK_BYTES = 48 * 1024
FILE_CHUNK_KIND = "file-chunk"


class ArtifactNameError(ValueError):
    """An artifact name that would leave the run folder or is empty."""


def run_relative_path(name: str) -> str:
    """The path (relative to the run folder, posix) an artifact called ``name`` is stored at."""
    text = str(name).replace("\\", "/").strip()
    if not text or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise ArtifactNameError(f"artifact name {name!r} must be a relative path such as 'outputs/model.pkl'")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ArtifactNameError(f"artifact name {name!r} must stay inside the run (no '..')")
    clean = posixpath.join(*parts)
    if parts[0] == OUTPUTS_DIR and len(parts) > 1:
        return clean
    return posixpath.join(ARTIFACTS_DIR, clean)


def artifact_name(relative: str) -> str:
    """Inverse of ``run_relative_path``: the name ``get_file_names`` shows for a stored file."""
    prefix = ARTIFACTS_DIR + "/"
    return relative[len(prefix) :] if relative.startswith(prefix) else relative


def image_relative_path(name: str, step: int, suffix: str, token: str) -> str:
    """A unique file for one logged image (two ranks logging the same name never collide)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "image"
    return posixpath.join(ARTIFACTS_DIR, IMAGES_DIR, f"{safe[:80]}_{step}_{token}{suffix}")


def confined(run_dir: Path, relative: str) -> Path:
    """``run_dir/relative`` when that stays inside ``outputs/`` or ``artifacts/``; raises otherwise.

    Symlinks already in the run folder are resolved first, so a link planted by a script cannot
    redirect a write to the host.
    """
    parts = relative.split("/")
    if parts[0] not in (ARTIFACTS_DIR, OUTPUTS_DIR) or len(parts) < 2 or ".." in parts or relative.startswith("/"):
        raise ArtifactNameError(f"refusing to place a file at {relative!r}: not under outputs/ or artifacts/")
    root = run_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root / parts[0]):
        raise ArtifactNameError(f"refusing to place a file at {relative!r}: it resolves outside the run folder")
    return target


def write_file(run_dir: Path, relative: str, data: bytes, offset: int = 0) -> None:
    """Write ``data`` at ``offset`` of a run file (offset 0 starts the file afresh); never follows a symlink."""
    target = confined(run_dir, relative)
    if offset < 0 or offset + len(data) > MAX_STREAMED_FILE_BYTES:
        raise ArtifactNameError(f"{relative!r} would exceed {MAX_STREAMED_FILE_BYTES} bytes")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if offset == 0 else 0)
    fd = os.open(target, flags, 0o644)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def chunk_records(relative: str, data: bytes) -> list[dict[str, Any]]:
    """The marker records that carry ``data`` to ``relative`` (at least one, so empty files arrive too)."""
    import base64  # here and in place_chunk: only runs that stream files use it, every submit imports this module

    records = []
    for offset in range(0, max(len(data), 1), CHUNK_BYTES):
        piece = data[offset : offset + CHUNK_BYTES]
        encoded = base64.b64encode(piece).decode("ascii")
        records.append({"kind": FILE_CHUNK_KIND, "path": relative, "offset": offset, "data": encoded})
    return records


def place_chunk(run_dir: Path, record: dict[str, Any], budget: int = MAX_STREAMED_RUN_BYTES) -> int:
    """Place one streamed chunk; returns the bytes written. A malformed or out-of-bounds chunk, or one
    beyond ``budget`` (what the run may still stream), is dropped (0), never fatal."""
    import base64

    try:
        relative, offset = str(record["path"]), int(record["offset"])
        data = base64.b64decode(str(record["data"]), validate=True)
        if len(data) > budget:
            return 0
        write_file(run_dir, relative, data, offset)
    except (KeyError, TypeError, ValueError, OSError):
        return 0
    return len(data)
