"""Rank layout and per-framework environment variables (core/distributed.py)."""

from __future__ import annotations

import json
import socket

import pytest

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs import distributed as dist


def test_pytorch_two_nodes_two_processes_gets_torchrun_variables():
    plan = dist.pytorch_plan(process_count=4, node_count=2, backend="Gloo")
    assert plan.world_size == 4 and plan.processes_per_node == 2 and plan.backend == "Gloo"
    envs = [dist.rank_environment(plan, rank, "10.0.0.4", 6105) for rank in plan.ranks]
    assert envs[3] == {
        "MASTER_ADDR": "10.0.0.4",
        "MASTER_PORT": "6105",
        "WORLD_SIZE": "4",
        "RANK": "3",
        "LOCAL_RANK": "1",
        "NODE_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        # Azure's legacy names; for PyTorch the task index is the process's global rank
        "AZ_BATCHAI_TASK_INDEX": "3",
        "AZ_BATCHAI_PYTORCH_INIT_METHOD": "tcp://10.0.0.4:6105",
        "AZUREML_NODE_COUNT": "2",
        "AZ_BATCH_MASTER_NODE": "10.0.0.4:6105",
        "AZ_BATCHAI_MPI_MASTER_NODE": "10.0.0.4",
    }
    assert [(e["RANK"], e["NODE_RANK"], e["LOCAL_RANK"]) for e in envs] == [
        ("0", "0", "0"),
        ("1", "0", "1"),
        ("2", "1", "0"),
        ("3", "1", "1"),
    ]


def test_pytorch_process_count_defaults_to_one_per_node_and_must_divide():
    assert dist.pytorch_plan(None, node_count=3).world_size == 3
    with pytest.raises(ConfigError, match="process_count") as info:
        dist.pytorch_plan(3, node_count=2)
    assert info.value.field == "distributed_job_config.process_count"
    with pytest.raises(ConfigError, match="integer >= 1"):
        dist.pytorch_plan(0)
    with pytest.raises(ConfigError, match="node_count"):
        dist.pytorch_plan(2, node_count="2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="more than"):
        dist.pytorch_plan(dist.MAX_WORLD_SIZE + 1)


def test_mpi_variables_keep_azure_names():
    plan = dist.mpi_plan(process_count_per_node=2, node_count=2)
    env = dist.rank_environment(plan, plan.ranks[2], "10.0.0.4", 6105)
    assert env["OMPI_COMM_WORLD_RANK"] == "2"
    assert env["OMPI_COMM_WORLD_SIZE"] == "4"
    assert env["OMPI_COMM_WORLD_LOCAL_RANK"] == "0"
    assert env["OMPI_COMM_WORLD_LOCAL_SIZE"] == "2"
    assert env["OMPI_COMM_WORLD_NODE_RANK"] == "1"
    assert env["PMI_RANK"] == "2" and env["PMI_SIZE"] == "4"
    assert env["AZ_BATCH_MASTER_NODE"] == "10.0.0.4:6105"
    assert env["AZ_BATCHAI_MPI_MASTER_NODE"] == "10.0.0.4"
    assert "MASTER_ADDR" not in env  # MPI jobs read the OMPI names, as on Azure


def test_tensorflow_parameter_server_tf_config():
    plan = dist.tensorflow_plan(worker_count=2, parameter_server_count=1)
    assert [(r.role, r.task_index) for r in plan.ranks] == [("worker", 0), ("worker", 1), ("ps", 0)]
    tasks = ["h0:1000", "h1:1001", "h2:1002"]
    configs = [json.loads(dist.rank_environment(plan, r, "h0", 1, tasks)["TF_CONFIG"]) for r in plan.ranks]
    assert configs[0]["cluster"] == {"worker": ["h0:1000", "h1:1001"], "ps": ["h2:1002"]}
    assert configs[1]["task"] == {"type": "worker", "index": 1}
    assert configs[2]["task"] == {"type": "ps", "index": 0}
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


def test_tensorflow_without_parameter_servers_is_workers_only():
    plan = dist.tensorflow_plan(worker_count=2, parameter_server_count=0)
    envs = dist.all_rank_environments(plan)
    cluster = json.loads(envs[0]["TF_CONFIG"])["cluster"]
    assert list(cluster) == ["worker"] and len(set(cluster["worker"])) == 2
    with pytest.raises(ConfigError, match="parameter_server_count"):
        dist.tensorflow_plan(1, -1)


def test_all_rank_environments_on_one_host_share_a_free_master_port():
    plan = dist.pytorch_plan(2)
    envs = dist.all_rank_environments(plan)
    assert {e["MASTER_PORT"] for e in envs} == {envs[0]["MASTER_PORT"]}
    assert envs[0]["MASTER_ADDR"] == "127.0.0.1"
    assert dist.port_is_free(int(envs[0]["MASTER_PORT"]))


def test_master_port_prefers_6105_and_moves_when_taken():
    with socket.socket() as blocker:
        try:
            blocker.bind(("127.0.0.1", dist.DEFAULT_MASTER_PORT))
        except OSError:
            pytest.skip("6105 is in use on this machine")
        blocker.listen()
        port = dist.pick_master_port()
        assert port != dist.DEFAULT_MASTER_PORT and dist.port_is_free(port)
    assert dist.pick_master_port() == dist.DEFAULT_MASTER_PORT


def test_free_ports_are_distinct():
    ports = dist.free_ports(5)
    assert len(set(ports)) == 5


class _Section:
    def __init__(self, **values):
        self.__dict__.update(values)


def _run_config(**values):
    defaults = {"communicator": "None", "framework": "Python", "node_count": 1}
    return _Section(**{**defaults, **values})


def test_plan_from_run_configuration_sections():
    """Azure .runconfig files say communicator + a section; dict sections are accepted too."""
    config = _Section(
        distributed_job_config=None,
        run_config=_run_config(communicator="Gloo", framework="PyTorch", pytorch={"process_count": 2}),
    )
    plan = dist.plan_for(config)
    assert plan is not None and plan.framework == "pytorch" and plan.world_size == 2 and plan.backend == "Gloo"
    config.run_config = _run_config(communicator="IntelMpi", node_count=2, mpi=_Section(process_count_per_node=3))
    plan = dist.plan_for(config)
    assert plan is not None and (plan.framework, plan.world_size, plan.node_count) == ("mpi", 6, 2)
    config.run_config = _run_config(
        communicator="ParameterServer", framework="TensorFlow", tensorflow={"worker_count": 3}
    )
    plan = dist.plan_for(config)
    assert plan is not None and plan.world_size == 4
    config.run_config = _run_config()
    assert dist.plan_for(config) is None
    config.run_config = _run_config(communicator="Horovodish")
    with pytest.raises(ConfigError, match="communicator") as info:
        dist.plan_for(config)
    assert info.value.field == "run_config.communicator"


def test_plan_round_trips_through_dict():
    for plan in (dist.pytorch_plan(4, 2, "Gloo"), dist.mpi_plan(2, 3), dist.tensorflow_plan(2, 1)):
        assert dist.DistributedPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
