"""Push run changes and log growth to connected clients.

Runs are changed by other processes (run drivers, kernels), so there is no
in-process event to hook: one tornado periodic callback per server polls the
store for rows with a newer ``updated_at`` and the followed log files for
bytes past the offset already sent. It only runs while someone listens, and
every read is bounded (rows per tick, bytes per log per tick), so a chatty run
cannot stall the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tornado.ioloop import PeriodicCallback

from runconfig_jupyter.core.errors import ConfigError, RunConfigError
from runconfig_jupyter.core.runs.folder import STD_LOG, RunFolder
from runconfig_jupyter.core.runs.log_cursor import LogCursor
from runconfig_jupyter.core.runs.script_run import ScriptRun
from runconfig_jupyter.server.service import MAX_LOG_OFFSET, RunService

log = logging.getLogger(__name__)

# Another process may commit a row stamped slightly before our last poll; look back this far
# and drop what was already sent, so no update is missed.
LOOKBACK_SECONDS = 2.0
MAX_ROWS_PER_TICK = 200
MAX_LOG_BYTES_PER_TICK = 256 * 1024


class Listener(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


@dataclass
class Follow:
    """One client following one run's logs; the cursor keeps an offset per log file (core/runs/log_cursor.py)."""

    run_id: str
    cursor: LogCursor
    done: bool = False


@dataclass
class Subscription:
    listener: Listener
    runs: bool = False
    follows: dict[str, Follow] = field(default_factory=dict)


class RunWatcher:
    """Polls the store and log files on the IOLoop while there are subscribers."""

    def __init__(self, service: RunService, interval: float = 0.5, clock: Callable[[], float] = time.time):
        self.service = service
        self.interval = interval
        self.clock = clock
        self.subscriptions: dict[int, Subscription] = {}
        self._seen: dict[str, float] = {}  # run_id -> updated_at already pushed
        self._cursor = clock()
        self._callback: PeriodicCallback | None = None

    # -- subscriptions ---------------------------------------------------
    def add(self, listener: Listener) -> Subscription:
        subscription = Subscription(listener)
        self.subscriptions[id(listener)] = subscription
        self._ensure_running()
        return subscription

    def remove(self, listener: Listener) -> None:
        self.subscriptions.pop(id(listener), None)
        if not self.subscriptions and self._callback is not None:
            self._callback.stop()
            self._callback = None

    def subscribe_runs(self, listener: Listener) -> None:
        """Push run changes from now on (history comes from GET /runs)."""
        if not any(s.runs for s in self.subscriptions.values()):
            self._cursor = self.clock()  # nobody was listening: don't replay what changed meanwhile
        self.subscriptions[id(listener)].runs = True

    def follow(self, listener: Listener, run_id: str, offsets: dict[str, int] | None = None) -> None:
        """Start sending a run's log from ``offsets`` (default: the beginning)."""
        self.service.get_run(run_id)  # RunNotFound before anything is registered
        checked = log_offsets(offsets)
        subscription = self.subscriptions[id(listener)]
        run_dir = self.service.store.run_dir(run_id)
        cursor = LogCursor(RunFolder(run_dir), offsets=checked, max_bytes=MAX_LOG_BYTES_PER_TICK)
        subscription.follows[run_id] = Follow(run_id, cursor)
        self._pump_follow(subscription, subscription.follows[run_id])

    def unfollow(self, listener: Listener, run_id: str) -> None:
        subscription = self.subscriptions.get(id(listener))
        if subscription:
            subscription.follows.pop(run_id, None)

    def _ensure_running(self) -> None:
        if self._callback is None:
            self._cursor = self.clock()
            self._callback = PeriodicCallback(self.tick, self.interval * 1000)
            self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self.subscriptions.clear()

    # -- polling ---------------------------------------------------------
    def tick(self) -> None:
        """One poll: changed runs to run listeners, new log bytes to followers."""
        try:
            if any(s.runs for s in self.subscriptions.values()):
                self._pump_runs()
            for subscription in list(self.subscriptions.values()):
                for follow in list(subscription.follows.values()):
                    self._pump_follow(subscription, follow)
        except Exception:  # a bad tick must not stop the callback for good
            log.exception("runconfig-jupyter watcher tick failed")

    def _pump_runs(self) -> None:
        now = self.clock()
        records = self.service.store.list(limit=MAX_ROWS_PER_TICK, updated_since=self._cursor - LOOKBACK_SECONDS)
        changed = [r for r in records if self._seen.get(r.run_id) != r.updated_at]
        for record in records:
            self._seen[record.run_id] = record.updated_at
        if records:
            self._cursor = max(self._cursor, max(r.updated_at for r in records))
        else:
            self._cursor = max(self._cursor, now - LOOKBACK_SECONDS)
        if not changed:
            return
        message = {"type": "runs", "runs": [self.service.run_summary(r) for r in changed]}
        for subscription in list(self.subscriptions.values()):
            if subscription.runs:
                subscription.listener.send(message)

    def _pump_follow(self, subscription: Subscription, follow: Follow) -> None:
        if follow.done:
            return
        try:
            run = ScriptRun(follow.run_id, store=self.service.store)
        except RunConfigError:
            follow.done = True
            subscription.listener.send({"type": "log_end", "run_id": follow.run_id, "status": None})
            return
        step = follow.cursor.poll(lambda: run.record)  # status first: a run seen ended has its whole log read
        for chunk in step.chunks:
            if chunk.text:
                message = {
                    "type": "log",
                    "run_id": follow.run_id,
                    "name": chunk.name,
                    "offset": chunk.offset,
                    "next_offset": chunk.next_offset,
                    "text": chunk.text,
                }
                subscription.listener.send(message)
        if step.done:
            follow.done = True
            subscription.listener.send({"type": "log_end", "run_id": follow.run_id, "status": step.status.status.value})


def log_offsets(offsets: Any) -> dict[str, int]:
    """A follow request's ``{log name: byte offset}``, checked before anything is registered."""
    if offsets is None:
        return {}
    if not isinstance(offsets, dict):
        raise ConfigError(
            f'must map log names to byte offsets, e.g. {{"{STD_LOG}": 0}}; got {type(offsets).__name__}',
            field="offsets",
        )
    checked = {}
    for name, value in offsets.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOG_OFFSET:
            raise ConfigError(
                f"must be a byte offset between 0 and {MAX_LOG_OFFSET}, got {value!r}", field=f"offsets.{name}"
            )
        checked[str(name)] = value
    return checked
