"""Small helpers shared by the snapshot tests (building source trees on disk)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def write(root: Path, rel: str, content: str | bytes = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def backdate(root: Path, seconds: float = 60) -> None:
    """Make every file look older than the hash cache's racy window, as files edited a while ago are."""
    stamp = time.time() - seconds
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (stamp, stamp), follow_symlinks=False)


def paths(manifest) -> set[str]:
    return {e.path for e in manifest.files}
