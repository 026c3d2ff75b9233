"""The process layout of a distributed run: its ranks, by node, and the builders for each framework.

Apart from core/runs/distributed.py (which decides whether a run is distributed at all, and the variables each
process gets) because every run asks that question and most answer "no": an ordinary single-process run then
never creates these classes. ``distributed.Rank``, ``distributed.DistributedPlan`` and the builders stay
importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.frameworks import MAX_WORLD_SIZE, MPI, PYTORCH, TENSORFLOW


@dataclass(frozen=True)
class Rank:
    """One process of the run. ``rank`` is global; TF tasks also have a role and index."""

    rank: int
    node_rank: int
    local_rank: int
    role: str = "worker"  # TensorFlow: "worker" or "ps"
    task_index: int = 0


@dataclass(frozen=True)
class DistributedPlan:
    """How a run is spread out. ``ranks`` is ordered by rank; node 0 holds rank 0."""

    framework: str  # pytorch | mpi | tensorflow
    node_count: int
    processes_per_node: int
    backend: str | None = None  # PyTorch communication backend as configured (Gloo/Nccl)
    ranks: tuple[Rank, ...] = field(default_factory=tuple)

    @property
    def world_size(self) -> int:
        return len(self.ranks)

    @property
    def server_ranks(self) -> frozenset[int]:
        """TensorFlow parameter servers: they serve (``server.join()``) until stopped, so the run ends when every
        other rank has ended well, as on Azure, and they are then stopped."""
        return frozenset(r.rank for r in self.ranks if r.role == "ps")

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "node_count": self.node_count,
            "processes_per_node": self.processes_per_node,
            "backend": self.backend,
            "world_size": self.world_size,
            "ranks": [[r.rank, r.node_rank, r.local_rank, r.role, r.task_index] for r in self.ranks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistributedPlan:
        """Inverse of ``to_dict`` (the Ray launcher receives the plan this way)."""
        ranks = tuple(Rank(int(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4])) for r in data["ranks"])
        return cls(data["framework"], int(data["node_count"]), int(data["processes_per_node"]), data["backend"], ranks)


def _count(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be an integer >= {minimum}, got {value!r}", field=name)
    return value


def _grid(node_count: int, per_node: int) -> tuple[Rank, ...]:
    return tuple(
        Rank(rank=node * per_node + local, node_rank=node, local_rank=local)
        for node in range(node_count)
        for local in range(per_node)
    )


def _check_world(size: int, field_name: str) -> None:
    if size > MAX_WORLD_SIZE:
        raise ConfigError(
            f"{size} processes is more than {MAX_WORLD_SIZE}; check the process/node counts", field=field_name
        )


def pytorch_plan(process_count: int | None, node_count: int = 1, backend: str | None = "Nccl") -> DistributedPlan:
    """``process_count`` is the total over all nodes (Azure's meaning); None means one per node."""
    nodes = _count(node_count, "distributed_job_config.node_count")
    total = nodes if process_count is None else _count(process_count, "distributed_job_config.process_count")
    if total % nodes:
        raise ConfigError(
            f"process_count {total} is not a multiple of node_count {nodes}: every node runs the same number of "
            f"processes (e.g. process_count={nodes * max(1, total // nodes)})",
            field="distributed_job_config.process_count",
        )
    _check_world(total, "distributed_job_config.process_count")
    per_node = total // nodes
    return DistributedPlan(PYTORCH, nodes, per_node, backend, _grid(nodes, per_node))


def mpi_plan(process_count_per_node: int = 1, node_count: int = 1) -> DistributedPlan:
    per_node = _count(process_count_per_node, "distributed_job_config.process_count_per_node")
    nodes = _count(node_count, "distributed_job_config.node_count")
    _check_world(per_node * nodes, "distributed_job_config.process_count_per_node")
    return DistributedPlan(MPI, nodes, per_node, None, _grid(nodes, per_node))


def tensorflow_plan(worker_count: int = 1, parameter_server_count: int = 1) -> DistributedPlan:
    """One node per task, as Azure ran parameter-server jobs: workers first (worker 0 is the chief), then ps."""
    workers = _count(worker_count, "distributed_job_config.worker_count")
    servers = _count(parameter_server_count, "distributed_job_config.parameter_server_count", minimum=0)
    _check_world(workers + servers, "distributed_job_config.worker_count")
    ranks = [Rank(rank=i, node_rank=i, local_rank=0, role="worker", task_index=i) for i in range(workers)]
    ranks += [
        Rank(rank=workers + i, node_rank=workers + i, local_rank=0, role="ps", task_index=i) for i in range(servers)
    ]
    return DistributedPlan(TENSORFLOW, workers + servers, 1, None, tuple(ranks))
