"""pytest-jupyter's in-process server for the security suite, with the server extension enabled.

Imported here (not in ``pytest_plugins``) so its autouse asyncio fixtures and collection hooks stay
inside this folder, as in tests/server, and never reach the sync browser tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": True}}}
