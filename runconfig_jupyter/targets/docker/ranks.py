"""Distributed runs on local Docker: one container per rank on a private user-defined network.

A user-defined bridge network gives every container a DNS name for the others
(the default bridge does not), so rank 0 is reachable as ``rank0`` and, since
each container has its own network namespace, every rank can use Azure's fixed
port 6105 for ``MASTER_PORT`` (2222 for TensorFlow tasks) without colliding with
anything on the host. The variables come from ``core/distributed.py``, as on the
local and Ray targets.

The group behaves like the local rank group: each rank's output goes to
``logs/rank_N.txt`` and, prefixed ``[rank N]``, to the run's log; the first rank
that fails stops the others and fails the run; cancel stops every container;
outputs come from rank 0's container; containers and the network are removed at
the end. Image, docker arguments and GPU requests are the docker target's own
(``target.py``), seen here through ``ContainerSettings``; names, labels, snapshot
upload, the in-script shim and copy-out are shared through ``container.py``. This
module only multiplies the container, and imports nothing from ``target.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from runconfig_jupyter.core.data.plan import substitute
from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.runs.distributed import MPI, DistributedPlan, rank_environment
from runconfig_jupyter.core.runs.launch import expand
from runconfig_jupyter.core.runs.logsink import METRIC_MARKER
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.target.interface import Outcome, TargetRunContext
from runconfig_jupyter.targets.docker.args import run_options
from runconfig_jupyter.targets.docker.container import (
    LABEL_EXPERIMENT,
    MERGE_STREAMS,
    RESUME_ENV,
    RESUME_MOUNT,
    WORKDIR,
    container_environment,
    container_name,
    copy_out,
    experiment_label,
    remove_container,
    resume_mount,
    steps_first,
    support_tar,
    upload_stream,
)
from runconfig_jupyter.targets.docker.data import ContainerData
from runconfig_jupyter.targets.docker.image import LABEL, LABEL_RUN_ID, ca_bundle_path
from runconfig_jupyter.targets.processes.mpi_launch import (
    CONTAINER_RANK_WRAPPER,
    MPIRUN_LOG,
    MPIRUN_PREFIX,
    TagDemux,
    choose_docker_launcher,
    mpi_outcome,
    mpirun_command,
)
from runconfig_jupyter.targets.processes.rank_group import describe_exit

MASTER_PORT = 6105  # Azure's; free in every container's own network namespace
TF_PORT = 2222
LABEL_RANK = "runconfig-jupyter.rank"


def rank_host(rank: int) -> str:
    return f"rank{rank}"


class _RankLog:
    """One container's output: whole lines to rank_N.txt and, prefixed, to the run's log."""

    def __init__(self, ctx: TargetRunContext, rank: int, container: Any):
        self.ctx, self.rank, self.container = ctx, rank, container
        self.prefix = f"[rank {rank}] ".encode()
        self._pending = b""
        self._thread = threading.Thread(target=self._follow, name=f"rank-{rank}-logs", daemon=True)

    def start(self) -> _RankLog:
        self._thread.start()
        return self

    def _follow(self) -> None:
        try:
            for chunk in self.container.logs(stdout=True, stderr=True, stream=True, follow=True):
                buffered = self._pending + chunk
                cut = buffered.rfind(b"\n") + 1
                self._pending = buffered[cut:]
                if cut:
                    self._emit(buffered[:cut])
        except Exception:  # the container was removed mid-stream: what we have is what there is
            pass

    def _emit(self, block: bytes) -> None:
        lines = block.splitlines(keepends=True)
        self.ctx.write_log(b"".join(line for line in lines if METRIC_MARKER not in line), f"rank_{self.rank}.txt")
        self.ctx.write_log(b"".join(line if METRIC_MARKER in line else self.prefix + line for line in lines))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._pending and not self._thread.is_alive():
            self._emit(self._pending + b"\n")
            self._pending = b""


class _MpiTagLog(_RankLog):
    """The output of the one container running ``mpirun --tag-output``, split back into ranks."""

    def __init__(self, ctx: TargetRunContext, container: Any):
        super().__init__(ctx, 0, container)
        self._demux = TagDemux()
        self.mpirun_output: list[bytes] = []

    def _follow(self) -> None:
        try:
            for chunk in self.container.logs(stdout=True, stderr=True, stream=True, follow=True):
                self._route(self._demux.feed(chunk))
        except Exception:  # the container was removed mid-stream
            pass

    def _route(self, lines: list[tuple[int | None, bytes]]) -> None:
        for rank, line in lines:
            if rank is None:
                self.mpirun_output.append(line)
                self.ctx.write_log(line, MPIRUN_LOG)
                self.ctx.write_log(MPIRUN_PREFIX + line)
            elif METRIC_MARKER in line:
                self.ctx.write_log(line)
            else:
                self.ctx.write_log(line, f"rank_{rank}.txt")
                self.ctx.write_log(f"[rank {rank}] ".encode() + line)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._route(self._demux.feed(b"", final=True))


class ContainerSettings(Protocol):
    """What a rank group reads from the docker target that owns it (``DockerTarget`` has all of it)."""

    arguments: list[str]
    ca_bundle: str | None
    image: str
    keep_container: bool
    merge_stderr: bool
    docker_options: Any
    container_data: Any
    resume_fetched: Any
    settings: dict[str, Any]
    stop_timeout: float

    def client(self) -> Any: ...


class DockerRanks:
    """The containers of one distributed run; driven by the docker target's lifecycle calls."""

    def __init__(self, target: ContainerSettings, plan: DistributedPlan):
        self.target = target
        self.plan = plan
        self.containers: dict[int, Any] = {}
        self.network: Any = None
        self._logs: dict[int, _RankLog] = {}
        self._stopping = threading.Event()
        self.mpirun = False  # True: one container runs mpirun for every rank (single-node MPI, image has it)

    def network_name(self, ctx: TargetRunContext) -> str:
        return f"{container_name(ctx.run_id)}-net"[:200]

    def start(self, ctx: TargetRunContext) -> None:
        import docker

        target = self.target
        client = target.client()
        options = target.docker_options or run_options(ctx.config, target.arguments)
        ca_bundle = ca_bundle_path(target.ca_bundle)
        base_env = container_environment(ctx, options.environment, ca_bundle)
        volumes = resume_mount(ctx.config, target.resume_fetched)  # resume_from: the same read-only mount in every rank
        if volumes:
            base_env[RESUME_ENV] = RESUME_MOUNT
        data = target.container_data or ContainerData()  # the same data mounts in every rank (one output folder shared)
        base_env.update(data.environment)
        labels = {
            **options.labels,
            LABEL: "1",
            LABEL_RUN_ID: ctx.run_id,
            LABEL_EXPERIMENT: experiment_label(ctx),
        }
        template = ctx.config.argv_template(python="python")  # each container expands it with its own env
        tasks = [f"{rank_host(rank.rank)}:{TF_PORT}" for rank in self.plan.ranks]
        network_name = self.network_name(ctx)
        ctx.progress("Creating the run's network", None, network_name)
        try:
            self.network = client.networks.create(
                network_name, driver="bridge", labels={LABEL: "1", LABEL_RUN_ID: ctx.run_id}
            )
            support = support_tar(ca_bundle)
            if self.plan.framework == MPI:
                choice = choose_docker_launcher(self.plan, client, target.image, ctx.environment(), target.settings)
                ctx.prepare_log(choice.reason)
                ctx.record(launcher="mpirun" if choice.use_mpirun else "direct", launcher_reason=choice.reason)
                self.mpirun = choice.use_mpirun
            for rank in self.plan.ranks[:1] if self.mpirun else self.plan.ranks:
                ctx.progress("Creating containers", rank.rank / self.plan.world_size, f"rank {rank.rank}")
                env = {**base_env, **rank_environment(self.plan, rank, rank_host(0), MASTER_PORT, tasks)}
                argv = substitute(expand(template, env), data.paths)
                command = [*MERGE_STREAMS, *argv] if target.merge_stderr else argv
                if self.mpirun:  # the OMPI variables come from mpirun; only Azure's master-node names from us
                    env = {k: v for k, v in env.items() if not k.startswith(("OMPI_", "PMI_"))}
                    command = [
                        *MERGE_STREAMS,
                        *mpirun_command("mpirun", self.plan.world_size, as_root=True, tag_output=True),
                        *["sh", "-c", CONTAINER_RANK_WRAPPER, "rank", *argv],
                    ]
                command = steps_first(command, data.shell_steps())
                kwargs = options.create_kwargs()
                kwargs.setdefault("init", True)
                kwargs["mounts"] = [*kwargs.get("mounts", []), *data.mounts]
                for own in ("network", "hostname"):  # each rank is on the run's private network, by rank name
                    kwargs.pop(own, None)
                container = client.containers.create(
                    target.image,
                    command=command,
                    name=f"{container_name(ctx.run_id)}-rank{rank.rank}"[:250],
                    hostname=rank_host(rank.rank),
                    working_dir=WORKDIR,
                    environment=env,
                    labels={**labels, LABEL_RANK: str(rank.rank)},
                    volumes=volumes or None,
                    network=network_name,
                    networking_config={network_name: client.api.create_endpoint_config(aliases=[rank_host(rank.rank)])},
                    detach=True,
                    stdin_open=False,
                    tty=False,
                    **kwargs,
                )
                self.containers[rank.rank] = container
                container.put_archive(WORKDIR, upload_stream(ctx.snapshot_path, support))
            for rank, container in self.containers.items():
                container.start()
                follower = _MpiTagLog(ctx, container) if self.mpirun else _RankLog(ctx, rank, container)
                self._logs[rank] = follower.start()
        except docker.errors.APIError as error:
            raise PreparationFailed(
                f"Docker refused a container of the distributed run: {error.explanation or error}", "Starting"
            ) from error
        ctx.record(
            container_ids=[c.id for c in self.containers.values()],
            network=network_name,
            argv=ctx.config.argv(python="python"),
            distributed=self.plan.to_dict(),
        )
        ctx.prepare_log(
            f"started {self.plan.world_size} {self.plan.framework} containers on network {network_name}; "
            f"rank 0 is {rank_host(0)}:{MASTER_PORT}"
        )

    def wait(self, ctx: TargetRunContext) -> Outcome:
        codes: dict[int, int] = {}
        failed: tuple[int, int] | None = None
        lock = threading.Lock()
        done = threading.Event()

        def watch(rank: int, container: Any) -> None:
            nonlocal failed
            try:
                code = int(container.wait().get("StatusCode", -1))
            except Exception:
                code = -1
            with lock:
                codes[rank] = code
                first_failure = code != 0 and failed is None and not self._stopping.is_set()
                if first_failure:
                    failed = (rank, code)
                if len(codes) == len(self.containers):
                    done.set()
            if first_failure:
                threading.Thread(target=self.stop, daemon=True).start()

        for rank, container in self.containers.items():
            threading.Thread(target=watch, args=(rank, container), daemon=True).start()
        done.wait()
        for log in self._logs.values():
            log.join(10.0)
        if self.mpirun:
            mpirun_log = self._logs.get(0)
            output = b"".join(mpirun_log.mpirun_output) if isinstance(mpirun_log, _MpiTagLog) else b""
            # ``failed`` is unset exactly when the container ended because we stopped it (cancel, max duration).
            return mpi_outcome(codes.get(0, -1), output.decode(errors="replace"), stopped_by_us=failed is None)
        if failed is not None:
            rank, code = failed
            return Outcome(
                RunStatus.FAILED,
                exit_code=code,
                reason=f"rank {rank} {describe_exit(code)} (the other ranks were stopped); see logs/rank_{rank}.txt",
            )
        stopped = {rank: code for rank, code in codes.items() if code != 0}
        if stopped:
            rank, code = min(stopped.items())
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"rank {rank} {describe_exit(code)}")
        return Outcome(RunStatus.COMPLETED, exit_code=0)

    def stop(self) -> None:
        """Stop every container at once (TERM, KILL after the target's stop_timeout)."""
        self._stopping.set()
        threads = [
            threading.Thread(target=_quietly, args=(c.stop,), kwargs={"timeout": int(self.target.stop_timeout)})
            for c in self.containers.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.target.stop_timeout + 10)

    def collect(self, ctx: TargetRunContext) -> None:
        container = self.containers.get(0)
        if container is None:
            return
        copy_out(container, ctx)

    def cleanup(self, ctx: TargetRunContext) -> None:
        """Remove every container of the run (found by label too, in case start failed half way) and the network."""
        client = self.target.client()
        found = {c.id: c for c in self.containers.values()}
        try:
            for container in client.containers.list(
                all=True, ignore_removed=True, filters={"label": f"{LABEL_RUN_ID}={ctx.run_id}"}
            ):
                found.setdefault(container.id, container)
        except Exception:
            pass
        if not self.target.keep_container:
            # In parallel, each until really gone (the docker target's own removal), so the run ends clean.
            removers = [threading.Thread(target=_quietly, args=(remove_container, c)) for c in found.values()]
            for thread in removers:
                thread.start()
            for thread in removers:
                thread.join()
        networks = [self.network] if self.network is not None else []
        try:
            networks += client.networks.list(names=[self.network_name(ctx)])
        except Exception:
            pass
        for network in {n.id: n for n in networks}.values():
            for _attempt in range(3):
                try:
                    network.remove()
                    break
                except Exception:
                    time.sleep(0.3)


def _quietly(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except Exception:  # already stopped / removed
        pass
