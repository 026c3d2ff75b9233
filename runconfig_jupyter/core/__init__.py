"""The core API (no Jupyter front end, no concrete target).

It mirrors ``azureml.core`` for ported code: ``from runconfig_jupyter.core import Workspace,
Experiment, Run`` works like ``from azureml.core import ...``, and ``azureml.core.<module>``
imports have a ``runconfig_jupyter.core.<module>`` of the same name (compute, compute_target,
conda_dependencies, container_registry, dataset, datastore, environment, experiment, keyvault, model,
resource_configuration, run, runconfig, script_run_config, workspace, authentication). Names are resolved
lazily: the run driver and in-script ``Run.get_context()`` import this package and must not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_V1_NAMES = (
    "Workspace",
    "Experiment",
    "Run",
    "ScriptRun",
    "ScriptRunConfig",
    "RunConfiguration",
    "Environment",
    "CondaDependencies",
    "ContainerRegistry",
    "Model",
    "ComputeTarget",
    "Datastore",
    "Dataset",
    "RunStatus",
    "DataReference",
    "DataPath",
)
# v1 names exported by ``azureml.core`` that live in a module of their own here (name -> module).
_V1_ELSEWHERE = {"Webservice": "webservice", "Keyvault": "keyvault"}
# v1's ``import azureml.core`` made its submodules attributes (``azureml.core.runconfig.DEFAULT_CPU_IMAGE``).
_V1_MODULES = frozenset(
    (
        "authentication",
        "compute",
        "compute_target",
        "conda_dependencies",
        "container_registry",
        "dataset",
        "datastore",
        "environment",
        "experiment",
        "image",
        "keyvault",
        "model",
        "resource_configuration",
        "run",
        "runconfig",
        "script_run_config",
        "webservice",
        "workspace",
    )
)


def __getattr__(name: str) -> Any:
    if name == "VERSION":
        return importlib.import_module("runconfig_jupyter").__version__
    if name in _V1_NAMES:
        return getattr(importlib.import_module("runconfig_jupyter"), name)
    if name in _V1_ELSEWHERE:
        return getattr(importlib.import_module(f"{__name__}.{_V1_ELSEWHERE[name]}"), name)
    if name in _V1_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'runconfig_jupyter.core' has no attribute {name!r}")
