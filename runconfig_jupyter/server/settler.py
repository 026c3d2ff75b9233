"""The Jupyter server's part of the settle policy (core/runs/settle.py): every unfinished run, on a timer.

The server is the long-lived process behind the sidebar and the widgets, which only read; so it is
the one that notices a driver that died while nobody waits for its run. It settles on its own timer
(``RunconfigServer.settle_interval``), whether or not a client is connected, and never from a
request: its GET routes stay plain reads.
"""

from __future__ import annotations

import logging
from typing import Any

from tornado.ioloop import PeriodicCallback

from runconfig_jupyter.core.runs.settle import settle_unfinished
from runconfig_jupyter.core.runs.store import RunStore

log = logging.getLogger(__name__)
MAX_RUNS_PER_TICK = 200


def start_settling(store: RunStore, interval: float) -> Any:
    """A started timer that settles ``store``'s unfinished runs every ``interval`` seconds; None when 0."""
    if interval <= 0:
        return None
    timer = PeriodicCallback(lambda: settle_tick(store), interval * 1000)
    timer.start()
    return timer


def settle_tick(store: RunStore) -> None:
    try:
        settle_unfinished(store, limit=MAX_RUNS_PER_TICK)
    except Exception:  # a bad tick (a damaged index) must not stop the timer for good
        log.exception("runconfig-jupyter settle tick failed")
