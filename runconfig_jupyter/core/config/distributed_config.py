"""Distributed job configurations and how they map onto a ``RunConfiguration``.

The mapping is Azure ML v1's (``ScriptRunConfig.__init__``), so a config
written for Azure lands in the same framework/communicator/section fields:

    PyTorchConfiguration    -> framework PyTorch,    communicator Nccl|Gloo, pyTorch, nodeCount
    MpiConfiguration        -> framework Python,     communicator IntelMpi,  mpi, nodeCount
    TensorflowConfiguration -> framework TensorFlow, communicator ParameterServer, tensorflow,
                               nodeCount = worker_count

Each config's ``run_settings()`` returns those fields and ``ScriptRunConfig`` sets them on its
``RunConfiguration``: the run configuration holds these sections, so they do not know it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runconfig_jupyter.core.config.serialization import LineMap, Section, fail, norm
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.system.records import record

PYTORCH_BACKENDS = {"nccl": "Nccl", "gloo": "Gloo"}


def _positive(value: Any, name: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a positive whole number, got {value!r}", field=name)


@record(repr=False, eq=False)  # repr and eq: Section's
class PyTorchConfiguration(Section):
    """torch.distributed: ``process_count`` in total over ``node_count`` nodes (None: one per node)."""

    communication_backend: str = "Nccl"
    process_count: int | None = None
    node_count: int = 1

    def __post_init__(self) -> None:
        backend = PYTORCH_BACKENDS.get(str(self.communication_backend).lower())
        if backend is None:
            raise ConfigError(
                f"unknown PyTorch backend {self.communication_backend!r}; use one of "
                f"{', '.join(PYTORCH_BACKENDS.values())} (Nccl for GPUs, Gloo for CPUs)",
                field="communication_backend",
            )
        self.communication_backend = backend
        _positive(self.process_count, "process_count", allow_none=True)
        _positive(self.node_count, "node_count")

    def run_settings(self) -> dict[str, Any]:
        return {
            "framework": "PyTorch",
            "communicator": self.communication_backend,
            "pytorch": self.copy(),
            "node_count": self.node_count,
        }


@record(repr=False, eq=False)  # repr and eq: Section's
class MpiConfiguration(Section):
    """MPI (e.g. Horovod): ``process_count_per_node`` processes on each of ``node_count`` nodes."""

    process_count_per_node: int = 1
    node_count: int = 1

    def __post_init__(self) -> None:
        _positive(self.process_count_per_node, "process_count_per_node")
        _positive(self.node_count, "node_count")

    def run_settings(self) -> dict[str, Any]:
        return {"framework": "Python", "communicator": "IntelMpi", "mpi": self.copy(), "node_count": self.node_count}


@record(repr=False, eq=False)  # repr and eq: Section's
class TensorflowConfiguration(Section):
    """Parameter-server TensorFlow: ``worker_count`` workers (one node each) and parameter servers."""

    worker_count: int = 1
    parameter_server_count: int = 1

    def __post_init__(self) -> None:
        _positive(self.worker_count, "worker_count")
        if (
            isinstance(self.parameter_server_count, bool)
            or not isinstance(self.parameter_server_count, int)
            or self.parameter_server_count < 0
        ):
            raise ConfigError(
                f"must be a whole number >= 0, got {self.parameter_server_count!r}", field="parameter_server_count"
            )

    def run_settings(self) -> dict[str, Any]:
        return {
            "framework": "TensorFlow",
            "communicator": "ParameterServer",
            "tensorflow": self.copy(),
            "node_count": self.worker_count,
        }


DistributedConfig = PyTorchConfiguration | MpiConfiguration | TensorflowConfiguration

KINDS: dict[str, type[Section]] = {
    "PyTorch": PyTorchConfiguration,
    "Mpi": MpiConfiguration,
    "TensorFlow": TensorflowConfiguration,
}
_ALIASES = {"pytorch": "PyTorch", "torch": "PyTorch", "mpi": "Mpi", "tensorflow": "TensorFlow", "tf": "TensorFlow"}


def distributed_to_dict(config: DistributedConfig | None) -> dict[str, Any] | None:
    """``{"type": "PyTorch", "communicationBackend": ..., ...}`` - a form ``distributed_from_dict`` reads back."""
    if config is None:
        return None
    kind = next(name for name, cls in KINDS.items() if isinstance(config, cls))
    return {"type": kind, **config.to_dict()}


def distributed_from_dict(data: Any, path: tuple[Any, ...] = (), lines: LineMap | None = None) -> DistributedConfig:
    """Accept ``{type: PyTorch, process_count: 2}`` or ``{pytorch: {process_count: 2}}`` (or an object)."""
    if isinstance(data, PyTorchConfiguration | MpiConfiguration | TensorflowConfiguration):
        return data.copy()
    if isinstance(data, str):
        data = {"type": data}
    if not isinstance(data, Mapping) or not data:
        raise fail(
            "expected e.g. {pytorch: {process_count: 2}} or {type: PyTorch, process_count: 2}; "
            f"types: {', '.join(KINDS)}",
            path,
            lines,
        )
    type_key = next((k for k in data if norm(k) == "type"), None)
    if type_key is not None:
        kind = _ALIASES.get(norm(str(data[type_key])))
        if kind is None:
            raise fail(f"unknown type {data[type_key]!r}; use one of {', '.join(KINDS)}", (*path, type_key), lines)
        body = {k: v for k, v in data.items() if k != type_key}
        return KINDS[kind].from_dict(body, path, lines)  # type: ignore[return-value]
    if len(data) == 1:
        ((key, body),) = data.items()
        kind = _ALIASES.get(norm(key))
        if kind is not None:
            return KINDS[kind].from_dict(body or {}, (*path, key), lines)  # type: ignore[return-value]
    raise fail(
        f"cannot tell the kind of distributed job from keys {', '.join(map(str, data))}; "
        f"add 'type: PyTorch' (or {', '.join(k for k in KINDS if k != 'PyTorch')})",
        path,
        lines,
    )
