"""A run's data plan on a remote Jupyter kernel's machine.

Inputs land in the per-run folder over there (``<remote run dir>/data/<name>`` for a mount - its write
bits taken away, so the script's view is read-only as a mount's would be - or under the working dir,
``path_on_compute`` or ``data/<name>``, for a download):

* a remote store's data is fetched *on the remote side*, by fsspec next to the kernel, with the
  credential variables of that machine: only their names travel (core/data/remote_access.py). When the
  remote side lacks fsspec, the store's driver or a variable, the reason goes to the preparation log and
  the data is fetched here (download cache) and uploaded like a local folder;
* a local folder (and that fallback) is packed into a tar next to the run folder and uploaded in chunks
  through the kernel with progress (targets/kernel/transfer.py), checked by sha256 and unpacked safely.

Outputs are folders ``work/data_outputs/<name>``: collected back with ``outputs/`` and uploaded by the
driver (core/data/outputs.py).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.snapshot.objects import DEFAULT_ALG, new_hasher
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.kernel import transfer
from runconfig_jupyter.targets.kernel.delta import Region, RemoteCache, plan_delta, rebuild_remotely
from runconfig_jupyter.targets.kernel.session import RemoteKernel


def input_path(remote_dir: str, inp: Any) -> str:
    """Where input ``inp`` appears on the remote machine (a folder; a file input lands inside it)."""
    if inp.mode == "download":
        relative = inp.path_on_compute or f"data/{inp.name}"
        if posixpath.isabs(relative) or ".." in relative.split("/"):
            from runconfig_jupyter.core.errors import ConfigError

            raise ConfigError(
                f"path_on_compute '{relative}' must be relative to the run's working folder on a remote kernel",
                field=f"data.{inp.name}.path_on_compute",
            )
        return f"{remote_dir}/work/{relative}"
    return f"{remote_dir}/data/{inp.name}"


def materialize(
    remote: RemoteKernel, ctx: TargetRunContext, remote_dir: str, chunk: int, cache: RemoteCache | None = None
) -> dict[str, str]:
    """Bring every input of ``ctx.data_plan`` to the remote side, make the output folders; name -> path there.

    ``cache``: the remote machine's file cache and what this home sent there; an uploaded input then sends
    only the files that machine lacks (delta.py), as the snapshot does."""
    from runconfig_jupyter.core.runs.folder import DATA_OUTPUTS

    plan = ctx.data_plan
    paths: dict[str, str] = {}
    for inp in plan.inputs:
        if ctx.cancel_event.is_set():
            return paths
        dest = input_path(remote_dir, inp)
        # a glob (a file dataset's pattern) is applied here, while packing: the remote side copies whole folders
        fetched = _fetch_remotely(remote, ctx, inp, dest) if inp.kind != "local" and not inp.pattern else None
        if fetched is None:
            fetched = _upload(remote, ctx, inp, dest, remote_dir, chunk, cache)
        paths[inp.name] = fetched
    outputs = {out.name: f"{remote_dir}/work/{DATA_OUTPUTS}/{out.name}" for out in plan.outputs}
    if outputs:
        remote.call("make_dirs", paths=list(outputs.values()))
    return {**paths, **outputs}


def _script_path(dest: str, inp: Any, name: str) -> str:
    return f"{dest}/{name}" if inp.is_file else dest


def _fetch_remotely(remote: RemoteKernel, ctx: TargetRunContext, inp: Any, dest: str) -> str | None:
    """The remote side fetches from the store itself; None (with the reason logged) when it cannot."""
    from runconfig_jupyter.core.data.filesystems import join
    from runconfig_jupyter.core.data.remote_access import filesystem_recipe
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    recipe = filesystem_recipe(get_datastore_spec(inp.datastore, field=f"data.{inp.name}"))
    if recipe is None:
        ctx.prepare_log(f"input '{inp.name}': the store cannot be opened remotely; fetching here and uploading")
        return None
    path = join(recipe["root"], inp.path, f"data.{inp.name}")
    ctx.progress(f"Fetching input '{inp.name}' on the remote side", None, path)
    result = remote.call(
        "fetch_data",
        dest=dest,
        recipe=recipe,
        path=path,
        is_file=inp.is_file,
        read_only=inp.mode == "mount",
        timeout=3600,
    )
    if not result.get("ok"):
        ctx.prepare_log(f"input '{inp.name}': the remote side cannot fetch it ({result.get('why')}); uploading instead")
        return None
    ctx.prepare_log(
        f"input '{inp.name}': fetched on the remote side ({result['files']} files, {result['bytes'] / 1e6:.2f} MB)"
    )
    return _script_path(dest, inp, posixpath.basename(path.rstrip("/")))


def _upload(
    remote: RemoteKernel,
    ctx: TargetRunContext,
    inp: Any,
    dest: str,
    remote_dir: str,
    chunk: int,
    cache: RemoteCache | None,
) -> str:
    """The input on this machine (its folder, or a cache copy), packed and uploaded in chunks (only the files
    the remote machine lacks, with ``cache``), then unpacked."""
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.materialize import host_source

    def progress(done: int, total: int) -> None:
        ctx.progress(f"Fetching input '{inp.name}'", done / total if total else None, f"{done / 1e6:.1f} MB")

    source = Path(host_source(inp, None if inp.kind == "local" else DownloadCache(), progress))
    archive = ctx.run_dir / f".data-{inp.name}.tar"
    remote_archive = f"{remote_dir}/control/data-{inp.name}.tar"
    what = f"input '{inp.name}'"
    try:
        packed = _pack(source, inp.pattern, archive)
        result = None
        if cache is not None:
            result = _upload_delta(remote, ctx, inp, dest, packed, remote_archive, chunk, cache)
            if result is None and ctx.cancel_event.is_set():
                return dest
        if result is None:
            if not transfer.upload_through_kernel(remote, ctx, remote_archive, archive, chunk, what):
                return dest
            result = remote.call(
                "extract_to", archive=remote_archive, dest=dest, sha256=packed.sha256, read_only=inp.mode == "mount"
            )
    finally:
        archive.unlink(missing_ok=True)
    if result.get("files") is None:
        raise PreparationFailed(f"input '{inp.name}' arrived corrupt on the remote side (checksum differs)")
    ctx.prepare_log(f"input '{inp.name}': uploaded {result['files']} files from {source}")
    return _script_path(dest, inp, source.name)


@dataclass(frozen=True)
class _Packed:
    path: Path
    sha256: str
    regions: list[Region]  # each file's content in the tar, with its digest (hashed as tar read it)


def _pack(source: Path, pattern: str | None, archive: Path) -> _Packed:
    """Write the input's tar: its sha256 and the regions of its files' contents."""
    from runconfig_jupyter.core.runs.input_datasets import files_under

    if source.is_file():
        paths = [(source, source.name)]
    else:  # regular files only: a link could lead out of the registered folder; specials are not data
        real_root = source.resolve()
        paths = [
            (path, path.relative_to(source).as_posix())
            for path in files_under(source, pattern)
            if not path.is_symlink() and path.is_file() and real_root in path.resolve().parents
        ]
    regions: list[Region] = []
    with tarfile.open(archive, "w", copybufsize=1 << 20) as tar:
        for path, name in paths:
            info = tar.gettarinfo(str(path), arcname=name)
            hasher = new_hasher(DEFAULT_ALG, info.size)
            with open(path, "rb") as content:
                tar.addfile(info, _Hashing(content, hasher))
            padded = info.size + (-info.size % tarfile.BLOCKSIZE)
            regions.append(Region(tar.offset - padded, info.size, hasher.hexdigest()))
    digest = hashlib.sha256()
    with open(archive, "rb") as written:
        for block in iter(lambda: written.read(1 << 20), b""):
            digest.update(block)
    return _Packed(archive, digest.hexdigest(), regions)


class _Hashing:
    """A file that hashes what is read from it (tarfile reads each member's content exactly once)."""

    def __init__(self, source: Any, hasher: Any):
        self.source, self.hasher = source, hasher

    def read(self, size: int = -1) -> bytes:
        block = self.source.read(size)
        self.hasher.update(block)
        return block


def _upload_delta(
    remote: RemoteKernel,
    ctx: TargetRunContext,
    inp: Any,
    dest: str,
    packed: _Packed,
    remote_archive: str,
    chunk: int,
    cache: RemoteCache,
) -> dict[str, Any] | None:
    """The input's tar rebuilt remotely from the files that machine lacks and those it holds, then checked and
    unpacked; None when it has to go whole (a cached file gone or changed there: forgotten on both sides)."""
    size = packed.path.stat().st_size
    delta = plan_delta(DEFAULT_ALG, size, packed.sha256, packed.regions, cache.known.load(DEFAULT_ALG))
    remote_delta = f"{remote_archive}.delta"
    what = f"input '{inp.name}'"
    with open(packed.path, "rb") as tar:
        blocks = delta.chunks(lambda offset, length: os.pread(tar.fileno(), length, offset))
        if not transfer.upload_through_kernel(remote, ctx, remote_delta, blocks, chunk, what, total=delta.size):
            return None
    read_only = inp.mode == "mount"
    return rebuild_remotely(
        remote,
        ctx,
        cache,
        delta,
        remote_delta,
        remote_archive,
        lambda: _unpacked(
            remote.call("extract_to", archive=remote_archive, dest=dest, sha256=packed.sha256, read_only=read_only)
        ),
        what,
        "there",
    )


def _unpacked(result: dict[str, Any]) -> dict[str, Any] | None:
    """extract_to's answer, None when the tar did not match its checksum (``files`` None)."""
    return result if result.get("files") is not None else None
