"""One container of a run: the names, labels and paths the docker target and its rank groups share.

Both the single-container run (``target.py``) and the one-container-per-rank run (``ranks.py``) create
containers the same way: the same working dir and support folder inside, the same labels so cleanup finds
them, the same upload of snapshot + shim, the same copy-out of ``outputs/`` and ``logs/`` and the same
"removed means gone" removal. Keeping those here lets each of the two modules own only its own lifecycle,
without either importing the other's helpers.
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import PreparationFailed, TargetUnavailable, UnsafeArchive
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.collect import CollectReport, collect_from, collected_folders, extract_outputs

WORKDIR = "/workspace"
SUPPORT_DIR = ".runconfig"  # inside the working dir: shim and CA bundle travel with the snapshot in one copy
RESUME_MOUNT = "/resume_from"
RESUME_ENV = "RUNCONFIG_RESUME_FROM"
LABEL_EXPERIMENT = "runconfig-jupyter.experiment"
REMOVE_TIMEOUT = 60.0
MERGE_STREAMS = ["/bin/sh", "-c", 'exec "$@" 2>&1', "sh"]
INPUT_DIR = "/runconfig/in"  # read-only mounts of the snapshot (tar or tree) and support tar (local engine)
SUPPORT_TAR = "docker-support.tar"  # in the run folder: the shim (+ CA bundle) to mount
SNAPSHOT_TREE = "docker-snapshot"  # in the run folder: a stored snapshot's tree (hard links into the store) to mount
UNPACK_FAILED = 126


def container_name(run_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in run_id)
    return f"runconfig-{safe}"[:200]


def experiment_label(ctx: TargetRunContext) -> str:
    return str(getattr(ctx, "spec", {}).get("experiment", ""))


def container_environment(
    ctx: TargetRunContext, extra: dict[str, str], ca_bundle: Path | None, shim: bool = True
) -> dict[str, str]:
    """The script's environment inside a container: the run's, the docker arguments', the shim on
    ``PYTHONPATH`` (unless the image installs the package itself) and the CA bundle for pip and requests."""
    environment = {**ctx.environment(), **extra, "PYTHONUNBUFFERED": "1"}
    if shim:
        shim_path = f"{WORKDIR}/{SUPPORT_DIR}/shim"
        environment["PYTHONPATH"] = ":".join(p for p in (environment.get("PYTHONPATH"), shim_path) if p)
    if ca_bundle is not None:
        for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            environment.setdefault(name, f"{WORKDIR}/{SUPPORT_DIR}/ca-bundle.pem")
    return environment


def resume_mount(config: Any, fetched: Path | None = None) -> dict[str, dict[str, str]]:
    """``resume_from``: a run id (its outputs), an allowed folder or a datastore path, mounted read-only.

    A folder is checked again here (in the driver, right before the mount) by the same confinement check the
    submit ran, and the *resolved* folder is mounted, never the text of the config. A datastore path
    (core/data/resume.py; its store was asked at submit by the configuration's own check) is mounted from
    ``fetched``, the copy prepare() fetched into the download cache.
    """
    value = getattr(config, "resume_from", None)
    if not value:
        return {}
    from runconfig_jupyter.core.data.resume import parse

    if parse(value) is not None:
        if fetched is None:
            raise PreparationFailed(f"resume_from {value} was not fetched before its mount", "Starting")
        real = fetched
    else:
        from runconfig_jupyter.core.safety.confine import Confinement

        real = Confinement.for_source(config.source_directory).resume_from(str(value))
    return {str(real): {"bind": RESUME_MOUNT, "mode": "ro"}}


def remove_container(container: Any, timeout: float = REMOVE_TIMEOUT) -> None:
    """Remove and make sure it is gone: the engine can answer 409 "removal already in progress" or a
    transient 500 while it tears down an OOM-killed container, and a run must not end before that.

    The engine answers a removal only once the container is gone, so a removal it accepted needs no look.
    """
    import docker

    deadline = time.monotonic() + timeout
    while True:
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            pass
        try:
            container.reload()
        except docker.errors.NotFound:
            return
        if time.monotonic() > deadline:
            raise TargetUnavailable(f"the Docker engine did not remove container {container.name} in {timeout:g} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class Unpack:
    """How the container's command puts the mounted inputs into its working dir (local engine).

    ``tree``: the snapshot is mounted as a folder of read-only hard links into the snapshot store
    (``SNAPSHOT_TREE``), else as a tar. ``support_in_tree``: the shim and CA bundle were written into that
    folder's ``.runconfig/`` (one mount, nothing to untar), else they come as their own tar.
    ``executables``: the tree's executable files, when known; the copy then takes the default modes (0644,
    folders 0755) and only these get 0755 - one ``cp`` and at most one short ``chmod`` instead of a ``chmod -R``
    of the whole copy (each is a process start in the container, on the script's path).
    """

    tree: bool = False
    support_in_tree: bool = False
    executables: tuple[str, ...] | None = None


MAX_NAMED_EXECUTABLES = 32 * 1024  # characters of quoted names on the command line; more: chmod -R


def unpack_first(command: list[str], steps: str = "", how: Unpack = Unpack()) -> list[str]:
    """``command`` preceded by unpacking the mounted snapshot (and support) into the working dir.

    GNU tar as root keeps modes and mtimes like the engine's put_archive does; the member names were
    checked on this side first (check_members). A failure says so and exits before the script runs.
    ``steps`` (shell, e.g. copying download-mode inputs into place) run after the unpack.

    A tree (``how.tree``) is copied into the container's own file system (links kept as links), never used
    in place: the run gets a private, writable copy with the modes the tar would give (0644, 0755 for
    executables), and the store's objects behind the read-only mount stay out of its reach.
    """
    snapshot = f"tar -xf {INPUT_DIR}/snapshot.tar -C {WORKDIR}"
    if how.tree:
        snapshot = _tree_copy(how.executables)
    support = "" if how.support_in_tree else f" && tar -xf {INPUT_DIR}/support.tar -C {WORKDIR}"
    unpack = (
        f"{snapshot}{support} || "
        f"{{ echo 'runconfig: could not unpack the source snapshot into {WORKDIR} "
        "(does the image have cp and tar?)' >&2; "
        f"exit {UNPACK_FAILED}; }}; "
    )
    return steps_first(command, unpack + steps)


def _tree_copy(executables: tuple[str, ...] | None) -> str:
    """Shell that copies the mounted tree into the working dir with the tar's modes."""
    source = f"{INPUT_DIR}/snapshot/."
    # The objects are 0444 / 0555: a plain copy keeps those, and the owner's write bit is added back.
    portable = f"cp -R {source} {WORKDIR} && chmod -R u+w {WORKDIR}"
    names = " ".join(f"{WORKDIR}/{shlex.quote(name)}" for name in executables or ())
    if executables is None or len(names) > MAX_NAMED_EXECUTABLES:
        return portable
    # GNU cp's --no-preserve=mode: files 0644 and folders 0755 (the container's umask 022), executables fixed
    # below. An image whose cp has no such option (busybox, e.g. alpine) takes the portable copy instead.
    copy = f"{{ cp -R --no-preserve=mode {source} {WORKDIR} 2>/dev/null || {{ {portable}; }}; }}"
    return f"{copy} && chmod 755 -- {names}" if names else copy


def steps_first(command: list[str], steps: str) -> list[str]:
    """``command`` run by ``sh`` after ``steps``; unchanged when there are none. Arguments stay "$@" (no shell)."""
    if not steps:
        return command
    if command[: len(MERGE_STREAMS)] == MERGE_STREAMS:
        return ["/bin/sh", "-c", steps + MERGE_STREAMS[2], *command[len(MERGE_STREAMS) - 1 :]]
    return ["/bin/sh", "-c", steps + 'exec "$@"', "sh", *command]


def check_members(snapshot_path: Path) -> None:
    """Refuse a snapshot (tar or store manifest) whose members would land outside the working dir."""
    from runconfig_jupyter.core.snapshot.stream import member_infos  # the snapshot reader only when starting

    try:
        members = member_infos(snapshot_path)
    except UnsafeArchive as error:
        raise PreparationFailed(f"the snapshot holds an unsafe member: {error}; not starting", "Starting") from None
    for member in members:
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts or member.isdev():
            raise PreparationFailed(f"the snapshot holds an unsafe member {name!r}; not starting", "Starting")


def support_files(ca_bundle: Path | None) -> dict[str, bytes]:
    """The in-script shim (and the CA bundle), by path under ``.runconfig/``."""
    from runconfig_jupyter.core.runs.shim import shim_files

    files = {f"shim/{name}": content for name, content in shim_files().items()}
    if ca_bundle is not None:
        files["ca-bundle.pem"] = ca_bundle.read_bytes()
    return files


def write_support(tree: Path, ca_bundle: Path | None) -> None:
    """The support files written as new 0644 files into ``tree/.runconfig/`` (which must not exist yet).

    Created with O_EXCL and O_NOFOLLOW under folders made here, so nothing is written through a link or into
    an existing file (the tree's files are hard links into the snapshot store).
    """
    root = tree / SUPPORT_DIR
    root.mkdir()
    for name, content in support_files(ca_bundle).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(content)


def support_tar(ca_bundle: Path | None) -> bytes:
    """The in-script shim (and the CA bundle) as a tar rooted at ``.runconfig/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in support_files(ca_bundle).items():
            info = tarfile.TarInfo(f"{SUPPORT_DIR}/{name}")
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def upload_stream(snapshot_path: Path, extra: bytes) -> Iterator[bytes]:
    """The snapshot tar without its end-of-archive blocks, then ``extra`` (a complete tar): one archive.

    Streamed, so a large snapshot is never held in memory; a stored snapshot's tar is generated from the
    store (core/snapshot/stream.py), each file checked against its digest before it is sent.
    """
    from runconfig_jupyter.core.snapshot.stream import tar_stream

    yield from tar_stream(snapshot_path, end=False)
    yield extra


class _ChunkStream(io.RawIOBase):
    """The engine's archive chunks as a file, so tarfile can read members as they arrive (no temp copy)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size


def copy_out(container: Any, ctx: TargetRunContext) -> None:
    """``get_archive`` of the container's outputs/ and logs/, unpacked entry by entry into the run folder.

    Streamed (no copy of the whole archive on disk first), so a full disk costs the entries that
    did not fit, not the ones before them; a link or FIFO costs only itself (see collect.py).
    """
    import docker

    with tempfile.TemporaryDirectory(prefix=".collect-", dir=ctx.run_dir) as temp:
        unpacked = CollectReport()
        for folder, _destination in collected_folders(ctx):
            try:
                chunks, _stat = container.get_archive(f"{WORKDIR}/{folder}")
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:  # this folder is lost; the other may still come
                unpacked.errors.append(f"{folder}/: the engine refused the archive: {error.explanation or error}")
                continue
            try:
                with tarfile.open(fileobj=io.BufferedReader(_ChunkStream(iter(chunks))), mode="r|") as archive:
                    unpacked.merge(extract_outputs(archive, Path(temp), origin=WORKDIR))
            except (tarfile.TarError, docker.errors.APIError) as error:
                unpacked.errors.append(f"{folder}/: the engine's archive broke off: {error}")
        collect_from(Path(temp), ctx, origin=WORKDIR, unpacked=unpacked)
