"""``run_config.amlcompute``: v1's AmlComputeConfiguration as a view over the kept ``amlCompute`` section.

Cluster sizing means nothing on machines you own, but ported notebooks set it; the values are stored in the
pass-through section (so files round-trip unchanged) and a warning says once that they have no local effect.
"""

from __future__ import annotations

import warnings
from typing import Any

from runconfig_jupyter.core.config.serialization import norm, to_camel

# v1's AmlComputeConfiguration attributes (snake_case here, camelCase on disk).
AML_COMPUTE_ATTRS = frozenset(
    {"name", "vm_size", "vm_priority", "retain_cluster", "cluster_max_node_count", "location"}
)
_warned = False


class AmlComputeView:
    """Reads and writes ``extra['amlCompute']`` of a run configuration under the key it was read with."""

    def __init__(self, extra: dict[str, Any]):
        object.__setattr__(self, "_extra", extra)

    def _section(self, create: bool) -> dict[str, Any] | None:
        extra = self._extra
        key = next((k for k in extra if norm(k) == norm("amlCompute")), None)
        if key is None:
            if not create:
                return None
            key = "amlCompute"
            extra[key] = {}
        if not isinstance(extra[key], dict):
            extra[key] = {}
        return extra[key]

    def __getattr__(self, name: str) -> Any:
        if name not in AML_COMPUTE_ATTRS:
            raise AttributeError(
                f"amlcompute has no attribute '{name}'; v1 knows {', '.join(sorted(AML_COMPUTE_ATTRS))}"
            )
        section = self._section(create=False) or {}
        return section.get(to_camel(name))

    def __setattr__(self, name: str, value: Any) -> None:
        global _warned
        if name not in AML_COMPUTE_ATTRS:
            raise AttributeError(
                f"amlcompute has no attribute '{name}'; v1 knows {', '.join(sorted(AML_COMPUTE_ATTRS))}"
            )
        section = self._section(create=True)
        assert section is not None
        section[to_camel(name)] = value
        if not _warned:
            _warned = True
            warnings.warn(
                "run_config.amlcompute settings are kept in the run configuration but have no effect on machines "
                "you own (there is no cluster to size); see docs/MIGRATING.md",
                UserWarning,
                stacklevel=2,
            )
