"""Moving files between this machine and a datastore: what the v1 verbs ``upload`` / ``download`` do, and
what a run's outputs use when they are uploaded at the end (core/data/outputs.py).

One listing of the destination decides what ``overwrite=False`` keeps; the files then move in one fsspec
``put`` / ``get`` of lists (the async filesystems, s3fs and adlfs, run them concurrently). Every path is
checked on the way: a source file that resolves into a system or credential location is refused, a write
into a local datastore must stay inside its folder (a link placed in it cannot carry the write out), and an
object name that would land outside the download folder is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.data import filesystems
from runconfig_jupyter.core.data.progress import ByteProgress, Progress
from runconfig_jupyter.core.data.stores import DatastoreSpec
from runconfig_jupyter.core.errors import DataPathMissing

Say = Callable[[str], None]


def listing(fs: Any, folder: str) -> dict[str, int]:
    """Every file below ``folder`` with its size (none when it does not exist), named as the filesystem does."""
    try:
        found = fs.find(folder, detail=True)
    except FileNotFoundError:
        return {}
    if not isinstance(found, dict):  # adlfs answers a file path with [name]
        return {str(name).rstrip("/"): int(fs.size(name) or 0) for name in found}
    return {
        name.rstrip("/"): int(info.get("size") or 0)
        for name, info in found.items()
        if info.get("type", "file") == "file"
    }


def upload(
    spec: DatastoreSpec,
    files: list[Path],
    base: Path,
    target_path: str | None,
    overwrite: bool,
    say: Say | None = None,
    progress: Progress | None = None,
    field: str | None = None,
) -> int:
    """``files`` (below ``base``) to ``target_path/<path relative to base>``; how many were written.

    A read-only datastore raises DatastoreReadOnly before the store is contacted.
    """
    from runconfig_jupyter.core.safety.confine import refuse_never_allowed

    where = field or f"datastores.{spec.name}"
    fs, root = filesystems.open_filesystem(spec, field=where, writable=True)
    destination = filesystems.join(root, target_path, "target_path")
    pairs = []
    for file in files:
        refuse_never_allowed(Path(os.path.realpath(file)), "src_dir", file)  # a link out to ~/.ssh, /etc...
        pairs.append((str(file), f"{destination}/{file.relative_to(base).as_posix()}"))
    if not overwrite:
        existing = set(listing(fs, destination))
        kept = sum(1 for _local, remote in pairs if remote in existing)
        pairs = [(local, remote) for local, remote in pairs if remote not in existing]
        if kept and say:
            say(f"Kept {kept} existing file(s) on '{spec.name}' (overwrite=False)")
    if say:
        say(f"Uploading {len(pairs)} file(s) to '{spec.name}' at {target_path or '/'}")
    if spec.kind == "local":
        for _local, remote in pairs:
            filesystems.inside_local_root(root, remote, "target_path")  # before mkdir: nothing made outside
            Path(remote).parent.mkdir(parents=True, exist_ok=True)
    if pairs:
        total = sum(os.path.getsize(local) for local, _remote in pairs)
        callback = ByteProgress(total, progress)
        with filesystems.store_errors(f"upload to datastore '{spec.name}'", where):
            fs.put([p[0] for p in pairs], [p[1] for p in pairs], callback=callback)
        callback.finish()
    if say:
        say(f"Uploaded {len(pairs)} file(s)")
    return len(pairs)


def download(
    spec: DatastoreSpec,
    target: Path,
    prefix: str | None,
    overwrite: bool,
    say: Say | None = None,
    progress: Progress | None = None,
    field: str | None = None,
) -> int:
    """Files whose path on the datastore starts with ``prefix`` to ``target/<their path>``; how many."""
    where = field or f"datastores.{spec.name}"
    fs, root = filesystems.open_filesystem(spec, field=where)
    clean = filesystems.join("", prefix, "prefix").lstrip("/") if prefix else ""
    if prefix and prefix.endswith("/") and clean:
        clean += "/"  # 'train/' is the folder, not 'trainer.txt' too
    folder = filesystems.join(root, clean.rsplit("/", 1)[0] if "/" in clean else None, "prefix")
    start = f"{root.rstrip('/')}/{clean}" if clean else root.rstrip("/")
    sizes = {name: size for name, size in listing(fs, folder).items() if name.startswith(start)}
    names = sorted(sizes)
    if prefix and not names:
        raise DataPathMissing(f"nothing on datastore '{spec.name}' starts with '{prefix}'", field=where)
    pairs = []
    for name in names:
        local = target / filesystems.safe_relative(name[len(root.rstrip("/")) + 1 :], where)
        if overwrite or not local.exists():
            pairs.append((name, local))
    if say:
        say(f"Downloading {len(pairs)} file(s) from '{spec.name}' to {target}")
    for _remote, local in pairs:
        local.parent.mkdir(parents=True, exist_ok=True)
    if pairs:
        callback = ByteProgress(sum(sizes.get(name, 0) for name, _local in pairs), progress)
        with filesystems.store_errors(f"download from datastore '{spec.name}'", where):
            fs.get([p[0] for p in pairs], [str(p[1]) for p in pairs], callback=callback)
        callback.finish()
    if say:
        say(f"Downloaded {len(pairs)} file(s)")
    return len(pairs)
