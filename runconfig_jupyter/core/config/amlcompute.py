"""``run_config.amlcompute`` and ``run_config.container_instance``: v1's sizing sections as views over kept data.

Cluster and container sizing mean nothing on machines you own, but ported notebooks set them (train-on-amlcompute
sizes the cluster; the 2018 train-on-aci notebook sizes the container instance); the values are stored in the
pass-through section (so files round-trip unchanged) and a warning says that they have no local effect when a
run configuration is first given one (not once per process: each configuration that is sized says so). A name
v1 did not have raises AttributeError listing the ones it had, so a typo is not kept silently.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from runconfig_jupyter.core.config.serialization import norm, to_camel

# v1's AmlComputeConfiguration attributes (snake_case here, camelCase on disk).
AML_COMPUTE_ATTRS = frozenset(
    {"name", "vm_size", "vm_priority", "retain_cluster", "cluster_max_node_count", "location"}
)
# v1's ContainerInstanceConfiguration attributes.
CONTAINER_INSTANCE_ATTRS = frozenset({"region", "cpu_cores", "memory_gb"})


class _KeptSectionView:
    """Reads and writes ``extra[<section>]`` of a run configuration under the key it was read with."""

    section: ClassVar[str]
    label: ClassVar[str]
    attrs: ClassVar[frozenset[str]]
    why: ClassVar[str]

    def __init__(self, extra: dict[str, Any]):
        object.__setattr__(self, "_extra", extra)

    def _section(self, create: bool) -> dict[str, Any] | None:
        extra = self._extra
        key = next((k for k in extra if norm(k) == norm(self.section)), None)
        if key is None:
            if not create:
                return None
            key = self.section
            extra[key] = {}
        if not isinstance(extra[key], dict):
            extra[key] = {}
        return extra[key]

    def _unknown(self, name: str) -> AttributeError:
        return AttributeError(f"{self.label} has no attribute '{name}'; v1 knows {', '.join(sorted(self.attrs))}")

    def __getattr__(self, name: str) -> Any:
        if name not in self.attrs:
            raise self._unknown(name)
        section = self._section(create=False) or {}
        return section.get(to_camel(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.attrs:
            raise self._unknown(name)
        first = self._section(create=False) is None
        section = self._section(create=True)
        assert section is not None
        section[to_camel(name)] = value
        if first:
            warnings.warn(
                f"run_config.{self.label} settings are kept in the run configuration but have no effect on machines "
                f"you own ({self.why}); see docs/MIGRATING.md",
                UserWarning,
                stacklevel=2,
            )


class AmlComputeView(_KeptSectionView):
    section = "amlCompute"
    label = "amlcompute"
    attrs = AML_COMPUTE_ATTRS
    why = "there is no cluster to size"


class ContainerInstanceView(_KeptSectionView):
    section = "containerInstance"
    label = "container_instance"
    attrs = CONTAINER_INSTANCE_ATTRS
    why = "the run's target, not an Azure container instance, decides its CPUs and memory"
