"""How to get each compute target in a test: the registry the contract suite is parametrised over.

A provider is a function ``(request) -> TargetUnderTest``: it starts or borrows whatever the target needs (a
session fixture: a jupyter server, a Ray head, the Docker engine), registers the target under a name for this one
test, and says how to see what a run left running on it. Adding a target to the contract is adding one provider
with ``@provides("name", marks...)``; every check in test_contract.py then runs against it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter.core.runs.script_run import ScriptRun


@dataclass(frozen=True)
class ScriptProcesses:
    """The pids the contract script printed: its own and the child it started (0 when none)."""

    script: int
    child: int


@dataclass
class TargetUnderTest:
    """A target registered for one test.

    ``name`` is what a ScriptRunConfig's compute_target says. ``leftovers(run, pids)`` lists, in words, what of
    ``run`` is still running on the target (a container, a kernel, a Ray job, a process); empty when nothing is.
    ``pids`` are the script's own pids as it printed them; they mean host processes only where the target runs
    scripts in this machine's process namespace (so the Docker provider ignores them and looks at containers).
    ``after_cancel(run)`` asserts what this target promises beyond the contract about a canceled run (how the
    script was stopped, the state the target's own job is left in).
    """

    name: str
    leftovers: Callable[[ScriptRun, ScriptProcesses], list[str]]
    after_cancel: Callable[[ScriptRun], None] = lambda run: None


Provider = Callable[[pytest.FixtureRequest], TargetUnderTest]


@dataclass
class _Entry:
    provider: Provider
    marks: tuple = field(default_factory=tuple)


PROVIDERS: dict[str, _Entry] = {}


def provides(param_id: str, *marks: pytest.MarkDecorator) -> Callable[[Provider], Provider]:
    """Register ``provider`` as the contract param ``param_id`` (marks: docker / kernel / ray ...)."""

    def register(provider: Provider) -> Provider:
        PROVIDERS[param_id] = _Entry(provider, marks)
        return provider

    return register


def contract_params() -> list:
    """One ``pytest.param`` per registered provider, with its marks, for ``@pytest.fixture(params=...)``."""
    return [pytest.param(param_id, marks=entry.marks, id=param_id) for param_id, entry in PROVIDERS.items()]


def get_target(param_id: str, request: pytest.FixtureRequest) -> TargetUnderTest:
    return PROVIDERS[param_id].provider(request)


# -- what is left running, seen from this machine -------------------------------------------------------------------
def process_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie is not: this sandbox's PID 1 may not reap orphans)."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_running(pgid: int) -> bool:
    """True while a live process is in process group ``pgid``."""
    if not pgid:
        return False
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def host_processes(run: ScriptRun, pids: ScriptProcesses) -> list[str]:
    """The script's processes and its recorded process groups, for targets that run on this machine's kernel."""
    left = [f"process {pid}" for pid in (pids.script, pids.child) if process_running(pid)]
    details = run.record.details
    groups = {int(p) for p in [details.get("pid"), *details.get("pids", [])] if p}
    left += [f"process group {pgid}" for pgid in sorted(groups) if group_running(pgid)]
    return left


# -- the built-in targets ----------------------------------------------------------------------------------------------
@provides("local")
def local(request: pytest.FixtureRequest) -> TargetUnderTest:
    """The default target: a process group on this machine."""
    return TargetUnderTest("local", host_processes)


@provides("docker", pytest.mark.docker)
def docker(request: pytest.FixtureRequest) -> TargetUnderTest:
    """This machine's real Docker engine; a run's containers carry its run id as a label."""
    client = request.getfixturevalue("docker_engine")

    def leftovers(run: ScriptRun, pids: ScriptProcesses) -> list[str]:
        label = f"runconfig-jupyter.run_id={run.id}"
        return [
            f"container {c.name} ({c.status})"
            for c in client.containers.list(all=True, ignore_removed=True, filters={"label": label})
        ]

    def after_cancel(run: ScriptRun) -> None:
        # 143 = ended by the SIGTERM that init forwards: no wait for the stop timeout and its SIGKILL (137)
        assert run.record.exit_code == 143

    return TargetUnderTest("docker", leftovers, after_cancel)


def _kernel(request: pytest.FixtureRequest, server_fixture: str) -> TargetUnderTest:
    """A kernel target on a real server on 127.0.0.1: the "remote" machine is this one, so we can look at it."""
    from tests.integration.kernel.servers import register

    server = request.getfixturevalue(server_fixture)
    name = register(server, request.getfixturevalue("monkeypatch"), f"contract-{server.kind}")

    def leftovers(run: ScriptRun, pids: ScriptProcesses) -> list[str]:
        left = host_processes(run, pids)
        kernel = run.record.details.get("kernel", {})
        if kernel.get("pid") and group_running(int(kernel["pid"])):
            left.append(f"remote wrapper group {kernel['pid']}")
        if kernel.get("kernel_id") in {k["id"] for k in server.kernels()}:
            left.append(f"kernel {kernel['kernel_id']}")
        if (server.root / "runconfig-runs" / run.id).exists():
            left.append(f"remote folder runconfig-runs/{run.id}")
        return left

    return TargetUnderTest(name, leftovers)


@provides("kernel-server", pytest.mark.kernel)
def kernel_server(request: pytest.FixtureRequest) -> TargetUnderTest:
    return _kernel(request, "jupyter_server")


@provides("kernel-gateway", pytest.mark.kernel)
def kernel_gateway(request: pytest.FixtureRequest) -> TargetUnderTest:
    return _kernel(request, "kernel_gateway")


@provides("ray", pytest.mark.ray)
def ray(request: pytest.FixtureRequest) -> TargetUnderTest:
    """A real Ray cluster on 127.0.0.1 (head + one worker); each run is one Ray job."""
    from ray.job_submission import JobSubmissionClient

    name = request.getfixturevalue("ray_target")
    jobs = JobSubmissionClient(request.getfixturevalue("ray_cluster").address)

    def leftovers(run: ScriptRun, pids: ScriptProcesses) -> list[str]:
        left = host_processes(run, pids)
        job_id = run.record.details.get("ray_job_id")
        if job_id and not jobs.get_job_status(job_id).is_terminal():
            left.append(f"Ray job {job_id} ({jobs.get_job_status(job_id).value})")
        left += [f"working copy {p}" for p in Path(tempfile.gettempdir()).glob(f"runconfig-{run.id[-24:]}-*")]
        return left

    def after_cancel(run: ScriptRun) -> None:
        assert jobs.get_job_status(run.record.details["ray_job_id"]).value == "STOPPED"

    return TargetUnderTest(name, leftovers, after_cancel)
