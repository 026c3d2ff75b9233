"""The ``ray`` target: runs on a Ray cluster through the Ray Jobs API.

For runs that outgrow one machine. Configure it in ``targets.yaml``::

    big:
      type: ray
      address: http://head-node:8265     # the dashboard (Jobs API); ray://head:10001 works too
      runtime_env: {pip: [einops]}       # merged into every run's runtime env (optional)
      num_cpus: 1                        # per rank (and for a single-process run)
      num_gpus: 1                        # per rank; default: 1 when the environment asks for GPUs, else 0
      token_env: RAY_DASHBOARD_TOKEN     # optional bearer token for a protected dashboard (never stored)

How a run maps onto Ray:

* working_dir = the run's snapshot, extracted into a temp dir. Ray uploads it
  content-hashed, so resubmitting an unchanged folder uploads nothing; this
  package travels as a ``py_modules`` entry so the cluster needs no install.
* The entrypoint is ``ray_launcher.py``: it runs the script in a private copy
  (Ray shares one extracted working_dir between jobs with the same hash, so
  ``./outputs`` must not be written there), starts one actor per rank for
  distributed configs, and sends ``outputs/`` back through the job log.
* Requests the cluster can never satisfy (GPUs on a GPU-less cluster, more CPUs
  than it has) are refused at submit time. Ray itself would leave such a job
  PENDING for 15 minutes.
* The Jobs API is spoken over plain HTTP (ray_jobs.py), not through Ray's SDK,
  whose import alone cost the driver seconds; so the submitting machine needs
  no Ray install at all.
* Logs follow ``tail_job_logs``; at the end the full log is reconciled with
  ``get_job_logs`` so nothing is lost. Cancel is ``stop_job``. The Ray
  submission id is derived from the run id, so a restarted driver re-attaches
  and resumes the log where it stopped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runconfig_jupyter.core.errors import (
    CollectionFailed,
    ConfigError,
    PreparationFailed,
    RunConfigError,
    TargetAuthError,
    TargetUnavailable,
)
from runconfig_jupyter.core.runs.distributed import DistributedPlan, plan_for
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.core.target.settings import setting
from runconfig_jupyter.targets.collect import collect_from, extract_outputs
from runconfig_jupyter.targets.conda_prefix import conda_request
from runconfig_jupyter.targets.local.env import check_host_pip
from runconfig_jupyter.targets.ray.data import FETCH_MODES, check_plan, launch_data
from runconfig_jupyter.targets.ray.jobs import RayJobsClient, RayJobsError
from runconfig_jupyter.targets.ray.launcher import (
    FAILURE_MARKER,
    LAUNCH_ENV,
    OUTPUTS_END_MARKER,
    OUTPUTS_MARKER,
    encode_argv,
)

ENTRYPOINT = "python -m runconfig_jupyter.targets.ray.launcher"
TERMINAL_RAY = {"SUCCEEDED", "FAILED", "STOPPED"}
STATE_FILE = "ray_state.json"
# The job's status is asked every FIRST_POLL_SECONDS at first, then less and less often up to POLL_SECONDS: a
# short job's end is seen within ~50 ms (a bare client polling every 50 ms is what it is measured against), a
# long one costs the dashboard a request every 0.3 s. The log stream closing when the job ends asks at once.
FIRST_POLL_SECONDS = 0.05
POLL_SECONDS = 0.3
# Lines Ray's job manager adds to the job log; they belong to the preparation log, not the script's.
RAY_NOISE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+INFO job_manager\.py|Running entrypoint for job )")
_ENV_LOCK = threading.Lock()


def dashboard_url(address: str, dashboard_port: int = 8265) -> str:
    """The Jobs API base URL for an address given as http(s)://, ray:// or host:port."""
    address = address.strip().rstrip("/")
    if address.startswith(("http://", "https://")):
        return address
    if address.startswith("ray://"):
        host = urlparse(address).hostname or "127.0.0.1"
        return f"http://{host}:{dashboard_port}"
    if "://" in address:
        raise ConfigError(
            f"address '{address}' is neither http(s):// (the dashboard) nor ray://", field="compute_target.address"
        )
    return f"http://{address}"


@dataclass(frozen=True)
class RaySettings:
    """Settings of a ``type: ray`` target; ``address`` is required."""

    address: str | None = setting(None, "The cluster's dashboard (http://host:8265), ray://host:10001 or host:port.")
    runtime_env: dict[str, Any] = setting({}, "Ray runtime_env merged into every job's (e.g. env_vars, pip).")
    num_cpus: float = setting(1, "CPUs each process of a run asks the cluster for.")
    num_gpus: float | None = setting(None, "GPUs each process asks for (default: 1 when the run wants a GPU).")
    dashboard_port: int = setting(8265, "Dashboard port used with a ray:// address.")
    placement_strategy: str = setting("SPREAD", "Placement group strategy of distributed runs (SPREAD, PACK, ...).")
    placement_timeout: float = setting(120, "Seconds to wait for a distributed run's placement group.")
    max_output_bytes: int = setting(512 * 2**20, "Largest outputs/ archive a job may send back.")
    token_env: str | None = setting(None, "Name of the environment variable holding the dashboard's bearer token.")
    connect_timeout: float = setting(5.0, "Seconds to wait for the dashboard to answer a request.")
    fetch: str = setting(
        "auto",
        "Where remote-store inputs are fetched: auto (here when the cluster is this machine, else on the "
        "workers) or worker (always on the workers).",
    )


class RayTarget(ComputeTarget):
    type_name = "ray"
    Settings = RaySettings

    def __init__(self, name: str | None = None, **settings: Any):
        super().__init__(name, **settings)
        if self.options.fetch not in FETCH_MODES:
            raise ConfigError(
                f"fetch must be one of {', '.join(FETCH_MODES)}, not {self.options.fetch!r}",
                field=f"targets.{self.name}.fetch",
            )
        self._data: dict[str, Any] | None = None
        self._client: RayJobsClient | None = None
        self._job_id: str | None = None
        self._workdir: Path | None = None
        self._lock = threading.Lock()
        self._consumed = 0  # characters of the job log already handled
        self._partial = ""
        self._outputs = io.BytesIO()
        self._outputs_data: bytes | None = None
        self._failure_reason: str | None = None
        self._failure_code: int | None = None  # the script's exit code as the launcher reported it
        self._tail_done = threading.Event()
        self._stream_ended = threading.Event()  # the log stream closed: the job has most likely ended
        self._entrypoint_started = False  # Ray logs "Running entrypoint" once the runtime env is ready

    # -- description -------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            gpu=True,
            distributed=True,
            reattach=True,
            description=f"Ray cluster at {self.options.address or '(no address)'} via the Jobs API",
        )

    @property
    def url(self) -> str:
        if not self.options.address:
            raise ConfigError(
                f"the ray target '{self.name}' has no address; set address: http://<head>:8265 in targets.yaml",
                field=f"targets.{self.name}.address",
            )
        return dashboard_url(self.options.address, self.options.dashboard_port)

    def _headers(self) -> dict[str, str]:
        if not self.options.token_env:
            return {}
        token = os.environ.get(self.options.token_env)
        if not token:
            raise TargetUnavailable(
                f"the ray target '{self.name}' reads its token from ${self.options.token_env}, which is not set"
            )
        return {"Authorization": f"Bearer {token}"}

    def _get_json(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=self.options.connect_timeout) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise TargetAuthError(
                    f"the Ray dashboard at {self.url} refused the request ({error.code}); "
                    f"check ${self.options.token_env}"
                ) from error
            raise TargetUnavailable(f"the Ray dashboard at {self.url} answered {error.code} for {path}") from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise TargetUnavailable(
                f"the Ray cluster at {self.url} is not reachable ({reason}). Start it (ray start --head "
                "--dashboard-host=0.0.0.0) or fix 'address' of the target in targets.yaml"
            ) from error

    def available(self) -> tuple[bool, str]:
        try:
            version = self._get_json("/api/version")
        except Exception as error:
            return False, str(error)
        return True, f"Ray {version.get('ray_version', '?')}" if isinstance(version, dict) else ""

    def cluster_resources(self) -> list[dict[str, float]]:
        """``resources_total`` of every alive node (from the dashboard's state API)."""
        body = self._get_json("/api/v0/nodes?limit=10000")
        try:
            nodes = body["data"]["result"]["result"]
        except (KeyError, TypeError) as error:
            raise TargetUnavailable(f"unexpected answer from {self.url}/api/v0/nodes") from error
        return [dict(node.get("resources_total") or {}) for node in nodes if node.get("state") == "ALIVE"]

    # -- what a run asks for -----------------------------------------------
    def gpus_per_rank(self, config: Any) -> tuple[float, str]:
        if self.options.num_gpus is not None:
            return self.options.num_gpus, f"the target's num_gpus: {self.options.num_gpus:g}"
        docker = getattr(config.effective_environment(), "docker", None)
        if getattr(docker, "gpu_support", False):
            return 1.0, "environment.docker.gpu_support (use_gpu) is true"
        return 0.0, ""

    def validate(self, config: Any) -> None:
        plan = plan_for(config)
        environment = config.effective_environment()
        check_host_pip(config, environment)
        self.check_resources(config, plan)

    def validate_data(self, plan: Any) -> None:
        """A host folder input only on a cluster of this machine (targets/ray/data.py)."""
        check_plan(plan, self.url, self.name)

    def check_resources(self, config: Any, plan: DistributedPlan | None) -> None:
        """Refuse now what the cluster can never run, instead of a job stuck PENDING."""
        nodes = self.cluster_resources()
        gpus, why = self.gpus_per_rank(config)
        ranks = plan.world_size if plan else 1
        per_node = plan.processes_per_node if plan else 1
        total_gpu = sum(node.get("GPU", 0.0) for node in nodes)
        total_cpu = sum(node.get("CPU", 0.0) for node in nodes)
        if gpus and total_gpu < gpus * ranks:
            raise TargetUnavailable(
                f"this run asks for {gpus * ranks:g} GPU(s) ({why}), but the Ray cluster at {self.url} has "
                f"{total_gpu:g} GPU(s) on {len(nodes)} node(s); Ray would keep it PENDING. Add GPU nodes to the "
                "cluster, or run on CPU: set use_gpu=False / environment.docker.gpu_support: false, or num_gpus: 0 "
                "on the target"
            )
        if self.options.num_cpus * ranks > total_cpu:
            raise TargetUnavailable(
                f"this run asks for {self.options.num_cpus * ranks:g} CPU(s) ({ranks} process(es) x num_cpus "
                f"{self.options.num_cpus:g}), but the Ray cluster at {self.url} has {total_cpu:g}; lower the process "
                "count or the target's num_cpus"
            )
        need = {"CPU": self.options.num_cpus * per_node, "GPU": gpus * per_node}
        if plan and not any(all(node.get(k, 0.0) >= v for k, v in need.items() if v) for node in nodes):
            raise TargetUnavailable(
                f"no node of the Ray cluster at {self.url} can hold one node's share of the run "
                f"({per_node} process(es): {need}); lower process_count_per_node"
            )

    # -- client ------------------------------------------------------------
    def client(self) -> RayJobsClient:
        """The Jobs API over plain HTTP (ray_jobs.py): Ray's own SDK costs the driver seconds of imports."""
        if self._client is None:
            self._client = RayJobsClient(self.url, self._headers(), timeout=max(self.options.connect_timeout, 30.0))
        return self._client

    def _refused(self, error: RayJobsError, what: str) -> RunConfigError:
        """A Jobs API failure as the typed error a user can act on."""
        if error.status in (401, 403):
            return TargetAuthError(
                f"the Ray dashboard at {self.url} refused {what} ({error.status}); check ${self.options.token_env}"
            )
        if error.status == 0:
            return TargetUnavailable(f"cannot reach the Ray Jobs API at {self.url}: {error.body}")
        return PreparationFailed(f"Ray refused the job: {error}", phase="Starting")

    @staticmethod
    def job_id(run_id: str) -> str:
        return f"runconfig_{run_id}"

    # -- driver side -------------------------------------------------------
    def prepare(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.core.snapshot.extract import extract_snapshot

        ctx.progress("Extracting snapshot")
        self._workdir = Path(tempfile.mkdtemp(prefix=f"runconfig-ray-{ctx.run_id[-20:]}-"))
        extract_snapshot(ctx.snapshot_path, self._workdir)
        ctx.record(ray_working_dir=str(self._workdir))
        self._data = launch_data(ctx, ctx.data_plan, self.url, self.options.fetch)
        if getattr(ctx.config.effective_environment().docker, "enabled", False):
            ctx.prepare_log(
                "note: docker settings are not used on Ray; the cluster's Python runs the script "
                "(give the target a runtime_env with image_uri to use a container)"
            )

    def build_runtime_env(self, ctx: TargetRunContext) -> dict[str, Any]:
        import runconfig_jupyter

        plan = plan_for(ctx.config)
        gpus, _ = self.gpus_per_rank(ctx.config)
        launch = {
            "run_id": ctx.run_id,
            # The launch template, expanded per process by ray_launcher. Base64: Ray itself expands ${VAR} in
            # runtime_env env_vars, which would resolve $NODE_RANK & co. once, in the wrong process.
            "argv_b64": encode_argv(ctx.config.argv_template(python="python")),
            "plan": plan.to_dict() if plan else None,
            "num_cpus": self.options.num_cpus,
            "num_gpus": gpus,
            "strategy": self.options.placement_strategy,
            "placement_timeout": self.options.placement_timeout,
            "max_output_bytes": self.options.max_output_bytes,
            "data_b64": encode_argv(self._data),
        }
        env = dict(self.options.runtime_env)
        env_vars = {**{str(k): str(v) for k, v in (env.get("env_vars") or {}).items()}, **ctx.environment()}
        env_vars[LAUNCH_ENV] = json.dumps(launch)
        env_vars.setdefault("RAY_DEDUP_LOGS", "0")
        environment = ctx.config.effective_environment()
        conda = environment.python.conda_dependencies
        pip = list(env.get("pip") or [])
        if conda is not None and not environment.python.user_managed_dependencies:
            pip += [p for p in conda.installed_pip_packages() if p not in pip]
        request = conda_request(environment)
        if request is not None:  # installed on each node by the launcher (py-rattler; no conda needed there)
            launch["conda"] = {
                "packages": list(request.packages),
                "channels": list(request.channels),
                "digest": environment.content_hash(),
                "pip": conda.installed_pip_packages() if conda is not None else [],
            }
            env_vars[LAUNCH_ENV] = json.dumps(launch)
        if pip:
            env["pip"] = pip
        env["env_vars"] = env_vars
        env["working_dir"] = str(self._workdir)
        package = str(Path(runconfig_jupyter.__file__).resolve().parent)
        env["py_modules"] = [*list(env.get("py_modules") or []), package]
        env["excludes"] = sorted({*(env.get("excludes") or []), "__pycache__/", "*.pyc"})
        return env

    def start(self, ctx: TargetRunContext) -> None:
        plan = plan_for(ctx.config)
        gpus, _ = self.gpus_per_rank(ctx.config)
        job_id = self.job_id(ctx.run_id)
        ctx.progress("Uploading to Ray", None, self.url)
        try:
            self._job_id = self.client().submit_job(
                entrypoint=ENTRYPOINT,
                submission_id=job_id,
                runtime_env=self.build_runtime_env(ctx),
                # The launcher of a distributed run only coordinates: the ranks hold the resources.
                entrypoint_num_cpus=0 if plan else self.options.num_cpus,
                entrypoint_num_gpus=(gpus or None) if not plan else None,
                metadata={"runconfig_run_id": ctx.run_id},
            )
        except RayJobsError as error:
            raise self._refused(error, "the job") from error
        except OSError as error:  # a working_dir or py_modules folder that cannot be read
            raise PreparationFailed(f"could not package the job for Ray: {error}", phase="Starting") from error
        ctx.record(ray_job_id=self._job_id, ray_address=self.url)
        ctx.prepare_log(f"submitted Ray job {self._job_id} to {self.url}")

    def reattach(self, ctx: TargetRunContext) -> bool:
        self._job_id = self.job_id(ctx.run_id)
        try:
            self.client().get_job_status(self._job_id)
        except Exception:
            return False
        store = getattr(ctx, "store", None)  # the driver's context has it; pick up the temp dir to clean
        if store is not None:
            folder = store.get(ctx.run_id).details.get("ray_working_dir")
            self._workdir = Path(folder) if folder else None
        state = ctx.run_dir / STATE_FILE
        if state.exists():
            self._consumed = int(json.loads(state.read_text()).get("consumed", 0))
        return True

    # -- logs --------------------------------------------------------------
    def _receive(self, ctx: TargetRunContext, text: str, start: int) -> None:
        """Handle ``text`` found at character ``start`` of the job log, skipping what was handled."""
        with self._lock:
            end = start + len(text)
            if end <= self._consumed:
                return
            fresh = text[max(0, self._consumed - start) :]
            self._consumed = end
            self._handle(ctx, fresh)
            (ctx.run_dir / STATE_FILE).write_text(json.dumps({"consumed": self._consumed}))

    def _handle(self, ctx: TargetRunContext, text: str) -> None:
        buffered = self._partial + text
        cut = buffered.rfind("\n") + 1
        self._partial = buffered[cut:]
        plain: list[str] = []
        # Not str.splitlines: it also splits at \x1e, the first character of our markers.
        for line in (piece + "\n" for piece in buffered[:cut].split("\n")[:-1]):
            if RAY_NOISE.match(line):
                self._entrypoint_started = self._entrypoint_started or line.startswith("Running entrypoint")
                ctx.prepare_log(line.rstrip("\n"))
                continue
            self._entrypoint_started = True
            if line.startswith((OUTPUTS_MARKER, OUTPUTS_END_MARKER, FAILURE_MARKER)):
                if plain:
                    ctx.write_log("".join(plain))
                    plain = []
                self._control(line.rstrip("\n"))
                continue
            if line.startswith("[rank "):
                rank, _, rest = line[6:].partition("] ")
                if rank.isdigit():
                    ctx.write_log(rest, name=f"rank_{rank}.txt")
            plain.append(line)
        if plain:
            ctx.write_log("".join(plain))

    def _control(self, line: str) -> None:
        if line.startswith(OUTPUTS_END_MARKER):
            data = self._outputs.getvalue()
            if hashlib.sha256(data).hexdigest() == line[len(OUTPUTS_END_MARKER) :].strip():
                self._outputs_data = data
            self._outputs = io.BytesIO()
        elif line.startswith(OUTPUTS_MARKER):
            self._outputs.write(base64.b64decode(line[len(OUTPUTS_MARKER) :]))
        elif line.startswith(FAILURE_MARKER):
            try:
                failure = json.loads(line[len(FAILURE_MARKER) :])
                self._failure_reason = failure["reason"]
                self._failure_code = failure.get("exit_code")
            except (ValueError, KeyError, TypeError, AttributeError):
                pass

    def _tail(self, ctx: TargetRunContext) -> None:
        assert self._job_id is not None
        position = 0
        try:
            for chunk in self.client().tail_job_logs(self._job_id, self._tail_done.is_set):
                if self._tail_done.is_set():
                    return
                self._receive(ctx, chunk, position)
                position += len(chunk)
        except Exception:  # the final get_job_logs fills any gap
            pass
        finally:
            self._stream_ended.set()

    # -- lifecycle ---------------------------------------------------------
    def wait(self, ctx: TargetRunContext) -> Outcome:
        assert self._job_id is not None
        client = self.client()
        tail = threading.Thread(target=self._tail, args=(ctx,), name="ray-log-tail", daemon=True)
        tail.start()
        cancel_deadline: float | None = None
        last_message = None
        interval = FIRST_POLL_SECONDS
        while True:
            info = client.get_job_info(self._job_id)
            status = info.status
            if status in TERMINAL_RAY:
                break
            if status == "PENDING" and info.message != last_message:
                last_message = info.message
                ctx.progress("Waiting for the Ray cluster", None, info.message or "")
            if ctx.cancel_event.is_set():
                cancel_deadline = cancel_deadline or time.monotonic() + 30
                if time.monotonic() > cancel_deadline:
                    return Outcome(RunStatus.CANCELED, reason="the Ray job did not stop within 30 s")
            if self._stream_ended.wait(interval):
                self._stream_ended.clear()  # once: a stream that broke off early does not make this loop spin
            interval = min(interval * 1.5, POLL_SECONDS)
        # The tail's websocket can take seconds to close after the job ends; the full log below covers
        # whatever it has not delivered yet (``_receive`` skips what either of them already handled), so
        # the tail is not waited for.
        self._tail_done.set()
        try:
            self._receive(ctx, client.get_job_logs(self._job_id), 0)
        except Exception:
            pass
        with self._lock:
            if self._partial:
                self._handle(ctx, "\n")
        code = info.driver_exit_code
        if code is None and isinstance(self._failure_code, int):
            code = self._failure_code  # the job record can say FAILED before it holds the entrypoint's exit code
        if status == "SUCCEEDED":
            return Outcome(RunStatus.COMPLETED, exit_code=0)
        if status == "STOPPED":
            return Outcome(RunStatus.CANCELED, exit_code=code, reason="the Ray job was stopped")
        message = (info.message or "the Ray job failed").strip().splitlines()[0][:500]
        if not self._entrypoint_started and code is None:
            # Nothing of ours ran: the runtime env (upload, pip install) could not be set up.
            return Outcome(RunStatus.FAILED, reason=f"Ray could not prepare the job: {message}", phase="Preparing")
        return Outcome(RunStatus.FAILED, exit_code=code, reason=self._failure_reason or message)

    def cancel(self, ctx: TargetRunContext, reason: str) -> None:
        job_id = self._job_id or self.job_id(ctx.run_id)
        try:
            self.client().stop_job(job_id)
        except Exception:  # not submitted yet, or already finished
            pass

    def collect(self, ctx: TargetRunContext) -> None:
        if not self._outputs_data:
            return
        staging = Path(tempfile.mkdtemp(prefix="runconfig-ray-out-"))
        try:
            with tarfile.open(fileobj=io.BytesIO(self._outputs_data), mode="r:gz") as tar:
                unpacked = extract_outputs(tar, staging)  # member by member: one odd entry costs only itself
            collect_from(staging, ctx, unpacked=unpacked)
        except tarfile.TarError as error:
            raise CollectionFailed(f"the outputs archive from the cluster could not be read: {error}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def cleanup(self, ctx: TargetRunContext) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._tail_done.set()
