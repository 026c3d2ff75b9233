"""Moving bytes between the run folder and a remote kernel's machine.

Two ways up: the contents API (Jupyter Server; plain HTTP, big chunks, no
kernel needed, so it can run while the kernel boots) and chunks through the
kernel (Kernel Gateway, which has no contents API; each chunk rides in the
execute_request metadata, well under the 10 MiB websocket message cap). One
way down: outputs/ and logs/ packed remotely and read back in chunks, with a
checksum, then unpacked entry by entry (targets/collect.py): links inside kept,
the rest skipped with a warning.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from runconfig_jupyter.core.errors import PreparationFailed, TargetAuthError, TargetUnavailable
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.collect import (
    CollectReport,
    collect_from,
    collected_folders,
    extract_outputs,
    report_to_run,
)
from runconfig_jupyter.targets.kernel.client import KernelClient
from runconfig_jupyter.targets.kernel.session import RemoteKernel


def upload_progress(ctx: TargetRunContext, total: int, what: str = "snapshot") -> Callable[[int, int], None]:
    def progress(done: int, _total: int) -> None:
        ctx.progress(f"Uploading {what}", done / total if total else 1.0, f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")

    return progress


def upload_contents(
    client: KernelClient,
    ctx: TargetRunContext,
    relative_dir: str,
    data: bytes,
    chunk_bytes: int,
    name: str = "snapshot.tar",
) -> bool:
    """PUT the snapshot (or its delta) to ``relative_dir/control/name``; False (with a log line) when refused or
    canceled."""
    started = time.monotonic()
    try:
        client.contents_mkdirs(f"{relative_dir}/control")
        done = client.contents_upload(
            f"{relative_dir}/control/{name}", data, chunk_bytes, upload_progress(ctx, len(data)), ctx.cancel_event
        )
    except TargetAuthError:
        raise
    except TargetUnavailable as error:  # e.g. a hidden working_root the server will not serve
        ctx.prepare_log(f"the contents API refused the upload ({error}); uploading through the kernel instead")
        return False
    if done:
        seconds = time.monotonic() - started
        ctx.prepare_log(f"uploaded {len(data) / 1e6:.2f} MB through the contents API in {seconds:.2f} s")
    return done


def upload_through_kernel(
    remote: RemoteKernel,
    ctx: TargetRunContext,
    remote_path: str,
    data: bytes | Path | Iterable[bytes],
    chunk: int,
    what: str = "snapshot",
    total: int | None = None,
) -> bool:
    """Chunks through the kernel, two in flight (one travels while the kernel writes the other).

    ``data`` is the bytes, a file read chunk by chunk (a data input may not fit in memory), or blocks of
    ``total`` bytes in all (a delta streamed from a file, targets/kernel/delta.py). The kernel runs requests
    in the order they were sent; each chunk lands at its own offset (the one at offset 0 creates the file).
    False when canceled.
    """
    started = time.monotonic()
    if isinstance(data, Path):
        total = data.stat().st_size
    elif isinstance(data, bytes | bytearray | memoryview):
        total = len(data)
    elif total is None:
        raise TypeError("blocks need their total size")
    progress = upload_progress(ctx, total, what)

    def pieces() -> Iterator[bytes]:
        if isinstance(data, Path):
            with open(data, "rb") as source:
                yield from iter(lambda: source.read(chunk), b"")
        elif isinstance(data, bytes | bytearray | memoryview):
            yield from (bytes(data[offset : offset + chunk]) for offset in range(0, total, chunk))
        else:
            yield from _rechunked(data, chunk)

    def chunks() -> Iterator[tuple[dict[str, object], str]]:
        offset = 0
        for piece in pieces() if total else iter([b""]):
            if ctx.cancel_event.is_set():
                return
            yield {"path": remote_path, "offset": offset}, base64.b64encode(piece).decode()
            offset += len(piece)
            progress(offset, total)

    remote.call_many("put_chunk", chunks())
    if ctx.cancel_event.is_set():
        return False
    label = "" if what == "snapshot" else f" ({what})"
    ctx.prepare_log(f"uploaded {total / 1e6:.2f} MB through the kernel in {time.monotonic() - started:.2f} s{label}")
    return True


def _rechunked(blocks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``blocks`` as pieces of ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    for block in blocks:
        buffer += block
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def download_outputs(remote: RemoteKernel, ctx: TargetRunContext, remote_dir: str, chunk: int) -> int:
    """Bring the remote outputs/ and logs/ into the run folder (outputs/, logs/user/); returns the file count."""
    folders = [folder for folder, _destination in collected_folders(ctx)]
    packed = remote.call("pack_outputs", run_dir=remote_dir, folders=folders, timeout=300)
    specials = packed.get("skipped", [])
    unpacked = CollectReport(skipped=[f"{name}: not a file, link or folder; not collected" for name in specials])
    if not packed["files"]:
        report_to_run(ctx, unpacked)
        return 0
    ctx.progress("Downloading outputs", 0.0, f"{packed['files']} files")
    buffer = bytearray()
    while len(buffer) < packed["size"]:
        piece = base64.b64decode(remote.call("read_chunk", path=packed["path"], offset=len(buffer), size=chunk)["data"])
        if not piece:
            break
        buffer += piece
        ctx.progress("Downloading outputs", len(buffer) / packed["size"], f"{len(buffer) / 1e6:.1f} MB")
    if hashlib.sha256(buffer).hexdigest() != packed["sha256"]:
        raise PreparationFailed("the outputs archive arrived corrupt (checksum differs)", phase="Finalizing")
    with tempfile.TemporaryDirectory(dir=ctx.run_dir) as scratch:
        with tarfile.open(fileobj=io.BytesIO(bytes(buffer)), mode="r:gz") as archive:
            unpacked.merge(extract_outputs(archive, Path(scratch), origin=packed.get("work")))
        collect_from(Path(scratch), ctx, origin=packed.get("work"), unpacked=unpacked)
    return int(packed["files"])
