"""Fixtures of the data tests (tests/data): a workspace, a local datastore with files, a project."""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter import Datastore, Workspace
from tests.data.inputs_helpers import make_data, make_project


@pytest.fixture
def workspace() -> Workspace:
    return Workspace()


@pytest.fixture
def datastore(workspace: Workspace, tmp_path: Path) -> Datastore:
    """A read-only local datastore over ``make_data``'s folder (``tmp_path / "data"``)."""
    return Datastore.register_local(workspace, "trainingdata", str(make_data(tmp_path / "data")))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")
