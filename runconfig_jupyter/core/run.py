"""``azureml.core.run``: ``from runconfig_jupyter.core.run import Run``."""

from .runs import Run

__all__ = ["Run"]
