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
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runconfig_jupyter.core.snapshot.stream import load_manifest, tar_pieces

SMALL_FILE = 1024
DELTA_NAME = "snapshot.delta"
CACHE_FOLDER = ".objects"  # under the target's working_root, beside the run folders
REMEMBERED_DIGESTS = 500_000  # per server and working root; beyond it the oldest half is forgotten


@dataclass
class Delta:
    """What to upload instead of the tar, and what the remote side rebuilds from it."""

    alg: str
    blob: bytes = b""  # 8-byte recipe length, the recipe, then the bytes it sends
    tar_sha256: str = ""  # of the whole tar rebuilt remotely (extract checks it)
    tar_size: int = 0
    used: list[str] = field(default_factory=list)  # digests taken from the remote cache
    sent: list[str] = field(default_factory=list)  # digests sent and cached there
    sent_file_bytes: int = 0
    used_file_bytes: int = 0


def plan_delta(snapshot_path: Path | str, known_for: Callable[[str], set[str]]) -> Delta:
    """The delta for a stored snapshot, given (per digest algorithm) the digests the remote side is believed
    to hold.

    One pass over the tar's bytes (``tar_pieces``): every byte is hashed into the tar's sha256, and only the
    bytes the remote side lacks are kept. A file sent once is named, not sent, where it appears again.
    """
    alg = load_manifest(snapshot_path).alg
    delta = Delta(alg)
    segments: list[list[object]] = []
    sent = bytearray()
    tar = hashlib.sha256()
    current = None
    sending = False
    named = set(known_for(alg))  # grows with what this delta sends: a repeated file is sent once
    for piece, member in tar_pieces(snapshot_path):
        tar.update(piece)
        delta.tar_size += len(piece)
        if member is None or member.size < SMALL_FILE:
            sent += piece
            if segments and segments[-1][0] == "b":
                segments[-1][1] = int(segments[-1][1]) + len(piece)  # type: ignore[call-overload]
            else:
                segments.append(["b", len(piece)])
            continue
        if member is not current:  # its first piece: send it, or name it
            current = member
            digest = str(member.digest)
            sending = digest not in named
            segments.append(["n" if sending else "o", digest, member.size])
            if sending:
                named.add(digest)
                delta.sent.append(digest)
                delta.sent_file_bytes += member.size
            else:
                delta.used.append(digest)
                delta.used_file_bytes += member.size
        if sending:
            sent += piece
    recipe = json.dumps({"alg": alg, "segments": segments}, separators=(",", ":")).encode()
    delta.blob = len(recipe).to_bytes(8, "big") + recipe + bytes(sent)
    delta.tar_sha256 = tar.hexdigest()
    return delta


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
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            temp.write_text("".join(f"{line}\n" for line in lines), encoding="ascii")
            temp.replace(self.path)
        except OSError:
            temp.unlink(missing_ok=True)
