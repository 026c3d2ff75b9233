"""``azureml.train.hyperdrive.runconfig``: the names v1 kept here (see the package docstring)."""

from runconfig_jupyter.train.hyperdrive import HyperDriveConfig, HyperDriveRunConfig

__all__ = ["HyperDriveConfig", "HyperDriveRunConfig"]
