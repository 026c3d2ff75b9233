"""What both browser suites share: Debian's Chromium, free ports, and ending runs a test left going."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Flags that let Debian's Chromium run headless as root in a container (see MACHINE-NOTES).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chromium_browser() -> Iterator[object]:
    """Playwright driving the system Chromium; never `playwright install`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def end_runs(home: Path, reason: str = "ui test teardown", timeout: float = 20.0) -> None:
    """Cancel whatever run a failed test left going, and wait (bounded) for the drivers to end."""
    if not (home / "runs.db").exists():
        return
    from runconfig_jupyter.core.runs.script_run import ScriptRun
    from runconfig_jupyter.core.runs.store import RunStore, driver_alive

    store = RunStore(home)
    for record in store.list(limit=1000):
        if not record.is_terminal:
            ScriptRun(record.run_id, store=store).cancel(reason)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(driver_alive(r) for r in store.list(limit=1000)):
        time.sleep(0.1)
