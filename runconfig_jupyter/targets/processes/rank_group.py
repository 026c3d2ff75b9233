"""The processes of a distributed run on this machine, handled as one unit.

Why a group: a distributed job is only healthy while every rank is; a rank
that dies leaves the others blocked in a collective forever. So the group

* starts every rank in ONE process group (rank 0 leads it), so a cancel, a
  failing rank or a dead driver's cleanup ends all of them with one ``killpg``;
* writes each rank's output to its own file (``logs/rank_N.txt``, complete even
  if the driver dies) and merges the lines, prefixed ``[rank N]``, into the run's
  ``std_log.txt`` so the log reads like one job;
* fails the run as soon as any rank fails, and stops the others;
* stops the ranks that only serve (TensorFlow parameter servers, which never return from ``server.join()``)
  once every other rank has exited with 0 and they have not ended by themselves within SERVER_GRACE_SECONDS:
  their work is done, so they count as exited with 0.

``LocalRanks`` is the local target's use of it: one working copy per simulated
node (ranks of a node share it, as on a real node), outputs from node 0.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.runs.distributed import DistributedPlan, all_rank_environments
from runconfig_jupyter.core.runs.folder import RANKS_DIR, STD_LOG
from runconfig_jupyter.core.runs.launch import expand
from runconfig_jupyter.core.runs.logsink import METRIC_MARKER
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.system import proc
from runconfig_jupyter.core.system.atomic import read_json, write_json_atomically
from runconfig_jupyter.core.target.interface import Outcome, TargetRunContext
from runconfig_jupyter.targets.processes.supervision import recorded_exit, supervised

POLL_SECONDS = 0.05
# How long ranks that only serve (parameter servers) may take to end by themselves once every worker has exited
# with 0, before they are stopped: a server that was only slower than its workers keeps its output and its own exit.
SERVER_GRACE_SECONDS = 10.0
LOST_CODE = -(2**31)  # a rank whose supervisor vanished with its exit code
PROCESSES_FILE = "processes.json"
MERGE_STATE = "merge_state.json"


def merge_journal(state_dir: Path, log_dir: Path) -> tuple[Path, Path]:
    """Where a merger keeps its journal and the merged log it describes (``RankLogMerger``)."""
    return state_dir / MERGE_STATE, log_dir / STD_LOG


@dataclass
class RankLaunch:
    rank: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]


def rank_prefix(rank: int) -> bytes:
    return f"[rank {rank}] ".encode()


class RankLogMerger:
    """Tails the per-rank files and writes their complete lines, prefixed, to ``sink``."""

    def __init__(
        self,
        paths: dict[int, Path],
        sink: Callable[[bytes], None],
        prefixes: dict[int, bytes] | None = None,
        journal: tuple[Path, Path] | None = None,
    ):
        """``journal`` = (state file, merged log): how far each rank file is in the merged log, kept so
        that a driver adopting the run resumes exactly there (see ``resume``)."""
        self.paths = paths
        self.sink = sink
        self.prefixes = prefixes or {}  # other sources than ranks (mpirun's own output) get their own prefix
        self.journal = journal
        self._offsets = dict.fromkeys(paths, 0)
        self._partial = dict.fromkeys(paths, b"")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rank-log-merger", daemon=True)

    def resume(self) -> None:
        """Continue where a dead driver's merger stopped: no line lost, none twice.

        The state file pairs each rank's merged offset with the merged log's size at that moment; a
        block appended after the last state write (the driver died in between) is cut off and merged again.
        """
        if self.journal is None:
            return
        state_path, merged = self.journal
        state = read_json(state_path) or {}
        size = int(state.get("merged_size", 0))
        for rank, offset in (state.get("offsets") or {}).items():
            if int(rank) in self._offsets:
                self._offsets[int(rank)] = int(offset)
        if merged.exists() and merged.stat().st_size > size:
            os.truncate(merged, size)

    def _commit(self) -> None:
        if self.journal is None:
            return
        state_path, merged = self.journal
        done = {str(rank): self._offsets[rank] - len(self._partial[rank]) for rank in self._offsets}
        size = merged.stat().st_size if merged.exists() else 0
        write_json_atomically(state_path, {"merged_size": size, "offsets": done}, durable=False)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.drain()
            self._stop.wait(POLL_SECONDS)

    def drain(self, final: bool = False) -> None:
        for rank, path in self.paths.items():
            try:
                with open(path, "rb") as log:
                    log.seek(self._offsets[rank])
                    data = log.read()
            except FileNotFoundError:
                continue
            self._offsets[rank] += len(data)
            buffered = self._partial[rank] + data
            cut = buffered.rfind(b"\n") + 1
            if final and cut < len(buffered):
                buffered += b"\n"
                cut = len(buffered)
            self._partial[rank] = buffered[cut:]
            lines = buffered[:cut].splitlines(keepends=True)
            if lines:
                prefix = self.prefixes.get(rank) or rank_prefix(rank)
                self.sink(b"".join(line if METRIC_MARKER in line else prefix + line for line in lines))
                self._commit()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.drain(final=True)


class RankProcess:
    """One rank's supervisor: started by this driver (``popen``) or adopted from a dead one (pid + start mark).

    Its exit code is the one the supervisor wrote to ``exit_file`` (the supervisor also ends with it).
    """

    def __init__(
        self, pid: int, started: str | float | None, exit_file: Path, popen: subprocess.Popen[bytes] | None = None
    ):
        self.pid, self.started, self.exit_file, self.popen = pid, started, exit_file, popen

    def poll(self) -> int | None:
        if self.popen is not None:
            code = self.popen.poll()
            if code is None:
                return None
            recorded = recorded_exit(self.exit_file)
            return recorded["exit_code"] if recorded else code
        recorded = recorded_exit(self.exit_file)
        if recorded is not None:
            return int(recorded["exit_code"])
        return None if proc.same_process(self.pid, self.started) else LOST_CODE

    def send_signal(self, sig: signal.Signals) -> None:
        if self.popen is not None:
            self.popen.send_signal(sig)
        elif proc.same_process(self.pid, self.started):
            os.kill(self.pid, sig)

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "started": self.started, "exit_file": str(self.exit_file)}


class RankGroup:
    """Start, watch and stop the rank processes; see the module docstring."""

    def __init__(
        self, log_dir: Path, sink: Callable[[bytes], None], grace_seconds: float = 10.0, state_dir: Path | None = None
    ):
        self.log_dir = log_dir
        self.state_dir = state_dir or log_dir.parent / RANKS_DIR  # exit codes, pids, merge state: for adoption
        self.grace_seconds = grace_seconds
        self.processes: dict[int, RankProcess] = {}
        self.process_groups: list[int] = []
        self.servers: frozenset[int] = frozenset()  # ranks stopped when all the others are done (see module doc)
        self._sink = sink
        self._merger: RankLogMerger | None = None
        self._stopping = threading.Event()
        self._stopped_by_us: set[int] = set()
        self._lock = threading.Lock()

    def log_path(self, rank: int) -> Path:
        return self.log_dir / f"rank_{rank}.txt"

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes.values()]

    def exit_path(self, rank: int) -> Path:
        return self.state_dir / f"rank_{rank}.exit.json"

    def _merger_for(self, ranks: list[int]) -> RankLogMerger:
        paths = {rank: self.log_path(rank) for rank in ranks}
        return RankLogMerger(paths, self._sink, journal=merge_journal(self.state_dir, self.log_dir))

    def start(self, launches: list[RankLaunch]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._merger = self._merger_for([launch.rank for launch in launches])
        try:
            for launch in launches:
                self._spawn(launch)
        except BaseException:
            self.kill()
            raise
        self._save()
        self._merger.start()

    def _save(self) -> None:
        """What an adopting driver needs: the groups, and each rank's supervisor (pid + start mark)."""
        state = {
            "groups": self.process_groups,
            "ranks": {str(r): p.to_dict() for r, p in self.processes.items()},
            "servers": sorted(self.servers),
        }
        write_json_atomically(self.state_dir / PROCESSES_FILE, state)

    def adopt(self) -> bool:
        """Take over the ranks a dead driver started; True when there is a run to follow (even one that ended)."""
        state = read_json(self.state_dir / PROCESSES_FILE)
        if not isinstance(state, dict) or not state.get("ranks"):
            return False
        self.process_groups = [int(group) for group in state.get("groups", [])]
        self.servers = frozenset(int(rank) for rank in state.get("servers", []))
        for rank, info in state["ranks"].items():
            self.processes[int(rank)] = RankProcess(int(info["pid"]), info.get("started"), Path(info["exit_file"]))
        self._merger = self._merger_for(sorted(self.processes))
        self._merger.resume()
        self._merger.start()
        return True

    def _spawn(self, launch: RankLaunch) -> None:
        leader = self.process_groups[0] if self.process_groups else None
        exit_file = self.exit_path(launch.rank)
        exit_file.unlink(missing_ok=True)
        argv = supervised(launch.argv, exit_file)
        with open(self.log_path(launch.rank), "ab") as log:
            options = {
                "cwd": launch.cwd,
                "env": launch.env,
                "stdin": subprocess.DEVNULL,
                "stdout": log,
                "stderr": subprocess.STDOUT,
                "close_fds": True,
            }
            try:
                if leader is None:
                    process = subprocess.Popen(argv, start_new_session=True, **options)  # type: ignore[call-overload]
                    self.process_groups.append(process.pid)
                else:
                    try:
                        process = subprocess.Popen(argv, process_group=leader, **options)  # type: ignore[call-overload]
                    except (OSError, subprocess.SubprocessError):
                        # The leader already exited and its group is gone: give this rank its own.
                        process = subprocess.Popen(argv, start_new_session=True, **options)  # type: ignore[call-overload]
                        self.process_groups.append(process.pid)
            except OSError as error:
                raise PreparationFailed(
                    f"could not start rank {launch.rank} ({launch.argv[0]!r}): {error}", phase="Starting"
                ) from error
        self.processes[launch.rank] = RankProcess(process.pid, proc.start_mark(process.pid), exit_file, process)

    def wait(self) -> tuple[int | None, int | None, dict[int, int]]:
        """Block until every rank has exited. Returns (first failing rank, its code, all codes).

        The first rank that exits non-zero (and that we did not stop ourselves) stops the others. Servers
        still running SERVER_GRACE_SECONDS after every other rank exited with 0 are stopped and count as exited
        with 0.
        """
        failed_rank: int | None = None
        failed_code: int | None = None
        codes: dict[int, int] = {}
        released = False
        done_at: float | None = None  # when every worker had exited with 0 (servers get a grace from there)
        while len(codes) < len(self.processes):
            for rank, process in self.processes.items():
                if rank in codes:
                    continue
                code = process.poll()
                if code is None:
                    continue
                codes[rank] = 0 if released and rank in self.servers else code
                if code != 0 and failed_rank is None and not self._stopping.is_set():
                    failed_rank, failed_code = rank, code
                    threading.Thread(target=self.terminate, name="stop-ranks", daemon=True).start()
            if not released and self._work_done(codes):
                done_at = time.monotonic() if done_at is None else done_at
                if time.monotonic() - done_at >= SERVER_GRACE_SECONDS:
                    released = True
                    threading.Thread(target=self.terminate, name="stop-servers", daemon=True).start()
            if len(codes) < len(self.processes):
                time.sleep(POLL_SECONDS)
        if self._merger is not None:
            self._merger.stop()
        return failed_rank, failed_code, codes

    def _work_done(self, codes: dict[int, int]) -> bool:
        """Every rank but the servers has exited with 0, while a server still runs and nothing is stopping."""
        workers = [rank for rank in self.processes if rank not in self.servers]
        return (
            bool(self.servers)
            and len(codes) < len(self.processes)
            and not self._stopping.is_set()
            and all(codes.get(rank) == 0 for rank in workers)
        )

    def _signal(self, sig: signal.Signals) -> None:
        for group in self.process_groups:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for process in self.processes.values():  # a rank that left the group on its own
            if process.poll() is None:
                try:
                    process.send_signal(sig)
                except (ProcessLookupError, PermissionError):
                    pass

    def running(self) -> bool:
        return any(process.poll() is None for process in self.processes.values())

    def terminate(self) -> None:
        """TERM to every rank, KILL what is left after the grace period. Safe to call twice."""
        with self._lock:
            self._stopping.set()
        if not self.running():
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while self.running() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if self.running():
            self._signal(signal.SIGKILL)

    def kill(self) -> None:
        """Immediate KILL of the groups (cleanup: grandchildren a rank left behind too)."""
        self._stopping.set()
        self._signal(signal.SIGKILL)


def describe_exit(code: int) -> str:
    if code == LOST_CODE:
        return "ended without recording an exit code (killed with its supervisor?)"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class LocalRanks:
    """The local target's distributed run: ``plan.world_size`` processes on this machine."""

    def __init__(self, plan: DistributedPlan, grace_seconds: float = 10.0):
        self.plan = plan
        self.grace_seconds = grace_seconds
        self.group: RankGroup | None = None

    @staticmethod
    def node_dir(working: Path, node_rank: int) -> Path:
        """Node 0 uses the target's working copy; other simulated nodes get their own beside it."""
        return working if node_rank == 0 else working.with_name(f"{working.name}_node{node_rank}")

    def prepare(self, ctx: TargetRunContext, working: Path) -> None:
        from runconfig_jupyter.core.snapshot.create import extract_snapshot

        for node in range(1, self.plan.node_count):
            extract_snapshot(ctx.snapshot_path, self.node_dir(working, node))

    def start(self, ctx: TargetRunContext, argv: list[str], env: dict[str, str], working: Path) -> None:
        """``argv`` is a launch template (core/launch.py): every rank expands it with its own variables."""
        rank_envs = all_rank_environments(self.plan)
        launches = []
        for rank in self.plan.ranks:
            rank_env = {**env, **rank_envs[rank.rank]}
            launches.append(
                RankLaunch(rank.rank, expand(argv, rank_env), self.node_dir(working, rank.node_rank), rank_env)
            )
        self.group = RankGroup(ctx.log_path().parent, lambda data: ctx.write_log(data), self.grace_seconds)
        self.group.servers = self.plan.server_ranks
        self.group.start(launches)
        master = rank_envs[0]
        ctx.prepare_log(
            f"started {self.plan.world_size} {self.plan.framework} processes on {self.plan.node_count} node(s)"
            + (f", master {master['MASTER_ADDR']}:{master['MASTER_PORT']}" if "MASTER_ADDR" in master else "")
        )
        # "pid" is the process group leader: the dead-driver cleanup kills that whole group.
        ctx.record(pid=self.group.process_groups[0], pids=self.group.pids, argv=argv, distributed=self.plan.to_dict())

    def reattach(self, ctx: TargetRunContext) -> bool:
        """Adopt the ranks of a dead driver (their supervisors recorded pids and exit codes in the run folder)."""
        self.group = RankGroup(ctx.log_path().parent, lambda data: ctx.write_log(data), self.grace_seconds)
        return self.group.adopt()

    def wait(self) -> Outcome:
        assert self.group is not None
        failed_rank, failed_code, codes = self.group.wait()
        if failed_rank is None:
            stopped = {rank: code for rank, code in codes.items() if code != 0}
            if not stopped:
                return Outcome(RunStatus.COMPLETED, exit_code=0)
            # Stopped by us (cancel or max duration): the driver turns this into Canceled with its reason.
            rank, code = min(stopped.items())
            return Outcome(RunStatus.FAILED, exit_code=code, reason=f"rank {rank} {describe_exit(code)}")
        assert failed_code is not None
        others = " (the other ranks were stopped)" if self.plan.world_size > 1 else ""
        return Outcome(
            RunStatus.FAILED,
            exit_code=failed_code,
            reason=f"rank {failed_rank} {describe_exit(failed_code)}{others}; see logs/rank_{failed_rank}.txt",
        )

    def cancel(self) -> None:
        if self.group is not None:
            self.group.terminate()

    def cleanup(self, working: Path, keep: bool) -> None:
        if self.group is not None:
            self.group.kill()
        if not keep:
            for node in range(1, self.plan.node_count):
                shutil.rmtree(self.node_dir(working, node), ignore_errors=True)
