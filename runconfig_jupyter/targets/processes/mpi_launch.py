"""Launching an MPI run through Open MPI's ``mpirun`` when it is there.

Azure ML v1 started ``MpiConfiguration`` jobs with ``mpirun``, so the
``OMPI_COMM_WORLD_*`` variables came from a real MPI runtime and ``mpi4py`` /
Horovod could initialise. Without ``mpirun`` we still start every rank directly
with the same variables (``rank_group.py``, ``docker_ranks.py``); with it,
this module starts the ranks through it:

* **which launcher** (``choose_launcher``): ``RUNCONFIG_MPI_LAUNCHER`` from the
  run's environment variables or the driver's environment, else the target's
  ``mpi_launcher`` setting, else ``auto``. ``auto`` uses ``mpirun`` when an
  Open MPI one is found, ``direct`` never does, ``mpirun`` insists on it. The
  choice and its reason go to ``prepare_log.txt`` and the run's details.
* **local** (``LocalMpiRanks``): ``mpirun -np N`` in its own session, under the
  local supervisor (exit code to a file, pid + start mark recorded) so that a
  driver killed mid-run is replaced by one that adopts it. Open MPI
  puts each rank in a process group of its own (same session), so stopping
  signals the whole *session*, and the ranks' pids are recorded for the
  dead-driver cleanup. Each rank's output goes through a tiny ``sh`` wrapper
  straight into ``logs/rank_N.txt`` (complete even if the driver dies) and is
  merged with ``[rank N]`` prefixes as on the direct path. ``--tag-output`` is
  not used locally because Open MPI tags every *write*, so a ``print`` under
  ``PYTHONUNBUFFERED`` (two writes) would come out with a tag in the middle.
* **docker** (single node): one container runs ``mpirun --tag-output``; its
  one output stream is split back into ranks by ``TagDemux``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.runs.distributed import DistributedPlan, pick_master_port
from runconfig_jupyter.core.runs.folder import RANKS_DIR
from runconfig_jupyter.core.runs.launch import expand
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.atomic import read_json, write_json_atomically
from runconfig_jupyter.core.system.detached import spawn_detached
from runconfig_jupyter.core.target.interface import Outcome, TargetRunContext
from runconfig_jupyter.targets.processes.launcher import LAUNCHER_ENV, LauncherChoice, requested_launcher
from runconfig_jupyter.targets.processes.rank_group import RankLogMerger, RankProcess, describe_exit, merge_journal
from runconfig_jupyter.targets.processes.supervision import supervised

POLL_SECONDS = 0.05
MPIRUN_LOG = "mpirun.txt"
MPIRUN_PREFIX = b"[mpirun] "
MPIRUN_KEY = -1  # the merger's key for mpirun's own output
MPIRUN_STATE = "mpirun.json"  # in ranks/: mpirun's supervisor (pid + start mark), the ranks' pids
MPIRUN_EXIT = "mpirun.exit.json"  # in ranks/: written by the supervisor when mpirun ends

# Each rank: the variables Intel MPI scripts read, then its output into its own log file, then the script.
RANK_WRAPPER = (
    'd=$1; shift; export PMI_RANK="$OMPI_COMM_WORLD_RANK" PMI_SIZE="$OMPI_COMM_WORLD_SIZE"; '
    'exec >>"$d/rank_$OMPI_COMM_WORLD_RANK.txt" 2>&1; exec "$@"'
)
CONTAINER_RANK_WRAPPER = 'export PMI_RANK="$OMPI_COMM_WORLD_RANK" PMI_SIZE="$OMPI_COMM_WORLD_SIZE"; exec "$@"'
# Variables the direct launcher sets per rank; under mpirun they must come from mpirun itself.
RANK_VARIABLES = ("OMPI_COMM_WORLD_", "PMI_RANK", "PMI_SIZE")


_open_mpi_cache: dict[str, str | None] = {}


def open_mpi_version(mpirun: str) -> str | None:
    """``Open MPI 4.1.4`` for an Open MPI mpirun, None for another MPI (its flags and variables differ)."""
    if mpirun not in _open_mpi_cache:
        try:
            out = subprocess.run(
                [mpirun, "--version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        match = re.search(r"\(Open MPI\)\s*(\S+)", out)
        _open_mpi_cache[mpirun] = f"Open MPI {match.group(1)}" if match else None
    return _open_mpi_cache[mpirun]


def choose_local_launcher(plan: DistributedPlan, run_env: dict[str, str], setting: object = None) -> LauncherChoice:
    requested = requested_launcher(run_env, setting)
    if requested == "direct":
        return LauncherChoice(False, None, f"MPI launcher: direct ({LAUNCHER_ENV}/mpi_launcher asks for it)", requested)
    mpirun = shutil.which("mpirun", path=run_env.get("PATH", os.environ.get("PATH")))
    version = open_mpi_version(mpirun) if mpirun else None
    if mpirun is None or version is None:
        why = "no mpirun on PATH" if mpirun is None else f"{mpirun} is not Open MPI"
        if requested == "mpirun":
            raise PreparationFailed(
                f"{LAUNCHER_ENV}/mpi_launcher asks for mpirun but {why}; install Open MPI (apt-get install "
                "openmpi-bin) or set it to 'auto'",
                phase="Preparing",
            )
        return LauncherChoice(False, None, f"MPI launcher: direct ({why}; ranks get the OMPI variables from us)")
    nodes = ""
    if plan.node_count > 1:
        nodes = f"; the {plan.node_count} simulated nodes share this host, so mpirun numbers local ranks host-wide"
    return LauncherChoice(True, mpirun, f"MPI launcher: {mpirun} ({version}), -np {plan.world_size}{nodes}", requested)


def mpirun_command(mpirun: str, processes: int, as_root: bool, tag_output: bool = False) -> list[str]:
    """The launcher part; the rank command follows it.

    ``--oversubscribe``: a laptop run may ask for more ranks than cores (Open MPI refuses by default).
    ``--bind-to none``: several runs share the machine; pinning ranks to cores would stack them up.
    """
    command = [mpirun, "-np", str(processes)]
    if as_root:
        command.append("--allow-run-as-root")
    command += ["--oversubscribe", "--bind-to", "none"]
    if tag_output:
        command.append("--tag-output")
    return command


FAILED_PROCESS = re.compile(r"Process name:\s*\[\[\d+,\d+\],(\d+)\]\s*\n\s*Exit code:\s*(-?\d+)")
SIGNALED_PROCESS = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)")


def failed_rank_from(mpirun_output: str) -> tuple[int, int] | None:
    """(rank, exit code) of the first failing rank as mpirun reports it; signals come back negative."""
    match = FAILED_PROCESS.search(mpirun_output)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = SIGNALED_PROCESS.search(mpirun_output)
    if match:
        return int(match.group(1)), -int(match.group(2))
    return None


def mpi_outcome(code: int, mpirun_output: str, stopped_by_us: bool) -> Outcome:
    """mpirun's exit code is the run's; the failing rank named in its message goes into the reason."""
    if code == 0:
        return Outcome(RunStatus.COMPLETED, exit_code=0)
    if stopped_by_us:  # cancel or max duration: the driver makes this Canceled with its own reason
        return Outcome(RunStatus.FAILED, exit_code=code, reason=f"mpirun {describe_exit(code)}")
    failed = failed_rank_from(mpirun_output)
    if failed is None:
        return Outcome(RunStatus.FAILED, exit_code=code, reason=f"mpirun {describe_exit(code)}; see logs/mpirun.txt")
    rank, rank_code = failed
    return Outcome(
        RunStatus.FAILED,
        exit_code=code,
        reason=f"rank {rank} {describe_exit(rank_code)} (the other ranks were stopped by mpirun); "
        f"see logs/rank_{rank}.txt",
    )


def session_members(session: int) -> list[int]:
    """Every live process of a session: mpirun, its ranks (each in its own group) and their children."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) == session:
                members.append(int(entry))
        except OSError:
            continue
    return members


class LocalMpiRanks:
    """The local target's MPI run under mpirun; same interface as ``LocalRanks``.

    mpirun runs under the local supervisor (supervision.py), which leads the run's session and writes
    mpirun's exit code to ``ranks/mpirun.exit.json``; its pid + start mark, the ranks' pids and the
    merge journal are in ``ranks/`` too, so a driver killed mid-run is replaced by one that adopts
    mpirun (``reattach``), resumes the log merge exactly where it stopped and finishes with mpirun's code.
    """

    def __init__(self, plan: DistributedPlan, choice: LauncherChoice, grace_seconds: float = 10.0):
        assert choice.mpirun is not None
        self.plan = plan
        self.choice = choice
        self.grace_seconds = grace_seconds
        self.mpirun: RankProcess | None = None  # mpirun's supervisor: its pid is the run's session
        self.rank_pids: list[int] = []
        self.log_dir: Path | None = None
        self._merger: RankLogMerger | None = None
        self._stopping = threading.Event()

    @staticmethod
    def state_dir(log_dir: Path) -> Path:
        return log_dir.parent / RANKS_DIR

    def prepare(self, ctx: TargetRunContext, working: Path) -> None:
        """One working copy: mpirun starts every rank on this host in the same folder."""

    def _merger_for(self, ctx: TargetRunContext, log_dir: Path) -> RankLogMerger:
        paths: dict[int, Path] = {r.rank: log_dir / f"rank_{r.rank}.txt" for r in self.plan.ranks}
        paths[MPIRUN_KEY] = log_dir / MPIRUN_LOG
        journal = merge_journal(self.state_dir(log_dir), log_dir)
        return RankLogMerger(paths, ctx.write_log, prefixes={MPIRUN_KEY: MPIRUN_PREFIX}, journal=journal)

    def start(self, ctx: TargetRunContext, argv: list[str], env: dict[str, str], working: Path) -> None:
        assert self.choice.mpirun is not None
        self.log_dir = log_dir = ctx.log_path().parent
        state_dir = self.state_dir(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        port = pick_master_port("127.0.0.1")
        env = {k: v for k, v in env.items() if not k.startswith(RANK_VARIABLES)}
        env.update({"AZ_BATCH_MASTER_NODE": f"127.0.0.1:{port}", "AZ_BATCHAI_MPI_MASTER_NODE": "127.0.0.1"})
        argv = expand(argv, env)  # one line for every rank: mpirun starts them all from it
        command = [
            *mpirun_command(self.choice.mpirun, self.plan.world_size, os.geteuid() == 0),
            "sh",
            "-c",
            RANK_WRAPPER,
            "rank",
            str(log_dir),
            *argv,
        ]
        exit_file = state_dir / MPIRUN_EXIT
        exit_file.unlink(missing_ok=True)
        self._merger = self._merger_for(ctx, log_dir)
        try:
            popen = spawn_detached(supervised(command, exit_file), cwd=working, env=env, log_path=log_dir / MPIRUN_LOG)
        except OSError as error:
            raise PreparationFailed(f"could not start {command[0]!r}: {error}", phase="Starting") from error
        self.mpirun = RankProcess(popen.pid, proc.start_mark(popen.pid), exit_file, popen)
        self._save(state_dir)  # at once: a driver killed while the ranks start up can still be replaced
        self._merger.start()
        self.rank_pids = self._find_ranks()
        self._save(state_dir)
        ctx.prepare_log(
            f"started {self.plan.world_size} MPI processes under mpirun (session {popen.pid}), "
            f"AZ_BATCH_MASTER_NODE 127.0.0.1:{port}"
        )
        # "pid" is the session (mpirun's supervisor); "pids" are the ranks' own groups: the cleanup kills both.
        ctx.record(
            pid=popen.pid,
            pids=self.rank_pids,
            argv=argv,
            launcher="mpirun",
            launcher_argv=command[: command.index("sh")],
            distributed=self.plan.to_dict(),
        )

    def _save(self, state_dir: Path) -> None:
        """What an adopting driver needs: mpirun's supervisor (pid + start mark, exit file) and the ranks' pids."""
        assert self.mpirun is not None
        state = {**self.mpirun.to_dict(), "ranks": self.rank_pids, "mpirun": self.choice.mpirun}
        write_json_atomically(state_dir / MPIRUN_STATE, state)

    @classmethod
    def reattach(cls, ctx: TargetRunContext, plan: DistributedPlan, grace_seconds: float) -> LocalMpiRanks | None:
        """Adopt the mpirun a dead driver started, or None when it did not start one (or left no trace)."""
        log_dir = ctx.log_path().parent
        state = read_json(cls.state_dir(log_dir) / MPIRUN_STATE)
        if not isinstance(state, dict) or not state.get("pid"):
            return None
        ranks = cls(plan, LauncherChoice(True, str(state.get("mpirun") or "mpirun"), "adopted"), grace_seconds)
        ranks.log_dir = log_dir
        ranks.mpirun = RankProcess(int(state["pid"]), state.get("started"), Path(state["exit_file"]))
        ranks.rank_pids = [int(pid) for pid in state.get("ranks", [])]
        # Even a supervisor gone without an exit code is adopted: wait() reports it, cleanup() ends the session.
        ranks._merger = ranks._merger_for(ctx, log_dir)
        ranks._merger.resume()
        ranks._merger.start()
        return ranks

    def _find_ranks(self, timeout: float = 10.0) -> list[int]:
        """mpirun's children are the ranks (single host); wait until all are there or mpirun ended.

        The session leader is the supervisor; its child is mpirun, and mpirun's children the ranks.
        """
        import psutil

        assert self.mpirun is not None
        deadline = time.monotonic() + timeout
        found: list[int] = []  # a union over polls: a quick rank may be reaped before a slow one appears
        while time.monotonic() < deadline:
            try:
                children = [
                    rank.pid for launcher in psutil.Process(self.mpirun.pid).children() for rank in launcher.children()
                ]
            except psutil.Error:
                children = []
            found += [pid for pid in children if pid not in found]
            if len(found) >= self.plan.world_size or self.mpirun.poll() is not None:
                break
            time.sleep(POLL_SECONDS)
        return found

    def _wait_for_mpirun(self) -> int:
        assert self.mpirun is not None
        if self.mpirun.popen is not None:
            self.mpirun.popen.wait()
        while (code := self.mpirun.poll()) is None:
            time.sleep(POLL_SECONDS)
        return code

    def wait(self) -> Outcome:
        assert self.mpirun is not None and self.log_dir is not None
        code = self._wait_for_mpirun()
        # mpirun has reaped its ranks; anything the ranks left in the session must not outlive the run.
        self._signal_session(signal.SIGKILL)
        if self._merger is not None:
            self._merger.stop()
        try:
            output = (self.log_dir / MPIRUN_LOG).read_text(errors="replace")
        except OSError:
            output = ""
        return mpi_outcome(code, output, self._stopping.is_set())

    def _signal_session(self, sig: signal.Signals) -> None:
        """Linux never hands out a pid still used as a session id, so members of it are the run's own."""
        if self.mpirun is None:
            return
        for pid in session_members(self.mpirun.pid):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def cancel(self) -> None:
        """TERM to mpirun and every rank, KILL to what is left of the session after the grace period.

        The supervisor ignores TERM and stays to record how mpirun ended.
        """
        self._stopping.set()
        if self.mpirun is None or self.mpirun.poll() is not None:
            return
        self._signal_session(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while self.mpirun.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        self._signal_session(signal.SIGKILL)

    def cleanup(self, working: Path, keep: bool) -> None:
        self._stopping.set()
        self._signal_session(signal.SIGKILL)


class TagDemux:
    """Splits ``mpirun --tag-output`` output back into per-rank lines.

    Open MPI prefixes every chunk it forwards with ``[job,rank]<stream>:``,
    including the continuation of a line the rank wrote in two pieces, and
    chunks of different ranks interleave. Text after a tag belongs to that
    rank until the next tag; a line that starts without a tag is mpirun's own
    (key None). ``feed`` returns complete lines per rank, in order.

    A rank's half line is kept per *stream*: its stdout and stderr are two
    pipes that mpirun reads independently, so a marker line on stderr (the
    run-history and metric markers) can arrive between ``print``'s two writes
    on stdout and must not be glued onto the stdout line.
    """

    TAG = re.compile(rb"\[\d+,(\d+)\]<(stdout|stderr|stddiag)>:")

    def __init__(self) -> None:
        self._raw = b""
        self._pending: dict[tuple[int, bytes] | None, bytes] = {}

    def feed(self, chunk: bytes, final: bool = False) -> list[tuple[int | None, bytes]]:
        data = self._raw + chunk
        cut = len(data) if final else data.rfind(b"\n") + 1  # tags never hold a newline: cut there
        self._raw, data = data[cut:], data[:cut]
        out: list[tuple[int | None, bytes]] = []
        source: tuple[int, bytes] | None = None
        position = 0
        for match in [*self.TAG.finditer(data), None]:
            end = match.start() if match is not None else len(data)
            self._take(source, data[position:end], out)
            if match is None:
                break
            source, position = (int(match.group(1)), match.group(2)), match.end()
        if final:
            for key, rest in list(self._pending.items()):
                if rest:
                    out.append((None if key is None else key[0], rest + b"\n"))
            self._pending.clear()
        return out

    def _take(self, source: tuple[int, bytes] | None, text: bytes, out: list[tuple[int | None, bytes]]) -> None:
        while text:
            newline = text.find(b"\n")
            if newline < 0:
                self._pending[source] = self._pending.get(source, b"") + text
                return
            out.append((None if source is None else source[0], self._pending.pop(source, b"") + text[: newline + 1]))
            text = text[newline + 1 :]
            source = None  # a new line without a tag in front is mpirun's own


IMAGE_PROBE = "command -v mpirun >/dev/null 2>&1 && mpirun --version 2>&1 | head -n 1"
IMAGE_CACHE_FILE = "mpirun_images.json"


def image_open_mpi(client: Any, image: str) -> str | None:
    """``Open MPI x.y`` when the image has Open MPI's mpirun, else None; cached per image id.

    Asked once per image (a throwaway container costs ~0.5 s); the answer lives in the run home, keyed
    by the image id, so a rebuilt image is asked again.
    """
    from runconfig_jupyter.core.system.paths import run_home
    from runconfig_jupyter.targets.docker.image import LABEL

    image_id = str(client.images.get(image).id)
    cache_path = run_home() / IMAGE_CACHE_FILE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if image_id in cache:
        return cache[image_id]
    try:
        out = client.containers.run(
            image_id, ["sh", "-c", IMAGE_PROBE], remove=True, network_disabled=True, labels={LABEL: "1"}
        )
    except Exception:  # non-zero exit (no mpirun), no sh in the image: no mpirun we can use
        out = b""
    match = re.search(r"\(Open MPI\)\s*(\S+)", out.decode(errors="replace") if isinstance(out, bytes) else "")
    version = f"Open MPI {match.group(1)}" if match else None
    cache[image_id] = version
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_path)
    except OSError:
        pass
    return version


def choose_docker_launcher(
    plan: DistributedPlan, client: Any, image: str, run_env: dict[str, str], settings: dict[str, Any]
) -> LauncherChoice:
    """Single-node MPI with Open MPI in the image: one container runs mpirun; else one container per rank."""
    direct = "one container per rank, OMPI variables set by us"
    requested = requested_launcher(run_env, settings.get("mpi_launcher"))
    if requested == "direct":
        return LauncherChoice(False, None, f"MPI launcher: direct ({LAUNCHER_ENV}/mpi_launcher asks for it)", requested)
    if plan.node_count > 1:
        return LauncherChoice(
            False,
            None,
            f"MPI launcher: direct, {direct}: node_count {plan.node_count} needs mpirun to start ranks in other "
            "containers, which Open MPI does over ssh, and these containers run no ssh server",
            requested,
        )
    version = image_open_mpi(client, image)
    if version is None:
        if requested == "mpirun":
            raise PreparationFailed(
                f"{LAUNCHER_ENV}/mpi_launcher asks for mpirun but image {image} has no Open MPI mpirun; add "
                "'RUN apt-get install -y openmpi-bin' to the environment's Dockerfile or set it to 'auto'",
                phase="Preparing",
            )
        return LauncherChoice(False, None, f"MPI launcher: direct ({direct}): image {image} has no Open MPI mpirun")
    return LauncherChoice(
        True, "mpirun", f"MPI launcher: mpirun ({version}) in one container, -np {plan.world_size}", requested
    )
