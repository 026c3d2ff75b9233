"""Real storage servers for the data tests, started on 127.0.0.1: Azurite (Azure Blob) and moto (S3).

Both are the real thing as far as a client can tell: the Azure SDK (through adlfs) and botocore (through
s3fs) speak their wire protocols to them. Each is started once per session, logs its access log to a file
(``object_reads`` counts GETs of objects on the server side, so a cache hit can be shown to transfer
nothing), and is ended by its PID. Readiness waits are bounded.

Fixtures (``azurite``, ``moto_s3``) are re-exported by tests/conftest.py, so any test folder can use them.
Azurite is installed once into ~/.cache/runconfig-jupyter/azurite by scripts/ensure_azurite.sh (the test
command runs it too); the well-known development account key below is public (Azurite's documentation).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
READY_SECONDS = 60
ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+) (?P<size>\S+)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = READY_SECONDS) -> None:
    """Until the port accepts a connection; a server that exits or never listens fails with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} after {seconds} s: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM by PID, SIGKILL after 10 s: only the process this module started."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


@dataclass
class Server:
    """A running storage server: its endpoint, its access log and the process to end."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path
    endpoint: str
    extra: dict[str, str] = field(default_factory=dict)

    def requests(self) -> list[dict[str, str]]:
        """Every request in the access log so far (method, path, status, size)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [m.groupdict() for m in ACCESS.finditer(text)]

    def settled_requests(self, quiet: float = 0.3, seconds: float = 5.0) -> list[dict[str, str]]:
        """The requests once the log has stopped growing for ``quiet`` s: a server logs a request after answering."""
        deadline = time.monotonic() + seconds
        seen = self.requests()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.requests()
            if len(now) == len(seen):
                return now
            seen = now
        return seen

    def object_reads(self, prefix: str = "") -> int:
        """GETs of an object's bytes (not listings, not HEADs) whose path starts with ``prefix``."""
        return sum(
            1
            for r in self.settled_requests()
            if r["method"] == "GET" and "?" not in r["path"] and r["path"].startswith(prefix) and r["status"][0] == "2"
        )

    def alive(self) -> bool:
        return self.process.poll() is None


def ensure_azurite() -> Path:
    """The azurite-blob binary (installed into the cache folder once, by the same script the test command runs)."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_azurite.sh")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"Azurite cannot be installed: {result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


def start_azurite(folder: Path) -> Server:
    binary = ensure_azurite()
    port = free_port()
    log = folder / "azurite.log"
    args = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder / "data")]
    args += ["--skipApiVersionCheck", "--disableTelemetry"]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process, log)
    except RuntimeError:
        stop(process)
        raise
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
    )
    return Server("azurite", port, process, log, endpoint, {"connection_string": connection})


def start_moto(folder: Path) -> Server:
    port = free_port()
    log = folder / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log)
    except RuntimeError:
        stop(process)
        raise
    return Server("moto", port, process, log, f"http://127.0.0.1:{port}")


# -- clients for test setup (the code under test opens its own) -----------------------------------------------
def azure_fs(server: Server):
    from adlfs import AzureBlobFileSystem

    return AzureBlobFileSystem(connection_string=server.extra["connection_string"], skip_instance_cache=True)


S3_KEY, S3_SECRET = "AKIDTESTDATASTORES", "s3-secret-value-never-stored-0f3c"


def s3_fs(server: Server):
    from s3fs import S3FileSystem

    return S3FileSystem(
        key=S3_KEY, secret=S3_SECRET, client_kwargs={"endpoint_url": server.endpoint}, skip_instance_cache=True
    )


def new_container(server: Server) -> str:
    """A fresh container or bucket (created the way each server accepts it) for one test."""
    name = f"t{uuid.uuid4().hex[:12]}"
    if server.name == "azurite":
        azure_fs(server).mkdir(name)
    else:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)  # s3fs's mkdir sends a location constraint moto refuses for us-east-1
    return name


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    stop(server.process)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    stop(server.process)
