"""Both browser suites: one Chromium per module, and pytest-jupyter's autouse asyncio fixtures replaced
by no-ops.

Those would open and close an event loop around these sync Playwright tests, whose Jupyter servers are
separate processes started and ended by PID (tests/ui/common.py, through each suite's ``lab`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.common import chromium_browser, wait_for_chromium


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    wait_for_chromium()
    with chromium_browser() as browser:
        yield browser
