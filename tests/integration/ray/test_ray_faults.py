"""Odd entries in a Ray run's outputs/ cost only themselves (a real Ray cluster on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.faults.odd_outputs import assert_odd_outputs_collected, submit_odd

pytestmark = pytest.mark.ray


def test_links_and_fifos_in_ray_outputs_cost_only_themselves(ray_target, tmp_path):
    """Links travel as links from the cluster (absolute ones made relative); FIFOs and sockets are named."""
    run = submit_odd(tmp_path, 0, "rodd", compute_target=ray_target)
    assert_odd_outputs_collected(run)
    assert "runconfig: warning: outputs/sock" in run.get_log()
