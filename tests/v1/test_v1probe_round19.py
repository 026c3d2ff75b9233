"""Round 19: calls ported v1 notebooks make that broke (ml-frameworks/chainer/distributed-chainer,
ml-frameworks/pytorch/distributed-pytorch-with-nccl-gloo, ...), each on real local runs and real targets."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_gpu_refusal_names_the_estimators_use_gpu(v1_project: Path, docker_client, monkeypatch):
    """distributed-chainer builds ``Chainer(..., node_count=2, distributed_training=Mpi(), use_gpu=True)``. On an
    engine without the NVIDIA runtime the refusal told the user to remove ``--gpus`` from docker arguments they
    never wrote; it now names ``use_gpu``, the argument that asked for the GPU."""
    from runconfig_jupyter import Experiment, Workspace, register_target
    from runconfig_jupyter.core.errors import TargetUnavailable
    from runconfig_jupyter.core.target.configured import unregister_target
    from runconfig_jupyter.train.dnn import Chainer, Mpi

    info = docker_client.info()
    if any("nvidia" in str(name).lower() for name in info.get("Runtimes") or {}):
        pytest.skip("this engine can serve GPUs")
    monkeypatch.setenv("RUNCONFIG_IGNORE_NVIDIA_HOOK", "1")
    register_target("gpu-cluster", alias_of="docker")
    try:
        with pytest.warns(DeprecationWarning):
            estimator = Chainer(
                source_directory=str(v1_project),
                compute_target="gpu-cluster",
                entry_script="train.py",
                node_count=2,
                distributed_training=Mpi(),
                use_gpu=True,
            )
        with pytest.raises(TargetUnavailable, match=r"use_gpu=False"):
            Experiment(Workspace.from_config(), "chainer-distr").submit(estimator)
    finally:
        unregister_target("gpu-cluster")
