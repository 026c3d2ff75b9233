"""Azure ML v1's ``Workspace``, locally: the run home, with its targets, runs and registries.

``Workspace.from_config()``, ``Workspace.get(name, ...)`` and ``Workspace(subscription_id,
resource_group, workspace_name)`` all return the workspace of the current run home
(``$RUNCONFIG_JUPYTER_HOME``). Subscription, resource group and name are kept for display
(read from ``config.json`` when there is one) and never contact anything. What a workspace
holds in Azure maps onto local things: ``compute_targets`` are the configured targets (plus
their aliases), ``experiments`` the experiments with runs here, ``environments`` and ``models``
the local registries, ``datastores`` the registered datastores and ``datasets`` the registered datasets
(core/data). Provisioning, keys and endpoints need Azure and say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.azure_only import PORTAL, azure_only, azure_only_property
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.system.paths import run_home

if TYPE_CHECKING:
    from runconfig_jupyter.core.compute import ComputeTarget
    from runconfig_jupyter.core.config.environment import Environment
    from runconfig_jupyter.core.data.datastore import Datastore
    from runconfig_jupyter.core.model import Model
    from runconfig_jupyter.core.runs.script_run import Experiment, ScriptRun

CONFIG_FILE = "config.json"
CONFIG_DIRS = (".azureml", "aml_config", ".")
LOCAL_NAME = "local"
MANAGE_HOME = (
    "The local workspace is the run home ($RUNCONFIG_JUPYTER_HOME): it exists as soon as it is used; point "
    "RUNCONFIG_JUPYTER_HOME elsewhere for a separate one, and delete that folder to remove it."
)


def find_config(path: str | Path | None = None, file_name: str | None = None) -> Path | None:
    """Azure's search: ``path`` (a file or folder), else the current folder and its parents, in .azureml/ first."""
    name = file_name or CONFIG_FILE
    if path is not None and Path(path).is_file():
        return Path(path)
    start = Path(path) if path is not None else Path.cwd()
    folders = [start] if path is not None else [start, *start.resolve().parents]
    for folder in folders:
        for sub in CONFIG_DIRS:
            candidate = folder / sub / name
            if candidate.is_file():
                return candidate
    return None


class Workspace:
    """The local workspace (see the module docstring); positional arguments follow Azure's constructor."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        _location: str | None = None,
        *_azure_args: Any,
        _home: str | Path | None = None,
        **_azure_kwargs: Any,
    ):
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = workspace_name or LOCAL_NAME
        self.location = _location or LOCAL_NAME
        self.store = RunStore(_home or run_home())
        self.config_path: Path | None = None

    @property
    def home(self) -> Path:
        return self.store.home

    # -- how v1 code obtains a workspace ------------------------------------------------
    @classmethod
    def from_config(
        cls, path: str | Path | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None
    ) -> Workspace:
        """The local workspace, named after ``config.json`` when one is found (it is optional here)."""
        found = find_config(path, _file_name)
        data: dict[str, Any] = {}
        if found is not None:
            try:
                data = json.loads(found.read_text())
            except ValueError as error:
                from runconfig_jupyter.core.errors import ConfigError

                raise ConfigError(f"{found} is not valid JSON: {error}", field="config.json") from error
        workspace = cls(data.get("subscription_id"), data.get("resource_group"), data.get("workspace_name"))
        workspace.config_path = found
        return workspace

    @classmethod
    def get(
        cls,
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        return cls(subscription_id, resource_group, name, _location=location)

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> str:
        """Write ``.azureml/config.json`` so ``Workspace.from_config()`` finds this workspace's names."""
        folder = Path(path) if path is not None else Path.cwd()
        target = folder / ".azureml" / (file_name or CONFIG_FILE)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.name,
        }
        target.write_text(json.dumps(data, indent=2))
        return str(target)

    # -- what the workspace holds --------------------------------------------------------
    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        """Configured targets and aliases by name (``ws.compute_targets['cpu-cluster']`` once aliased)."""
        from runconfig_jupyter.core.compute import ComputeTarget

        return ComputeTarget.list_by_name(self)

    @property
    def experiments(self) -> dict[str, Experiment]:
        from runconfig_jupyter.core.runs.script_run import Experiment

        return {exp.name: exp for exp in Experiment.list(self)}

    @property
    def environments(self) -> dict[str, Environment]:
        from runconfig_jupyter.core.config.environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, Model]:
        from runconfig_jupyter.core.model import Model

        return {model.name: model for model in Model.list(self, latest=True)}

    @property
    def datastores(self) -> dict[str, Datastore]:
        """Registered datastores by name (``<home>/datastores.yaml``), ``workspaceblobstore`` included."""
        from runconfig_jupyter.core.data.datastore import Datastore

        return {datastore.name: datastore for datastore in Datastore.list(self)}

    def get_default_datastore(self) -> Datastore:
        """``workspaceblobstore`` (a writable folder of the run home) unless another was made the default."""
        from runconfig_jupyter.core.data.datastore import Datastore

        return Datastore.get_default(self)

    def set_default_datastore(self, name: str) -> None:
        from runconfig_jupyter.core.data.stores import set_default_datastore

        set_default_datastore(name, self.home)

    def get_run(self, run_id: str) -> ScriptRun:
        from runconfig_jupyter.core.runs.script_run import Run

        return Run(run_id, store=self.store)

    def get_details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "location": self.location,
            "home": str(self.home),
            "configFile": str(self.config_path) if self.config_path else None,
        }

    @property
    def datasets(self) -> dict[str, Any]:
        """Name -> latest version of every registered dataset (``<home>/datasets``)."""
        from runconfig_jupyter.core.data.dataset import Dataset

        return Dataset.get_all(self)

    # -- Azure-only -------------------------------------------------------------------------
    create = azure_only("Workspace.create()", MANAGE_HOME)
    delete = azure_only("Workspace.delete()", MANAGE_HOME)
    list = azure_only("Workspace.list()", MANAGE_HOME)
    update = azure_only("Workspace.update()", MANAGE_HOME)
    sync_keys = azure_only("Workspace.sync_keys()", MANAGE_HOME)
    list_keys = azure_only("Workspace.list_keys()", MANAGE_HOME)
    get_mlflow_tracking_uri = azure_only(
        "Workspace.get_mlflow_tracking_uri()", "Runs are tracked in the run home; log with run.log(...)."
    )
    webservices = azure_only_property(
        "Workspace.webservices", "Serve a registered model yourself: Model.get_model_path(name) gives its file."
    )
    get_portal_url = azure_only("Workspace portal", PORTAL)

    def __repr__(self) -> str:
        return f"Workspace(name='{self.name}', home='{self.home}')"
