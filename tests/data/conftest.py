"""Fixtures of the data tests: a real S3-compatible server (moto's server mode on 127.0.0.1), a
local folder registered as a datastore, and a writable one for outputs.

The S3 credentials are the dummy values moto accepts; they live only in environment variables, as a user's
would, and the datastores name those variables (key_env / secret_env).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

KEY_ENV, SECRET_ENV = "RCJ_TEST_S3_KEY", "RCJ_TEST_S3_SECRET"
CREDENTIALS = {KEY_ENV: "testing-key", SECRET_ENV: "testing-secret"}


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS[KEY_ENV],
            aws_secret_access_key=CREDENTIALS[SECRET_ENV],
            region_name="us-east-1",
        )

    def filesystem(self):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(
            key=CREDENTIALS[KEY_ENV],
            secret=CREDENTIALS[SECRET_ENV],
            client_kwargs={"endpoint_url": self.endpoint},
            skip_instance_cache=True,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``python -m moto.server`` on a free port; ended by its PID."""
    pytest.importorskip("moto.server")
    port = _free_port()
    with open(tmp_path_factory.mktemp("moto") / "moto.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto did not start on {endpoint}") from None
            time.sleep(0.1)
    yield S3Server(endpoint, process)
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return dict(CREDENTIALS)


@pytest.fixture
def s3_store(s3_server: S3Server, s3_credentials: dict[str, str], request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh bucket with ``train/a.csv`` and ``train/sub/b.csv``, registered (writable) as datastore 's3data'."""
    from runconfig_jupyter import Datastore, Workspace

    bucket = f"rcj-{abs(hash(request.node.nodeid)) % 10**8}-{int(time.time() * 1000) % 10**6}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="train/a.csv", Body=b"x,y\n1,2\n")
    client.put_object(Bucket=bucket, Key="train/sub/b.csv", Body=b"x,y\n3,4\n")
    store = Datastore.register_s3(
        Workspace(),
        "s3data",
        bucket,
        endpoint_url=s3_server.endpoint,
        key_env=KEY_ENV,
        secret_env=SECRET_ENV,
        writable=True,
    )
    return store, bucket


@pytest.fixture
def local_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A registered (read-only) folder with ``train/a.csv``; a file NEXT to it that no run may see."""
    from runconfig_jupyter import Datastore, Workspace

    root = tmp_path / "datasets" / "registered"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "datasets" / "secret.txt").write_text("not registered\n")
    return Datastore.register_local(Workspace(), "localdata", str(root))


@pytest.fixture
def out_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A writable registered folder outputs are uploaded to."""
    from runconfig_jupyter import Datastore, Workspace

    root = tmp_path / "results"
    root.mkdir()
    return Datastore.register_local(Workspace(), "results", str(root), writable=True)
