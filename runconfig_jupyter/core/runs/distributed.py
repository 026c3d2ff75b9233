"""The process layout of a distributed run and the environment each process gets.

One place decides "how many processes, on how many nodes, in which role" from
a run configuration, and which variables each framework's launcher would have
set for each of them. Every target (local processes, Docker containers, Ray
actors) uses it, so a script sees the same variables wherever it runs, and the
same ones Azure ML v1 set:

* PyTorch (``PyTorchConfiguration`` / communicator Gloo or Nccl):
  ``MASTER_ADDR MASTER_PORT WORLD_SIZE RANK LOCAL_RANK NODE_RANK LOCAL_WORLD_SIZE``
  (what ``torch.distributed.init_process_group(init_method="env://")`` reads).
* MPI (``MpiConfiguration`` / communicator OpenMpi or IntelMpi):
  ``OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE/NODE_RANK``, Intel MPI's
  ``PMI_RANK/PMI_SIZE``, and Azure's ``AZ_BATCH_MASTER_NODE`` (``host:port``) and
  ``AZ_BATCHAI_MPI_MASTER_NODE`` (host), which Horovod/DeepSpeed scripts written
  for Azure read to find rank 0.
* TensorFlow parameter server (``TensorflowConfiguration`` / communicator
  ParameterServer): ``TF_CONFIG`` JSON with the whole cluster (``worker`` and
  ``ps`` task addresses) and this process's task.

Nothing here starts processes or touches the network except ``free_port``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_env import azure_node_environment

PYTORCH = "pytorch"
MPI = "mpi"
TENSORFLOW = "tensorflow"

# Azure ML v1 used this port for MASTER_PORT / AZ_BATCH_MASTER_NODE.
DEFAULT_MASTER_PORT = 6105
# A guard against typos like process_count=1000 on a laptop; raise it in the plan if you mean it.
MAX_WORLD_SIZE = 256

PYTORCH_COMMUNICATORS = {"gloo", "nccl", "pytorch"}
MPI_COMMUNICATORS = {"openmpi", "intelmpi", "mpi"}
PS_COMMUNICATORS = {"parameterserver"}


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


def _section(obj: Any, name: str) -> Any:
    """A run_config section that may be an object or (for Azure sections kept as data) a dict."""
    return getattr(obj, name, None) if obj is not None else None


def _get(section: Any, key: str, default: Any = None) -> Any:
    if section is None:
        return default
    if isinstance(section, dict):
        return section.get(key, default)
    return getattr(section, key, default)


def plan_for(config: Any) -> DistributedPlan | None:
    """The plan for a ScriptRunConfig, or None for an ordinary single-process run.

    ``distributed_job_config`` wins; otherwise the run configuration's
    ``communicator`` (with ``framework``) and its pytorch/mpi/tensorflow sections
    decide, as in an Azure ``.azureml/*.runconfig`` file.
    """
    job = getattr(config, "distributed_job_config", None)
    run_config = getattr(config, "run_config", None)
    if job is not None:
        kind = type(job).__name__
        if kind == "PyTorchConfiguration":
            return pytorch_plan(
                _get(job, "process_count"), _get(job, "node_count", 1), _get(job, "communication_backend", "Nccl")
            )
        if kind == "MpiConfiguration":
            return mpi_plan(_get(job, "process_count_per_node", 1), _get(job, "node_count", 1))
        if kind == "TensorflowConfiguration":
            return tensorflow_plan(_get(job, "worker_count", 1), _get(job, "parameter_server_count", 1))
        raise ConfigError(
            f"{kind} is not a distributed job configuration; use PyTorchConfiguration, MpiConfiguration or "
            "TensorflowConfiguration",
            field="distributed_job_config",
        )
    if run_config is None:
        return None
    communicator = str(_get(run_config, "communicator", "None") or "None").lower()
    node_count = _get(run_config, "node_count", 1) or 1
    if communicator in ("none", ""):
        return None
    if communicator in PYTORCH_COMMUNICATORS:
        section = _section(run_config, "pytorch")
        backend = _get(section, "communication_backend") or ("Gloo" if communicator == "gloo" else "Nccl")
        nodes = max(_get(section, "node_count") or 1, node_count)
        return pytorch_plan(_get(section, "process_count"), nodes, backend)
    if communicator in MPI_COMMUNICATORS:
        section = _section(run_config, "mpi")
        nodes = max(_get(section, "node_count") or 1, node_count)
        plan = mpi_plan(_get(section, "process_count_per_node", 1) or 1, nodes)
        # Azure's PyTorch estimator with Mpi() ran torch under mpirun: keep the MPI names (the script maps them).
        return plan
    if communicator in PS_COMMUNICATORS:
        section = _section(run_config, "tensorflow")
        return tensorflow_plan(_get(section, "worker_count", 1), _get(section, "parameter_server_count", 1))
    raise ConfigError(
        f"communicator '{_get(run_config, 'communicator')}' is not supported; use one of None, Gloo, Nccl, "
        "OpenMpi, IntelMpi, ParameterServer",
        field="run_config.communicator",
    )


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


def rank_environment(
    plan: DistributedPlan,
    rank: Rank,
    master_addr: str,
    master_port: int,
    task_addresses: list[str] | None = None,
) -> dict[str, str]:
    """The variables for one process. ``task_addresses[r]`` is ``host:port`` of rank r (TensorFlow only)."""
    return {
        **azure_node_environment(plan.node_count, rank.node_rank, master_addr, master_port),
        **_framework_environment(plan, rank, master_addr, master_port, task_addresses),
    }


def _framework_environment(
    plan: DistributedPlan,
    rank: Rank,
    master_addr: str,
    master_port: int,
    task_addresses: list[str] | None,
) -> dict[str, str]:
    if plan.framework == PYTORCH:
        return {
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(master_port),
            "WORLD_SIZE": str(plan.world_size),
            "RANK": str(rank.rank),
            "LOCAL_RANK": str(rank.local_rank),
            "NODE_RANK": str(rank.node_rank),
            "LOCAL_WORLD_SIZE": str(plan.processes_per_node),
        }
    if plan.framework == MPI:
        return {
            "OMPI_COMM_WORLD_RANK": str(rank.rank),
            "OMPI_COMM_WORLD_SIZE": str(plan.world_size),
            "OMPI_COMM_WORLD_LOCAL_RANK": str(rank.local_rank),
            "OMPI_COMM_WORLD_LOCAL_SIZE": str(plan.processes_per_node),
            "OMPI_COMM_WORLD_NODE_RANK": str(rank.node_rank),
            "PMI_RANK": str(rank.rank),
            "PMI_SIZE": str(plan.world_size),
        }
    if plan.framework == TENSORFLOW:
        if task_addresses is None or len(task_addresses) != plan.world_size:
            raise ValueError("TensorFlow needs one host:port per task")
        cluster: dict[str, list[str]] = {}
        for other in plan.ranks:
            cluster.setdefault(other.role, []).append(task_addresses[other.rank])
        tf_config = {
            "cluster": cluster,
            "task": {"type": rank.role, "index": rank.task_index},
            "environment": "cloud",
        }
        return {"TF_CONFIG": json.dumps(tf_config, separators=(",", ":"))}
    raise ValueError(f"unknown framework {plan.framework!r}")


def all_rank_environments(
    plan: DistributedPlan, host: str = "127.0.0.1", master_port: int | None = None
) -> list[dict[str, str]]:
    """Environments for every rank when all of them share one host (local processes)."""
    port = master_port if master_port is not None else pick_master_port(host)
    tasks = None
    if plan.framework == TENSORFLOW:
        ports = free_ports(plan.world_size, host)
        tasks = [f"{host}:{p}" for p in ports]
    return [rank_environment(plan, rank, host, port, tasks) for rank in plan.ranks]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    import socket  # distributed runs only: a single-process run's driver does not load it

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (held open together so the OS cannot hand out one twice)."""
    import socket

    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_master_port(host: str = "127.0.0.1", preferred: int = DEFAULT_MASTER_PORT) -> int:
    """Azure's 6105 when it is free (scripts sometimes hard-code it), else any free port.

    A second distributed run on the same machine must not collide with the first.
    """
    return preferred if port_is_free(preferred, host) else free_port(host)
