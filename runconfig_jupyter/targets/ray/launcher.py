"""Entrypoint of a Ray job submitted by the ``ray`` target; runs ON the cluster.

    python -m runconfig_jupyter.targets.ray.launcher      (spec in $RUNCONFIG_RAY_LAUNCH)

Why a launcher instead of ``python train.py`` as the entrypoint:

* Ray extracts one shared working_dir per content hash, so two runs of the same
  snapshot would write into the same ``./outputs``. The launcher runs the script
  in a private copy and ships ``outputs/`` and ``logs/`` back through the job log
  (marker lines the driver decodes), which works for any cluster, local or remote.
* A distributed run needs one process per rank, placed together (a placement
  group with one bundle per node), with the rank environment of
  ``core/distributed.py`` and MASTER_ADDR = the node of rank 0; one failing rank
  must stop the others. Each rank is a Ray actor that owns its process; the
  launcher merges their output with ``[rank N]`` prefixes.
* Ray's ``stop_job`` sends SIGTERM here; the launcher ends the script's process
  group (and the rank actors) before Ray's 3 s SIGKILL.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

LAUNCH_ENV = "RUNCONFIG_RAY_LAUNCH"
OUTPUTS_MARKER = "\x1e@runconfig:outputs "
OUTPUTS_END_MARKER = "\x1e@runconfig:outputs-end "
FAILURE_MARKER = "\x1e@runconfig:failure "
CHUNK = 48 * 1024  # raw bytes per outputs line (64 KiB of base64)
# data_outputs: core/data/outputs.py (uploaded by the driver); .runconfig-mlflow: the script's MLflow store
# (core/runs/script_env.py MLFLOW_WORK_DIR; this file runs on the cluster without the package)
COLLECTED = ("outputs", "logs", "data_outputs", ".runconfig-mlflow")


def _die_with_parent() -> None:
    """preexec_fn: the script gets SIGKILL if the process that started it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def encode_argv(template: Any) -> str:
    """How the launch template (and the data spec) travel in the spec: no ``$`` for Ray's env_vars expansion."""
    return base64.b64encode(json.dumps(template).encode()).decode("ascii")


def _decode_spec(text: str) -> dict[str, Any]:
    spec = json.loads(text)
    for key in ("argv", "data"):
        if f"{key}_b64" in spec:
            spec[key] = json.loads(base64.b64decode(spec.pop(f"{key}_b64")))
    return spec


def _python(template: list[str], env: dict[str, str] | None = None, python: str | None = None) -> list[str]:
    """The process's argv: the template expanded with its environment (core/launch.py); the driver
    writes ``python``, which becomes the conda prefix's python or the cluster's interpreter running this job."""
    from runconfig_jupyter.core.runs.launch import expand

    argv = expand(template, {**os.environ, **(env or {})})
    return [python or sys.executable, *argv[1:]] if argv and argv[0] == "python" else argv


def conda_environment(conda: dict[str, Any] | None) -> tuple[str | None, dict[str, str]]:
    """On this node: the run's conda packages, solved and installed with py-rattler into a prefix cached per
    environment (``~/.cache/runconfig-jupyter/ray-envs``, or $RUNCONFIG_RAY_ENVS); the python to use (the
    prefix's own when the solution has one; the environment's pip packages then go into it) and PATH/CONDA_PREFIX.
    """
    if not conda:
        return None, {}
    from runconfig_jupyter.targets.conda_prefix import CondaRequest, cached_prefix, pip_into_prefix, process_environment

    request = CondaRequest(tuple(conda["packages"]), tuple(conda["channels"]))
    default = Path.home() / ".cache" / "runconfig-jupyter" / "ray-envs"
    envs = Path(os.environ.get("RUNCONFIG_RAY_ENVS") or default)
    prefix = cached_prefix(request, envs, conda["digest"], _note)
    own = prefix / "bin" / "python"
    if not own.exists():
        return None, process_environment(prefix)
    pip = list(conda.get("pip") or [])
    if pip:

        def run(argv: list[str]) -> None:
            _note(f"installing pip packages into the conda prefix: {' '.join(pip)}")
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)

        pip_into_prefix(own, prefix, pip, run)
    return str(own), process_environment(prefix)


def private_root(run_id: str, label: str) -> Path:
    """A new folder for one run's (or rank's) private copy; the driver's contract tests find it by this name."""
    return Path(tempfile.mkdtemp(prefix=f"runconfig-{run_id[-24:]}-{label}-"))


class _CopyStopped(Exception):
    """A rank was stopped while its private copy was made: a big working_dir must not hold up the stop."""


def private_copy(root: Path, stopped: threading.Event | None = None) -> Path:
    """A per-run copy of the shared working_dir (the cwd Ray gave us), as ``root/work``.

    With ``stopped``, the copy ends between two files once it is set (``_CopyStopped``): a rank actor's
    cleanup comes while its copy is made, and the job's driver is killed 3 s after the stop.
    """
    work = root / "work"

    def copy(source: str, target: str, *, follow_symlinks: bool = True) -> object:
        if stopped is not None and stopped.is_set():
            raise _CopyStopped  # neither OSError nor shutil.Error, which copytree would collect and go on
        return shutil.copy2(source, target, follow_symlinks=follow_symlinks)

    shutil.copytree(Path.cwd(), work, symlinks=True, copy_function=copy)
    for folder in COLLECTED:
        if (work / folder).is_symlink():
            (work / folder).unlink()
    return work


def pack_outputs(work: Path, limit: int) -> tuple[bytes | None, str]:
    """A tar.gz of outputs/ and logs/, or None with the reason when it is empty or too big.

    Links travel as links (an absolute one into the private copy made relative, since that
    path means nothing on the driver's machine); the driver keeps those that stay inside.
    FIFOs, sockets and devices are left out with a note in the job log.
    """
    entries: list[tuple[Path, os.stat_result]] = []
    for folder in COLLECTED:
        root = work / folder
        if root.is_symlink() or not root.is_dir():
            continue
        for parent, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = Path(parent, name)
                info = path.lstat()
                if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                    entries.append((path, info))
                elif not stat.S_ISDIR(info.st_mode):  # the same warning line the driver writes (collect.py)
                    sys.stdout.write(
                        f"runconfig: warning: {path.relative_to(work)}: not a file or link; not collected\n"
                    )
    if not entries:
        return None, ""
    size = sum(info.st_size for path, info in entries if stat.S_ISREG(info.st_mode))
    if size > limit:
        return None, (
            f"outputs are {size / 1e6:.1f} MB, above the ray target's max_output_bytes ({limit / 1e6:.1f} MB), "
            "so they were not copied back; raise max_output_bytes or write big files to shared storage"
        )
    buffer = io.BytesIO()
    origin = str(work)
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=3) as tar:
        for path, _info in entries:
            member = tar.gettarinfo(str(path), arcname=str(path.relative_to(work)))
            if member.issym() and member.linkname.startswith(origin + "/"):
                member.linkname = os.path.relpath(member.linkname, path.parent)
            if member.isfile():
                with open(path, "rb") as content:
                    tar.addfile(member, content)
            else:
                tar.addfile(member)
    return buffer.getvalue(), ""


def emit_outputs(data: bytes) -> None:
    out = sys.stdout
    for start in range(0, len(data), CHUNK):
        out.write(OUTPUTS_MARKER + base64.b64encode(data[start : start + CHUNK]).decode() + "\n")
    out.write(OUTPUTS_END_MARKER + hashlib.sha256(data).hexdigest() + "\n")
    out.flush()


def emit_failure(reason: str, exit_code: int | None = None) -> None:
    """The failure's reason (and the script's exit code) for the driver: Ray's job record can show the job
    FAILED before it holds the entrypoint's exit code, so the code travels with the log too."""
    failure: dict[str, Any] = {"reason": reason}
    if exit_code is not None:
        failure["exit_code"] = exit_code
    sys.stdout.write(FAILURE_MARKER + json.dumps(failure) + "\n")
    sys.stdout.flush()


def _note(message: str) -> None:
    sys.stderr.write(f"[runconfig] {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- single process
class _Stopped(Exception):
    """Raised in the main thread by SIGTERM (Ray's stop_job), wherever it is blocked."""


class _StoppedWith(_Stopped):
    """A stop held back while ``process`` was started (``_start_script``)."""

    def __init__(self, process: subprocess.Popen[bytes]):
        super().__init__()
        self.process = process


# While the script is being started, a stop is held back (``_start_script``): raised in the middle of Popen, it would
# leave a script running whose pid this process never learnt.
_HOLD = {"held": False, "pending": False}


def _raise_stopped(_signum: int, _frame: Any) -> None:
    if _HOLD["held"]:
        _HOLD["pending"] = True
        return
    raise _Stopped


def _start_script(argv: list[str], work: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the script in its own session; a stop that came meanwhile is raised once its pid is known."""
    _HOLD["held"] = True
    try:
        process = subprocess.Popen(
            argv, cwd=work, env=env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
        )
    finally:
        _HOLD["held"] = False
    if _HOLD["pending"]:
        raise _StoppedWith(process)
    return process


def _end_group(process: subprocess.Popen[bytes], grace: float = 1.5) -> None:
    """TERM the script's process group, KILL it after ``grace`` (well inside Ray's 3 s)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _with_data(data: dict[str, Any] | None, work: Path, template: list[str]) -> tuple[list[str], dict[str, str]]:
    """The run's inputs and outputs on this node (targets/ray/data.py); a failure ends the job with the reason."""
    if not data:
        return template, {}
    from runconfig_jupyter.targets.ray.data import node_data

    try:
        return node_data(data, work, template)
    except Exception as error:
        reason = f"the run's data could not be prepared on the Ray node: {error}"
        emit_failure(reason)
        _note(reason)
        raise SystemExit(2) from None


def run_single(spec: dict[str, Any]) -> int:
    try:
        python, conda_env = conda_environment(spec.get("conda"))
    except Exception as error:  # a typed RunConfigError (channel unreachable, unsolvable) or pip failing
        emit_failure(f"preparing the environment on the node failed: {error}")
        return 1
    # From before the private copy exists, Ray's stop (SIGTERM) ends the script and removes the copy: a stop that
    # comes while the copy is made or the script started (a cancel right after submit, a short
    # max_run_duration_seconds) must leave nothing on the node either. So does a failure to prepare the data.
    signal.signal(signal.SIGTERM, _raise_stopped)
    root: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    keep = False
    try:
        root = private_root(spec["run_id"], "run")
        work = private_copy(root)
        template, data_env = _with_data(spec.get("data"), work, spec["argv"])
        env = {**conda_env, **data_env}
        process = _start_script(_python(template, env, python), work, {**os.environ, **env})
        code = process.wait()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # children the script left behind
        except ProcessLookupError:
            pass
        keep = _ship(work, int(spec.get("max_output_bytes", 512 * 2**20)))
    except _Stopped as stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        process = getattr(stop, "process", process)
        if process is not None:
            _end_group(process)
        return 143
    finally:
        if root is not None and not keep:
            shutil.rmtree(root, ignore_errors=True)
    exit_code = 0 if code == 0 else (code if code > 0 else 128 - code)
    if code != 0:
        how = f"the script exited with code {code}" if code > 0 else f"the script was killed by signal {-code}"
        emit_failure(how, exit_code)
    return exit_code


def _ship(work: Path, limit: int) -> bool:
    """Send outputs back; True when they had to stay on the node."""
    data, problem = pack_outputs(work, limit)
    if problem:
        _note(f"{problem}. They stay on the cluster node in {work}")
        return True
    if data:
        emit_outputs(data)
    return False


# ---------------------------------------------------------------- distributed
RANK_CONCURRENCY = 4  # start, poll/stop/outputs and cleanup of a rank actor at once (RankProcess)


class RankProcess:
    """Body of the rank actor: one rank's process in a private copy of the working_dir.

    The actor is threaded (``RANK_CONCURRENCY``) so that ``cleanup`` runs while ``start`` still copies a big
    working_dir; queued behind it, the cleanup came too late and Ray killed the actor mid-copy, which left the
    partial copy on the node. ``_busy`` is held by ``start`` from the private root's creation to the process's
    start, so a cleanup sees either no root, or a root and (once ``start`` let go) the process if it started.
    """

    def __init__(self, run_id: str, rank: int):
        self.run_id, self.rank = run_id, rank
        self.root: Path | None = None
        self.work: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._buffer: list[bytes] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._busy = threading.Lock()
        self._stopped = threading.Event()

    def node_info(self) -> tuple[str, int, str]:
        """(node ip, a free port on this node, Ray node id) - rank 0's ip:port become MASTER_ADDR:MASTER_PORT."""
        import ray

        from runconfig_jupyter.core.runs.distributed import free_port

        return ray.util.get_node_ip_address(), free_port("0.0.0.0"), ray.get_runtime_context().get_node_id()

    def start(
        self,
        argv: list[str],
        env: dict[str, str],
        conda: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> int | None:
        """The process's pid; None when the rank was cleaned up first (then nothing is started or left)."""
        python, conda_env = conda_environment(conda)  # per node: each rank's node gets the prefix (cached)
        env = {**env, **conda_env}
        with self._busy:
            if self._stopped.is_set():
                return None
            self.root = private_root(self.run_id, f"rank{self.rank}")
            try:
                self.work = private_copy(self.root, self._stopped)
                argv, data_env = _with_data(data, self.work, argv)
                if self._stopped.is_set():
                    raise _CopyStopped
            except _CopyStopped:
                # Removed here too, where the copy can no longer add to it: a cleanup that gave up waiting for
                # _busy removed the root while it was still being copied into.
                shutil.rmtree(self.root, ignore_errors=True)
                return None
            env = {**env, **data_env}
            self.process = subprocess.Popen(
                _python(argv, env, python),
                cwd=self.work,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self.process.pid

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            with self._lock:
                self._buffer.append(line)

    def poll(self) -> tuple[bytes, int | None]:
        """New output, and the exit code once the process ended AND all its output was read."""
        assert self.process is not None and self._reader is not None
        code = self.process.poll()
        finished = code is not None and not self._reader.is_alive()
        with self._lock:
            data, self._buffer = b"".join(self._buffer), []
        return data, code if finished else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=1.0)
                return
            except subprocess.TimeoutExpired:
                continue

    def outputs(self, limit: int) -> tuple[bytes | None, str]:
        assert self.work is not None
        return pack_outputs(self.work, limit)

    def cleanup(self, wait: float = 1.0) -> None:
        """Stop the rank at any point of ``start`` and remove its private root.

        ``wait`` bounds how long a ``start`` that is copying gets to notice the stop (it does between two files):
        the job's driver waits 2 s for the cleanups before it ends, and Ray kills the actors with it.
        """
        self._stopped.set()
        idle = self._busy.acquire(timeout=wait)
        try:
            self.stop()
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
        finally:
            if idle:
                self._busy.release()


def _wait_interruptibly(refs: list[Any]) -> list[Any]:
    """``ray.get`` in short waits: a stop (SIGTERM) is raised between them at once, whereas a blocked ``ray.get``
    checks for signals only every second, and the stop has 3 s in all to clean up the ranks."""
    import ray

    pending = list(refs)
    while pending:
        _done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
    return ray.get(refs)


def run_distributed(spec: dict[str, Any]) -> int:
    import logging

    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from runconfig_jupyter.core.runs.distributed import DistributedPlan, rank_environment

    plan = DistributedPlan.from_dict(spec["plan"])
    cpus, gpus = float(spec.get("num_cpus", 1)), float(spec.get("num_gpus", 0))
    limit = int(spec.get("max_output_bytes", 512 * 2**20))
    ray.init(logging_level=logging.WARNING, log_to_driver=False)
    bundle: dict[str, float] = {"CPU": cpus * plan.processes_per_node}
    if gpus:
        bundle["GPU"] = gpus * plan.processes_per_node
    group = placement_group([dict(bundle) for _ in range(plan.node_count)], strategy=spec.get("strategy", "SPREAD"))
    actors: list[Any] = []
    stopping = threading.Event()

    def stop_all() -> None:
        stopping.set()
        try:
            ray.get([actor.cleanup.remote() for actor in actors], timeout=2.0)
        except Exception:
            pass

    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        ready_timeout = float(spec.get("placement_timeout", 120))
        ready, _ = ray.wait([group.ready()], timeout=ready_timeout)
        if not ready:
            reason = (
                f"the Ray cluster could not place {plan.node_count} x {bundle} within {ready_timeout:g} s "
                "(not enough free CPUs/GPUs); lower the process counts or free the cluster"
            )
            emit_failure(reason)
            _note(reason)
            return 3
        actor_cls = ray.remote(RankProcess)
        for rank in plan.ranks:
            strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank.node_rank)
            options: dict[str, Any] = {
                "num_cpus": cpus,
                "scheduling_strategy": strategy,
                "max_restarts": 0,
                "max_concurrency": RANK_CONCURRENCY,
            }
            if gpus:
                options["num_gpus"] = gpus
            actors.append(actor_cls.options(**options).remote(spec["run_id"], rank.rank))
        infos = ray.get([actor.node_info.remote() for actor in actors])
        master_addr, master_port = infos[0][0], infos[0][1]
        tasks = [f"{ip}:{port}" for ip, port, _node in infos]
        envs = [rank_environment(plan, rank, master_addr, master_port, tasks) for rank in plan.ranks]
        conda, data = spec.get("conda"), spec.get("data")
        starts = [actor.start.remote(spec["argv"], env, conda, data) for actor, env in zip(actors, envs, strict=True)]
        _wait_interruptibly(starts)
        _note(
            f"started {plan.world_size} {plan.framework} ranks on {len({node for _, _, node in infos})} Ray node(s); "
            f"rank 0 at {master_addr}:{master_port}"
        )
        failed: tuple[int, int] | None = None
        codes: dict[int, int] = {}
        while len(codes) < len(actors):
            polled = ray.get([actor.poll.remote() for actor in actors])
            for rank, (data, code) in enumerate(polled):
                if data:
                    prefix = f"[rank {rank}] ".encode()
                    lines = data.splitlines(keepends=True)
                    sys.stdout.buffer.write(b"".join(ln if b"\x1e@runconfig:" in ln else prefix + ln for ln in lines))
                if code is not None and rank not in codes:
                    codes[rank] = code
                    if code != 0 and failed is None and not stopping.is_set():
                        failed = (rank, code)
                        stopping.set()
                        ray.get([a.stop.remote() for a in actors])
            sys.stdout.flush()
            if len(codes) < len(actors):
                time.sleep(0.2)
        if failed is not None:
            rank, code = failed
            how = f"exited with code {code}" if code > 0 else f"was killed by signal {-code}"
            emit_failure(f"rank {rank} {how} (the other ranks were stopped); see logs/rank_{rank}.txt")
            return 1
        data, problem = ray.get(actors[0].outputs.remote(limit))
        if problem:
            _note(problem)
        elif data:
            emit_outputs(data)
        return 0
    except _Stopped:
        return 143
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all()
        try:
            remove_placement_group(group)
        except Exception:
            pass


def main() -> int:
    spec = _decode_spec(os.environ[LAUNCH_ENV])
    if spec.get("plan"):
        return run_distributed(spec)
    return run_single(spec)


if __name__ == "__main__":
    sys.exit(main())
