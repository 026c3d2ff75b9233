"""``azureml.core.conda_dependencies``: ``from runconfig_jupyter.core.conda_dependencies import CondaDependencies``."""

from .environment import CondaDependencies

__all__ = ["CondaDependencies"]
