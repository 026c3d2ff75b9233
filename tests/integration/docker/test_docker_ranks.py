"""Distributed runs on a REAL Docker engine: one container per rank on a private network (targets/docker_ranks.py)."""

from __future__ import annotations

import textwrap

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import MpiConfiguration, PyTorchConfiguration
from runconfig_jupyter.core.errors import RunFailed
from runconfig_jupyter.targets.docker.target import DockerTarget

pytestmark = pytest.mark.docker

RENDEZVOUS = """
import os, socket, sys, time
from runconfig_jupyter import Run

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
if rank == 0:
    server = socket.create_server(("0.0.0.0", port))
    total, peers = 1, []
    for _ in range(world - 1):
        conn, _ = server.accept()
        total += int(conn.recv(16))
        peers.append(conn)
    for conn in peers:
        conn.sendall(str(total).encode())
        conn.close()
else:
    for _attempt in range(200):  # rank 0 may not listen yet
        try:
            sock = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    sock.sendall(str(rank + 1).encode())
    total = int(sock.recv(16))
node, local = os.environ["NODE_RANK"], os.environ["LOCAL_RANK"]
print(f"rank {rank} on {socket.gethostname()} node {node} local {local} total {total}")
if rank == 0:
    Run.get_context().log("total", total)
    os.makedirs("outputs", exist_ok=True)
    open("outputs/total.txt", "w").write(str(total))
"""

FAIL_ONE = """
import os, sys, time
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
print("up", rank, os.environ["AZ_BATCH_MASTER_NODE"], flush=True)
if rank == int(sys.argv[1]):
    time.sleep(1)
    sys.exit(3)
time.sleep(120)
"""


@pytest.fixture
def dist_project(tmp_path):
    root = tmp_path / "dist"
    root.mkdir()
    (root / "rendezvous.py").write_text(textwrap.dedent(RENDEZVOUS))
    (root / "fail_one.py").write_text(textwrap.dedent(FAIL_ONE))
    return root


def _networks(client, run_id):
    return [n for n in client.networks.list() if run_id in n.name]


def test_ranks_in_separate_containers_find_rank0_by_name(dist_project, docker_client, our_containers):
    config = ScriptRunConfig(
        str(dist_project),
        script="rendezvous.py",
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=4, node_count=2),
    )
    run = Experiment("docker-ranks").submit(config, target=DockerTarget("docker"))
    run.wait_for_completion(timeout=180)
    log = run.read_log()[0]
    # 1+2+3+4: every rank reached rank 0 over the private network, by the name in MASTER_ADDR.
    for rank, (node, local) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert f"[rank {rank}] rank {rank} on rank{rank} node {node} local {local} total 10" in log
    assert (run.run_dir / "logs" / "rank_2.txt").read_text().startswith("rank 2 on rank2")
    assert run.get_metrics()["total"] == 10
    assert (run.outputs_dir() / "total.txt").read_text() == "10"
    assert len(run.get_details()["targetDetails"]["container_ids"]) == 4
    assert our_containers(run.id) == [] and _networks(docker_client, run.id) == []


def test_failing_rank_stops_the_other_containers(dist_project, docker_client, our_containers):
    config = ScriptRunConfig(
        str(dist_project), script="fail_one.py", arguments=[1], distributed_job_config=MpiConfiguration(3)
    )
    run = Experiment("docker-ranks").submit(config, target=DockerTarget("docker", stop_timeout=2))
    with pytest.raises(RunFailed, match="rank 1 exited with code 3"):
        run.wait_for_completion(timeout=120)
    log = run.read_log()[0]
    assert "[rank 0] up 0 rank0:6105" in log and "[rank 2] up 2 rank0:6105" in log
    assert our_containers(run.id) == [] and _networks(docker_client, run.id) == []


def test_cancel_stops_every_rank_container(dist_project, docker_client, our_containers):
    """Through the registry, as a user would configure it (type docker in targets.yaml)."""
    from runconfig_jupyter.core.target.configured import register_target, unregister_target
    from tests.conftest import wait_for

    register_target("ranks", type="docker", stop_timeout=2)
    try:
        config = ScriptRunConfig(
            str(dist_project),
            script="fail_one.py",
            arguments=[-1],  # no rank fails: they all wait to be stopped
            distributed_job_config=MpiConfiguration(1, node_count=2),
        )
        run = Experiment("docker-ranks").submit(config, target="ranks")
        wait_for(lambda: run.read_log()[0].count("] up ") == 2, timeout=120, message="both ranks up")
        assert len(our_containers(run.id)) == 2
        run.cancel()
        wait_for(lambda: run.record.is_terminal, timeout=60, message="canceled")
        assert run.get_status() == "Canceled"
        assert our_containers(run.id) == [] and _networks(docker_client, run.id) == []
    finally:
        unregister_target("ranks")
