"""pytest-jupyter's in-process server for the REST confinement tests (its async hooks must live in a conftest).

Kept in this folder, like tests/server/conftest.py, so its autouse asyncio fixtures reach no other test.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": True}}}
