"""The processes of a distributed run on this machine, handled as one unit.

Why a group: a distributed job is only healthy while every rank is; a rank
that dies leaves the others blocked in a collective forever. So the group

* starts every rank in ONE process group (rank 0 leads it), so a cancel, a
  failing rank or a dead driver's cleanup ends all of them with one ``killpg``;
* writes each rank's output to its own file (``logs/rank_N.txt``, complete even
  if the driver dies) and merges the lines, prefixed ``[rank N]``, into the run's
  ``std_log.txt`` so the log reads like one job;
* fails the run as soon as any rank fails, and stops the others.

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

from runconfig_jupyter.core.distributed import DistributedPlan, all_rank_environments
from runconfig_jupyter.core.errors import PreparationFailed
from runconfig_jupyter.core.launch import expand
from runconfig_jupyter.core.logsink import METRIC_MARKER
from runconfig_jupyter.core.status import RunStatus

from .base import Outcome, RunContext

POLL_SECONDS = 0.05


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

    def __init__(self, paths: dict[int, Path], sink: Callable[[bytes], None], prefixes: dict[int, bytes] | None = None):
        self.paths = paths
        self.sink = sink
        self.prefixes = prefixes or {}  # other sources than ranks (mpirun's own output) get their own prefix
        self._offsets = dict.fromkeys(paths, 0)
        self._partial = dict.fromkeys(paths, b"")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rank-log-merger", daemon=True)

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

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.drain(final=True)


class RankGroup:
    """Start, watch and stop the rank processes; see the module docstring."""

    def __init__(self, log_dir: Path, sink: Callable[[bytes], None], grace_seconds: float = 10.0):
        self.log_dir = log_dir
        self.grace_seconds = grace_seconds
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.process_groups: list[int] = []
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

    def start(self, launches: list[RankLaunch]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._merger = RankLogMerger({launch.rank: self.log_path(launch.rank) for launch in launches}, self._sink)
        try:
            for launch in launches:
                self._spawn(launch)
        except BaseException:
            self.kill()
            raise
        self._merger.start()

    def _spawn(self, launch: RankLaunch) -> None:
        leader = self.process_groups[0] if self.process_groups else None
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
                    process = subprocess.Popen(launch.argv, start_new_session=True, **options)  # type: ignore[call-overload]
                    self.process_groups.append(process.pid)
                else:
                    try:
                        process = subprocess.Popen(launch.argv, process_group=leader, **options)  # type: ignore[call-overload]
                    except (OSError, subprocess.SubprocessError):
                        # The leader already exited and its group is gone: give this rank its own.
                        process = subprocess.Popen(launch.argv, start_new_session=True, **options)  # type: ignore[call-overload]
                        self.process_groups.append(process.pid)
            except OSError as error:
                raise PreparationFailed(
                    f"could not start rank {launch.rank} ({launch.argv[0]!r}): {error}", phase="Starting"
                ) from error
        self.processes[launch.rank] = process

    def wait(self) -> tuple[int | None, int | None, dict[int, int]]:
        """Block until every rank has exited. Returns (first failing rank, its code, all codes).

        The first rank that exits non-zero (and that we did not stop ourselves) stops the others.
        """
        failed_rank: int | None = None
        failed_code: int | None = None
        codes: dict[int, int] = {}
        while len(codes) < len(self.processes):
            for rank, process in self.processes.items():
                if rank in codes:
                    continue
                code = process.poll()
                if code is None:
                    continue
                codes[rank] = code
                if code != 0 and failed_rank is None and not self._stopping.is_set():
                    failed_rank, failed_code = rank, code
                    threading.Thread(target=self.terminate, name="stop-ranks", daemon=True).start()
            if len(codes) < len(self.processes):
                time.sleep(POLL_SECONDS)
        if self._merger is not None:
            self._merger.stop()
        return failed_rank, failed_code, codes

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
                except ProcessLookupError:
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

    def prepare(self, ctx: RunContext, working: Path) -> None:
        from runconfig_jupyter.core.snapshot import extract_snapshot

        for node in range(1, self.plan.node_count):
            extract_snapshot(ctx.snapshot_path, self.node_dir(working, node))

    def start(self, ctx: RunContext, argv: list[str], env: dict[str, str], working: Path) -> None:
        """``argv`` is a launch template (core/launch.py): every rank expands it with its own variables."""
        rank_envs = all_rank_environments(self.plan)
        launches = []
        for rank in self.plan.ranks:
            rank_env = {**env, **rank_envs[rank.rank]}
            launches.append(
                RankLaunch(rank.rank, expand(argv, rank_env), self.node_dir(working, rank.node_rank), rank_env)
            )
        self.group = RankGroup(ctx.log_path("std_log.txt").parent, lambda data: ctx.write_log(data), self.grace_seconds)
        self.group.start(launches)
        master = rank_envs[0]
        ctx.prepare_log(
            f"started {self.plan.world_size} {self.plan.framework} processes on {self.plan.node_count} node(s)"
            + (f", master {master['MASTER_ADDR']}:{master['MASTER_PORT']}" if "MASTER_ADDR" in master else "")
        )
        # "pid" is the process group leader: the dead-driver cleanup kills that whole group.
        ctx.record(pid=self.group.process_groups[0], pids=self.group.pids, argv=argv, distributed=self.plan.to_dict())

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
