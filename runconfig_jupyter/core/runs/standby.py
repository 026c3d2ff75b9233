"""Warm standby drivers: a driver process started ahead of time, waiting for a run id.

A fresh driver pays an interpreter start plus the imports of the config, the
targets and the docker SDK (~0.2-0.5 s) before it touches the run. A standby
pays that while nobody waits: after a submit, ``ensure_standby`` starts one
detached ``python -m runconfig_jupyter.core.runs.driver --standby`` that imports
everything and waits on a FIFO ``<home>/standby/<fingerprint>.<pid>.fifo``.

``claim`` (the next submit) renames that FIFO to ``....claimed``; the rename is
atomic, so two submitters never get the same standby, and a standby that wants
to retire renames it too, so a standby never exits under a claimer. The claimer
then writes the run id; the standby becomes that run's driver exactly as a
fresh one (same env, cwd, log file, store handshake). Anything that goes wrong
before the run id is written falls back to a fresh driver.

The fingerprint covers the interpreter and the driver's full environment (after
other targets' tokens are stripped), so a standby is only used by a submit that
would have started an identical fresh driver. ``RUNCONFIG_STANDBY_SECONDS``
bounds how long one waits (default 120; 0 disables standbys).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.core.system.digest import sha256_hex
from runconfig_jupyter.core.system.paths import RUN_ID
from runconfig_jupyter.core.system.site_free import module_command

STANDBY_ENV = "RUNCONFIG_STANDBY_SECONDS"
DEFAULT_SECONDS = 120.0
FIFO_SUFFIX = ".fifo"
CLAIMED_SUFFIX = ".claimed"
WARMING_SUFFIX = ".new"
CLAIMED_READ_SECONDS = 10.0  # a claimer writes right after its rename; longer means it died
# The next standby waits this long before importing, so it does not slow the run just handed over.
STANDBY_DELAY_SECONDS = 1.0


def standby_seconds(env: dict[str, str] | None = None) -> float:
    """The idle timeout from the environment; a bad value disables standbys rather than failing a submit."""
    raw = (env if env is not None else os.environ).get(STANDBY_ENV, "")
    if not raw.strip():
        return DEFAULT_SECONDS
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 0.0


def code_stamp() -> str:
    """Newest modification of this package's modules: a standby imported its code when it started,
    so after an edit (or an upgrade) it must not take runs that a fresh driver would run with new code.

    Read on every warm submit, so it walks with ``os.scandir`` (one stat per module, no Path objects):
    ~0.4 ms for the package instead of ~1.5 ms with ``Path.rglob``.
    """
    newest, folders = 0, [str(Path(__file__).resolve().parents[2])]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    with contextlib.suppress(OSError):
                        newest = max(newest, entry.stat().st_mtime_ns)
                elif entry.name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    return str(newest)


def fingerprint(env: dict[str, str], executable: str | None = None) -> str:
    """Stable hash of what a driver gets: interpreter, this package's code and every environment variable."""
    parts = [(executable or sys.executable).encode(), code_stamp().encode()]
    parts += [
        key.encode(errors="surrogateescape") + b"=" + env[key].encode(errors="surrogateescape") for key in sorted(env)
    ]
    return sha256_hex(b"\0".join(parts))[:20]


def standby_dir(home: Path) -> Path:
    return Path(home) / "standby"


def _fifo_pid(path: Path) -> int | None:
    try:
        return int(path.name.split(".")[1])
    except (IndexError, ValueError):
        return None


def _named(folder: Path, print_: str, suffixes: tuple[str, ...] = ("",)) -> list[Path]:
    """The entries of the standby folder ``<print_>.<...>`` ending in one of ``suffixes`` (``print_`` "*": any),
    in name order. Not ``Path.glob``: that compiles a pattern on every call (~1 ms here), and a submit asks once."""
    prefix = "" if print_ == "*" else print_ + "."
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries]
    return [folder / name for name in sorted(names) if name.startswith(prefix) and name.endswith(suffixes)]


def _is_standby_process(pid: int) -> bool:
    """True when ``pid`` is a live standby driver (not a recycled PID; ``/proc``, no psutil import)."""
    return not proc.is_zombie(pid) and "--standby" in proc.command_line(pid)


def standby_pids(home: Path) -> list[int]:
    """PIDs of live standbys (waiting or claimed) under ``home``; tests use this to end them."""
    folder = standby_dir(home)
    if not folder.is_dir():
        return []
    pids = {_fifo_pid(path) for path in folder.iterdir()}
    return sorted(pid for pid in pids if pid and _is_standby_process(pid))


def waiting_pids(home: Path, print_: str = "*") -> list[int]:
    """PIDs of live standbys ready to be claimed (fingerprint ``print_``, any by default)."""
    folder = standby_dir(home)
    if not folder.is_dir():
        return []
    pids = {_fifo_pid(path) for path in _named(folder, print_, (FIFO_SUFFIX,))}
    return sorted(pid for pid in pids if pid and _is_standby_process(pid))


def claim(home: Path, print_: str, run_id: str, before_handover: Callable[[int], None] | None = None) -> int | None:
    """Hand ``run_id`` to a waiting standby with fingerprint ``print_``; its PID, or None to start a fresh one.

    ``before_handover(pid)`` runs once the standby is ours and before it learns the run: the submitter records
    the driver's PID there, so its write never competes with the driver's first writes to the same index
    (SQLite lets one writer in; the other sleeps in its busy handler, 1-5 ms at a time).
    """
    folder = standby_dir(home)
    try:
        candidates = _named(folder, print_, (FIFO_SUFFIX,))
    except OSError:
        return None
    for path in candidates:
        pid = _fifo_pid(path)
        claimed = path.with_name(path.name[: -len(FIFO_SUFFIX)] + CLAIMED_SUFFIX)
        try:
            os.rename(path, claimed)  # atomic: exactly one claimer (or the retiring standby) wins
        except OSError:
            continue
        try:
            fd = os.open(claimed, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO when the standby is gone
        except OSError:
            with contextlib.suppress(OSError):
                claimed.unlink()
            continue
        try:
            if before_handover is not None and pid:
                before_handover(pid)
            message = (run_id + "\n").encode()
            written = os.write(fd, message)  # below PIPE_BUF: all or nothing
        except OSError:
            written = 0
        finally:
            os.close(fd)
        if written == len(message) and pid:
            return pid
    return None


def ensure_standby(home: Path, env: dict[str, str], print_: str, delay: float = 0.0) -> int | None:
    """Start a standby for this fingerprint unless one is already waiting; never raises.

    ``delay`` holds its start back: started right after a hand-off, its interpreter start and imports
    (~0.1 s of CPU) would compete with the very run that was just handed over. The wait happens in a
    shell *before* the interpreter starts (``sleep``, then ``exec``: same PID), so not even the
    interpreter's own start-up lands on the run's critical path.
    """
    seconds = standby_seconds(env)
    if seconds <= 0:
        return None
    folder = standby_dir(home)
    try:
        for path in _named(folder, print_, (FIFO_SUFFIX, WARMING_SUFFIX)) if folder.is_dir() else ():
            pid = _fifo_pid(path)
            if pid and _is_standby_process(pid):
                return None  # one is waiting, or still importing
            with contextlib.suppress(OSError):  # left by a standby that was killed
                path.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        argv = module_command("runconfig_jupyter.core.runs.driver", ["--standby", print_], env)
        if delay > 0:
            argv = ["/bin/sh", "-c", 'sleep "$0" && exec "$@"', f"{min(delay, 5.0):g}", *argv]
        process = spawn_detached(argv, cwd=folder, env=env, log_path=folder / "standby_log.txt")
        # Marks it as on its way (an interpreter start takes a while), so the next submit does not start another.
        (folder / f"{print_}.{process.pid}{WARMING_SUFFIX}").touch()
        return process.pid
    except OSError:
        return None


def start_successor(home: Path, env: dict[str, str], print_: str) -> None:
    """A claimed standby, once its run's script started, starts the standby for the next submit.

    The submitter used to do it right after its claim, which put a process start (~3 ms) between the
    submit and the run's first line. The environment is the one this standby was started with, which
    is what the fingerprint ``print_`` describes.
    """
    ensure_standby(home, env, print_, delay=STANDBY_DELAY_SECONDS)


# What a run's driver imports between the claim and the script's start: the config, the store's
# readers and the snapshot readers (the tar extractor; the snapshot store's materializer and digest);
# the target types in PRELOAD_TARGETS are loaded through the entry-point group (the scan included) and
# warmed up (the docker SDK and engine version, the kernel target's websocket client).
# Measured with ``-X importtime`` on a claimed standby: anything missing here is paid on the run's path.
PRELOAD_TARGETS = ("local", "docker", "kernel")
PRELOAD = (
    "runconfig_jupyter.core.config",
    "runconfig_jupyter.core.snapshot.extract",
    "runconfig_jupyter.core.snapshot.stream",  # runs of the per-file store are materialized from it
    "runconfig_jupyter.core.runs.distributed",  # a local run read from its configuration asks for its plan
    "runconfig_jupyter.core.data.plan",  # read when first asked for (core/runs/driver.py DriverContext)
    "runconfig_jupyter.core.runs.logsink",  # the run's log writers, made with the first line a target writes
    "runconfig_jupyter.core.runs.history",  # the driver indexes a run's tags and properties as it finishes
    "runconfig_jupyter.core.runs.script_history",
    "runconfig_jupyter.core.runs.interactive",  # child runs a script left open are settled with it
    "runconfig_jupyter.core.target.interface",
)


def _preload() -> None:
    """Import what a driver needs, so a claimed standby goes straight to work.

    The targets come from their entry points, never by name: core knows no concrete target. Loading
    a target class imports its module; a target that has more to do ahead of a run (the docker
    target imports its SDK and learns the engine's API version) offers a ``warm_up()`` hook. Nothing
    here may fail the standby: a target that cannot load now is simply paid for by its run.
    """
    import importlib

    from runconfig_jupyter.core.target.plugins import target_class

    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for type_name in PRELOAD_TARGETS:
        with contextlib.suppress(Exception):  # a type that cannot load fails its own run, with its error
            target_class(type_name).warm_up()


def _freeze_preloaded() -> None:
    """Take what the standby loaded out of the garbage collector's sight, while nothing waits for it.

    The preloaded modules (the docker SDK and its HTTP stack among them) are ~32,000 objects here that live as
    long as the process. Left in the collector's oldest generation, a full collection a run's allocations
    trigger walks all of them, on the run's path between the claim and the script's start (~23 ms here).
    Collected once now, the survivors are frozen (``gc.freeze``): later collections see only the run's objects.
    """
    gc.collect()
    gc.freeze()


def wait_for_run(home: Path, print_: str, seconds: float) -> str | None:
    """Publish this process as a standby and block until a run id arrives (None: idle or home gone).

    The fingerprint is the submitter's hash of the environment it started us with.
    """
    folder = standby_dir(home)
    base = f"{print_}.{os.getpid()}"
    fifo, claimed = folder / (base + FIFO_SUFFIX), folder / (base + CLAIMED_SUFFIX)
    building, warming = folder / (base + ".tmp"), folder / (base + WARMING_SUFFIX)
    os.mkfifo(building, 0o600)
    # Read-write: this process is its own writer, so select never sees EOF while it waits.
    fd = os.open(building, os.O_RDWR | os.O_NONBLOCK)
    _preload()
    _freeze_preloaded()
    os.rename(building, fifo)  # visible to claimers only once warm
    with contextlib.suppress(OSError):
        warming.unlink()
    deadline = time.monotonic() + seconds
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                return _read_run_id(fd, time.monotonic() + CLAIMED_READ_SECONDS)
            if claimed.exists():  # claimed; the run id is on its way (or the claimer died: bounded)
                return _read_run_id(fd, time.monotonic() + CLAIMED_READ_SECONDS)
            if time.monotonic() >= deadline or not home.is_dir() or not fifo.exists():
                try:
                    os.rename(fifo, folder / (base + ".retired"))
                except FileNotFoundError:
                    if claimed.exists():  # a claimer won the race: serve it
                        return _read_run_id(fd, time.monotonic() + CLAIMED_READ_SECONDS)
                    return None  # the folder was removed
                with contextlib.suppress(OSError):
                    (folder / (base + ".retired")).unlink()
                return None
    finally:
        os.close(fd)
        for path in (fifo, claimed, building, warming):
            with contextlib.suppress(OSError):
                path.unlink()


def _read_run_id(fd: int, deadline: float) -> str | None:
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 512)
        except OSError as error:
            if error.errno == errno.EAGAIN:
                continue
            return None
        data += chunk
    run_id = data.split(b"\n", 1)[0].decode(errors="replace").strip()
    return run_id if RUN_ID.fullmatch(run_id) else None  # it becomes a path: nothing but a run id


def become_driver(store_home: Path, run_id: str) -> None:
    """Take on a fresh driver's surroundings: the run folder as cwd and driver_log.txt as stdout/stderr."""
    run_dir = store_home / "runs" / run_id
    os.chdir(run_dir)
    log_fd = os.open(RunFolder(run_dir).driver_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
