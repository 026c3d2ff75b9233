"""The config API in one import: Azure ML v1's configuration classes.

    from runconfig_jupyter.core.config import ScriptRunConfig, RunConfiguration, Environment, ...

Each class lives in a small module of its own (scriptrunconfig, runconfig,
environment, distributed_config; YAML handling in serialization); this module
only gathers them so callers do not depend on that split.
"""

from __future__ import annotations

from runconfig_jupyter.core.config.distributed_config import (
    MpiConfiguration,
    PyTorchConfiguration,
    TensorflowConfiguration,
)
from runconfig_jupyter.core.config.environment import CondaDependencies, DockerSection, Environment, PythonSection
from runconfig_jupyter.core.config.runconfig import (
    DockerConfiguration,
    HdiConfiguration,
    HistoryConfiguration,
    ParallelTaskConfiguration,
    RunConfiguration,
    SparkConfiguration,
)
from runconfig_jupyter.core.config.scriptrunconfig import MAX_DURATION_SECONDS_DEFAULT, ScriptRunConfig

__all__ = [
    "MAX_DURATION_SECONDS_DEFAULT",
    "CondaDependencies",
    "DockerConfiguration",
    "DockerSection",
    "Environment",
    "HdiConfiguration",
    "HistoryConfiguration",
    "MpiConfiguration",
    "ParallelTaskConfiguration",
    "PyTorchConfiguration",
    "PythonSection",
    "RunConfiguration",
    "ScriptRunConfig",
    "SparkConfiguration",
    "TensorflowConfiguration",
]
