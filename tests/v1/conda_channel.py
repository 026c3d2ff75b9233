"""A real conda channel, built by the tests: one tiny ``noarch: generic`` package and its repodata.

The package carries an executable ``bin/<name>`` (a POSIX sh script printing a greeting) and a data
file; ``repodata.json`` is written by py-rattler's indexer, as a channel server would publish it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from pathlib import Path


def build_channel(root: Path, name: str = "tinytool", version: str = "1.0", greeting: str = "hello from conda") -> str:
    """Create ``root/noarch/<name>-<version>-0.tar.bz2`` + repodata; returns the channel as a file:// URL."""
    import rattler

    noarch = root / "noarch"
    noarch.mkdir(parents=True, exist_ok=True)
    payload = {
        f"bin/{name}": (f"#!/bin/sh\necho '{greeting}' \"$@\"\n".encode(), 0o755),
        f"share/{name}/version.txt": (f"{version}\n".encode(), 0o644),
    }
    index = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": [],
        "noarch": "generic",
        "subdir": "noarch",
        "license": "MIT",
    }
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
            for path, (data, _mode) in payload.items()
        ],
    }
    files = {
        "info/index.json": (json.dumps(index).encode(), 0o644),
        "info/paths.json": (json.dumps(paths).encode(), 0o644),
        "info/files": ("\n".join(payload).encode() + b"\n", 0o644),
        **payload,
    }
    with tarfile.open(noarch / f"{name}-{version}-0.tar.bz2", "w:bz2") as archive:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    asyncio.run(rattler.index.index_fs(root, force=True))
    return root.resolve().as_uri()
