"""``azureml.core.experiment``: ``from runconfig_jupyter.core.experiment import Experiment``."""

from .runs import Experiment

__all__ = ["Experiment"]
