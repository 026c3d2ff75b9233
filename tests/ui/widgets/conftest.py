"""A real JupyterLab on 127.0.0.1 and a real Chromium (Debian's, through Python Playwright).

Both are started in tests/ui/ (common.py, conftest.py) and ended by PID: the Lab server (its kernels go
with it), the browser, and any run left going in this module's run home.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.common import Lab, serve


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The widgets need no labextension of ours: they render through ipywidgets and anywidget."""
    yield from serve(tmp_path_factory, labextension=False)


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $RUNCONFIG_UI_ARTIFACTS (CI uploads it) or a pytest temp folder."""
    explicit = os.environ.get("RUNCONFIG_UI_ARTIFACTS")
    path = Path(explicit) if explicit else tmp_path_factory.mktemp("ui-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
