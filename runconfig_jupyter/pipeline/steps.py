"""``azureml.pipeline.steps``: importable; creating a step raises ``NotSupportedLocally``."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import declare_azure_only
from runconfig_jupyter.pipeline.core import STEPS_LOCALLY

__all__ = declare_azure_only(
    globals(),
    "Azure ML pipelines",
    STEPS_LOCALLY,
    ("PythonScriptStep", "EstimatorStep", "HyperDriveStep", "ParallelRunStep", "ParallelRunConfig", "CommandStep"),
)
