"""Ray tests: the cluster (``ray_cluster``) and its registered name (``ray_target``) come from tests/conftest.py,
shared with tests/contract and tests/v1."""

from __future__ import annotations

import pytest


@pytest.fixture
def jobs(ray_cluster):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(ray_cluster.address)
