"""runconfig-jupyter: Azure ML SDK v1's ScriptRunConfig way of running training jobs, from Jupyter,
on machines you own.

Names are imported lazily: the run driver and in-script ``Run.get_context()``
import this package, and must not pay for YAML, IPython or widgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# ruff: noqa: F401 - the TYPE_CHECKING imports are the lazy public names (__all__ below), not unused
if TYPE_CHECKING:  # what IDEs and type checkers see; at run time a name is imported on first use (below)
    from runconfig_jupyter.core.compute import AmlCompute, ComputeInstance, ComputeTarget, RemoteCompute
    from runconfig_jupyter.core.compute_target import ComputeTargetException
    from runconfig_jupyter.core.config import (
        MAX_DURATION_SECONDS_DEFAULT,
        CondaDependencies,
        DockerConfiguration,
        Environment,
        MpiConfiguration,
        PyTorchConfiguration,
        RunConfiguration,
        ScriptRunConfig,
        TensorflowConfiguration,
    )
    from runconfig_jupyter.core.config.environment import ContainerRegistry
    from runconfig_jupyter.core.config.estimators import (
        Estimator,
        Gloo,
        Mpi,
        Nccl,
        ParameterServer,
        PyTorch,
        TensorFlow,
    )
    from runconfig_jupyter.core.data.consumption import DatasetConsumptionConfig, OutputFileDatasetConfig
    from runconfig_jupyter.core.data.dataset import Dataset, FileDataset, TabularDataset
    from runconfig_jupyter.core.data.datastore import Datastore
    from runconfig_jupyter.core.data.reference import DataPath, DataReference
    from runconfig_jupyter.core.errors import NotSupportedLocally
    from runconfig_jupyter.core.model import Model
    from runconfig_jupyter.core.runs.script_run import Experiment, Run, ScriptRun, submit
    from runconfig_jupyter.core.runs.status import RunStatus
    from runconfig_jupyter.core.runs.store import RunStore
    from runconfig_jupyter.core.safety.confine import register_place, registered_places, unregister_place
    from runconfig_jupyter.core.target.configured import list_targets, register_target
    from runconfig_jupyter.core.workspace import Workspace

__version__ = "0.1.0"

_EXPORTS = {
    "ScriptRunConfig": "runconfig_jupyter.core.config",
    "RunConfiguration": "runconfig_jupyter.core.config",
    "Environment": "runconfig_jupyter.core.config",
    "CondaDependencies": "runconfig_jupyter.core.config",
    "ContainerRegistry": "runconfig_jupyter.core.config.environment",
    "DockerConfiguration": "runconfig_jupyter.core.config",
    "PyTorchConfiguration": "runconfig_jupyter.core.config",
    "MpiConfiguration": "runconfig_jupyter.core.config",
    "TensorflowConfiguration": "runconfig_jupyter.core.config",
    "MAX_DURATION_SECONDS_DEFAULT": "runconfig_jupyter.core.config",
    "Estimator": "runconfig_jupyter.core.config.estimators",
    "PyTorch": "runconfig_jupyter.core.config.estimators",
    "TensorFlow": "runconfig_jupyter.core.config.estimators",
    "Mpi": "runconfig_jupyter.core.config.estimators",
    "Gloo": "runconfig_jupyter.core.config.estimators",
    "Nccl": "runconfig_jupyter.core.config.estimators",
    "ParameterServer": "runconfig_jupyter.core.config.estimators",
    "Experiment": "runconfig_jupyter.core.runs.script_run",
    "Run": "runconfig_jupyter.core.runs.script_run",
    "ScriptRun": "runconfig_jupyter.core.runs.script_run",
    "RunStatus": "runconfig_jupyter.core.runs.status",
    "RunStore": "runconfig_jupyter.core.runs.store",
    "submit": "runconfig_jupyter.core.runs.script_run",
    "register_target": "runconfig_jupyter.core.target.configured",
    "list_targets": "runconfig_jupyter.core.target.configured",
    "register_place": "runconfig_jupyter.core.safety.confine",
    "unregister_place": "runconfig_jupyter.core.safety.confine",
    "registered_places": "runconfig_jupyter.core.safety.confine",
    # Azure ML v1 names a ported notebook imports from azureml.core (see docs/MIGRATING.md)
    "Workspace": "runconfig_jupyter.core.workspace",
    "ComputeTarget": "runconfig_jupyter.core.compute",
    "AmlCompute": "runconfig_jupyter.core.compute",
    "ComputeInstance": "runconfig_jupyter.core.compute",
    "RemoteCompute": "runconfig_jupyter.core.compute",
    "ComputeTargetException": "runconfig_jupyter.core.compute_target",
    "Model": "runconfig_jupyter.core.model",
    "Datastore": "runconfig_jupyter.core.data.datastore",
    "DataReference": "runconfig_jupyter.core.data.reference",
    "DataPath": "runconfig_jupyter.core.data.reference",
    "Dataset": "runconfig_jupyter.core.data.dataset",
    "FileDataset": "runconfig_jupyter.core.data.dataset",
    "TabularDataset": "runconfig_jupyter.core.data.dataset",
    "DatasetConsumptionConfig": "runconfig_jupyter.core.data.consumption",
    "OutputFileDatasetConfig": "runconfig_jupyter.core.data.consumption",
    "NotSupportedLocally": "runconfig_jupyter.core.errors",
}
VERSION = __version__  # azureml.core.VERSION

__all__ = [*_EXPORTS, "load_ipython_extension"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runconfig_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The lazy names too (PEP 562): ``dir(runconfig_jupyter)`` and completion list them before first use."""
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext runconfig_jupyter``."""
    from runconfig_jupyter.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension lives (``jupyter labextension develop`` reads this)."""
    return [{"src": "labextension", "dest": "runconfig-jupyter"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """``jupyter server extension enable runconfig_jupyter`` loads the server extension module."""
    return [{"module": "runconfig_jupyter.server"}]
