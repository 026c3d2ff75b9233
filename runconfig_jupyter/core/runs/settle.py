"""Recovery of runs whose driver died: the only code that starts or kills processes for a run it is not driving.

A run's driver (core/runs/driver.py) can die (SIGKILL, OOM, a reboot) while its run is not over.
``settle`` notices that and acts: a target that outlives its driver (a local script under its
supervisor, a container, a remote kernel, a Ray job) gets a new driver that re-attaches to it; an
interactive run whose notebook died is failed; anything else is failed and its process groups are
killed, so nothing shows Running forever and no orphan keeps burning the machine.

Caller policy (the one rule; docs/ARCHITECTURE.md, "Settling runs"):

* A process that blocks until a run ends settles that run while it waits: ``wait_for_completion``
  and ``follow`` (the submitting kernel, a script, ``Run.get(id).wait_for_completion()`` after a
  kernel restart). Without it such a wait would never end when no Jupyter server is running.
* The Jupyter server settles every unfinished run on its own timer (server/settler.py, every
  ``RunconfigServer.settle_interval`` seconds, 10 by default), connected clients or not: it is the
  long-lived process behind every sidebar and widget, so a run nobody waits for is settled within
  seconds while the server runs. Its routes never settle.
* A cancel (``ScriptRun.cancel``, so also ``fail``, ``%cancel``, the server's cancel route) settles
  the run it acts on first: the cancel of a run whose driver died then reaches the target through
  the driver that re-attached, instead of leaving a container or script running under a Canceled row.
* ``python -m runconfig_jupyter.core.runs.settle`` settles every unfinished run once, for a
  machine without a Jupyter server (cron, a shell after a reboot).

Nothing else does: reading a run (``record``, ``get_status``, ``%runs``, the server's GET routes,
the widgets' follower) never spawns or kills a process, so looking at a run from any thread of any
process is always safe. Two settlers never act on one run at once: each holds the run's settle
lock (an advisory ``flock``, released by the kernel if its holder dies) and reads the record again
under it, so the second one sees the new driver alive.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from runconfig_jupyter.core.errors import RunConfigError
from runconfig_jupyter.core.runs.drivers import start_driver
from runconfig_jupyter.core.runs.run_target import read_spec, recorded_target
from runconfig_jupyter.core.runs.status import TERMINAL, RunStatus
from runconfig_jupyter.core.runs.store import RunRecord, RunStore, driver_alive, is_interactive
from runconfig_jupyter.core.target.interface import ComputeTarget

# A driver gets this long to record itself before a missing one counts as dead.
DRIVER_GRACE_SECONDS = 5.0
MAX_DRIVER_RESTARTS = 3
SETTLE_EVERY_SECONDS = 1.0  # how often a waiting loop settles the run it waits for
LOCK_NAME = ".settle.lock"
# The states in which a new driver can take over a lost one's run. Starting: the target may have made
# a container or kernel only a driver can follow or remove. Finalizing: the outputs may still wait to be
# collected (a local script's supervisor left its exit code in the run folder).
RESUMABLE = (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.CANCEL_REQUESTED, RunStatus.FINALIZING)


class Settled(str, enum.Enum):
    """What ``settle`` found (and did)."""

    ENDED = "ended"  # already Completed, Failed or Canceled
    ALIVE = "alive"  # its driver (or the notebook owning it) lives, or it is within the grace period
    BUSY = "busy"  # another process is settling it right now
    ADOPTED = "adopted"  # a new driver was started to re-attach to the run
    FAILED = "failed"  # recorded Failed (and its leftover processes killed)


def settle(store: RunStore, run_id: str) -> Settled:
    """Settle one run whose driver died; see the module docstring for who calls this and when."""
    with _settle_lock(store.run_dir(run_id)) as held:
        if not held:
            return Settled.BUSY
        record = store.get(run_id)  # again, under the lock: another settler may just have acted
        if record.is_terminal:
            return Settled.ENDED
        if _within_grace(record) or driver_alive(record):
            return Settled.ALIVE
        if is_interactive(record):
            return Settled.FAILED if settle_orphan(store, record) else Settled.ALIVE
        if record.status in RESUMABLE and _restart_driver(store, record):
            return Settled.ADOPTED
        for pid in {int(p) for p in [record.details.get("pid"), *record.details.get("pids", [])] if p}:
            try:  # leave no orphan process group behind
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reason = "the run driver exited unexpectedly; see logs/driver_log.txt"
        store.set_status(run_id, RunStatus.FAILED, reason=reason, phase=record.status.value)
        return Settled.FAILED


def _within_grace(record: RunRecord) -> bool:
    """The run's record changed less than DRIVER_GRACE_SECONDS ago: its driver may not have recorded itself yet.

    Measured both ways: after the wall clock was stepped back, a record written before the step looks written in
    the future. Counting that as "recent" would leave a run whose driver died unsettled until the clock caught up
    (an hour, for a step of an hour); beyond the grace either way, the driver's liveness decides.
    """
    return abs(time.time() - record.updated_at) < DRIVER_GRACE_SECONDS


def settler(store: RunStore, run_id: str, every: float = SETTLE_EVERY_SECONDS) -> Callable[[], Settled | None]:
    """For a loop that waits until a run ends: a call that settles it at most once per ``every`` seconds.

    Such a loop wakes on every change of the store (many a second for a chatty run); settling on each
    wake would only repeat the same look. Returns what ``settle`` found, or None when it was not due.
    """
    last = -math.inf

    def settle_due() -> Settled | None:
        nonlocal last
        if time.monotonic() - last < every:
            return None
        last = time.monotonic()
        return settle(store, run_id)

    return settle_due


def settle_unfinished(store: RunStore, limit: int = 1000) -> dict[str, Settled]:
    """Settle every unfinished run (at most ``limit``): the server's timer and the command line."""
    active = [status.value for status in RunStatus if status not in TERMINAL]
    outcomes = {}
    for record in store.list(status=active, limit=limit):
        try:
            outcomes[record.run_id] = settle(store, record.run_id)
        except RunConfigError:  # removed or damaged since it was listed
            continue
    return outcomes


def settle_orphan(store: RunStore, record: RunRecord) -> bool:
    """An interactive run whose owner process is gone: Failed, unless its parent run is still going.

    A child opened inside a submitted script is settled by that run's driver when the script ends
    (it takes the parent's outcome); until then it must not be failed by a settler passing by.
    """
    if record.parent_run_id:
        try:
            parent = store.get(record.parent_run_id)
        except RunConfigError:
            parent = None
        if parent is not None and not parent.is_terminal and driver_alive(parent):
            return False
    reason = (
        f"the process that owned this interactive run (pid {record.details.get('owner_pid')}) exited "
        "before run.complete() was called"
    )
    return store.set_status(record.run_id, RunStatus.FAILED, reason=reason, phase="Running")


def _restart_driver(store: RunStore, record: RunRecord) -> bool:
    """Start a driver that re-attaches, when the run's recorded target can and restarts are left."""
    try:
        target = recorded_target(read_spec(store.run_dir(record.run_id)), record.target)
    except Exception:  # no readable spec, or a target type not installed here: nothing can re-attach
        return False
    if type(target).reattach is ComputeTarget.reattach or not target.capabilities().reattach:
        return False
    restarts = int(record.details.get("driver_restarts", 0))
    if restarts >= MAX_DRIVER_RESTARTS:
        return False
    # driver_ready goes back to False: a cancel must not SIGTERM the new driver before its handler exists.
    store.update(record.run_id, details={"driver_restarts": restarts + 1, "driver_ready": False})
    start_driver(store, record.run_id, reattach=True)
    return True


@contextlib.contextmanager
def _settle_lock(run_dir: Path) -> Iterator[bool]:
    """Hold the run's settle lock without waiting; yields False when another process holds it."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:  # the run folder is gone: nothing to settle, and nothing to lock
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def main(argv: list[str] | None = None) -> int:
    """``python -m runconfig_jupyter.core.runs.settle``: settle every unfinished run of the run home once."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m runconfig_jupyter.core.runs.settle", description=main.__doc__)
    parser.add_argument("--home", default=None, help="run home (default: $RUNCONFIG_JUPYTER_HOME)")
    args = parser.parse_args(argv)
    store = RunStore(Path(args.home)) if args.home else RunStore()
    for run_id, outcome in settle_unfinished(store).items():
        print(f"{run_id}: {outcome.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
