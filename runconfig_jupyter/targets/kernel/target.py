"""The ``kernel`` target: run on a remote Jupyter Server or Jupyter Kernel Gateway.

Any machine that runs ``jupyter server`` (or ``jupyter kernelgateway``) can take
runs: the driver starts a kernel there, uploads the snapshot (through the
contents API when the server has one, otherwise in chunks through the kernel),
unpacks it safely into a per-run folder and starts the script as its own
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
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from runconfig_jupyter.core.data.plan import script_environment, substitute
from runconfig_jupyter.core.errors import ConfigError, PreparationFailed, TargetAuthError, TargetUnavailable
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.targets.kernel import data as kernel_data
from runconfig_jupyter.targets.kernel import remote_runner as runner
from runconfig_jupyter.targets.kernel import transfer
from runconfig_jupyter.targets.kernel.client import ChannelLost, KernelClient, KernelDied, KernelGone
from runconfig_jupyter.targets.kernel.session import RemoteError, RemoteKernel

STATE_FILE = "kernel_state.json"
UPLOAD_MODES = ("auto", "contents", "kernel")
SHIM_MODES = ("auto", "always", "never")


class KernelTarget(ComputeTarget):
    type_name = "kernel"

    def __init__(
        self,
        name: str | None = None,
        url: str = "",
        kernel_name: str = "python3",
        token_env: str | None = None,
        working_root: str = "runconfig-runs",
        verify_tls: bool = True,
        keep_kernel: bool = False,
        keep_remote_dir: bool = False,
        upload: str = "auto",
        chunk_mib: float = 4.0,
        contents_chunk_mib: float = 16.0,
        shim: str = "auto",
        grace_seconds: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_seconds: float = 120.0,
        poll_wait: float = 0.5,
        **settings: Any,
    ):
        for key in settings:
            if key.lower() in ("token", "password", "secret", "api_key"):
                raise ConfigError(
                    f"the kernel target takes no '{key}': put the token in an environment variable and name it "
                    "with token_env (e.g. token_env: GPU_BOX_TOKEN)",
                    field=key,
                )
        if settings:
            known = "url, kernel_name, token_env, working_root, verify_tls, keep_kernel, keep_remote_dir, upload, ..."
            raise ConfigError(f"unknown kernel target setting(s) {sorted(settings)}; known: {known}", field="target")
        super().__init__(
            name,
            url=url,
            kernel_name=kernel_name,
            token_env=token_env,
            working_root=working_root,
            verify_tls=verify_tls,
            keep_kernel=keep_kernel,
            keep_remote_dir=keep_remote_dir,
            upload=upload,
            chunk_mib=chunk_mib,
            contents_chunk_mib=contents_chunk_mib,
            shim=shim,
            grace_seconds=grace_seconds,
            connect_timeout=connect_timeout,
            reconnect_seconds=reconnect_seconds,
            poll_wait=poll_wait,
        )
        self.url = url
        self.kernel_name = kernel_name
        self.token_env = token_env
        self.working_root = working_root
        self.verify_tls = bool(verify_tls)
        self.keep_kernel = bool(keep_kernel)
        self.keep_remote_dir = bool(keep_remote_dir)
        self.upload = upload
        self.chunk_bytes = int(float(chunk_mib) * 1024 * 1024)
        self.contents_chunk_bytes = int(float(contents_chunk_mib) * 1024 * 1024)
        self.shim = shim
        self.grace_seconds = float(grace_seconds)
        self.connect_timeout = float(connect_timeout)
        self.reconnect_seconds = float(reconnect_seconds)
        self.poll_wait = float(poll_wait)
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
            gpu=True,
            distributed=False,
            description=f"A process next to a remote Jupyter kernel ({self.kernel_name}) at {self.url}.",
        )

    def _check_settings(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"'{self.url}' is not a server URL; give the Jupyter Server or Kernel Gateway address, "
                "e.g. http://gpu-box:8888 (no token in it: use token_env)",
                field="url",
            )
        if "token=" in (parts.query or ""):
            raise ConfigError("the URL carries a token; remove it and name an environment variable in token_env", "url")
        if self.upload not in UPLOAD_MODES:
            raise ConfigError(f"upload must be one of {', '.join(UPLOAD_MODES)}, not {self.upload!r}", "upload")
        if self.shim not in SHIM_MODES:
            raise ConfigError(f"shim must be one of {', '.join(SHIM_MODES)}, not {self.shim!r}", "shim")
        if not 0.0625 <= self.chunk_bytes / 1048576 <= 5:
            raise ConfigError(
                "chunk_mib must be between 0.0625 and 5 (websocket messages stay under 10 MiB)", "chunk_mib"
            )
        if self.token_env and not os.environ.get(self.token_env):
            raise ConfigError(
                f"environment variable {self.token_env} (the token for target '{self.name}') is not set; export it, "
                "or submit with %submit, which asks for it",
                field="token_env",
            )

    def client(self) -> KernelClient:
        if self._client is None:
            self._check_settings()
            token = os.environ.get(self.token_env) if self.token_env else None
            hint = f"${self.token_env}" if self.token_env else "a token (set token_env on the target)"
            self._client = KernelClient(
                self.url, token, self.verify_tls, connect_timeout=self.connect_timeout, token_hint=hint
            )
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            self._check_settings()
            client = KernelClient(
                self.url,
                os.environ.get(self.token_env) if self.token_env else None,
                self.verify_tls,
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
        python = environment.python
        conda = getattr(python, "conda_dependencies", None)
        packages = list(getattr(conda, "pip_packages", []) or []) + list(getattr(conda, "conda_packages", []) or [])
        packages = [p for p in packages if not str(p).startswith(("python", "pip"))]
        if packages and not python.user_managed_dependencies:
            raise ConfigError(
                f"target '{self.name}' does not install packages ({', '.join(map(str, packages))}); install them "
                "next to the remote kernel and set python.user_managed_dependencies: true",
                field="environment.python.conda_dependencies",
            )
        client = self.client()
        specs = client.check().get("kernelspecs", {})
        if specs and self.kernel_name not in specs:
            raise ConfigError(
                f"the server at {client.url} has no kernel '{self.kernel_name}'; it has: {', '.join(sorted(specs))}",
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
        """Check the token, start a kernel, upload and unpack the snapshot.

        With a contents API the upload runs while the new kernel boots (the kernel is not
        needed to store a file), which hides most of the upload on small snapshots.
        """
        client = self.client()
        ctx.progress("Connecting", None, client.url)
        client.check()  # a wrong token fails here, before a kernel is started or a byte uploaded
        contents = self.upload != "kernel" and self._relative_root() and client.has_contents()
        if self.upload == "contents" and not contents:
            raise PreparationFailed(
                f"upload: contents needs a Jupyter Server with /api/contents and a relative working_root; {client.url} "
                "has none (a Kernel Gateway?) - use upload: auto"
            )
        ctx.progress("Starting kernel", None, self.kernel_name)
        self._remote = RemoteKernel.start(client, self.kernel_name)
        self._kernels.append(self._remote.kernel_id)
        self._save_state(ctx, url=client.url, kernel_id=self._remote.kernel_id, kernels=self._kernels, offset=0)
        self._record(ctx)
        ctx.prepare_log(f"kernel {self._remote.kernel_id} ({self.kernel_name}) started on {client.url}")
        data = ctx.snapshot_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        run_dir = f"{self.working_root.rstrip('/')}/{ctx.run_id}"  # relative to the kernel's cwd, or absolute
        stored = False
        if contents:  # working_root is relative here: the same path under the server root
            self._save_state(ctx, contents_dir=run_dir)
            stored = transfer.upload_contents(client, ctx, run_dir, data, self.contents_chunk_bytes)
            if stored:
                self._save_state(ctx, upload="contents")
        if ctx.cancel_event.is_set():
            return
        from runconfig_jupyter.core.runs.shim import shim_tar

        shim = base64.b64encode(shim_tar("shim")).decode() if self.shim != "never" else ""
        info = self._remote.call("setup", run_dir=run_dir, shim_b64=shim, install=True, timeout=180)
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
        extracted = self._extract(ctx, archive, digest) if stored else None
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
        self._data_paths = kernel_data.materialize(self._remote, ctx, info["run_dir"], self.chunk_bytes)

    def _relative_root(self) -> bool:
        return not (PurePosixPath(self.working_root).is_absolute() or self.working_root.startswith("~"))

    def _extract(self, ctx: TargetRunContext, archive: str, digest: str) -> dict[str, Any] | None:
        """Unpack on the remote side after a checksum check; None when the archive there is not ours."""
        assert self._remote is not None
        ctx.progress("Extracting snapshot")
        try:
            result = self._remote.call("extract", run_dir=self._state["remote_dir"], archive=archive, sha256=digest)
        except RemoteError as error:
            raise PreparationFailed(f"the snapshot could not be unpacked on {self.url}: {error.evalue}") from None
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
            python=self._python(ctx),
            shim=self.shim,
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
            overdue = self._cancel_at is not None and time.monotonic() - self._cancel_at > self.grace_seconds
            if overdue and time.monotonic() - last_kill > 2.0:  # TERM was not enough (or never arrived): KILL
                last_kill = time.monotonic()
                self._try(lambda: self._remote.call("kill", run_dir=remote_dir, sig="SIGKILL", timeout=30))
            try:
                result = self._remote.call(
                    "poll", run_dir=remote_dir, offset=self._state.get("offset", 0), wait=self.poll_wait, timeout=60
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
        deadline = max(self._last_ok, time.monotonic() - 1) + self.reconnect_seconds
        delay = 0.2
        while True:
            try:
                try:
                    self._remote.reconnect()
                except KernelGone:
                    self._remote.close()
                    self._remote = RemoteKernel.start(self.client(), self.kernel_name)
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
                        f"lost {self._state.get('url')} for {self.reconnect_seconds:g} s ({problem}); the script may "
                        f"still run on {self._state.get('host')} in {self._state.get('remote_dir')} "
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
            if not self._exited.wait(self.grace_seconds):
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
            function = "kill" if self.keep_remote_dir else "remove"
            arguments = {"sig": "SIGKILL"} if self.keep_remote_dir else {}
            if self._try(lambda: self._remote.call(function, run_dir=remote_dir, timeout=60, **arguments)) is None:
                ctx.prepare_log(f"could not clean up {remote_dir} on {self._state.get('host')}")
        contents_dir = self._state.get("contents_dir")
        if contents_dir and not self.keep_remote_dir and self._client is not None:
            # a folder the contents API made where the kernel did not look (removed above when it did)
            self._try(lambda: self._client.contents_delete(contents_dir))
        if self._remote is not None:
            self._remote.close()
        if not self.keep_kernel and self._client is not None:
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


def _note(ctx: TargetRunContext, message: str) -> None:
    """A line in logs/driver_log.txt when the context offers one (the driver's does)."""
    driver_log = getattr(ctx, "driver_log", None)
    if driver_log is not None:
        driver_log(message)
