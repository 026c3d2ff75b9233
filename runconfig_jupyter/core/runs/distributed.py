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
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.frameworks import MAX_WORLD_SIZE, MPI, PYTORCH, TENSORFLOW  # noqa: F401 - also from here
from runconfig_jupyter.core.runs.script_env import azure_node_environment

if TYPE_CHECKING:
    from runconfig_jupyter.core.runs.rank_layout import DistributedPlan, Rank


# Azure ML v1 used this port for MASTER_PORT / AZ_BATCH_MASTER_NODE.
DEFAULT_MASTER_PORT = 6105

PYTORCH_COMMUNICATORS = {"gloo", "nccl", "pytorch"}
MPI_COMMUNICATORS = {"openmpi", "intelmpi", "mpi"}
PS_COMMUNICATORS = {"parameterserver"}


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
    if job is None and str(_get(run_config, "communicator", "None") or "None").lower() in ("none", ""):
        return None  # the usual run: the layout's classes (core/runs/rank_layout.py) are not even created
    from runconfig_jupyter.core.runs.rank_layout import mpi_plan, pytorch_plan, tensorflow_plan

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
            # Azure's PyTorch jobs: the process's global rank and a process-group URL, which v1 samples pass on
            # as ``--rank $AZ_BATCHAI_TASK_INDEX --dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD`` (one node, one
            # process: the node index, as for the other frameworks)
            "AZ_BATCHAI_TASK_INDEX": str(rank.rank),
            "AZ_BATCHAI_PYTORCH_INIT_METHOD": f"tcp://{master_addr}:{master_port}",
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


_LAYOUT = ("Rank", "DistributedPlan", "pytorch_plan", "mpi_plan", "tensorflow_plan")


def __getattr__(name: str) -> Any:
    """The layout's names, still importable from here, come from core/runs/rank_layout.py on first use."""
    if name in _LAYOUT:
        from runconfig_jupyter.core.runs import rank_layout

        return getattr(rank_layout, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
