"""``azureml.exceptions``: the typed errors ported ``except`` clauses name."""

from runconfig_jupyter.core.compute_target import ComputeTargetException
from runconfig_jupyter.core.errors import (
    AssetNotFound,
    ConfigError,
    NotSupportedLocally,
    RunConfigError,
    RunFailed,
    RunNotFound,
    UserError,
)

# Azure's names for the same situations.
UserErrorException = UserError  # ConfigError and AssetNotFound (Dataset.get_by_name of an unknown name)
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
