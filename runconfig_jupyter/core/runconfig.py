"""``azureml.core.runconfig``: ``from runconfig_jupyter.core.runconfig import RunConfiguration, ...``.

The classes live in ``core/config``; this module keeps v1's import path for ported code.
"""

from runconfig_jupyter.core.config.distributed_config import (
    MpiConfiguration,
    PyTorchConfiguration,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.environment import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    CondaDependencies,
    ContainerRegistry,
    Environment,
)
from runconfig_jupyter.core.config.runconfig import (
    DockerConfiguration,
    HdiConfiguration,
    HistoryConfiguration,
    ParallelTaskConfiguration,
    RunConfiguration,
    SparkConfiguration,
)
from runconfig_jupyter.core.data.reference import DataReferenceConfiguration

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "ContainerRegistry",
    "DataReferenceConfiguration",
    "DockerConfiguration",
    "Environment",
    "HdiConfiguration",
    "HistoryConfiguration",
    "MpiConfiguration",
    "ParallelTaskConfiguration",
    "PyTorchConfiguration",
    "RunConfiguration",
    "SparkConfiguration",
    "TensorflowConfiguration",
]
