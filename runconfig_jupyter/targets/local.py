"""The ``local`` target: the script as a plain process on this machine.

The default that needs nothing installed. The script runs in a per-run working
copy of the snapshot (so it can write freely without touching the user's
folder), in its own session (so cancel reaches every child it started, and the
kernel's interrupts never do), with its output going straight to the run's log
file (so the log is complete even if the driver itself were to die).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.context import METRICS_FILE_ENV
from runconfig_jupyter.core.detached import spawn_detached
from runconfig_jupyter.core.errors import ConfigError, PreparationFailed
from runconfig_jupyter.core.status import RunStatus

from .base import Capabilities, ComputeTarget, Outcome, RunContext
from .collect import collect_from
from .local_env import interpreter_for

if TYPE_CHECKING:  # distributed runs only: a single-process run does not import them (driver start-up time)
    from runconfig_jupyter.core.distributed import DistributedPlan

    from .mpi_launch import LocalMpiRanks
    from .rank_group import LocalRanks


class LocalTarget(ComputeTarget):
    type_name = "local"

    def __init__(
        self, name: str | None = None, grace_seconds: float = 10.0, keep_working_dir: bool = False, **settings: object
    ):
        super().__init__(name, grace_seconds=grace_seconds, keep_working_dir=keep_working_dir, **settings)
        self.grace_seconds = float(grace_seconds)
        self.keep_working_dir = bool(keep_working_dir)
        self._process: subprocess.Popen[bytes] | None = None
        self._exited = threading.Event()
        self._ranks: LocalRanks | LocalMpiRanks | None = None  # set for distributed runs (see rank_group.py)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            gpu=False,
            distributed=True,
            description="A process on this machine, in a private working copy of the source directory.",
        )

    def validate(self, config) -> None:  # type: ignore[no-untyped-def]
        from runconfig_jupyter.core.distributed import plan_for

        from .mpi_launch import requested_launcher

        plan_for(config)  # bad process/node counts fail here, before anything is packaged
        requested_launcher(config.environment_variables(), self.settings.get("mpi_launcher"))  # a typo fails now
        environment = config.effective_environment()
        interpreter = environment.python.interpreter_path
        missing = bool(interpreter) and shutil.which(interpreter) is None and not Path(interpreter).exists()
        if environment.python.user_managed_dependencies and interpreter != "python" and missing:
            raise ConfigError(
                f"interpreter '{interpreter}' does not exist on this machine; point "
                "environment.python.interpreter_path at a python executable or leave it empty "
                "to use the kernel's own python",
                field="environment.python.interpreter_path",
            )
        docker_wanted = bool(getattr(environment.docker, "enabled", False))
        if docker_wanted:
            raise ConfigError(
                "this environment has docker.enabled = true but the target is 'local'; submit with "
                "--target docker (compute_target='docker') or set docker.enabled to false",
                field="compute_target",
            )

    def working_dir(self, ctx: RunContext) -> Path:
        return ctx.run_dir / "working"

    def prepare(self, ctx: RunContext) -> None:
        from runconfig_jupyter.core.extract import extract_snapshot  # not the snapshot facade: no archive writer

        ctx.progress("Extracting snapshot")
        extract_snapshot(ctx.snapshot_path, self.working_dir(ctx))
        self._python = interpreter_for(ctx)
        from runconfig_jupyter.core.distributed import plan_for

        plan = plan_for(ctx.config)
        if plan is not None:
            self._ranks = self._rank_launcher(ctx, plan)
            self._ranks.prepare(ctx, self.working_dir(ctx))

    def _rank_launcher(self, ctx: RunContext, plan: DistributedPlan) -> LocalRanks | LocalMpiRanks:
        """MPI runs go through mpirun when Open MPI is installed (as on Azure), unless the user opts out."""
        from runconfig_jupyter.core.distributed import MPI

        from .mpi_launch import LocalMpiRanks, choose_local_launcher
        from .rank_group import LocalRanks

        if plan.framework != MPI:
            return LocalRanks(plan, self.grace_seconds)
        choice = choose_local_launcher(plan, ctx.environment(), self.settings.get("mpi_launcher"))
        ctx.prepare_log(choice.reason)
        ctx.record(launcher="mpirun" if choice.use_mpirun else "direct", launcher_reason=choice.reason)
        if choice.use_mpirun:
            return LocalMpiRanks(plan, choice, self.grace_seconds)
        return LocalRanks(plan, self.grace_seconds)

    def start(self, ctx: RunContext) -> None:
        argv = ctx.config.argv(python=self._python)
        env = {**os.environ, **ctx.environment(), METRICS_FILE_ENV: str(ctx.run_dir / "metrics.jsonl")}
        log_path = ctx.log_path()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._ranks is not None:
            self._ranks.start(ctx, argv, env, self.working_dir(ctx))
            return
        try:
            self._process = spawn_detached(argv, cwd=self.working_dir(ctx), env=env, log_path=log_path)
        except OSError as error:
            raise PreparationFailed(f"could not start {argv[0]!r}: {error}", phase="Starting") from error
        ctx.record(pid=self._process.pid, argv=argv)

    def wait(self, ctx: RunContext) -> Outcome:
        if self._ranks is not None:
            return self._ranks.wait()
        assert self._process is not None
        code = self._process.wait()
        self._exited.set()
        if code == 0:
            return Outcome(RunStatus.COMPLETED, exit_code=0)
        if code < 0:
            name = signal.Signals(-code).name
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script was killed by {name}")
        return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script exited with code {code}")

    def cancel(self, ctx: RunContext, reason: str) -> None:
        """TERM to the whole process group, KILL after the grace period."""
        if self._ranks is not None:
            self._ranks.cancel()
            return
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        if not self._exited.wait(self.grace_seconds):
            self._signal_group(process.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def collect(self, ctx: RunContext) -> None:
        collect_from(self.working_dir(ctx), ctx)

    def cleanup(self, ctx: RunContext) -> None:
        # Children the script left in its session would outlive the run: end them.
        if self._ranks is not None:
            self._ranks.cleanup(self.working_dir(ctx), self.keep_working_dir)
        if self._process is not None:
            self._signal_group(self._process.pid, signal.SIGKILL)
        if not self.keep_working_dir:
            shutil.rmtree(self.working_dir(ctx), ignore_errors=True)
