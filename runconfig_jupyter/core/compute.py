"""``azureml.core.compute`` locally: a compute target is a configured target (or an alias of one).

``ComputeTarget(workspace=ws, name="cpu-cluster")`` finds the target or alias of that name and
raises ``ComputeTargetException`` (saying how to add the alias) when there is none, so the
usual v1 pattern works once the name is mapped::

    try:
        cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
        cluster = ComputeTarget.create(ws, "cpu-cluster", config)   # the mapped target; else NotSupportedLocally
    cluster.wait_for_completion(show_output=True)

Creating, attaching and deleting cloud compute needs Azure: those calls raise
``NotSupportedLocally`` naming the local alternative.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.azure_only import PROVISIONING, azure_only, is_azure_only
from runconfig_jupyter.core.compute_target import ComputeTargetException, UnknownComputeTargetKey
from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally
from runconfig_jupyter.core.model import SERVE_LOCALLY
from runconfig_jupyter.core.target.configured import (
    alias_target,
    configured_targets,
    target_aliases,
    target_aliases_declared,
    unknown_target_message,
)

if TYPE_CHECKING:
    from runconfig_jupyter.core.registries.home import WorkspaceLike
    from runconfig_jupyter.core.target.interface import Capabilities

ATTACH = (
    "Register the machine as a target instead: register_target(name, type='kernel', url=..., token_env=...) for a "
    "Jupyter server, or type='ray' for a Ray cluster (see docs/remote_kernel.md, docs/distributed.md)."
)


@dataclass
class ProvisioningConfiguration:
    """What ``AmlCompute.provisioning_configuration(...)`` was given; kept so the call itself does not fail."""

    settings: dict[str, Any] = field(default_factory=dict)


def _keep_configuration(**settings: Any) -> ProvisioningConfiguration:
    return ProvisioningConfiguration(settings)


class ComputeStatus(str):
    """What ``get_status()`` returns: the state as a string (``"Succeeded"`` or ``"Unavailable: why"``) that also
    answers like Azure's ``AmlComputeStatus`` (``.provisioning_state``, ``.errors``, ``.serialize()``), which v1
    notebooks print right after ``wait_for_completion``. A target is one node that is always there.
    """

    def __new__(cls, state: str, available: bool) -> ComputeStatus:
        status = super().__new__(cls, state)
        status.provisioning_state = "Succeeded" if available else "Failed"
        status.errors = None if available else [state]
        status.current_node_count = status.target_node_count = 1 if available else 0
        status.allocation_state = "Steady"
        return status

    def serialize(self) -> dict[str, Any]:
        return {
            "state": str(self),
            "provisioningState": self.provisioning_state,
            "errors": self.errors,
            "currentNodeCount": self.current_node_count,
            "targetNodeCount": self.target_node_count,
            "allocationState": self.allocation_state,
        }


class ComputeTarget:
    """A configured target by name: ``ComputeTarget(workspace=ws, name="docker")``.

    v1 gave back the cluster's own class (``AmlCompute``, ``ComputeInstance``, ...); a name here stands for
    whichever the ported code had, so what those classes have that needs Azure (``cluster.update(...)``,
    ``list_nodes()``) is found on every compute target and raises ``NotSupportedLocally`` (``__getattr__``).
    """

    def __init__(self, workspace: WorkspaceLike | None = None, name: str | None = None, **_azure_kwargs: Any):
        if not name:
            raise TypeError("ComputeTarget needs a name: ComputeTarget(workspace=ws, name='local')")
        self.workspace = workspace
        self.name = str(name)
        targets = configured_targets()
        self.alias_of: str | None = None if self.name in targets else alias_target(self.name)
        if self.name in targets:
            self._spec = targets[self.name]
        elif self.alias_of is not None:
            self._spec = targets[self.alias_of]
        else:
            known = [*targets, *target_aliases_declared()]
            raise ComputeTargetException(unknown_target_message(self.name, known), field="compute_target")
        self.type: str = str(self._spec["type"])
        self.provisioning_state = "Succeeded"
        self.provisioning_errors = None
        self.location = "local"
        self.tags: dict[str, str] = {}

    @property
    def capabilities(self) -> Capabilities:
        from runconfig_jupyter.core.target.interface import ComputeTarget as Target

        return Target.from_spec({**self._spec, "name": self.name}).capabilities()

    def get_status(self) -> ComputeStatus:
        """Whether the target can take runs now (``Succeeded``) or not (``Unavailable: why``); see ComputeStatus."""
        from runconfig_jupyter.core.target.interface import ComputeTarget as Target

        available, detail = Target.from_spec({**self._spec, "name": self.name}).available()
        return ComputeStatus("Succeeded" if available else f"Unavailable: {detail}", available)

    @property
    def status(self) -> ComputeStatus:
        return self.get_status()

    def wait_for_completion(
        self, show_output: bool = False, min_node_count: int | None = None, timeout_in_minutes: int = 20, **_: Any
    ) -> None:
        """Nothing to provision locally: returns at once (printing the state with ``show_output``)."""
        if show_output:
            where = f" (alias of '{self.alias_of}')" if self.alias_of else ""
            print(f"{self.name}{where}: {self.type} target, {self.get_status()}")

    def get_active_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        status: str | None = None,
    ) -> Iterator[Any]:
        """The runs on this target (by this name) that are queued or running, newest first, as v1 listed them."""
        store, get_run = getattr(self.workspace, "store", None), getattr(self.workspace, "get_run", None)
        if store is None or get_run is None:  # the runs are the workspace's (core.runs is above this module)
            raise ConfigError("open the target with its workspace: ComputeTarget(workspace=ws, name=...)")
        for record in store.list(limit=100_000):
            active = not record.is_terminal if status is None else record.status.value == status
            if record.target == self.name and active:
                yield get_run(record.run_id)

    def serialize(self) -> dict[str, Any]:
        settings = {k: v for k, v in self._spec.items() if k != "type"}
        return {"name": self.name, "type": self.type, "aliasOf": self.alias_of, "settings": settings}

    @classmethod
    def list_by_name(cls, workspace: WorkspaceLike | None = None) -> dict[str, ComputeTarget]:
        names = [*configured_targets(), *target_aliases()]  # every alias checked: a broken one is reported
        return ComputeTargets({name: cls(workspace, name) for name in names})

    @staticmethod
    def list(workspace: WorkspaceLike | None = None) -> list[ComputeTarget]:
        return list(ComputeTarget.list_by_name(workspace).values())

    @staticmethod
    def create(workspace: WorkspaceLike | None, name: str, provisioning_configuration: Any = None) -> ComputeTarget:
        """The configured target or alias ``name``: provisioning is mapping the name (section 2 of MIGRATING.md),
        and v1 samples that test the cluster's type (``type(target) is AmlCompute``) before creating it reach this
        call with a name that is already mapped. An unmapped name raises ``NotSupportedLocally`` saying how."""
        if name in configured_targets() or alias_target(str(name)) is not None:
            return ComputeTarget(workspace, name)
        raise NotSupportedLocally("ComputeTarget.create()", PROVISIONING.replace("NAME", str(name)))

    attach = azure_only("ComputeTarget.attach()", ATTACH)
    delete = azure_only("ComputeTarget.delete()", "Remove the target from targets.yaml, or unregister_target(name).")
    detach = azure_only("ComputeTarget.detach()", "Remove the target from targets.yaml, or unregister_target(name).")
    refresh_state = azure_only("ComputeTarget.refresh_state()", "get_status() reads the target's state now.")

    def __repr__(self) -> str:
        alias = f", alias_of={self.alias_of!r}" if self.alias_of else ""
        return f"ComputeTarget(name={self.name!r}, type={self.type!r}{alias})"

    def __getattr__(self, name: str) -> Any:
        """A member of one of v1's compute classes that needs Azure, on whatever class this target was built as."""
        for kind in _AZURE_COMPUTE_KINDS:
            if name in kind.__dict__ and is_azure_only(kind, name):
                return getattr(kind, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class ComputeTargets(dict):
    """``ws.compute_targets``: a dict whose missing key says how to map that name to a local target.

    The first v1 releases made it a method (``name in ws.compute_targets()``, the 2018 tutorials); calling the
    dict returns it, so both spellings work.
    """

    def __missing__(self, name: str) -> ComputeTarget:
        raise UnknownComputeTargetKey(unknown_target_message(str(name), list(self)), field="compute_target")

    def __call__(self) -> ComputeTargets:
        return self


class AmlCompute(ComputeTarget):
    """Azure's managed cluster; locally its name must be an alias of a configured target."""

    provisioning_configuration = staticmethod(_keep_configuration)

    supported_vmsizes = azure_only("AmlCompute.supported_vmsizes()", PROVISIONING)
    update = azure_only(
        "AmlCompute.update()", "A local target has no nodes to scale: change its settings in targets.yaml instead."
    )
    list_nodes = azure_only(
        "AmlCompute.list_nodes()", "The target is this machine or the one it names; %runs shows what runs where."
    )


class BatchAiCompute(AmlCompute):
    """The 2018 SDK's name for the managed cluster (renamed ``AmlCompute``); its notebooks import it and call
    ``BatchAiCompute.provisioning_configuration(...)`` and ``ComputeTarget.create``, which work as for AmlCompute."""


class DsvmCompute(ComputeTarget):
    """The 2018 SDK's Data Science VM, created by Azure (``DsvmCompute.create``, later replaced by attaching a VM
    as ``RemoteCompute``); its notebooks look the VM up by name, so locally that name is an alias of a target."""

    provisioning_configuration = staticmethod(_keep_configuration)

    supported_vmsizes = azure_only("DsvmCompute.supported_vmsizes()", PROVISIONING)


class ComputeInstance(ComputeTarget):
    """Azure's notebook VM; locally, this machine is the ``local`` target."""

    provisioning_configuration = staticmethod(_keep_configuration)

    supported_vmsizes = azure_only("ComputeInstance.supported_vmsizes()", PROVISIONING)
    start = azure_only("ComputeInstance.start()", PROVISIONING)
    stop = azure_only("ComputeInstance.stop()", PROVISIONING)
    restart = azure_only("ComputeInstance.restart()", PROVISIONING)


class AksCompute(ComputeTarget):
    """Azure Kubernetes Service, where v1 deployed models as web services: the deployment tutorials create or
    attach one before ``Model.deploy``; serving is yours to run locally, so those calls say so."""

    provisioning_configuration = azure_only("AksCompute.provisioning_configuration()", SERVE_LOCALLY)
    attach_configuration = azure_only("AksCompute.attach_configuration()", SERVE_LOCALLY)


class RemoteCompute(ComputeTarget):
    """Azure's attached VM; locally, register the machine as a kernel or Ray target."""

    attach_configuration = staticmethod(_keep_configuration)


# Compute kinds that only Azure creates or attaches: importable, so ported imports stay valid, and their two
# class-level calls say what to use instead (a Spark script runs as PySpark on a mapped target; pipelines are out).
SPARK_LOCALLY = (
    "A Spark cluster is not a local target: run the script with PySpark on a configured one (pip install pyspark; "
    "SparkSession.builder.master('local[*]') in the script), with the cluster's name mapped to it: "
    "register_target('<cluster name>', alias_of='local'). RunConfiguration(framework='pyspark') runs there as Python."
)
PIPELINE_COMPUTE = (
    "It ran steps of Azure ML pipelines, which are not available locally: submit each step's ScriptRunConfig "
    "in order and pass the previous run's outputs to the next as arguments."
)


class _AttachedInAzure(ComputeTarget):
    """A compute kind only Azure creates or attaches: ``attach_configuration`` and ``provisioning_configuration``
    raise ``NotSupportedLocally`` with the ``advice`` a subclass names (``class X(_AttachedInAzure, advice=...)``)."""

    def __init_subclass__(cls, advice: str = ATTACH, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for call in ("attach_configuration", "provisioning_configuration"):
            setattr(cls, call, azure_only(f"{cls.__name__}.{call}()", advice))


class HDInsightCompute(_AttachedInAzure, advice=SPARK_LOCALLY):
    """An HDInsight Spark cluster (train-in-spark attaches one); Spark runs locally as PySpark in a script."""


class DatabricksCompute(_AttachedInAzure, advice=SPARK_LOCALLY):
    """An Azure Databricks workspace (the Databricks pipeline steps attach one)."""


class SynapseCompute(_AttachedInAzure, advice=SPARK_LOCALLY):
    """A Synapse Spark pool linked to the workspace."""


class AdlaCompute(_AttachedInAzure, advice=PIPELINE_COMPUTE):
    """Azure Data Lake Analytics, for U-SQL pipeline steps."""


class DataFactoryCompute(_AttachedInAzure, advice=PIPELINE_COMPUTE):
    """Azure Data Factory, for the data transfer pipeline step."""


class KubernetesCompute(_AttachedInAzure):
    """An Arc-enabled Kubernetes cluster attached to the workspace."""


# The v1 compute classes whose Azure-only members every compute target answers (ComputeTarget.__getattr__).
_AZURE_COMPUTE_KINDS = (AmlCompute, ComputeInstance, RemoteCompute, DsvmCompute)

__all__ = [
    "AdlaCompute",
    "AksCompute",
    "AmlCompute",
    "BatchAiCompute",
    "ComputeInstance",
    "ComputeTarget",
    "ComputeTargetException",
    "DataFactoryCompute",
    "DatabricksCompute",
    "DsvmCompute",
    "HDInsightCompute",
    "KubernetesCompute",
    "ProvisioningConfiguration",
    "RemoteCompute",
    "SynapseCompute",
]
