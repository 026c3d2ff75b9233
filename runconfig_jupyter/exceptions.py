"""``azureml.exceptions``: the typed errors ported ``except`` clauses name."""

from runconfig_jupyter.core.compute_target import ComputeTargetException
from runconfig_jupyter.core.errors import (
    AssetNotFound,
    ConfigError,
    NotSupportedLocally,
    RunConfigError,
    RunFailed,
    RunNotFound,
)

# Azure's names for the same situations.
UserErrorException = ConfigError
ExperimentExecutionException = RunFailed
ActivityFailedException = RunFailed
AzureMLException = RunConfigError
WebserviceException = AssetNotFound
ModelNotFoundException = AssetNotFound

__all__ = [
    "ActivityFailedException",
    "AssetNotFound",
    "AzureMLException",
    "ComputeTargetException",
    "ConfigError",
    "ExperimentExecutionException",
    "ModelNotFoundException",
    "NotSupportedLocally",
    "RunNotFound",
    "UserErrorException",
    "WebserviceException",
]
