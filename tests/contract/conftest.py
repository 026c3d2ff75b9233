"""The contract suite's fixtures: ``contract_target`` is one param per provider registered in targets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.script import CONTRACT_SCRIPT
from tests.contract.targets import TargetUnderTest, contract_params, get_target


@pytest.fixture(params=contract_params())
def contract_target(request: pytest.FixtureRequest) -> TargetUnderTest:
    return get_target(request.param, request)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A source directory holding only the contract script (and a data file that must not come back)."""
    root = tmp_path / "source"
    root.mkdir()
    (root / "train.py").write_text(CONTRACT_SCRIPT)
    (root / "data.csv").write_text("a,b\n1,2\n")
    return root
