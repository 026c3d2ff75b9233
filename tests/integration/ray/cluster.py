"""A real Ray head (and optionally a worker node) on 127.0.0.1, owned by PID.

Shared by the Ray tests and benchmarks/bench_ray.py. Every port is pinned to a
free one and the temp dir is private, so the cluster never meets another Ray on
the machine; teardown kills our process groups by PID (never ``ray stop``,
which kills every Ray on the machine by name).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_range(size: int) -> int:
    for _ in range(200):
        base = random.randint(30000, 60000 - size)
        if all(_free(p) for p in range(base, base + size)):
            return base
    raise RuntimeError("no free port range for Ray workers")


@dataclass
class RayCluster:
    temp_dir: Path
    gcs_port: int
    dashboard_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def _node_ports(self, workers: int = 24) -> list[str]:
        base = _free_range(workers)
        return [
            "--object-store-memory=200000000",  # Ray's default takes 30% of RAM; the tests move tiny objects
            f"--node-manager-port={_free_port()}",
            f"--object-manager-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            f"--min-worker-port={base}",
            f"--max-worker-port={base + workers - 1}",
        ]

    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.temp_dir / f"{name}.out", "ab")  # noqa: SIM115 - lives as long as the process
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
        log.close()
        self.processes.append(process)

    def start_head(self, num_cpus: int = 2, timeout: float = 90) -> None:
        self._spawn(
            [
                "ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                f"--port={self.gcs_port}", f"--dashboard-port={self.dashboard_port}",
                "--dashboard-host=127.0.0.1", "--include-dashboard=true",
                f"--ray-client-server-port={_free_port()}", f"--num-cpus={num_cpus}", "--num-gpus=0",
                f"--temp-dir={self.temp_dir}", "--disable-usage-stats", *self._node_ports(),
            ],
            "head",
        )  # fmt: skip
        self._wait_ready(timeout, nodes=1)

    def add_worker(self, num_cpus: int = 1, timeout: float = 60) -> None:
        self._spawn(
            [
                "ray", "start", "--block", f"--address={self.gcs_address}", "--node-ip-address=127.0.0.1",
                f"--num-cpus={num_cpus}", "--num-gpus=0", *self._node_ports(),
            ],
            f"worker{len(self.processes)}",
        )  # fmt: skip
        self._wait_ready(timeout, nodes=len(self.processes))

    def _wait_ready(self, timeout: float, nodes: int) -> None:
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"ray exited with {process.returncode}:\n{self._output_tail()}")
            try:
                with urllib.request.urlopen(f"{self.address}/api/v0/nodes?limit=100", timeout=2) as reply:
                    body = json.loads(reply.read())
                alive = [n for n in body["data"]["result"]["result"] if n.get("state") == "ALIVE"]
                with urllib.request.urlopen(f"{self.address}/api/version", timeout=2):
                    pass
                if len(alive) >= nodes:
                    return
            except Exception:
                pass
            time.sleep(0.5)
        tail = self._output_tail()
        self.stop()
        raise RuntimeError(f"Ray did not come up within {timeout} s:\n{tail}")

    def _output_tail(self, lines: int = 15) -> str:
        """The last lines `ray start` printed, for the error (the temp dir is removed with the cluster)."""
        text = []
        for path in sorted(self.temp_dir.glob("*.out")):
            content = path.read_text(errors="replace").splitlines()[-lines:]
            text.append(f"--- {path.name}\n" + "\n".join(content))
        return "\n".join(text)

    def stop(self) -> None:
        """SIGTERM to every `ray start --block` process group we started at once; SIGKILL what is left after 10 s."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=10)
        self._kill_session_leftovers()
        self.processes.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _kill_session_leftovers(self) -> None:
        """Ray daemons started in their own sessions: find them by our private temp dir in their command line."""
        import psutil

        marker = str(self.temp_dir)
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(marker in part for part in proc.info["cmdline"] or []):
                    proc.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue


def start_cluster(num_cpus: int = 2, worker_cpus: int = 0, attempts: int = 3) -> RayCluster:
    """A fresh cluster; a second attempt with new ports covers a port taken between our check and Ray's bind."""
    for attempt in range(attempts):
        temp_dir = Path(tempfile.mkdtemp(prefix="rjray-", dir="/tmp"))
        cluster = RayCluster(temp_dir, _free_port(), _free_port())
        try:
            cluster.start_head(num_cpus)
            if worker_cpus:
                cluster.add_worker(worker_cpus)
            return cluster
        except RuntimeError:
            cluster.stop()
            if attempt == attempts - 1:
                raise
        except BaseException:
            cluster.stop()
            raise
    raise AssertionError("unreachable")
