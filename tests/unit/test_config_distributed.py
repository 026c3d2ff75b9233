"""Distributed job configs and their Azure ML v1 mapping onto RunConfiguration."""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.config import (
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.distributed_config import distributed_from_dict, distributed_to_dict
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError


def test_defaults_match_azure():
    assert PyTorchConfiguration() == PyTorchConfiguration(
        communication_backend="Nccl", process_count=None, node_count=1
    )
    assert (MpiConfiguration().process_count_per_node, MpiConfiguration().node_count) == (1, 1)
    assert (TensorflowConfiguration().worker_count, TensorflowConfiguration().parameter_server_count) == (1, 1)


@pytest.mark.parametrize("given, expected", [("nccl", "Nccl"), ("GLOO", "Gloo"), ("Gloo", "Gloo")])
def test_pytorch_backend_is_normalised(given, expected):
    assert PyTorchConfiguration(communication_backend=given).communication_backend == expected


def test_bad_backend_names_the_valid_ones():
    with pytest.raises(
        ConfigError, match=r"communication_backend: unknown PyTorch backend 'mpi'.*Nccl, Gloo"
    ) as caught:
        PyTorchConfiguration(communication_backend="mpi")
    assert caught.value.field == "communication_backend"


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: PyTorchConfiguration(process_count=0), "process_count"),
        (lambda: PyTorchConfiguration(node_count=True), "node_count"),
        (lambda: MpiConfiguration(process_count_per_node=-1), "process_count_per_node"),
        (lambda: TensorflowConfiguration(worker_count="2"), "worker_count"),
        (lambda: TensorflowConfiguration(parameter_server_count=-1), "parameter_server_count"),
    ],
)
def test_counts_are_checked(make, field):
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.field == field


def test_pytorch_maps_to_framework_pytorch_and_backend_communicator(tmp_path):
    config = ScriptRunConfig(
        tmp_path, script="t.py", distributed_job_config=PyTorchConfiguration("gloo", process_count=4, node_count=2)
    )
    rc = config.run_config
    assert (rc.framework, rc.communicator, rc.node_count) == ("PyTorch", "Gloo", 2)
    assert rc.pytorch == PyTorchConfiguration("Gloo", 4, 2)


def test_mpi_maps_to_python_intelmpi(tmp_path):
    config = ScriptRunConfig(tmp_path, script="t.py", distributed_job_config=MpiConfiguration(2, node_count=3))
    rc = config.run_config
    assert (rc.framework, rc.communicator, rc.node_count) == ("Python", "IntelMpi", 3)
    assert rc.mpi.process_count_per_node == 2


def test_tensorflow_maps_to_parameter_server_and_worker_count_nodes(tmp_path):
    config = ScriptRunConfig(tmp_path, script="t.py", distributed_job_config=TensorflowConfiguration(3, 2))
    rc = config.run_config
    assert (rc.framework, rc.communicator, rc.node_count) == ("TensorFlow", "ParameterServer", 3)
    assert rc.tensorflow.parameter_server_count == 2


def test_sections_serialise_with_azure_keys():
    out = RunConfiguration(pytorch=PyTorchConfiguration("Gloo", 2)).to_dict()
    assert out["pyTorch"] == {"communicationBackend": "Gloo", "processCount": 2, "nodeCount": 1}
    assert out["mpi"] == {"processCountPerNode": 1, "nodeCount": 1}
    assert out["tensorflow"] == {"workerCount": 1, "parameterServerCount": 1}


@pytest.mark.parametrize(
    "data",
    [
        {"pytorch": {"process_count": 2}},
        {"type": "PyTorch", "process_count": 2},
        {"type": "pytorch", "processCount": 2},
        {"pyTorch": {"processCount": 2, "communicationBackend": "Nccl"}},
    ],
)
def test_distributed_from_dict_forms(data):
    assert distributed_from_dict(data) == PyTorchConfiguration(process_count=2)


def test_distributed_dict_round_trip():
    for config in (PyTorchConfiguration("Gloo", 3, 2), MpiConfiguration(4, 2), TensorflowConfiguration(2, 0)):
        assert distributed_from_dict(distributed_to_dict(config)) == config
    assert distributed_to_dict(None) is None


def test_distributed_from_dict_errors():
    with pytest.raises(ConfigError, match=r"unknown type 'horovod'"):
        distributed_from_dict({"type": "horovod"})
    with pytest.raises(ConfigError, match=r"cannot tell the kind"):
        distributed_from_dict({"process_count": 2, "node_count": 1})
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'process_count'"):
        distributed_from_dict({"type": "PyTorch", "proces_count": 2})
