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

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.data.plan import substitute
from runconfig_jupyter.core.errors import PreparationFailed, RunConfigError, TargetUnavailable
from runconfig_jupyter.core.runs.distributed import plan_for
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.targets.collect import CollectReport, collect_from, collected_folders, extract_outputs
from runconfig_jupyter.targets.docker.args import RunOptions, run_options
from runconfig_jupyter.targets.docker.client import check_reachable, connect, engine_info
from runconfig_jupyter.targets.docker.data import PICKED, ContainerData, check_plan_paths, container_data
from runconfig_jupyter.targets.docker.gpu import check_gpu_available, is_driver_refusal, no_gpu_error
from runconfig_jupyter.targets.docker.image import DEFAULT_BASE_IMAGE, LABEL, LABEL_RUN_ID, ca_bundle_path, ensure_image
from runconfig_jupyter.targets.docker.logs import AttachedOutput, LogFollower, attach_output, read_offset

WORKDIR = "/workspace"
SUPPORT_DIR = ".runconfig"  # inside the working dir: shim and CA bundle travel with the snapshot in one copy
RESUME_MOUNT = "/resume_from"
RESUME_ENV = "RUNCONFIG_RESUME_FROM"
LABEL_EXPERIMENT = "runconfig-jupyter.experiment"
LOG_JOIN_SECONDS = 30.0
REMOVE_TIMEOUT = 60.0
MERGE_STREAMS = ["/bin/sh", "-c", 'exec "$@" 2>&1', "sh"]
INPUT_DIR = "/runconfig/in"  # read-only mounts of the snapshot and support tars (local engine)
SUPPORT_TAR = "docker-support.tar"  # in the run folder: the shim (+ CA bundle) to mount
UNPACK_FAILED = 126


class DockerTarget(ComputeTarget):
    type_name = "docker"

    def __init__(
        self,
        name: str | None = None,
        base_url: str | None = None,
        base_image: str | None = None,
        arguments: list[str] | None = None,
        ca_bundle: str | None = None,
        keep_container: bool = False,
        stop_timeout: float = 5.0,
        merge_stderr: bool = True,
        gpu_precheck: bool = True,
        **settings: Any,
    ):
        kept = {
            key: value
            for key, value in (
                ("base_url", base_url),
                ("base_image", base_image),
                ("arguments", list(arguments) if arguments else None),
                ("ca_bundle", ca_bundle),
            )
            if value
        }
        super().__init__(
            name,
            keep_container=keep_container,
            stop_timeout=stop_timeout,
            merge_stderr=merge_stderr,
            **kept,
            **settings,
        )
        self.merge_stderr = bool(merge_stderr)
        # gpu_precheck=False skips our look at the engine's runtimes (for an engine that serves GPUs without
        # listing them); the engine's own refusal at start is then turned into the same helpful error.
        self.gpu_precheck = bool(gpu_precheck)
        if not self.gpu_precheck:
            self.settings["gpu_precheck"] = False
        self.base_url = base_url
        self.base_image = base_image or DEFAULT_BASE_IMAGE
        self.arguments = list(arguments or [])
        self.ca_bundle = ca_bundle
        self.keep_container = bool(keep_container)
        self.stop_timeout = float(stop_timeout)
        self._client: Any = None
        self._container: Any = None
        self._follower: LogFollower | None = None
        self._options: RunOptions | None = None
        self._gpu_runtime: bool | None = None
        self._ranks: Any = None  # a DockerRanks when the run is distributed (one container per rank)
        self._data: ContainerData | None = None
        self._resume: Path | None = None

    # -- description ----------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            gpu=self._has_gpu_runtime(),
            distributed=True,
            description="A container on this machine's Docker engine; images built from the run's environment. "
            "Distributed configs: one container per rank on a private network.",
        )

    def _has_gpu_runtime(self) -> bool:
        """Asked once per target object, with a short timeout: capabilities() fills dropdowns."""
        if self._gpu_runtime is None:
            from runconfig_jupyter.targets.docker.gpu import engine_has_gpu_runtime

            try:
                client = connect(self.base_url, timeout=3)
                self._gpu_runtime = engine_has_gpu_runtime(client.info(), self._local_engine())
                client.close()
            except RunConfigError:
                self._gpu_runtime = False
        return self._gpu_runtime

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
        from runconfig_jupyter.targets.processes.mpi_launch import requested_launcher

        requested_launcher(config.environment_variables(), self.settings.get("mpi_launcher"))  # a typo fails now
        options = run_options(config, self.arguments)
        ca_bundle_path(self.ca_bundle)
        self._resume_mount(config)
        if not (self.gpu_precheck and options.gpu is not None):
            check_reachable(self.base_url, timeout=10)  # no docker SDK in the submitting process
            return
        client = connect(self.base_url, timeout=10)
        try:
            check_gpu_available(engine_info(client), options.gpu, self._local_engine())
        finally:
            client.close()

    def validate_data(self, plan: Any) -> None:
        """Paths in the container checked now; a host folder can only be mounted by an engine on this machine."""
        if not plan:
            return
        if not self._local_engine():
            raise TargetUnavailable(
                f"the Docker engine at {self.base_url} is not on this machine, so it cannot mount this run's data "
                "(inputs and outputs are bind-mounted from here); use the local engine, or another target"
            )
        check_plan_paths(plan, WORKDIR)

    def _resume_mount(self, config: Any) -> dict[str, dict[str, str]]:
        """``resume_from``: a run id (its outputs) or an allowed folder, mounted read-only.

        Checked again here (in the driver, right before the mount) by the same confinement check the
        submit ran, and the *resolved* folder is mounted, never the text of the config.
        """
        value = getattr(config, "resume_from", None)
        if not value:
            return {}
        from runconfig_jupyter.core.data.resume import check_resume, parse

        if parse(value) is not None:  # a datastore path: fetched in prepare (self._resume)
            if self._resume is None:
                check_resume(value)
                return {}
            real = self._resume
        else:
            from runconfig_jupyter.core.safety.confine import Confinement

            real = Confinement.for_source(config.source_directory).resume_from(str(value))
        return {str(real): {"bind": RESUME_MOUNT, "mode": "ro"}}

    # -- driver process ---------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.base_url, reuse_version=True)
        return self._client

    def prepare(self, ctx: TargetRunContext) -> None:
        ctx.progress("Connecting to Docker")
        client = self.client()
        self._options = run_options(ctx.config, self.arguments)
        # Before any build: a GPU run on an engine without GPUs must fail here, with nothing created.
        if self.gpu_precheck and self._options.gpu is not None:
            check_gpu_available(engine_info(client), self._options.gpu, self._local_engine())
        self._image = ensure_image(client, ctx, self.base_image, ca_bundle_path(self.ca_bundle))
        self._prepare_data(ctx)

    def _prepare_data(self, ctx: TargetRunContext) -> None:
        """Inputs fetched into the cache (progress in Preparing), output folders made, resume_from fetched."""
        from runconfig_jupyter.core.data.resume import fetch_resume, parse

        plan = ctx.data_plan
        self._data = container_data(ctx, plan, WORKDIR)
        value = getattr(ctx.config, "resume_from", None)
        if parse(value) is not None:

            def progress(done: int, total: int) -> None:
                ctx.progress("Fetching resume_from", done / total if total else None, f"{done / 1e6:.1f} MB")

            self._resume = fetch_resume(value, progress)
            ctx.prepare_log(f"resume_from {value}: {self._resume} mounted read-only at {RESUME_MOUNT}")

    def start(self, ctx: TargetRunContext) -> None:
        import docker

        plan = plan_for(ctx.config)
        if plan is not None:
            from runconfig_jupyter.targets.docker.ranks import DockerRanks

            self._ranks = DockerRanks(self, plan)
            return self._ranks.start(ctx)
        client = self.client()
        options = self._options or run_options(ctx.config, self.arguments)
        info = engine_info(client) if options.gpu is not None else {}
        if self.gpu_precheck and options.gpu is not None:
            check_gpu_available(info, options.gpu, self._local_engine())
        ca_bundle = ca_bundle_path(self.ca_bundle)
        environment = {**ctx.environment(), **options.environment, "PYTHONUNBUFFERED": "1"}
        if not _installs_the_package(ctx.config):  # on PYTHONPATH the shim would shadow a real install
            shim_path = f"{WORKDIR}/{SUPPORT_DIR}/shim"
            environment["PYTHONPATH"] = ":".join(p for p in (environment.get("PYTHONPATH"), shim_path) if p)
        if ca_bundle is not None:
            for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
                environment.setdefault(name, f"{WORKDIR}/{SUPPORT_DIR}/ca-bundle.pem")
        volumes = self._resume_mount(ctx.config)
        if volumes:
            environment[RESUME_ENV] = RESUME_MOUNT
        data = self._data or ContainerData()
        environment.update(data.environment)
        labels = {**options.labels, LABEL: "1", LABEL_RUN_ID: ctx.run_id, LABEL_EXPERIMENT: _experiment(ctx)}
        kwargs = options.create_kwargs()
        kwargs.setdefault("init", True)
        argv = substitute(ctx.config.argv(python=_interpreter(ctx.config), env=environment), data.paths)
        # Docker reads stdout and stderr through two pipes, so a traceback can land before the prints
        # that preceded it; one pipe (2>&1 before exec) keeps the log in the order the script wrote it.
        command = [*MERGE_STREAMS, *argv] if self.merge_stderr else argv
        kwargs["mounts"] = [*kwargs.get("mounts", []), *data.mounts]
        ctx.progress("Creating container", None, self._image)
        container = None
        unpacked = False
        if self._local_engine() and "user" not in kwargs:
            # Same engine, same file system: the snapshot (and shim + CA bundle) are bind-mounted read-only
            # and unpacked by the container itself, which saves the put_archive round trip.
            inputs = self._input_mounts(ctx, ca_bundle)
            create_args = {**kwargs, "mounts": [*kwargs.get("mounts", []), *inputs]}
            try:
                first = _unpack_first(command, data.shell_steps())
                container = self._create(client, ctx, first, create_args, environment, labels, volumes)
                unpacked = True
            except docker.errors.ImageNotFound as error:
                raise PreparationFailed(
                    f"image {self._image} vanished before the run started: {error}", "Starting"
                ) from error
            except docker.errors.APIError:
                container = None  # e.g. an engine that cannot see this file system: copy instead
        if container is None:
            try:
                fallback = steps_first(command, data.shell_steps())
                container = self._create(client, ctx, fallback, kwargs, environment, labels, volumes)
            except docker.errors.ImageNotFound as error:
                raise PreparationFailed(
                    f"image {self._image} vanished before the run started: {error}", "Starting"
                ) from error
            except docker.errors.APIError as error:
                raise PreparationFailed(
                    f"Docker refused to create the container: {error.explanation}", "Starting"
                ) from error
        self._container = container
        ctx.record(container_id=container.id, container_name=container.name, image=self._image, argv=argv)
        output: AttachedOutput | None = None
        try:
            if not unpacked:
                ctx.progress("Copying the snapshot into the container")
                # One copy for snapshot + shim + CA bundle: each put_archive is a round trip of ~0.1 s.
                container.put_archive(WORKDIR, _upload_stream(ctx.snapshot_path, _support_tar(ca_bundle)))
            try:
                output = attach_output(client, container.id)  # before start, as docker run does
            except docker.errors.DockerException:
                output = None  # the follower reads the log from the start instead
            container.start()
        except docker.errors.APIError as error:
            if output is not None:
                output.close()
            self._remove(container)
            if is_driver_refusal(error):
                raise no_gpu_error(info) from error
            raise PreparationFailed(f"the container did not start: {error.explanation or error}", "Starting") from error
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

        name = _container_name(ctx.run_id)
        args = {
            **kwargs,
            "image": self._image,
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

    def _input_mounts(self, ctx: TargetRunContext, ca_bundle: Path | None) -> list[Any]:
        """Read-only bind mounts of the run's snapshot and of the shim + CA bundle tar (written next to it)."""
        from docker.types import Mount

        _check_members(ctx.snapshot_path)
        support = ctx.run_dir / SUPPORT_TAR
        temp = support.with_suffix(".tmp")
        temp.write_bytes(_support_tar(ca_bundle))
        temp.replace(support)
        return [
            Mount(f"{INPUT_DIR}/snapshot.tar", str(ctx.snapshot_path.resolve()), type="bind", read_only=True),
            Mount(f"{INPUT_DIR}/support.tar", str(support.resolve()), type="bind", read_only=True),
        ]

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
            limit = (self._options.memory_limit if self._options else None) or _format_bytes(
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
                self._remove(container)

    def cleanup(self, ctx: TargetRunContext) -> None:
        if self._ranks is not None:
            self._ranks.cleanup(ctx)
        container = self._container or self._find(ctx)
        if container is not None and not self.keep_container:
            self._remove(container)
        (ctx.run_dir / SUPPORT_TAR).unlink(missing_ok=True)
        shutil.rmtree(ctx.run_dir / PICKED, ignore_errors=True)
        if self._client is not None:
            self._client.close()
            self._client = None

    def reattach(self, ctx: TargetRunContext) -> bool:
        """Find the run's container by label and follow it from where the log left off.

        Following N rank containers again is not supported: a distributed run is failed
        (and cleanup removes its containers) rather than left half-watched.
        """
        if plan_for(ctx.config) is not None:
            return False
        container = self._find(ctx)
        if container is None:
            return False
        if container.status == "created":  # the old driver died between create and start: nothing ran
            self._remove(container)
            return False
        self._container = container
        self._options = run_options(ctx.config, self.arguments)
        self._follower = LogFollower(ctx, container, skip_bytes=read_offset(ctx)).start()
        return True

    # -- helpers -------------------------------------------------------------------
    def _find(self, ctx: TargetRunContext) -> Any:
        try:
            found = self.client().containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={ctx.run_id}"})
        except RunConfigError:
            return None
        return found[0] if found else None

    def _remove(self, container: Any, timeout: float = REMOVE_TIMEOUT) -> None:
        """Remove and make sure it is gone: the engine can answer 409 "removal already in progress" or a
        transient 500 while it tears down an OOM-killed container, and a run must not end before that."""
        import docker

        deadline = time.monotonic() + timeout
        while True:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                pass
            try:
                container.reload()
            except docker.errors.NotFound:
                return
            if time.monotonic() > deadline:
                raise TargetUnavailable(f"the Docker engine did not remove container {container.name} in {timeout:g} s")
            time.sleep(0.2)


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


def _experiment(ctx: TargetRunContext) -> str:
    return str(getattr(ctx, "spec", {}).get("experiment", ""))


def _container_name(run_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in run_id)
    return f"runconfig-{safe}"[:200]


def _unpack_first(command: list[str], steps: str = "") -> list[str]:
    """``command`` preceded by unpacking the mounted snapshot and support tars into the working dir.

    GNU tar as root keeps modes and mtimes like the engine's put_archive does; the member names were
    checked on this side first (_check_members). A failure says so and exits before the script runs.
    ``steps`` (shell, e.g. copying download-mode inputs into place) run after the unpack.
    """
    unpack = (
        f"tar -xf {INPUT_DIR}/snapshot.tar -C {WORKDIR} && tar -xf {INPUT_DIR}/support.tar -C {WORKDIR} || "
        f"{{ echo 'runconfig: could not unpack the source snapshot into {WORKDIR} (does the image have tar?)' >&2; "
        f"exit {UNPACK_FAILED}; }}; "
    )
    return steps_first(command, unpack + steps)


def steps_first(command: list[str], steps: str) -> list[str]:
    """``command`` run by ``sh`` after ``steps``; unchanged when there are none. Arguments stay "$@" (no shell)."""
    if not steps:
        return command
    if command[: len(MERGE_STREAMS)] == MERGE_STREAMS:
        return ["/bin/sh", "-c", steps + MERGE_STREAMS[2], *command[len(MERGE_STREAMS) - 1 :]]
    return ["/bin/sh", "-c", steps + 'exec "$@"', "sh", *command]


def _check_members(snapshot_path: Path) -> None:
    """Refuse a snapshot whose members would land outside the working dir (absolute or ``..`` names)."""
    with tarfile.open(snapshot_path) as archive:
        for member in archive:
            name = member.name
            if name.startswith("/") or ".." in Path(name).parts or member.isdev():
                raise PreparationFailed(f"the snapshot holds an unsafe member {name!r}; not starting", "Starting")


def _support_tar(ca_bundle: Path | None) -> bytes:
    """The in-script shim (and the CA bundle) as a tar rooted at ``.runconfig/``."""
    from runconfig_jupyter.core.runs.shim import shim_files

    files = {f"shim/{name}": content for name, content in shim_files().items()}
    if ca_bundle is not None:
        files["ca-bundle.pem"] = ca_bundle.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"{SUPPORT_DIR}/{name}")
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _upload_stream(snapshot_path: Path, extra: bytes, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The snapshot tar without its end-of-archive blocks, then ``extra`` (a complete tar): one archive.

    Streamed, so a large snapshot is never held in memory.
    """
    with tarfile.open(snapshot_path) as archive:
        for _member in archive:
            pass
        end = archive.offset  # just past the last member's data and padding
    with open(snapshot_path, "rb") as source:
        remaining = end
        while remaining > 0:
            block = source.read(min(chunk, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    yield extra


class _ChunkStream(io.RawIOBase):
    """The engine's archive chunks as a file, so tarfile can read members as they arrive (no temp copy)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size


def copy_out(container: Any, ctx: TargetRunContext) -> None:
    """``get_archive`` of the container's outputs/ and logs/, unpacked entry by entry into the run folder.

    Streamed (no copy of the whole archive on disk first), so a full disk costs the entries that
    did not fit, not the ones before them; a link or FIFO costs only itself (see collect.py).
    """
    import docker

    with tempfile.TemporaryDirectory(prefix=".collect-", dir=ctx.run_dir) as temp:
        unpacked = CollectReport()
        for folder, _destination in collected_folders(ctx):
            try:
                chunks, _stat = container.get_archive(f"{WORKDIR}/{folder}")
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:  # this folder is lost; the other may still come
                unpacked.errors.append(f"{folder}/: the engine refused the archive: {error.explanation or error}")
                continue
            try:
                with tarfile.open(fileobj=io.BufferedReader(_ChunkStream(iter(chunks))), mode="r|") as archive:
                    unpacked.merge(extract_outputs(archive, Path(temp), origin=WORKDIR))
            except (tarfile.TarError, docker.errors.APIError) as error:
                unpacked.errors.append(f"{folder}/: the engine's archive broke off: {error}")
        collect_from(Path(temp), ctx, origin=WORKDIR, unpacked=unpacked)


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
