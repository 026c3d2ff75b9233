"""The ``kernel`` target: run on a remote Jupyter Server or Jupyter Kernel Gateway.

Any machine that runs ``jupyter server`` (or ``jupyter kernelgateway``) can take
runs: the driver starts a kernel there, uploads the snapshot (through the
contents API when the server has one, otherwise in chunks through the kernel),
unpacks it safely into a per-run folder, installs the environment's conda packages
(py-rattler, on the kernel's side) and pip packages (a venv over the kernel's
own packages), cached per environment under ``<working_root>/envs``, and starts the script as its own
process, in its own session (see ``kernel_remote_runner``). The driver then
follows the remote log file by byte offset, so a dropped websocket, a restarted
kernel or even a restarted server only pause the live log: the driver
reconnects (starting a new kernel when the old one is gone) and continues from
where it was. Cancel and max duration kill the remote process group; at the end
outputs/ and logs/ come back into the run folder, the remote folder is removed
and the kernel shut down (unless ``keep_remote_dir`` / ``keep_kernel``).

The token never leaves this process's memory: the spec names the environment
variable that holds it (``token_env``), and only that name reaches run.json,
the store, logs and targets.yaml. Example ``targets.yaml`` entry::

    gpu-box:
      type: kernel
      url: https://gpu-box:8888
      token_env: GPU_BOX_TOKEN
      kernel_name: python3
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from runconfig_jupyter.core.data.plan import script_environment, substitute
from runconfig_jupyter.core.errors import (
    CondaChannelUnreachable,
    ConfigError,
    PreparationFailed,
    SnapshotError,
    TargetAuthError,
    TargetUnavailable,
)
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.system.paths import run_home
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.core.target.settings import setting
from runconfig_jupyter.targets.conda_prefix import CondaRequest, channel_unreachable, conda_request
from runconfig_jupyter.targets.kernel import data as kernel_data
from runconfig_jupyter.targets.kernel import remote_runner as runner
from runconfig_jupyter.targets.kernel import transfer
from runconfig_jupyter.targets.kernel.client import ChannelLost, KernelClient, KernelDied, KernelGone
from runconfig_jupyter.targets.kernel.delta import (
    CACHE_FOLDER,
    DELTA_NAME,
    Delta,
    KnownObjects,
    RemoteCache,
    plan_delta,
    rebuild_remotely,
    snapshot_tar,
)
from runconfig_jupyter.targets.kernel.session import RemoteError, RemoteKernel
from runconfig_jupyter.targets.local.env import check_host_pip

# Solving and installing a run's packages on the kernel's side (once per environment; cached after).
INSTALL_TIMEOUT_SECONDS = 1800.0

STATE_FILE = "kernel_state.json"
UPLOAD_MODES = ("auto", "contents", "kernel")
SHIM_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class KernelSettings:
    """Settings of a ``type: kernel`` target; ``url`` is required."""

    url: str = setting("", "Address of the Jupyter Server or Kernel Gateway (http:// or https://).")
    kernel_name: str = setting("python3", "Kernel spec to start on the server.")
    token_env: str | None = setting(None, "Name of the environment variable holding the server's token.")
    working_root: str = setting("runconfig-runs", "Folder on the server (relative to its root) for run folders.")
    verify_tls: bool = setting(True, "Check the server's TLS certificate (https).")
    keep_kernel: bool = setting(False, "Leave the kernel running after the run (for debugging).")
    keep_remote_dir: bool = setting(False, "Leave the run's folder on the server after the run (for debugging).")
    upload: str = setting("auto", f"How the snapshot is uploaded: {', '.join(UPLOAD_MODES)}.")
    chunk_mib: float = setting(4.0, "Chunk size (MiB) of an upload through the kernel (messages are capped).")
    contents_chunk_mib: float = setting(16.0, "Chunk size (MiB) of an upload through the contents API.")
    shim: str = setting("auto", f"Install the in-script logging shim on the server: {', '.join(SHIM_MODES)}.")
    grace_seconds: float = setting(5.0, "Seconds between SIGTERM and SIGKILL when a run is canceled.")
    connect_timeout: float = setting(5.0, "Seconds to wait for the server to answer a request.")
    reconnect_seconds: float = setting(120.0, "How long a lost server or kernel is retried before the run fails.")
    poll_wait: float = setting(0.5, "Seconds between reads of the remote log.")
    delta_upload: bool = setting(
        True, "Upload only the files the server's machine does not hold yet (it keeps them in working_root/.objects)."
    )


class KernelTarget(ComputeTarget):
    type_name = "kernel"
    Settings = KernelSettings

    def __init__(self, name: str | None = None, **settings: Any):
        super().__init__(name, **settings)
        options: KernelSettings = self.options
        self.chunk_bytes = int(options.chunk_mib * 1024 * 1024)
        self.contents_chunk_bytes = int(options.contents_chunk_mib * 1024 * 1024)
        # driver-side state
        self._client: KernelClient | None = None
        self._remote: RemoteKernel | None = None
        self._kernels: list[str] = []
        self._state: dict[str, Any] = {}
        self._exited = threading.Event()
        self._cancel_at: float | None = None
        self._kernel_trouble: str | None = None
        self._last_ok = time.monotonic()
        self._data_paths: dict[str, str] = {}  # input/output name -> its path on the remote machine

    # -- description -----------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reattach=True,
            gpu=True,
            distributed=False,
            description=f"A process next to a remote Jupyter kernel ({self.options.kernel_name}) "
            f"at {self.options.url}.",
        )

    def _check_settings(self) -> None:
        parts = urlsplit(self.options.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"'{self.options.url}' is not a server URL; give the Jupyter Server or Kernel Gateway address, "
                "e.g. http://gpu-box:8888 (no token in it: use token_env)",
                field="url",
            )
        if "token=" in (parts.query or ""):
            raise ConfigError("the URL carries a token; remove it and name an environment variable in token_env", "url")
        if self.options.upload not in UPLOAD_MODES:
            raise ConfigError(f"upload must be one of {', '.join(UPLOAD_MODES)}, not {self.options.upload!r}", "upload")
        if self.options.shim not in SHIM_MODES:
            raise ConfigError(f"shim must be one of {', '.join(SHIM_MODES)}, not {self.options.shim!r}", "shim")
        if not 0.0625 <= self.chunk_bytes / 1048576 <= 5:
            raise ConfigError(
                "chunk_mib must be between 0.0625 and 5 (websocket messages stay under 10 MiB)", "chunk_mib"
            )
        if self.options.token_env and not os.environ.get(self.options.token_env):
            raise ConfigError(
                f"environment variable {self.options.token_env} (the token for target '{self.name}') is not set; "
                "export it, or submit with %submit, which asks for it",
                field="token_env",
            )

    @classmethod
    def warm_up(cls) -> None:
        """What a run imports lazily, imported by a standby driver ahead of it (the rest comes with this module):
        the websocket client, the in-script shim's packer, netrc (requests reads ~/.netrc per request) and gc
        (the exit hook of weakref.finalize, which urllib3 registers per connection pool, imports it)."""
        import gc  # noqa: F401
        import netrc  # noqa: F401

        import websocket  # noqa: F401

        import runconfig_jupyter.core.runs.shim  # noqa: F401

    def client(self) -> KernelClient:
        if self._client is None:
            self._check_settings()
            token = os.environ.get(self.options.token_env) if self.options.token_env else None
            hint = f"${self.options.token_env}" if self.options.token_env else "a token (set token_env on the target)"
            self._client = KernelClient(
                self.options.url,
                token,
                self.options.verify_tls,
                connect_timeout=self.options.connect_timeout,
                token_hint=hint,
            )
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            self._check_settings()
            client = KernelClient(
                self.options.url,
                os.environ.get(self.options.token_env) if self.options.token_env else None,
                self.options.verify_tls,
                connect_timeout=2.0,
                read_timeout=5.0,
            )
            client.check()
        except (ConfigError, TargetUnavailable) as error:
            return False, str(error)
        return True, ""

    # -- submitting process ------------------------------------------------------
    def validate(self, config) -> None:  # type: ignore[no-untyped-def]
        """Reject bad settings, a wrong token or an unknown kernel before anything is packaged."""
        environment = config.effective_environment()
        if getattr(getattr(environment, "docker", None), "enabled", False):
            raise ConfigError(
                f"this environment has docker.enabled = true but target '{self.name}' is a remote kernel, which "
                "runs the script with the kernel's own python; set docker.enabled to false",
                field="environment.docker.enabled",
            )
        check_host_pip(config, environment)  # pip entries are packages, never options or paths
        client = self.client()
        specs = client.check().get("kernelspecs", {})
        if specs and self.options.kernel_name not in specs:
            raise ConfigError(
                f"the server at {client.url} has no kernel '{self.options.kernel_name}'; "
                f"it has: {', '.join(sorted(specs))}",
                field="kernel_name",
            )

    def validate_data(self, plan) -> None:  # type: ignore[no-untyped-def]
        """A download's path_on_compute must stay inside the run's remote working folder."""
        for inp in plan.inputs:
            kernel_data.input_path("", inp)

    # -- state (no secrets: ids, paths and offsets only) ---------------------------
    def _save_state(self, ctx: TargetRunContext, **changes: Any) -> None:
        self._state.update(changes)
        path = ctx.run_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state))
        os.replace(tmp, path)

    def _load_state(self, ctx: TargetRunContext) -> dict[str, Any]:
        state: dict[str, Any] = {}
        store = getattr(ctx, "store", None)
        if store is not None:
            state.update((store.get(ctx.run_id).details or {}).get("kernel", {}))
        path = ctx.run_dir / STATE_FILE
        if path.exists():
            state.update(json.loads(path.read_text()))
        return state

    def _record(self, ctx: TargetRunContext) -> None:
        keys = ("url", "kernel_id", "kernel_pid", "remote_dir", "pid", "host", "upload")
        ctx.record(kernel={k: self._state[k] for k in keys if k in self._state})

    # -- driver: prepare / start ----------------------------------------------------
    def prepare(self, ctx: TargetRunContext) -> None:
        """Start a kernel, upload and unpack the snapshot.

        The kernel is asked for first: its boot (~0.5-1 s) is the longest step, and everything else up
        to the setup call (the contents API probe, reading and hashing the snapshot, a contents upload,
        which needs no kernel) runs while it boots. The request that starts it checks the token too: a
        wrong one is refused before any kernel exists or a byte is uploaded.
        """
        client = self.client()
        ctx.progress("Starting kernel", None, f"{self.options.kernel_name} on {client.url}")
        self._remote = RemoteKernel.start(client, self.options.kernel_name)
        self._kernels.append(self._remote.kernel_id)
        self._save_state(ctx, url=client.url, kernel_id=self._remote.kernel_id, kernels=self._kernels, offset=0)
        self._record(ctx)
        ctx.prepare_log(f"kernel {self._remote.kernel_id} ({self.options.kernel_name}) started on {client.url}")
        contents = self.options.upload != "kernel" and self._relative_root() and client.has_contents()
        if self.options.upload == "contents" and not contents:  # cleanup() shuts the new kernel down
            raise PreparationFailed(
                f"upload: contents needs a Jupyter Server with /api/contents and a relative working_root; {client.url} "
                "has none (a Kernel Gateway?) - use upload: auto"
            )
        from runconfig_jupyter.core.snapshot.stream import is_stored, tar_bytes

        known = KnownObjects(run_home(), client.url, self.options.working_root)
        delta = None
        try:
            if self.options.delta_upload and is_stored(ctx.snapshot_path):
                # Only what the remote machine does not hold yet travels (delta.py).
                data, alg, regions = snapshot_tar(ctx.snapshot_path)
                digest = hashlib.sha256(data).hexdigest()
                delta = plan_delta(alg, len(data), digest, regions, known.load(alg))
            else:
                data = tar_bytes(ctx.snapshot_path)  # a stored snapshot's tar is generated from the store
                digest = hashlib.sha256(data).hexdigest()
        except SnapshotError as error:
            raise PreparationFailed(f"the run's snapshot cannot be used: {error}") from None
        view = memoryview(data)
        payload = b"".join(delta.chunks(lambda offset, length: view[offset : offset + length])) if delta else data
        run_dir = f"{self.options.working_root.rstrip('/')}/{ctx.run_id}"  # relative to the kernel's cwd, or absolute
        stored = False
        if contents:  # working_root is relative here: the same path under the server root
            self._save_state(ctx, contents_dir=run_dir)
            name = DELTA_NAME if delta is not None else "snapshot.tar"
            stored = transfer.upload_contents(client, ctx, run_dir, payload, self.contents_chunk_bytes, name)
            if stored:
                self._save_state(ctx, upload="contents")
        if ctx.cancel_event.is_set():
            return
        from runconfig_jupyter.core.runs.shim import shim_tar

        shim = base64.b64encode(shim_tar("shim")).decode() if self.options.shim != "never" else None
        info = self._remote.call("setup", run_dir=run_dir, shim=bool(shim), payload=shim, install=True, timeout=180)
        self._save_state(
            ctx,
            remote_dir=info["run_dir"],
            host=info["host"],
            remote_python=info["python"],
            kernel_pid=info["kernel_pid"],
        )
        self._record(ctx)
        ctx.prepare_log(f"remote folder {info['host']}:{info['run_dir']}")
        archive = f"{info['run_dir']}/control/snapshot.tar"
        cache = RemoteCache(f"{self.options.working_root.rstrip('/')}/{CACHE_FOLDER}", known, info["host"])
        extracted = None
        if delta is not None:
            extracted = self._rebuild(ctx, archive, delta, payload, stored, cache)
            if ctx.cancel_event.is_set():
                return
            stored = False  # if it has to go whole now: through the kernel (the contents API held the delta)
        elif stored:
            extracted = self._extract(ctx, archive, digest)
        if extracted is None:
            if stored:
                ctx.prepare_log(
                    "the kernel does not see the file the contents API stored (its working folder differs from the "
                    "server root); uploading through the kernel instead"
                )
            if not transfer.upload_through_kernel(self._remote, ctx, archive, data, self.chunk_bytes):
                return
            self._save_state(ctx, upload="kernel")
            extracted = self._extract(ctx, archive, digest)
            if extracted is None:
                raise PreparationFailed(f"the uploaded snapshot is corrupt on {info['host']} (checksum differs)")
        ctx.prepare_log(f"unpacked {extracted['files']} files")
        self._install_environment(ctx)
        use = cache if self.options.delta_upload else None
        self._data_paths = kernel_data.materialize(self._remote, ctx, info["run_dir"], self.chunk_bytes, use)

    def _rebuild(
        self, ctx: TargetRunContext, archive: str, delta: Delta, payload: bytes, stored: bool, cache: RemoteCache
    ) -> dict[str, Any] | None:
        """The snapshot rebuilt remotely from the delta and the files cached there, checked and unpacked; None
        when it has to be uploaded whole (delta.rebuild_remotely)."""
        assert self._remote is not None
        remote_delta = f"{self._state['remote_dir']}/control/{DELTA_NAME}"
        if stored and not self._remote.call("exists", path=remote_delta)["exists"]:
            ctx.prepare_log(
                "the kernel does not see the file the contents API stored (its working folder differs from the "
                "server root); uploading through the kernel instead"
            )
            stored = False
        if not stored:
            if not transfer.upload_through_kernel(self._remote, ctx, remote_delta, payload, self.chunk_bytes):
                return None
            self._save_state(ctx, upload="kernel")
        return rebuild_remotely(
            self._remote,
            ctx,
            cache,
            delta,
            remote_delta,
            archive,
            lambda: self._extract(ctx, archive, delta.tar_sha256),
            "snapshot",
            f"on {cache.host}",
        )

    def _install_environment(self, ctx: TargetRunContext) -> None:
        """Conda and pip packages of the run's environment, installed on the kernel's side (cached per content)."""
        assert self._remote is not None
        environment = ctx.config.effective_environment()
        python = environment.python
        conda = python.conda_dependencies
        if conda is None or python.user_managed_dependencies:
            return
        request = conda_request(environment)
        pip = conda.installed_pip_packages()
        if request is None and not pip:
            return
        wanted = [*(request.packages if request else ()), *pip]
        ctx.progress("Installing packages", None, ", ".join(wanted))
        ctx.prepare_log(f"installing on {self._state['host']}: {', '.join(wanted)}")
        result = self._remote.call(
            "install_environment",
            envs_root=f"{self.options.working_root.rstrip('/')}/envs",
            digest=environment.content_hash(),
            conda=list(request.packages) if request else [],
            channels=list(request.channels) if request else [],
            pip=pip,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        for line in result.get("log", []):
            ctx.prepare_log(line)
        error = result.get("error")
        if error is not None:
            raise _install_error(error, result, request, pip, self._state["host"])
        if result.get("cached"):
            ctx.prepare_log(f"environment {environment.content_hash()[:12]} is cached on {self._state['host']}")
        self._save_state(ctx, env_python=result["python"], env_prefix=result["prefix"])

    def _relative_root(self) -> bool:
        return not (PurePosixPath(self.options.working_root).is_absolute() or self.options.working_root.startswith("~"))

    def _extract(self, ctx: TargetRunContext, archive: str, digest: str) -> dict[str, Any] | None:
        """Unpack on the remote side after a checksum check; None when the archive there is not ours."""
        assert self._remote is not None
        ctx.progress("Extracting snapshot")
        try:
            result = self._remote.call("extract", run_dir=self._state["remote_dir"], archive=archive, sha256=digest)
        except RemoteError as error:
            raise PreparationFailed(
                f"the snapshot could not be unpacked on {self.options.url}: {error.evalue}"
            ) from None
        return result if result.get("files") is not None else None

    def _python(self, ctx: TargetRunContext) -> str:
        python = ctx.config.effective_environment().python
        path = getattr(python, "interpreter_path", "") or ""
        return path if python.user_managed_dependencies and path not in ("", "python") else ""

    def start(self, ctx: TargetRunContext) -> None:
        assert self._remote is not None
        env = {**ctx.environment(), **script_environment(ctx.data_plan, self._data_paths)}
        # Expanded with the run's variables (the remote host's own, such as HOME, are not known here).
        argv = substitute(ctx.config.argv(python=runner.PYTHON_PLACEHOLDER, env=env), self._data_paths)
        info = self._remote.call(
            "start",
            run_dir=self._state["remote_dir"],
            argv=[str(a) for a in argv],
            env=env,
            python=self._python(ctx) or self._state.get("env_python", ""),
            shim="always"
            if self.options.shim == "auto" and self._state.get("env_prefix") and self._state.get("env_python")
            else self.options.shim,  # a conda prefix's own python never sees the kernel's packages
            prefix=self._state.get("env_prefix", ""),
            venv=bool(self._state.get("env_python")) and not self._state.get("env_prefix"),
        )
        self._save_state(ctx, pid=info["pid"])
        self._record(ctx)
        ctx.prepare_log(f"started pid {info['pid']} on {self._state['host']}: {' '.join(info['argv'])}")

    # -- driver: follow ---------------------------------------------------------------
    def wait(self, ctx: TargetRunContext) -> Outcome:
        assert self._remote is not None
        remote_dir = self._state["remote_dir"]
        last_kill = 0.0
        while True:
            overdue = self._cancel_at is not None and time.monotonic() - self._cancel_at > self.options.grace_seconds
            if overdue and time.monotonic() - last_kill > 2.0:  # TERM was not enough (or never arrived): KILL
                last_kill = time.monotonic()
                self._try(lambda: self._remote.call("kill", run_dir=remote_dir, sig="SIGKILL", timeout=30))
            try:
                result = self._remote.call(
                    "poll",
                    run_dir=remote_dir,
                    offset=self._state.get("offset", 0),
                    wait=self.options.poll_wait,
                    timeout=60,
                )
            except (ChannelLost, KernelDied, KernelGone) as error:
                self._recover(ctx, error)
                continue
            except RemoteError as error:
                if error.ename == "KeyboardInterrupt":
                    continue
                raise
            self._last_ok = time.monotonic()
            if result["data"]:
                ctx.write_log(base64.b64decode(result["data"]))
                self._save_state(ctx, offset=result["offset"])
            state = result["state"]
            if state == "running":
                continue
            self._exited.set()
            return self._outcome(state, result.get("exit_code"))

    def _outcome(self, state: str, code: int | None) -> Outcome:
        if state == "exited" and code == 0:
            return Outcome(RunStatus.COMPLETED, exit_code=0)
        if state == "exited" and code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script was killed by {name}")
        if state == "exited":
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script exited with code {code}")
        trouble = f" after {self._kernel_trouble}" if self._kernel_trouble else ""
        if state == "vanished":
            return Outcome(
                RunStatus.FAILED,
                reason=f"the remote process ended without an exit code{trouble} (killed together with its wrapper, "
                "or the remote machine restarted)",
            )
        return Outcome(
            RunStatus.FAILED, reason=f"the remote run folder {self._state.get('remote_dir')} is gone{trouble}"
        )

    def _recover(self, ctx: TargetRunContext, error: Exception) -> None:
        """Reconnect after the websocket, the kernel or the server went away; the remote process runs on."""
        assert self._remote is not None
        self._kernel_trouble = f"kernel trouble ({error})"
        _note(ctx, f"lost the kernel connection: {error}; reconnecting")
        # Measured from the last successful poll, so a kernel that accepts connections but never
        # answers cannot keep the run in an endless reconnect loop.
        deadline = max(self._last_ok, time.monotonic() - 1) + self.options.reconnect_seconds
        delay = 0.2
        while True:
            try:
                try:
                    self._remote.reconnect()
                except KernelGone:
                    self._remote.close()
                    self._remote = RemoteKernel.start(self.client(), self.options.kernel_name)
                    self._kernels.append(self._remote.kernel_id)
                    self._save_state(ctx, kernel_id=self._remote.kernel_id, kernels=self._kernels)
                    self._record(ctx)
                    ctx.prepare_log(
                        f"the old kernel is gone; following the run from new kernel {self._remote.kernel_id}"
                    )
                self._save_state(ctx, kernel_pid=self._remote.call("whoami", timeout=60)["kernel_pid"])
                self._record(ctx)
                return
            except TargetAuthError:
                raise
            except TargetUnavailable as problem:
                if time.monotonic() > deadline:
                    raise TargetUnavailable(
                        f"lost {self._state.get('url')} for {self.options.reconnect_seconds:g} s ({problem}); "
                        f"the script may still run on {self._state.get('host')} in {self._state.get('remote_dir')} "
                        f"(pid {self._state.get('pid')})"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    @staticmethod
    def _try(action: Any) -> Any:
        try:
            return action()
        except Exception:  # best effort; the follow loop reports what matters
            return None

    # -- driver: cancel / collect / cleanup ------------------------------------------------
    def cancel(self, ctx: TargetRunContext, reason: str) -> None:
        """TERM to the remote process group through a second websocket; KILL after the grace period."""
        self._cancel_at = time.monotonic()
        remote_dir, kernel_id = self._state.get("remote_dir"), self._state.get("kernel_id")
        if not remote_dir or not kernel_id:
            return
        side = RemoteKernel(self.client(), kernel_id)
        try:
            self._try(lambda: side.call("kill", run_dir=remote_dir, sig="SIGTERM", timeout=30))
            if not self._exited.wait(self.options.grace_seconds):
                self._try(lambda: side.call("kill", run_dir=remote_dir, sig="SIGKILL", timeout=30))
        finally:
            side.close()

    def collect(self, ctx: TargetRunContext) -> None:
        remote_dir = self._state.get("remote_dir")
        if self._remote is not None and remote_dir:
            transfer.download_outputs(self._remote, ctx, remote_dir, self.chunk_bytes)

    def cleanup(self, ctx: TargetRunContext) -> None:
        """Remove the remote folder and shut down every kernel this run started (unless asked to keep them)."""
        remote_dir = self._state.get("remote_dir")
        if remote_dir and self._remote is not None:
            function = "kill" if self.options.keep_remote_dir else "remove"
            arguments = {"sig": "SIGKILL"} if self.options.keep_remote_dir else {}
            if self._try(lambda: self._remote.call(function, run_dir=remote_dir, timeout=60, **arguments)) is None:
                ctx.prepare_log(f"could not clean up {remote_dir} on {self._state.get('host')}")
        contents_dir = self._state.get("contents_dir")
        if contents_dir and not self.options.keep_remote_dir and self._client is not None:
            # a folder the contents API made where the kernel did not look (removed above when it did)
            self._try(lambda: self._client.contents_delete(contents_dir))
        if self._remote is not None:
            self._remote.close()
        if not self.options.keep_kernel and self._client is not None:
            for kernel_id in self._state.get("kernels", self._kernels):
                self._try(lambda k=kernel_id: self._client.shutdown(k))
            if self._state:
                self._save_state(ctx, kernels=[])
        self._kernels = []

    # -- driver restart --------------------------------------------------------------------
    def reattach(self, ctx: TargetRunContext) -> bool:
        """Follow a run whose driver died: the kernel id and remote folder come from the run record."""
        self._state = self._load_state(ctx)
        if not self._state.get("remote_dir") or not self._state.get("pid"):
            return False
        self._kernels = list(self._state.get("kernels", []))
        client = self.client()
        self._remote = RemoteKernel(client, self._state["kernel_id"])
        try:
            self._recover(ctx, ChannelLost("driver restarted"))
            self._kernel_trouble = None
            probe = self._remote.call(
                "poll", run_dir=self._state["remote_dir"], offset=self._state.get("offset", 0), wait=0
            )
        except TargetUnavailable as error:
            _note(ctx, f"re-attach failed: {error}")
            return False
        return probe["state"] != "missing"


def _install_error(
    error: str, result: dict[str, Any], request: CondaRequest | None, pip: list[str], host: str
) -> Exception:
    """The typed error for a failed install on the kernel's side, naming what was asked for and where."""
    message = str(result.get("message", ""))
    if error == "no-rattler" and request is not None:
        return PreparationFailed(
            f"conda packages ({', '.join(request.packages)}) are installed on the kernel's side with py-rattler, "
            f"which is missing on {host} ({message}): pip install py-rattler next to the kernel, or install the "
            "packages there yourself and set python.user_managed_dependencies: true"
        )
    if error == "solve" and request is not None:
        if channel_unreachable(str(result.get("kind", "")), message):
            return CondaChannelUnreachable(request.packages, request.channels, message)
        wanted = request.describe()
        return PreparationFailed(f"conda packages {wanted} cannot be installed together on {host}: {message}")
    return PreparationFailed(f"pip could not install {', '.join(pip)} on {host} ({error}): {message[-2000:]}")


def _note(ctx: TargetRunContext, message: str) -> None:
    """A line in logs/driver_log.txt when the context offers one (the driver's does)."""
    driver_log = getattr(ctx, "driver_log", None)
    if driver_log is not None:
        driver_log(message)
