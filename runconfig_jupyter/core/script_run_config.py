"""``azureml.core.script_run_config``: ``from runconfig_jupyter.core.script_run_config import ScriptRunConfig``."""

from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig

__all__ = ["ScriptRunConfig"]
