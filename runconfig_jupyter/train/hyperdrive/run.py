"""``azureml.train.hyperdrive.run``: the names v1 kept here (see the package docstring)."""

from runconfig_jupyter.train.hyperdrive import HyperDriveRun, PrimaryMetricGoal

__all__ = ["HyperDriveRun", "PrimaryMetricGoal"]
