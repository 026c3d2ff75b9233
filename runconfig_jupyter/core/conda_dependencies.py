"""``azureml.core.conda_dependencies``: ``from runconfig_jupyter.core.conda_dependencies import CondaDependencies``."""

from runconfig_jupyter.core.config.environment import CondaDependencies

__all__ = ["CondaDependencies"]
