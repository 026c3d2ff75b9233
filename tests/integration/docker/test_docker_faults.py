"""Faults a docker run must survive without losing anything: odd entries in outputs/ (real dockerd)."""

from __future__ import annotations

import pytest

from tests.faults.odd_outputs import assert_odd_outputs_collected, submit_odd

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("exit_code", [0, 3])
def test_links_and_fifos_in_outputs_cost_only_themselves(tmp_path, exit_code, our_containers):
    """Even ``latest -> /workspace/outputs/model.bin`` (absolute, as the container sees it) is kept."""
    run = submit_odd(tmp_path, exit_code, "dkodd", compute_target="docker")
    assert_odd_outputs_collected(run)
    assert our_containers(run.id) == []
