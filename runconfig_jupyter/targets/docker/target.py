"""The ``docker`` target: the run inside a local Docker container.

The image comes from the run's environment (docker_image.py, built once per
environment). The source snapshot is *copied* into the container, never bind
mounted, so a script cannot write into the user's folder; ``outputs/`` and
``logs/`` are copied back at the end. The container runs with ``init=True`` so
a stop takes a fraction of a second instead of the full timeout (python as
PID 1 ignores SIGTERM), and carries our labels so cleanup, re-attach and tests
find exactly our containers and nobody else's.

In-script metrics cannot reach the run folder from inside the container: the
package's stdlib-only shim is shipped in and put on ``PYTHONPATH``, and its
metric markers on stderr are pulled out of the log by the driver's LogSink.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import PreparationFailed, RunConfigError, TargetUnavailable
from runconfig_jupyter.core.runs.distributed import plan_for
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.core.target.settings import setting
from runconfig_jupyter.targets.docker.args import RunOptions, run_options
from runconfig_jupyter.targets.docker.client import (
    check_reachable,
    connect,
    engine_address,
    engine_info,
    local_engine_info,
    reachable_info,
)
from runconfig_jupyter.targets.docker.engine_memo import remember_runtimes, remembered_runtimes
from runconfig_jupyter.targets.docker.gpu import (
    check_gpu_available,
    engine_has_gpu_runtime,
    is_driver_refusal,
    no_gpu_error,
)
from runconfig_jupyter.targets.docker.image import DEFAULT_BASE_IMAGE, LABEL, LABEL_RUN_ID, ca_bundle_path, ensure_image

# The driver's half - the container's layout and command (container.py, with tarfile), its log (logs.py), its data
# mounts (data.py) and the data plan's substitution - is imported by the driver methods that use it: a submitting
# process only validates, and skipped ~15 ms of imports that way.
if TYPE_CHECKING:
    from runconfig_jupyter.targets.docker.container import Unpack
    from runconfig_jupyter.targets.docker.data import ContainerData
    from runconfig_jupyter.targets.docker.logs import AttachedOutput, LogFollower
    from runconfig_jupyter.targets.docker.ranks import DockerRanks  # distributed runs only

LOG_JOIN_SECONDS = 30.0


@dataclass(frozen=True)
class DockerSettings:
    """Settings of a ``type: docker`` target (all optional)."""

    base_url: str | None = setting(None, "Docker engine address (unix:// or tcp://); default: the local engine.")
    base_image: str | None = setting(
        None, f"Image runs build on when their environment names none ({DEFAULT_BASE_IMAGE})."
    )
    arguments: list[str] = setting([], "Extra `docker run` options for every run, e.g. ['--shm-size=1g'].")
    ca_bundle: str | None = setting(None, "A CA bundle file copied into images, for pip behind a TLS proxy.")
    keep_container: bool = setting(False, "Keep each run's container after it ends (for debugging).")
    stop_timeout: float = setting(5.0, "Seconds a canceled container gets to stop before it is killed.")
    merge_stderr: bool = setting(True, "Write stderr into std_log.txt in order with stdout.")
    gpu_precheck: bool = setting(
        True,
        "Look at the engine's runtimes before a GPU run; false for an engine that serves GPUs without listing "
        "them (the engine's own refusal at start then gets the same helpful error).",
    )
    mpi_launcher: str | None = setting(None, "MPI runs: auto, mpirun or direct (default auto).")


class DockerTarget(ComputeTarget):
    type_name = "docker"
    Settings = DockerSettings

    def __init__(self, name: str | None = None, **settings: Any):
        super().__init__(name, **settings)
        options: DockerSettings = self.options
        self.merge_stderr = options.merge_stderr
        self.gpu_precheck = options.gpu_precheck
        self.base_url = options.base_url
        self.base_image = options.base_image or DEFAULT_BASE_IMAGE
        self.arguments = list(options.arguments)
        self.ca_bundle = options.ca_bundle
        self.keep_container = options.keep_container
        self.stop_timeout = float(options.stop_timeout)
        self._client: Any = None
        self._container: Any = None
        self._follower: LogFollower | None = None
        self._removed = False  # collect() removed the run's container: cleanup() has nothing to ask the engine
        self.docker_options: RunOptions | None = None  # this run's `docker run` options; read by ranks.py too
        self.image = ""  # the run's image, once prepare() has it
        self._gpu_runtime: bool | None = None
        self._engine_info: dict[str, Any] | None = None  # the engine's /info, when a GPU run's prepare asked it
        self._ranks: DockerRanks | None = None  # when the run is distributed (one container per rank)
        self.container_data: ContainerData | None = None  # the run's data mounts (targets/docker/data.py)
        self.resume_fetched: Path | None = None  # resume_from a datastore path, fetched in prepare

    @classmethod
    def warm_up(cls) -> None:
        """The docker SDK import and the local engine's API version, learnt before a run needs them; and the
        driver's half of this module (a submit does without it), so a standby that takes a run has it loaded."""
        import runconfig_jupyter.core.data.plan
        import runconfig_jupyter.targets.docker.container
        import runconfig_jupyter.targets.docker.data
        import runconfig_jupyter.targets.docker.logs  # noqa: F401 - loaded ahead, used by the driver methods

        try:
            connect(timeout=3).close()
        except RunConfigError:  # no engine now: the run that asks for one says so
            pass

    @classmethod
    def garbage_sources(cls, home: Path) -> list[Any]:
        """The environment images this home built on the default engine, and the staged conda prefixes."""
        from runconfig_jupyter.targets.docker.garbage import DockerImageSource
        from runconfig_jupyter.targets.envs_garbage import EnvsSource

        return [DockerImageSource(home), EnvsSource(home / "envs")]

    # -- description ----------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reattach=True,
            gpu=self._has_gpu_runtime(),
            distributed=True,
            description="A container on this machine's Docker engine; images built from the run's environment. "
            "Distributed configs: one container per rank on a private network.",
        )

    def _has_gpu_runtime(self) -> bool:
        """Asked once per target object, with a short timeout: capabilities() fills dropdowns.

        A local engine's runtimes come from this process's earlier look (validate), else from the memo other
        processes left (engine_memo.py), else from the engine, remembered then for the next fresh script.
        """
        if self._gpu_runtime is None:
            address = engine_address(self.base_url)
            runtimes = remembered_runtimes(address)
            try:
                if runtimes is not None:  # not remembered again: the memo's age stays that of the engine's answer
                    self._gpu_runtime = engine_has_gpu_runtime({"Runtimes": runtimes}, self._local_engine())
                else:
                    info = local_engine_info(self.base_url, timeout=3)  # no docker SDK for the local engine
                    if info is None:
                        client = connect(self.base_url, timeout=3)
                        info = client.info()
                        client.close()
                    self._note_engine(info)
            except RunConfigError:
                self._gpu_runtime = False
        return bool(self._gpu_runtime)

    def _note_engine(self, info: dict[str, Any]) -> None:
        """What an engine's ``/info`` answer says about GPUs, kept for capabilities(); remembered when local."""
        self._gpu_runtime = engine_has_gpu_runtime(info, self._local_engine())
        if self._local_engine():
            remember_runtimes(engine_address(self.base_url), info)

    def _local_engine(self) -> bool:
        return not self.base_url or self.base_url.startswith("unix://")

    def available(self) -> tuple[bool, str]:
        try:
            connect(self.base_url, timeout=3).close()
        except TargetUnavailable as error:
            return False, str(error)
        return True, ""

    # -- submitting process -----------------------------------------------------
    def validate(self, config: Any) -> None:
        """Arguments, CA bundle, engine and GPU are checked before anything is packaged or created."""
        plan_for(config)  # a bad distributed layout is a ConfigError now, not at start
        from runconfig_jupyter.targets.processes.launcher import requested_launcher

        requested_launcher(config.environment_variables(), self.options.mpi_launcher)  # a typo fails now
        options = run_options(config, self.arguments)
        ca_bundle_path(self.ca_bundle)
        gpu_check = self.gpu_precheck and options.gpu is not None
        address = engine_address(self.base_url)
        if not gpu_check and (not address.startswith("unix://") or remembered_runtimes(address) is not None):
            check_reachable(self.base_url, timeout=10)  # no docker SDK in the submitting process
            return
        # One look at the engine answers both "is it up?" and the capabilities recorded with the run (and
        # a GPU request is judged by the engine's own fresh answer); the local engine without the SDK.
        info = reachable_info(self.base_url, timeout=10)
        self._note_engine(info)
        if gpu_check:
            check_gpu_available(info, options.gpu, self._local_engine())

    def validate_data(self, plan: Any) -> None:
        """Paths in the container checked now; a host folder can only be mounted by an engine on this machine."""
        if not plan:
            return
        if not self._local_engine():
            raise TargetUnavailable(
                f"the Docker engine at {self.base_url} is not on this machine, so it cannot mount this run's data "
                "(inputs and outputs are bind-mounted from here); use the local engine, or another target"
            )
        from runconfig_jupyter.targets.docker.container import WORKDIR  # a run with data only
        from runconfig_jupyter.targets.docker.data import check_plan_paths

        check_plan_paths(plan, WORKDIR)

    # -- driver process ---------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.base_url, reuse_version=True)
        return self._client

    def prepare(self, ctx: TargetRunContext) -> None:
        ctx.progress("Connecting to Docker")
        client = self.client()
        self.docker_options = run_options(ctx.config, self.arguments)
        # Before any build: a GPU run on an engine without GPUs must fail here, with nothing created.
        if self.gpu_precheck and self.docker_options.gpu is not None:
            self._engine_info = engine_info(client)  # start() explains a late refusal from it: not asked twice
            check_gpu_available(self._engine_info, self.docker_options.gpu, self._local_engine())
        self.image = ensure_image(client, ctx, self.base_image, ca_bundle_path(self.ca_bundle))
        self._prepare_data(ctx)

    def _prepare_data(self, ctx: TargetRunContext) -> None:
        """Inputs fetched into the cache (progress in Preparing), output folders made, resume_from fetched."""
        from runconfig_jupyter.core.data.resume import fetch_resume, parse
        from runconfig_jupyter.targets.docker.container import RESUME_MOUNT, WORKDIR
        from runconfig_jupyter.targets.docker.data import container_data

        plan = ctx.data_plan
        self.container_data = container_data(ctx, plan, WORKDIR)
        value = getattr(ctx.config, "resume_from", None)
        if parse(value) is not None:

            def progress(done: int, total: int) -> None:
                ctx.progress("Fetching resume_from", done / total if total else None, f"{done / 1e6:.1f} MB")

            self.resume_fetched = fetch_resume(value, progress)
            ctx.prepare_log(f"resume_from {value}: {self.resume_fetched} mounted read-only at {RESUME_MOUNT}")

    def start(self, ctx: TargetRunContext) -> None:
        import docker

        from runconfig_jupyter.core.data.plan import substitute
        from runconfig_jupyter.targets.docker.container import (
            LABEL_EXPERIMENT,
            MERGE_STREAMS,
            RESUME_ENV,
            RESUME_MOUNT,
            WORKDIR,
            container_environment,
            experiment_label,
            remove_container,
            resume_mount,
            steps_first,
            support_tar,
            unpack_first,
            upload_stream,
        )
        from runconfig_jupyter.targets.docker.data import ContainerData
        from runconfig_jupyter.targets.docker.logs import LogFollower, attach_output

        plan = plan_for(ctx.config)
        if plan is not None:
            from runconfig_jupyter.targets.docker.ranks import DockerRanks

            self._ranks = DockerRanks(self, plan)
            return self._ranks.start(ctx)
        client = self.client()
        options = self.docker_options or run_options(ctx.config, self.arguments)
        info = (self._engine_info or engine_info(client)) if options.gpu is not None else {}
        if self.gpu_precheck and options.gpu is not None:
            check_gpu_available(info, options.gpu, self._local_engine())
        ca_bundle = ca_bundle_path(self.ca_bundle)
        # On PYTHONPATH the shim would shadow a real install of the package in the image.
        environment = container_environment(
            ctx, options.environment, ca_bundle, shim=not _installs_the_package(ctx.config)
        )
        volumes = resume_mount(ctx.config, self.resume_fetched)
        if volumes:
            environment[RESUME_ENV] = RESUME_MOUNT
        data = self.container_data or ContainerData()
        environment.update(data.environment)
        labels = {**options.labels, LABEL: "1", LABEL_RUN_ID: ctx.run_id, LABEL_EXPERIMENT: experiment_label(ctx)}
        kwargs = options.create_kwargs()
        kwargs.setdefault("init", True)
        argv = substitute(ctx.config.argv(python=_interpreter(ctx.config), env=environment), data.paths)
        # Docker reads stdout and stderr through two pipes, so a traceback can land before the prints
        # that preceded it; one pipe (2>&1 before exec) keeps the log in the order the script wrote it.
        command = [*MERGE_STREAMS, *argv] if self.merge_stderr else argv
        kwargs["mounts"] = [*kwargs.get("mounts", []), *data.mounts]
        ctx.progress("Creating container", None, self.image)
        container = None
        unpacked = False
        if self._local_engine() and "user" not in kwargs:
            # Same engine, same file system: the snapshot (and shim + CA bundle) are bind-mounted read-only
            # and unpacked by the container itself, which saves the put_archive round trip.
            inputs, how = self._input_mounts(ctx, ca_bundle)
            create_args = {**kwargs, "mounts": [*kwargs.get("mounts", []), *inputs]}
            try:
                first = unpack_first(command, data.shell_steps(), how)
                container = self._create(client, ctx, first, create_args, environment, labels, volumes)
                unpacked = True
            except docker.errors.ImageNotFound as error:
                raise PreparationFailed(
                    f"image {self.image} vanished before the run started: {error}", "Starting"
                ) from error
            except docker.errors.APIError:
                container = None  # e.g. an engine that cannot see this file system: copy instead
        if container is None:
            try:
                fallback = steps_first(command, data.shell_steps())
                container = self._create(client, ctx, fallback, kwargs, environment, labels, volumes)
            except docker.errors.ImageNotFound as error:
                raise PreparationFailed(
                    f"image {self.image} vanished before the run started: {error}", "Starting"
                ) from error
            except docker.errors.APIError as error:
                raise PreparationFailed(
                    f"Docker refused to create the container: {error.explanation}", "Starting"
                ) from error
        self._container = container
        output: AttachedOutput | None = None
        try:
            if not unpacked:
                ctx.progress("Copying the snapshot into the container")
                # One copy for snapshot + shim + CA bundle: each put_archive is a round trip of ~0.1 s.
                container.put_archive(WORKDIR, upload_stream(ctx.snapshot_path, support_tar(ca_bundle)))
            try:
                output = attach_output(client, container.id)  # before start, as docker run does
            except docker.errors.DockerException:
                output = None  # the follower reads the log from the start instead
            container.start()
        except docker.errors.APIError as error:
            if output is not None:
                output.close()
            remove_container(container)
            if is_driver_refusal(error):
                raise no_gpu_error(info) from error
            raise PreparationFailed(f"the container did not start: {error.explanation or error}", "Starting") from error
        finally:
            # Written once the engine has answered the start (a write while the container boots, not before its
            # start), and before the log follower exists, so a line of the script's output is never in the log
            # before the record names its container. Re-attach finds the container by its label, not by this.
            ctx.record(container_id=container.id, container_name=container.name, image=self.image, argv=argv)
        self._follower = LogFollower(ctx, container, stream=output).start()

    def _create(
        self,
        client: Any,
        ctx: TargetRunContext,
        command: list[str],
        kwargs: dict[str, Any],
        environment: dict[str, str],
        labels: dict[str, str],
        volumes: dict[str, dict[str, str]],
    ) -> Any:
        """``containers.create`` without the SDK's inspect of the new container (a round trip we do not need)."""
        from docker.models.containers import _create_container_args

        from runconfig_jupyter.targets.docker.container import WORKDIR, container_name

        name = container_name(ctx.run_id)
        args = {
            **kwargs,
            "image": self.image,
            "command": command,
            "name": name,
            "working_dir": WORKDIR,
            "environment": environment,
            "labels": labels,
            "volumes": volumes or None,
            "detach": True,
            "stdin_open": False,
            "tty": False,  # attach_output reads untagged frames
            "version": client.api._version,
        }
        created = client.api.create_container(**_create_container_args(args))
        return client.containers.prepare_model({"Id": created["Id"], "Name": f"/{name}"})

    def _input_mounts(self, ctx: TargetRunContext, ca_bundle: Path | None) -> tuple[list[Any], Unpack]:
        """Read-only bind mounts of the run's snapshot and support files, and how the container unpacks them.

        A stored snapshot is mounted as its tree of hard links into the store (no byte copied on this side;
        the read-only mount keeps anyone from writing through them) with the shim and CA bundle written into
        it as new files, unless the snapshot has a ``.runconfig`` of its own: then, as for a tar snapshot,
        they come as a second mount, a tar unpacked over the copy.
        """
        from docker.types import Mount

        from runconfig_jupyter.targets.docker.container import (
            INPUT_DIR,
            SNAPSHOT_TREE,
            SUPPORT_DIR,
            SUPPORT_TAR,
            Unpack,
            check_members,
            support_tar,
            write_support,
        )

        check_members(ctx.snapshot_path)
        if ctx.snapshot_path.suffix == ".json":
            from runconfig_jupyter.core.snapshot.stream import link_tree

            tree = ctx.run_dir / SNAPSHOT_TREE
            shutil.rmtree(tree, ignore_errors=True)
            try:
                stored = link_tree(ctx.snapshot_path, tree)
            except RunConfigError as error:
                raise PreparationFailed(f"the run's snapshot cannot be used: {error}", "Starting") from None
            executables = tuple(name for name, entry in stored.members if entry is not None and entry.mode == 0o755)
            snapshot = Mount(f"{INPUT_DIR}/snapshot", str(tree.resolve()), type="bind", read_only=True)
            if not any(name.split("/", 1)[0] == SUPPORT_DIR for name, _entry in stored.members):
                write_support(tree, ca_bundle)
                return [snapshot], Unpack(tree=True, support_in_tree=True, executables=executables)
            how = Unpack(tree=True, executables=executables)
        else:
            snapshot = Mount(f"{INPUT_DIR}/snapshot.tar", str(ctx.snapshot_path.resolve()), type="bind", read_only=True)
            how = Unpack()
        support = ctx.run_dir / SUPPORT_TAR
        temp = support.with_suffix(".tmp")
        temp.write_bytes(support_tar(ca_bundle))
        temp.replace(support)
        return [snapshot, Mount(f"{INPUT_DIR}/support.tar", str(support.resolve()), type="bind", read_only=True)], how

    def wait(self, ctx: TargetRunContext) -> Outcome:
        import docker

        if self._ranks is not None:
            return self._ranks.wait(ctx)
        container = self._container
        assert container is not None, "start() or reattach() first"
        try:
            result = container.wait()
            code = int(result.get("StatusCode", -1))
        except docker.errors.NotFound:
            self._join_logs()
            return Outcome(RunStatus.FAILED, reason="the container vanished (was the Docker engine restarted?)")
        self._join_logs()
        try:
            container.reload()
            state = container.attrs.get("State", {})
        except docker.errors.NotFound:
            state = {}
        if state.get("OOMKilled"):
            limit = (self.docker_options.memory_limit if self.docker_options else None) or _format_bytes(
                container.attrs.get("HostConfig", {}).get("Memory")
            )
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"out of memory (limit {limit})")
        if code == 0:
            return Outcome(RunStatus.COMPLETED, exit_code=0)
        return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script exited with code {code}")

    def _join_logs(self) -> None:
        if self._follower is not None:
            self._follower.join(LOG_JOIN_SECONDS)

    def cancel(self, ctx: TargetRunContext, reason: str) -> None:
        """Stop (TERM, KILL after ``stop_timeout``); with init=True this takes well under a second."""
        import docker

        if self._ranks is not None:
            return self._ranks.stop()
        container = self._container or self._find(ctx)
        if container is None:
            return
        try:
            container.stop(timeout=int(self.stop_timeout))
        except docker.errors.NotFound:
            pass

    def collect(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.targets.docker.container import copy_out, remove_container

        if self._ranks is not None:
            try:
                return self._ranks.collect(ctx)
            finally:
                self._ranks.cleanup(ctx)
        container = self._container
        if container is None:
            return
        try:
            copy_out(container, ctx)
        finally:
            # Removed here, before the driver records the final status, so whoever sees the run end
            # sees no container either; cleanup() remains the safety net for every other path.
            if not self.keep_container:
                remove_container(container)
                self._removed = True

    def cleanup(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.targets.docker.container import SNAPSHOT_TREE, SUPPORT_TAR, remove_container
        from runconfig_jupyter.targets.docker.data import PICKED

        if self._ranks is not None:
            self._ranks.cleanup(ctx)
        container = None if self._removed else self._container or self._find(ctx)
        if container is not None and not self.keep_container:
            remove_container(container)
        (ctx.run_dir / SUPPORT_TAR).unlink(missing_ok=True)
        shutil.rmtree(ctx.run_dir / SNAPSHOT_TREE, ignore_errors=True)
        shutil.rmtree(ctx.run_dir / PICKED, ignore_errors=True)
        if ctx.data_plan:
            from runconfig_jupyter.core.data.materialize import VIEWS

            shutil.rmtree(ctx.run_dir / VIEWS, ignore_errors=True)
        if self._client is not None:
            self._client.close()
            self._client = None

    def reattach(self, ctx: TargetRunContext) -> bool:
        """Find the run's container by label and follow it from where the log left off.

        Following N rank containers again is not supported: a distributed run is failed
        (and cleanup removes its containers) rather than left half-watched.
        """
        from runconfig_jupyter.targets.docker.container import remove_container
        from runconfig_jupyter.targets.docker.logs import LogFollower, read_offset

        if plan_for(ctx.config) is not None:
            return False
        container = self._find(ctx)
        if container is None:
            return False
        if container.status == "created":  # the old driver died between create and start: nothing ran
            remove_container(container)
            return False
        self._container = container
        self.docker_options = run_options(ctx.config, self.arguments)
        self._follower = LogFollower(ctx, container, skip_bytes=read_offset(ctx)).start()
        return True

    # -- helpers -------------------------------------------------------------------
    def _find(self, ctx: TargetRunContext) -> Any:
        try:
            found = self.client().containers.list(
                all=True, ignore_removed=True, filters={"label": f"{LABEL_RUN_ID}={ctx.run_id}"}
            )
        except RunConfigError:
            return None
        return found[0] if found else None


def _interpreter(config: Any) -> str:
    """The image's ``python`` (the venv's when packages were installed), or a user-managed interpreter."""
    python = config.effective_environment().python
    if python.user_managed_dependencies and python.interpreter_path:
        return str(python.interpreter_path)
    return "python"


def _installs_the_package(config: Any) -> bool:
    conda = config.effective_environment().python.conda_dependencies
    packages = list(conda.pip_packages) if conda is not None else []
    return any(p.lower().replace("_", "-").startswith("runconfig-jupyter") for p in packages)


def _format_bytes(value: Any) -> str:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return "unknown"
    if number <= 0:
        return "none set"
    for unit in ("b", "k", "m", "g"):
        if number < 1024 or unit == "g":
            return f"{number:g}{unit}" if unit == "b" else f"{number:.0f}{unit}"
        number /= 1024
    return str(value)


def _is_tree(mounts: list[Any]) -> bool:
    """Whether the snapshot mount among ``mounts`` is a tree of the snapshot store (not a tar)."""
    from runconfig_jupyter.targets.docker.container import INPUT_DIR

    return any(mount.get("Target") == f"{INPUT_DIR}/snapshot" for mount in mounts)
