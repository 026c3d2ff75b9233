"""``azureml.pipeline.core``: importable; creating a pipeline raises ``NotSupportedLocally``."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import declare_azure_only

STEPS_LOCALLY = (
    "Run the steps as runs in order: submit each step's ScriptRunConfig, wait_for_completion(), and pass the "
    "previous run's outputs (run.download_files or the run folder) to the next as arguments."
)
__all__ = declare_azure_only(
    globals(),
    "Azure ML pipelines",
    STEPS_LOCALLY,
    (
        "Pipeline",
        "PipelineData",
        "PipelineParameter",
        "PipelineRun",
        "PublishedPipeline",
        "PipelineEndpoint",
        "Schedule",
        "ScheduleRecurrence",
        "StepSequence",
    ),
)
