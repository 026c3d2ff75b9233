"""``azureml.core.environment``: ``from runconfig_jupyter.core.environment import Environment, ...``.

The classes live in ``core/config``; this module keeps v1's import path for ported code.
"""

from runconfig_jupyter.core.config.environment import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    CondaDependencies,
    ContainerRegistry,
    DatabricksSection,
    DockerSection,
    Environment,
    PythonSection,
    RCranPackage,
    RGitHubPackage,
    RSection,
    SparkSection,
)

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "ContainerRegistry",
    "DatabricksSection",
    "DockerSection",
    "Environment",
    "PythonSection",
    "RCranPackage",
    "RGitHubPackage",
    "RSection",
    "SparkSection",
]
