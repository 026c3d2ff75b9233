"""``azureml.core.run``: ``from runconfig_jupyter.core.run import Run``."""

from runconfig_jupyter.core.runs.script_run import Run

__all__ = ["Run"]
