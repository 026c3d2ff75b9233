"""MPI runs on a REAL Docker engine: mpirun inside one container when the image has Open MPI.

The MPI image is built through our own image path (an environment from a Dockerfile deriving from the offline
base image, with Debian's openmpi-bin apt-installed; ~20 s on this machine) and removed at the end of the
session with the other test images. The offline base image itself has no mpirun: there the run must fall back
to one container per rank and say why.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import Environment, MpiConfiguration
from runconfig_jupyter.core.errors import RunFailed

pytestmark = pytest.mark.docker
TEST_IMAGE_LABEL = "runconfig-jupyter.test"  # the docker conftest removes this session's images carrying it
BASE = "runconfig-jupyter/python:bookworm"

ENV_SCRIPT = """
import json, os, socket
from runconfig_jupyter import Run

keys = ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_RANK", "PMI_RANK",
        "AZ_BATCH_MASTER_NODE"]
print(json.dumps({"host": socket.gethostname(), **{k: os.environ.get(k) for k in keys}}))
if os.environ["OMPI_COMM_WORLD_RANK"] == "0":
    Run.get_context().log("from_rank0", 7)
"""

FAIL_ONE = """
import os, sys, time
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
print("up", rank)
if rank == 1:
    time.sleep(1)
    sys.exit(3)
time.sleep(60)
"""


@pytest.fixture
def mpi_project(tmp_path):
    root = tmp_path / "mpi"
    root.mkdir()
    (root / "env.py").write_text(textwrap.dedent(ENV_SCRIPT))
    (root / "fail_one.py").write_text(textwrap.dedent(FAIL_ONE))
    return root


@pytest.fixture(scope="module")
def mpi_environment(session_nonce) -> Environment:
    dockerfile = (
        f"FROM {BASE}\nLABEL {TEST_IMAGE_LABEL}={session_nonce}\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "openmpi-bin >/dev/null && rm -rf /var/lib/apt/lists/*\n"
    )
    return Environment.from_dockerfile("openmpi", dockerfile)


def _ranks_seen(run, world: int) -> list[dict]:
    return [json.loads((run.run_dir / "logs" / f"rank_{r}.txt").read_text().splitlines()[0]) for r in range(world)]


def test_single_node_mpi_runs_mpirun_in_one_container(mpi_project, mpi_environment, our_containers):
    config = ScriptRunConfig(
        str(mpi_project),
        script="env.py",
        compute_target="docker",
        environment=mpi_environment,
        distributed_job_config=MpiConfiguration(2),
    )
    run = Experiment("docker-mpi").submit(config)
    run.wait_for_completion(timeout=300)
    seen = _ranks_seen(run, 2)
    for rank, values in enumerate(seen):
        assert values["OMPI_COMM_WORLD_RANK"] == str(rank) and values["OMPI_COMM_WORLD_SIZE"] == "2"
        assert values["PMIX_RANK"] == str(rank)  # set by Open MPI's runtime, not by us
        assert values["PMI_RANK"] == str(rank) and values["AZ_BATCH_MASTER_NODE"] == "rank0:6105"
    assert seen[0]["host"] == seen[1]["host"] == "rank0"  # both ranks in the one container
    log = run.get_log()
    assert '[rank 0] {"host": "rank0"' in log and '[rank 1] {"host": "rank0"' in log
    assert "<stdout>" not in log and "[1," not in log  # Open MPI's tags became our prefixes
    assert run.get_metrics()["from_rank0"] == 7
    details = run.get_details()["targetDetails"]
    assert details["launcher"] == "mpirun" and len(details["container_ids"]) == 1
    assert "mpirun (Open MPI" in (run.run_dir / "logs" / "prepare_log.txt").read_text()


def test_failing_rank_under_mpirun_in_a_container_fails_the_run(mpi_project, mpi_environment, our_containers):
    config = ScriptRunConfig(
        str(mpi_project),
        script="fail_one.py",
        compute_target="docker",
        environment=mpi_environment,
        distributed_job_config=MpiConfiguration(2),
    )
    run = Experiment("docker-mpi").submit(config)
    with pytest.raises(RunFailed, match="rank 1 exited with code 3"):
        run.wait_for_completion(timeout=120)
    assert run.record.exit_code == 3
    assert "[rank 0] up 0" in run.get_log() and "[rank 1] up 1" in run.get_log()


def test_multi_node_mpi_keeps_one_container_per_rank(mpi_project, mpi_environment, our_containers):
    config = ScriptRunConfig(
        str(mpi_project),
        script="env.py",
        compute_target="docker",
        environment=mpi_environment,
        distributed_job_config=MpiConfiguration(1, node_count=2),
    )
    run = Experiment("docker-mpi").submit(config)
    run.wait_for_completion(timeout=120)
    seen = _ranks_seen(run, 2)
    assert [s["host"] for s in seen] == ["rank0", "rank1"] and seen[1]["PMIX_RANK"] is None
    details = run.get_details()["targetDetails"]
    assert details["launcher"] == "direct" and "ssh" in details["launcher_reason"]


def test_image_without_mpirun_falls_back_to_direct_launch(mpi_project, our_containers):
    """The offline base image has no Open MPI: ranks start directly, and the prepare log says why."""
    config = ScriptRunConfig(
        str(mpi_project), script="env.py", compute_target="docker", distributed_job_config=MpiConfiguration(2)
    )
    run = Experiment("docker-mpi").submit(config)
    run.wait_for_completion(timeout=120)
    seen = _ranks_seen(run, 2)
    assert [s["OMPI_COMM_WORLD_RANK"] for s in seen] == ["0", "1"] and seen[0]["PMIX_RANK"] is None
    details = run.get_details()["targetDetails"]
    assert details["launcher"] == "direct" and len(details["container_ids"]) == 2
    assert "has no Open MPI mpirun" in (run.run_dir / "logs" / "prepare_log.txt").read_text()
