"""``azureml.train.hyperdrive.policy``: the names v1 kept here (see the package docstring)."""

from runconfig_jupyter.train.hyperdrive import (
    BanditPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)

__all__ = ["BanditPolicy", "MedianStoppingPolicy", "NoTerminationPolicy", "TruncationSelectionPolicy"]
