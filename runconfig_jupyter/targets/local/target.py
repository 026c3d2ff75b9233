"""The ``local`` target: the script as a plain process on this machine.

The default that needs nothing installed. The script runs in a per-run working
copy of the snapshot (so it can write freely without touching the user's
folder), in its own session (so cancel reaches every child it started, and the
kernel's interrupts never do), with its output going straight to the run's log
file (so the log is complete even if the driver itself were to die).

Data (core/data/plan.py): a ``mount`` input is the registered host folder itself (local datastores) or the
download cache's copy (remote stores); nothing is copied for a mount, so the script must treat it as read-only
(a plain process cannot be stopped from writing where its user may: use ``download`` or the docker target for
that). A ``download`` input is a private copy under the working folder. An output is a folder under the working
folder (``path_on_compute``, re-rooted there when absolute), uploaded by the driver once the script ended.

The script's parent is a tiny supervisor (targets/processes/supervisor.py) that records its exit code in
the run folder, so a driver killed mid-run is replaced by one that adopts the script (found by
pid + start mark in ``local_process.json``), waits for it, collects and records the real outcome.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError, PreparationFailed
from runconfig_jupyter.core.runs.folder import SCRIPT_EXIT_FILE, RunFolder
from runconfig_jupyter.core.runs.script_env import METRICS_FILE_ENV, PER_RUN_NAMES, without_kernel_mlflow_session
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.safety.inherit_env import inherited, setting_for
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.atomic import read_json, write_json_atomically
from runconfig_jupyter.core.system.records import record
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.core.target.settings import record_setting
from runconfig_jupyter.targets.processes.supervision import recorded_exit

# The data plan, the run store (sqlite3), collection (tarfile) and interpreter building are imported where they
# are used: a fresh driver imports this module for its warm-up (the spare), which should start before those. So is
# the spare (targets/processes/spare.py, with subprocess): a submit imports this module only to check a configuration.
EXIT_FILE = SCRIPT_EXIT_FILE  # written by the supervisor when the script ends
PROCESS_FILE = "local_process.json"  # pid + start mark of the supervisor, for an adopting driver
ADOPTED_POLL_SECONDS = 0.1


def outcome_for(code: int) -> Outcome:
    if code == 0:
        return Outcome(RunStatus.COMPLETED, exit_code=0)
    if code < 0:
        return Outcome(
            RunStatus.FAILED, exit_code=code, reason=f"the script was killed by {signal.Signals(-code).name}"
        )
    return Outcome(RunStatus.FAILED, exit_code=code, reason=f"the script exited with code {code}")


if TYPE_CHECKING:  # annotations only: a single-process run's driver does not import these (its start-up time),
    # nor does a submit, which imports this module to check its configuration (subprocess: ~4 ms)
    import subprocess

    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.data.plan import DataPlan
    from runconfig_jupyter.core.runs.distributed import DistributedPlan
    from runconfig_jupyter.targets.processes.mpi_launch import LocalMpiRanks
    from runconfig_jupyter.targets.processes.rank_group import LocalRanks


@record(frozen=True)
class LocalSettings:
    """Settings of a ``type: local`` target (all optional)."""

    grace_seconds: float = record_setting(10.0, "Seconds between SIGTERM and SIGKILL when a run is canceled.")
    keep_working_dir: bool = record_setting(False, "Keep the run's private working copy after it ends (for debugging).")
    inherit_env: str | list[str] | None = record_setting(
        None,
        "Which of the submitting process's environment variables a run sees: safe, all, none, or a list of names "
        "and patterns (default: $RUNCONFIG_INHERIT_ENV, else safe).",
    )
    mpi_launcher: str | None = record_setting(None, "MPI runs: auto, mpirun or direct (default auto).")
    prestart: bool = record_setting(
        True,
        "Run a script whose command and environment fit it in the Python interpreter a waiting driver started "
        "ahead (targets/processes/prestarted.py); false starts every script's interpreter after the submit.",
    )


class LocalTarget(ComputeTarget):
    type_name = "local"
    head_start = "runconfig_jupyter.targets.local.head_start:start_spare"
    Settings = LocalSettings

    def __init__(self, name: str | None = None, **settings: Any):
        super().__init__(name, **settings)
        self._process: subprocess.Popen[bytes] | None = None  # the supervisor, when this driver started it
        self._pid: int | None = None  # the supervisor's pid = the run's process group
        self._adopted: dict[str, Any] | None = None  # what a dead driver recorded (reattach)
        self._exited = threading.Event()
        self._ranks: LocalRanks | LocalMpiRanks | None = None  # set for distributed runs (see rank_group.py)
        self._python_env: dict[str, str] = {}  # a conda prefix's PATH and CONDA_PREFIX (local_env.py)
        self._data_paths: dict[str, str] = {}  # input/output name -> the path the script sees
        self._leases: list[tuple[Any, Path]] = []  # download-cache entries this run reads (released at cleanup)

    @classmethod
    def warm_up(cls) -> None:
        """A standby keeps the script's parent process and interpreter started (targets/processes/spare.py,
        started as a fresh driver's head start does it: targets/local/head_start.py)."""
        from runconfig_jupyter.targets.local.head_start import start_spare

        start_spare()

    @classmethod
    def garbage_sources(cls, home: Path) -> list[Any]:
        """The virtualenvs and conda prefixes built for this home's environments (targets/local/env.py)."""
        from runconfig_jupyter.targets.envs_garbage import EnvsSource

        return [EnvsSource(home / "envs")]

    def capabilities(self) -> Capabilities:
        return Capabilities(
            reattach=True,
            gpu=False,
            distributed=True,
            description="A process on this machine, in a private working copy of the source directory.",
        )

    def validate(self, config) -> None:  # type: ignore[no-untyped-def]
        from runconfig_jupyter.core.runs.distributed import plan_for
        from runconfig_jupyter.core.runs.launch import interpreter_words
        from runconfig_jupyter.targets.processes.launcher import requested_launcher

        plan_for(config)  # bad process/node counts fail here, before anything is packaged
        setting_for(self.options.inherit_env)  # a bad inherit_env setting fails before anything is recorded
        requested_launcher(config.environment_variables(), self.options.mpi_launcher)  # a typo fails now
        environment = config.effective_environment()
        interpreter = environment.python.interpreter_path
        if environment.python.user_managed_dependencies and interpreter and interpreter != "python":
            program = interpreter_words(interpreter)[0]  # a wrapper command line: its first word must exist
            if shutil.which(program) is None and not Path(program).exists():
                raise ConfigError(
                    f"interpreter '{program}' does not exist on this machine; point "
                    "environment.python.interpreter_path at a python executable (or a command that runs one) "
                    "or leave it empty to use the kernel's own python",
                    field="environment.python.interpreter_path",
                )
        from runconfig_jupyter.targets.local.env import check_host_pip

        check_host_pip(config, environment)
        docker_wanted = bool(getattr(environment.docker, "enabled", False))
        if docker_wanted:
            # a ported cluster name (an alias of local) is fixed where it was mapped; v1's estimators default to docker
            remedy = (
                f"map '{self.name}' to docker instead (register_target('{self.name}', alias_of='docker'))"
                if self.name != self.type_name
                else "submit with --target docker (compute_target='docker')"
            )
            raise ConfigError(
                f"this environment has docker.enabled = true but the target '{self.name}' runs locally without "
                f"docker; {remedy}, or set docker.enabled to false (use_docker=False for an estimator)",
                field="compute_target",
            )

    def recorded_launch(self, config: ScriptRunConfig, plan: DataPlan) -> dict[str, Any] | None:
        """A single-process run without data whose interpreter needs nothing built is started from its record
        (run.json ``launch``): its driver then reaches the script without importing the config classes."""
        from runconfig_jupyter.core.runs.distributed import plan_for
        from runconfig_jupyter.targets.local.env import ready_interpreter

        if plan or plan_for(config) is not None:
            return None
        python = ready_interpreter(config.effective_environment())
        return None if python is None else {**config.launch_record(), "python": python}

    def working_dir(self, ctx: TargetRunContext) -> Path:
        return ctx.run_dir / "working"

    def prepare(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.core.snapshot.extract import (
            extract_snapshot,  # not the snapshot facade: no archive writer
        )
        from runconfig_jupyter.targets.processes.spare import discard_spare, keep_spare

        keep_spare()  # warm_up started it already; this restarts one that died (or a driver built without warm_up)
        ctx.progress("Extracting snapshot")
        extract_snapshot(ctx.snapshot_path, self.working_dir(ctx))
        if ctx.launch is not None:  # recorded at submit (recorded_launch): no data, one process, a ready python
            self._python = str(ctx.launch["python"])
            return
        if ctx.data_plan:
            self._data_paths = self._prepare_data(ctx)
        from runconfig_jupyter.targets.local.env import interpreter_for

        self._python, self._python_env = interpreter_for(ctx)
        from runconfig_jupyter.core.runs.distributed import plan_for

        plan = plan_for(ctx.config)
        if plan is not None:
            discard_spare()  # ranks start their own supervisors
            self._ranks = self._rank_launcher(ctx, plan)
            self._ranks.prepare(ctx, self.working_dir(ctx))

    def _prepare_data(self, ctx: TargetRunContext) -> dict[str, str]:
        """Each input and output as a path on this machine (see the module docstring); name -> that path."""
        from runconfig_jupyter.core.data.cache import DownloadCache
        from runconfig_jupyter.core.data.materialize import VIEWS, copy_input, host_source, place_on_compute, view_input

        working, cache = self.working_dir(ctx), DownloadCache()
        paths: dict[str, str] = {}
        for inp in ctx.data_plan.inputs:
            if ctx.cancel_event.is_set():  # canceled while an earlier input was fetched: fetch no more
                return paths

            def progress(done: int, total: int, name: str = inp.name) -> None:
                ctx.progress(f"Fetching {name}", done / total if total else None, f"{done} of {total} bytes")

            ctx.prepare_log(f"input {inp.name}: {inp.mode} from datastore {inp.datastore} ({inp.kind}) {inp.path}")
            source = host_source(inp, cache, progress)
            if inp.kind != "local":
                self._leases.append((cache, source))
            if inp.mode == "download":
                target = place_on_compute(working, inp.path_on_compute, f"inputs/{inp.name}")
                paths[inp.name] = str(copy_input(source, target, inp.pattern, f"data.{inp.name}"))
                continue
            if inp.pattern and source.is_dir():  # some files of a folder: the script is given those only
                source = view_input(source, ctx.run_dir / VIEWS / inp.name, inp.pattern, f"data.{inp.name}")
            if inp.path_on_compute:  # the data itself, where the configuration asked for it
                link = place_on_compute(working, inp.path_on_compute, inp.name)
                if os.path.lexists(link):
                    raise ConfigError(
                        f"path_on_compute '{inp.path_on_compute}' is already taken in the run's folder (a file of the "
                        "source directory or another input); give this input its own path",
                        field=f"data.{inp.name}.pathOnCompute",
                    )
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(source, target_is_directory=source.is_dir())
                paths[inp.name] = str(link)
            else:
                paths[inp.name] = str(source)
        for name, folder in self._output_folders(ctx).items():
            folder.mkdir(parents=True, exist_ok=True)
            paths[name] = str(folder)
        from runconfig_jupyter.core.data.plan import apply_paths

        apply_paths(ctx.config, paths)  # placeholders in the arguments become these paths
        return paths

    def _output_folders(self, ctx: TargetRunContext) -> dict[str, Path]:
        """Where each output is written (and, reported in ``ctx.produced_outputs``, uploaded from)."""
        from runconfig_jupyter.core.data.materialize import place_on_compute

        for out in ctx.data_plan.outputs:
            default = f"data_outputs/{out.name}"
            ctx.produced_outputs[out.name] = place_on_compute(self.working_dir(ctx), out.path_on_compute, default)
        return ctx.produced_outputs

    def _rank_launcher(self, ctx: TargetRunContext, plan: DistributedPlan) -> LocalRanks | LocalMpiRanks:
        """MPI runs go through mpirun when Open MPI is installed (as on Azure), unless the user opts out."""
        from runconfig_jupyter.core.runs.distributed import MPI
        from runconfig_jupyter.targets.processes.mpi_launch import LocalMpiRanks, choose_local_launcher
        from runconfig_jupyter.targets.processes.rank_group import LocalRanks

        if plan.framework != MPI:
            return LocalRanks(plan, self.options.grace_seconds)
        choice = choose_local_launcher(plan, ctx.environment(), self.options.mpi_launcher)
        ctx.prepare_log(choice.reason)
        ctx.record(launcher="mpirun" if choice.use_mpirun else "direct", launcher_reason=choice.reason)
        if choice.use_mpirun:
            return LocalMpiRanks(plan, choice, self.options.grace_seconds)
        return LocalRanks(plan, self.options.grace_seconds)

    def start(self, ctx: TargetRunContext) -> None:
        setting = setting_for(self.options.inherit_env)
        given = ctx.environment()
        # not the kernel's cloud credentials (core/inherit_env.py), nor its MLflow session's ids
        base = without_kernel_mlflow_session(inherited(os.environ, setting), given)
        metrics = str(RunFolder(ctx.run_dir).metrics_path)
        data_env: dict[str, str] = {}
        if self._data_paths:
            from runconfig_jupyter.core.data.plan import script_environment

            data_env = script_environment(ctx.data_plan, self._data_paths)
        env = {**base, **self._python_env, **given, **data_env, METRICS_FILE_ENV: metrics}
        inherit_env = setting if isinstance(setting, str) else ",".join(setting)
        log_path = ctx.log_path()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._ranks is not None:  # each rank expands $NODE_RANK & co. with its own environment
            ctx.record(inherit_env=inherit_env)
            self._ranks.start(ctx, ctx.config.argv_template(python=self._python), env, self.working_dir(ctx))
            return
        if ctx.launch is not None:
            from runconfig_jupyter.core.runs.launch import recorded_argv

            argv = recorded_argv(ctx.launch, self._python, env)
        else:
            argv = ctx.config.argv(python=self._python, env=env)
        exit_file = ctx.run_dir / EXIT_FILE
        exit_file.unlink(missing_ok=True)
        from runconfig_jupyter.targets.processes.spare import start_supervised

        try:
            self._process = start_supervised(
                argv,
                exit_file,
                cwd=self.working_dir(ctx),
                env=env,
                log_path=log_path,
                per_run_names=PER_RUN_NAMES if self.options.prestart else None,
            )
        except OSError as error:
            raise PreparationFailed(f"could not start {argv[0]!r}: {error}", phase="Starting") from error
        self._pid = self._process.pid
        # What an adopting driver needs to find this process again (pid + start mark against pid reuse).
        write_json_atomically(
            ctx.run_dir / PROCESS_FILE, {"pid": self._pid, "started": proc.start_mark(self._pid), "argv": argv}
        )
        ctx.record(pid=self._pid, argv=argv, inherit_env=inherit_env)  # after the start: off the first line's path

    def wait(self, ctx: TargetRunContext) -> Outcome:
        if self._ranks is not None:
            return self._ranks.wait()
        exit_file = ctx.run_dir / EXIT_FILE
        if self._process is not None:
            supervisor_code = self._process.wait()
        else:  # adopted: not our child, so watch the exit file and the process
            assert self._adopted is not None, "start() or reattach() first"
            while not exit_file.exists() and proc.same_process(self._adopted["pid"], self._adopted.get("started")):
                time.sleep(ADOPTED_POLL_SECONDS)
            supervisor_code = None
        self._exited.set()
        ended = recorded_exit(exit_file)
        if ended is None:
            if supervisor_code is None:
                return Outcome(
                    RunStatus.FAILED,
                    reason="the script's process ended without recording an exit code (killed with SIGKILL?)",
                )
            return outcome_for(supervisor_code)  # the supervisor itself was killed (SIGKILL after a cancel)
        if ended.get("error"):
            return Outcome(RunStatus.FAILED, exit_code=ended["exit_code"], reason=ended["error"], phase="Starting")
        return outcome_for(int(ended["exit_code"]))

    def reattach(self, ctx: TargetRunContext) -> bool:
        """Adopt the script a dead driver started: its supervisor is found by pid + start mark.

        True also when the script already ended (its exit code is in the run folder): ``wait``
        then returns at once and the run is collected and finished with its real status.
        """
        from runconfig_jupyter.core.runs.distributed import plan_for

        self._output_folders(ctx)  # the adopted script writes its outputs there; uploaded when it ends
        plan = plan_for(ctx.config)
        if plan is not None:  # mpirun (its supervisor) when the run went through it, else the ranks as a group
            from runconfig_jupyter.targets.processes.mpi_launch import LocalMpiRanks
            from runconfig_jupyter.targets.processes.rank_group import LocalRanks

            self._ranks = LocalMpiRanks.reattach(ctx, plan, self.options.grace_seconds)
            if self._ranks is not None:
                return True
            ranks = LocalRanks(plan, self.options.grace_seconds)
            if not ranks.reattach(ctx):
                return False
            self._ranks = ranks
            return True
        process = read_json(ctx.run_dir / PROCESS_FILE)
        if process is None:
            return False
        self._adopted, self._pid = process, int(process["pid"])
        if (ctx.run_dir / EXIT_FILE).exists():
            return True
        return proc.same_process(self._pid, process.get("started"))

    def cancel(self, ctx: TargetRunContext, reason: str) -> None:
        """TERM to the whole process group, KILL after the grace period."""
        if self._ranks is not None:
            self._ranks.cancel()
            return
        if self._pid is None or self._exited.is_set():
            return
        self._signal_group(self._pid, signal.SIGTERM)
        if not self._exited.wait(self.options.grace_seconds):
            self._signal_group(self._pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def collect(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.targets.collect import collect_from

        collect_from(self.working_dir(ctx), ctx)

    def cleanup(self, ctx: TargetRunContext) -> None:
        from runconfig_jupyter.targets.processes.spare import discard_spare

        discard_spare()  # a run that ended before its script started
        for cache, local in self._leases:
            cache.release(local)
        if ctx.data_plan:
            from runconfig_jupyter.core.data.materialize import VIEWS

            shutil.rmtree(ctx.run_dir / VIEWS, ignore_errors=True)  # links only: the data stays where it is
        # Children the script left in its session would outlive the run: end them.
        if self._ranks is not None:
            self._ranks.cleanup(self.working_dir(ctx), self.options.keep_working_dir)
        if self._pid is not None:
            self._signal_group(self._pid, signal.SIGKILL)
        if not self.options.keep_working_dir:
            shutil.rmtree(self.working_dir(ctx), ignore_errors=True)
