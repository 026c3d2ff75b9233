"""One real Ray cluster (a head and one worker node on 127.0.0.1) for all Ray tests of the session."""

from __future__ import annotations

import pytest

from tests.integration.ray.cluster import RayCluster, start_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> RayCluster:
    pytest.importorskip("ray.job_submission")
    cluster = start_cluster(num_cpus=2, worker_cpus=1)
    yield cluster
    cluster.stop()


@pytest.fixture
def ray_target(ray_cluster: RayCluster):
    """The cluster registered under a name, as a user would in targets.yaml."""
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    register_target("cluster", type="ray", address=ray_cluster.address)
    yield "cluster"
    unregister_target("cluster")


@pytest.fixture
def jobs(ray_cluster: RayCluster):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(ray_cluster.address)
