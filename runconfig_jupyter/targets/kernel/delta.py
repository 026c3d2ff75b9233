"""Uploading to a remote kernel only the files its machine does not hold yet.

A re-submit after a one-file edit used to send the whole snapshot again (256 MB for a 256 MB folder). The
remote machine now keeps every file it was sent, named by its digest, under ``<working_root>/.objects/``
(remote_runner.py ``assemble``), and the driver remembers which digests it sent to which server and working
root (``KnownObjects``, under ``<run home>/cache/remote-objects/``). An upload is then a *delta*: the tar's
headers and the content of files the remote side lacks, plus a recipe that says where each cached file's
bytes go. The remote side rebuilds the very tar a full upload would have sent, and the driver's sha256 of
that tar is checked before anything is unpacked, so a cached object that was changed or lost on the remote
machine can never reach a run: it costs one full upload, and the objects used are forgotten on both sides.

Files under ``SMALL_FILE`` bytes always travel: naming them would cost about as much as sending them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.snapshot.stream import load_manifest, tar_pieces
from runconfig_jupyter.core.system.atomic import write_bytes_atomically
from runconfig_jupyter.targets.kernel.session import RemoteError

if TYPE_CHECKING:
    from runconfig_jupyter.core.target.interface import TargetRunContext
    from runconfig_jupyter.targets.kernel.session import RemoteKernel

SMALL_FILE = 1024
DELTA_NAME = "snapshot.delta"
CACHE_FOLDER = ".objects"  # under the target's working_root, beside the run folders
REMEMBERED_DIGESTS = 500_000  # per server and working root; beyond it the oldest half is forgotten


@dataclass(frozen=True)
class Region:
    """A file's content inside the tar: where it starts, how long it is, and its digest."""

    offset: int
    size: int
    digest: str


@dataclass
class Delta:
    """What to upload instead of a tar: the recipe, then the tar's byte ranges the remote side lacks."""

    alg: str
    tar_size: int
    tar_sha256: str  # of the whole tar, rebuilt remotely (extract checks it)
    recipe: bytes = b""  # 8-byte length + JSON: alg and segments (remote_runner.assemble)
    ranges: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) of the tar, sent in order
    used: list[str] = field(default_factory=list)  # digests taken from the remote cache
    sent: list[str] = field(default_factory=list)  # digests sent and cached there
    used_file_bytes: int = 0

    @property
    def size(self) -> int:
        """Bytes this upload sends."""
        return len(self.recipe) + sum(length for _offset, length in self.ranges)

    def chunks(self, read: Callable[[int, int], bytes], chunk: int = 1 << 20) -> Iterator[bytes]:
        """The upload's bytes, ``read(offset, length)`` taking them from the tar (in memory or in a file)."""
        yield self.recipe
        for offset, length in self.ranges:
            for start in range(offset, offset + length, chunk):
                yield read(start, min(chunk, offset + length - start))


def plan_delta(alg: str, tar_size: int, tar_sha256: str, regions: Iterable[Region], known: set[str]) -> Delta:
    """The delta of a tar whose files' contents are ``regions`` (in order), given the digests the remote side
    is believed to hold. A file sent once is named, not sent, where it appears again; files under
    ``SMALL_FILE`` always travel."""
    delta = Delta(alg, tar_size, tar_sha256)
    segments: list[list[object]] = []
    named = set(known)
    position = 0  # the tar's bytes before this have a segment

    def send(end: int) -> None:
        if end > position:
            segments.append(["b", end - position])
            _add_range(delta.ranges, position, end - position)

    for region in regions:
        if region.size < SMALL_FILE:
            continue
        send(region.offset)
        if region.digest in named:
            segments.append(["o", region.digest, region.size])
            delta.used.append(region.digest)
            delta.used_file_bytes += region.size
        else:
            segments.append(["n", region.digest, region.size])
            _add_range(delta.ranges, region.offset, region.size)
            named.add(region.digest)
            delta.sent.append(region.digest)
        position = region.offset + region.size
    send(tar_size)
    document = json.dumps({"alg": alg, "segments": segments}, separators=(",", ":")).encode()
    delta.recipe = len(document).to_bytes(8, "big") + document
    return delta


def _add_range(ranges: list[tuple[int, int]], offset: int, length: int) -> None:
    if ranges and sum(ranges[-1]) == offset:
        ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
    else:
        ranges.append((offset, length))


def snapshot_tar(snapshot_path: Path | str) -> tuple[bytes, str, list[Region]]:
    """A stored snapshot's tar (the bytes a whole upload sends), its digest algorithm and its files' regions."""
    alg = load_manifest(snapshot_path).alg
    tar = bytearray()
    regions: list[Region] = []
    current = None
    for piece, member in tar_pieces(snapshot_path):
        if member is not None and member is not current:
            current = member
            regions.append(Region(len(tar), member.size, str(member.digest)))
        tar += piece
    return bytes(tar), alg, regions


class KnownObjects:
    """The digests the driver sent to one server's working root, one per line (``alg/digest``).

    Only the user's run home holds it. A wrong line costs nothing but time: the remote side says what it
    lacks (``missing``) or the rebuilt tar's checksum fails, and either way the run gets a full upload.
    """

    def __init__(self, home: Path, url: str, working_root: str):
        key = hashlib.sha256(f"{url}\0{working_root}".encode()).hexdigest()[:24]
        self.path = home / "cache" / "remote-objects" / f"{key}.txt"

    def load(self, alg: str) -> set[str]:
        prefix = f"{alg}/"
        try:
            lines = self.path.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError:
            return set()
        return {line[len(prefix) :] for line in lines if line.startswith(prefix) and len(line) == len(prefix) + 64}

    def add(self, alg: str, digests: Iterable[str]) -> None:
        lines = "".join(f"{alg}/{digest}\n" for digest in digests)
        if not lines:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="ascii") as out:
                out.write(lines)
            if self.path.stat().st_size > REMEMBERED_DIGESTS * 72:
                kept = self.path.read_text(encoding="ascii").splitlines()[-REMEMBERED_DIGESTS // 2 :]
                self._rewrite(kept)
        except OSError:
            pass  # only costs a bigger upload next time

    def forget(self, alg: str, digests: Iterable[str]) -> None:
        gone = {f"{alg}/{digest}" for digest in digests}
        try:
            lines = self.path.read_text(encoding="ascii").splitlines()
        except OSError:
            return
        self._rewrite([line for line in lines if line not in gone])

    def _rewrite(self, lines: list[str]) -> None:
        try:
            write_bytes_atomically(self.path, "".join(f"{line}\n" for line in lines).encode("ascii"), durable=False)
        except OSError:
            pass  # only costs a bigger upload next time


@dataclass(frozen=True)
class RemoteCache:
    """A remote machine's file cache (its folder there) and this home's record of what was sent to it."""

    folder: str
    known: KnownObjects
    host: str  # the machine's name, for the log


def rebuild_remotely(
    remote: RemoteKernel,
    ctx: TargetRunContext,
    cache: RemoteCache,
    delta: Delta,
    remote_delta: str,
    archive: str,
    unpack: Callable[[], dict[str, Any] | None],
    label: str,
    held_where: str,
) -> dict[str, Any] | None:
    """The tar rebuilt at ``archive`` on the remote machine from the uploaded ``remote_delta`` and its cache, then
    unpacked by ``unpack`` (which checks the tar against ``delta.tar_sha256``: None when it differs). ``label``
    names the tar in the log ("snapshot", "input 'NAME'"), ``held_where`` where the cached files were. None when
    it has to be uploaded whole: a cached file gone (``missing``) or changed (the checksum) is forgotten on both
    sides first. The snapshot (kernel/target.py) and an uploaded input (kernel/data.py) both come here."""
    try:
        rebuilt = remote.call("assemble", archive=archive, delta=remote_delta, cache=cache.folder, timeout=600)
    except RemoteError as error:
        ctx.prepare_log(f"{label}: could not be rebuilt on the remote machine ({error.evalue}); uploading it whole")
        return None
    if rebuilt.get("missing"):
        cache.known.forget(delta.alg, rebuilt["missing"])
        ctx.prepare_log(
            f"{label}: {len(rebuilt['missing'])} cached files are gone from {cache.host}; uploading it whole"
        )
        return None
    unpacked = unpack()
    if unpacked is None:
        named = [*delta.used, *delta.sent]
        remote.call("forget_objects", cache=cache.folder, alg=delta.alg, digests=named)
        cache.known.forget(delta.alg, named)
        ctx.prepare_log(
            f"{label} rebuilt on {cache.host} from its cache: it does not match the one submitted (a cached file was "
            "changed there); those files are forgotten on both sides and it is uploaded whole"
        )
        return None
    cache.known.add(delta.alg, delta.sent)
    if delta.used:
        files, held = len(delta.used) + len(delta.sent), delta.used_file_bytes / 1e6
        ctx.prepare_log(
            f"{label}: {len(delta.used)} of {files} files ({held:.2f} MB) were already {held_where}: "
            f"sent {delta.size / 1e6:.2f} MB of a {delta.tar_size / 1e6:.2f} MB {label}"
        )
    return unpacked
