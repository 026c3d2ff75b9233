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
import posixpath
import tarfile
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.kernel import transfer
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


def materialize(remote: RemoteKernel, ctx: TargetRunContext, remote_dir: str, chunk: int) -> dict[str, str]:
    """Bring every input of ``ctx.data_plan`` to the remote side, make the output folders; name -> path there."""
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
            fetched = _upload(remote, ctx, inp, dest, remote_dir, chunk)
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


def _upload(remote: RemoteKernel, ctx: TargetRunContext, inp: Any, dest: str, remote_dir: str, chunk: int) -> str:
    """The input on this machine (its folder, or a cache copy), packed and uploaded in chunks, then unpacked."""
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.materialize import host_source
    from runconfig_jupyter.core.runs.input_datasets import files_under

    def progress(done: int, total: int) -> None:
        ctx.progress(f"Fetching input '{inp.name}'", done / total if total else None, f"{done / 1e6:.1f} MB")

    source = Path(host_source(inp, None if inp.kind == "local" else DownloadCache(), progress))
    archive = ctx.run_dir / f".data-{inp.name}.tar"
    digest = hashlib.sha256()
    try:
        with tarfile.open(archive, "w") as tar:
            if source.is_file():
                tar.add(str(source), arcname=source.name, recursive=False)
            else:  # regular files only: a link could lead out of the registered folder; specials are not data
                real_root = source.resolve()
                for path in files_under(source, inp.pattern):
                    if not path.is_symlink() and path.is_file() and real_root in path.resolve().parents:
                        tar.add(str(path), arcname=path.relative_to(source).as_posix(), recursive=False)
        with open(archive, "rb") as packed:
            for block in iter(lambda: packed.read(1 << 20), b""):
                digest.update(block)
        remote_archive = f"{remote_dir}/control/data-{inp.name}.tar"
        if not transfer.upload_through_kernel(remote, ctx, remote_archive, archive, chunk, f"input '{inp.name}'"):
            return dest
        result = remote.call(
            "extract_to", archive=remote_archive, dest=dest, sha256=digest.hexdigest(), read_only=inp.mode == "mount"
        )
    finally:
        archive.unlink(missing_ok=True)
    if result.get("files") is None:
        raise PreparationFailed(f"input '{inp.name}' arrived corrupt on the remote side (checksum differs)")
    ctx.prepare_log(f"input '{inp.name}': uploaded {result['files']} files from {source}")
    return _script_path(dest, inp, source.name)
