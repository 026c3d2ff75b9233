"""Snapshots in the layout of the previous version: one read-only ``<id>.tar`` per snapshot in the store folder.

The package no longer writes this layout (submits store each file once, core/snapshot/stored.py), but run homes
made by the previous version hold such archives, hard-linked into run folders as ``snapshot.tar``, and every
reader still accepts them (core/snapshot/extract.py, stream.py, garbage.py). Back-compat tests make one here.

The bytes are the store's own tar stream of the same folder, which is byte for byte what the old packer wrote
(sorted members, PAX headers, fixed mtime, owner 0; tests/unit/test_snapshot_store.py proved the equality while
both existed), and the id is the old packer's: sha256 over each member's type, path, mode and content digest.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from runconfig_jupyter.core.snapshot.archive import ordered_members
from runconfig_jupyter.core.snapshot.create import Snapshot
from runconfig_jupyter.core.snapshot.limits import SnapshotLimits
from runconfig_jupyter.core.snapshot.manifest import Manifest
from runconfig_jupyter.core.snapshot.stored import store_snapshot
from runconfig_jupyter.core.snapshot.stream import tar_bytes

LEGACY_ID_VERSION = b"runconfig-snapshot-v1\n"


def legacy_id(manifest: Manifest) -> str:
    """The id the previous version gave an archive (sha256 digests of the contents; other inputs than the store's)."""
    digest = hashlib.sha256(LEGACY_ID_VERSION)
    for path, entry in ordered_members(manifest):
        if entry is None:
            line = f"d\0{path}\0755"
        elif entry.kind == "symlink":
            line = f"l\0{path}\0{entry.link_target}"
        else:
            line = f"f\0{path}\0{entry.mode:o}\0{entry.digest}"
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:32]


def write_legacy_archive(
    source: Path | str,
    snapshots_dir: Path | str,
    limits: SnapshotLimits | None = None,
    progress: object = None,
    extra_excludes: Iterable[Path | str] = (),
    expect_source: Path | None = None,
) -> Snapshot:
    """Package ``source`` as ``<snapshots_dir>/<id>.tar`` the way the previous version did (signature of
    ``store_snapshot``, so a test can patch a submit to use it); the same checks and refusals come first."""
    snapshots_dir = Path(snapshots_dir)
    with tempfile.TemporaryDirectory(prefix="legacy-store-") as scratch:
        stored = store_snapshot(
            source, scratch, limits, extra_excludes=[snapshots_dir, *extra_excludes], expect_source=expect_source,
            alg="sha256",
        )  # fmt: skip
        data = tar_bytes(stored.path)
    sid = legacy_id(stored.manifest)
    final = snapshots_dir / f"{sid}.tar"
    reused = final.is_file()
    if not reused:
        snapshots_dir.mkdir(parents=True, exist_ok=True)
        temp = snapshots_dir / f".tmp-{os.getpid()}-legacy.tar"
        temp.write_bytes(data)
        os.chmod(temp, 0o444)  # run folders hard-link it: nobody may change it in place
        os.replace(temp, final)
    return Snapshot(sid, final, stored.manifest, reused=reused)
