"""``azureml.core.container_registry``: ``from runconfig_jupyter.core.container_registry import ContainerRegistry``.

The classes live in ``core/config/environment.py`` (they are ``environment.docker.base_image_registry``); this
module keeps v1's import path for ported code.
"""

from runconfig_jupyter.core.config.environment import ContainerRegistry, RegistryIdentity

__all__ = ["ContainerRegistry", "RegistryIdentity"]
