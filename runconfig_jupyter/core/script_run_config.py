"""``azureml.core.script_run_config``: ``from runconfig_jupyter.core.script_run_config import ScriptRunConfig``."""

from __future__ import annotations

from runconfig_jupyter.core.config.runconfig import RunConfiguration
from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig


def get_run_config_from_script_run(script_run_config: ScriptRunConfig) -> RunConfiguration:
    """v1's helper: the ``RunConfiguration`` a ScriptRunConfig submits (its script and arguments included)."""
    return script_run_config.run_config


__all__ = ["ScriptRunConfig", "get_run_config_from_script_run"]
