"""Both browser suites: pytest-jupyter's autouse asyncio fixtures are replaced by no-ops.

They would open and close an event loop around these sync Playwright tests, whose Jupyter servers are
separate processes started and ended by PID in each suite's own conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield None
