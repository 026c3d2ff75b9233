"""``azureml.core.experiment``: ``from runconfig_jupyter.core.experiment import Experiment``."""

from runconfig_jupyter.core.runs.script_run import Experiment

__all__ = ["Experiment"]
