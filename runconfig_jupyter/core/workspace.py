"""Azure ML v1's ``Workspace``, locally: the run home, with its targets, runs and registries.

``Workspace.from_config()``, ``Workspace.get(name, ...)`` and ``Workspace(subscription_id,
resource_group, workspace_name)`` all return the workspace of the current run home
(``$RUNCONFIG_JUPYTER_HOME``). Subscription, resource group and name are kept for display
(read from ``config.json`` when there is one) and never contact anything. What a workspace
holds in Azure maps onto local things: ``compute_targets`` are the configured targets (plus
their aliases), ``experiments`` the experiments with runs here, ``environments`` and ``models``
the local registries, ``datastores`` the registered datastores and ``datasets`` the registered datasets
(core/data). Provisioning, keys and endpoints need Azure and say so.

This is the v1 import path; the class lives with ``Experiment`` and ``ScriptRun`` in core/runs/script_run.py
(they build each other, see there).
"""

from runconfig_jupyter.core.registries.home import CONFIG_DIRS, CONFIG_FILE, LOCAL_NAME, find_config
from runconfig_jupyter.core.runs.script_run import MANAGE_HOME, Workspace

__all__ = ["CONFIG_DIRS", "CONFIG_FILE", "LOCAL_NAME", "MANAGE_HOME", "Workspace", "find_config"]
