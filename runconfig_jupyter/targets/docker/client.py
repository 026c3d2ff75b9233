"""Connecting to the Docker engine, with errors that say how to fix the connection.

The docker SDK's own messages ("Error while fetching server API version:
('Connection aborted.', FileNotFoundError(2, ...))") do not tell a notebook user
what to do. Every way the engine can be out of reach (SDK missing, daemon not
installed, not running, socket not ours) becomes a ``TargetUnavailable`` naming
the address tried and the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import TargetUnavailable

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
START_HINT = "start it with 'sudo systemctl start docker' or 'bash scripts/ensure_docker.sh' (root)"


MAX_REPLY_BYTES = 4 * 1024 * 1024  # docker info is a few KiB


def engine_address(base_url: str | None = None) -> str:
    return base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


# Engine API versions seen by this process, by address. A warm standby driver looks the version up while
# it waits, so the run it takes skips that round trip on its critical path.
_API_VERSIONS: dict[str, str] = {}


def connect(base_url: str | None = None, timeout: float = 60.0, reuse_version: bool = False) -> docker.DockerClient:
    """A client that has answered (its API version look-up); raises ``TargetUnavailable`` otherwise.

    With ``reuse_version`` a version this process already saw for the address is used without asking
    again: the client then meets an engine that went away at its first call, not here.
    """
    try:
        import docker
    except ImportError as error:
        raise TargetUnavailable(
            "the docker Python package is not installed; install it with "
            "\"pip install 'runconfig-jupyter[docker]'\" (or 'pip install docker')"
        ) from error
    address = engine_address(base_url)
    try:
        version = _API_VERSIONS.get(address) if reuse_version else None
        client = (
            docker.DockerClient(base_url=address, timeout=timeout, version=version)
            if base_url
            else docker.from_env(timeout=timeout, version=version)
        )
        _API_VERSIONS[address] = client.api.api_version
        # No ping: the client was created with version "auto", so it has just fetched the engine's API
        # version, a round trip that fails the same way a ping would.
    except PermissionError as error:
        raise _permission_denied(address) from error
    except docker.errors.DockerException as error:
        raise _unreachable(address, error) from error
    except Exception as error:  # requests/urllib3 errors leak through the SDK for some transports
        raise _unreachable(address, error) from error
    return client


def check_reachable(base_url: str | None = None, timeout: float = 10.0) -> None:
    """Raise ``TargetUnavailable`` unless the engine answers; the submitting process's check.

    For the local socket this is one ``GET /_ping`` with the standard library: importing the docker
    SDK costs ~0.1 s, which a submit would pay only to learn that the engine is up (the run's
    driver imports it anyway). Other addresses (tcp, ssh, TLS) go through the SDK.
    """
    _require_sdk(base_url, timeout)
    address = engine_address(base_url)
    if not address.startswith("unix://"):
        connect(base_url, timeout).close()
        return
    reply = _local_get(address, "/_ping", timeout)
    status = reply.split(b" ", 2)[1:2]
    if status != [b"200"]:
        raise _unreachable(address, Exception(f"/_ping answered {reply[:40]!r}"))


def _require_sdk(base_url: str | None, timeout: float) -> None:
    """The run's driver needs the docker SDK: a submit without it fails now, with the install command."""
    if importlib.util.find_spec("docker") is None:
        connect(base_url, timeout)  # raises the "not installed" error


def reachable_info(base_url: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """``check_reachable``'s checks answered by ``docker info``: one round trip where both are needed.

    The local engine is asked with the standard library; other addresses through the SDK.
    """
    _require_sdk(base_url, timeout)
    info = local_engine_info(base_url, timeout)
    if info is not None:
        return info
    client = connect(base_url, timeout)
    try:
        return engine_info(client)
    finally:
        client.close()


def local_engine_info(base_url: str | None = None, timeout: float = 3.0) -> dict[str, Any] | None:
    """``docker info`` of a local engine with the standard library (None for tcp/ssh/TLS addresses).

    A submit records the target's capabilities (GPU runtime or not) from this, without the docker SDK.
    """
    address = engine_address(base_url)
    if not address.startswith("unix://"):
        return None
    reply = _local_get(address, "/info", timeout)
    head, _, body = reply.partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        raise _unreachable(address, Exception(f"/info answered {head[:40]!r}"))
    try:
        return json.loads(body)
    except ValueError as error:
        raise _unreachable(address, error) from error


def _local_get(address: str, path: str, timeout: float) -> bytes:
    """One HTTP/1.0 GET over the engine's unix socket; the whole reply (the engine closes the connection)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    chunks = []
    try:
        sock.connect(address[len("unix://") :])
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_REPLY_BYTES:
                break
    except PermissionError as error:
        raise _permission_denied(address) from error
    except OSError as error:
        raise _unreachable(address, error) from error
    finally:
        sock.close()
    return b"".join(chunks)


def _permission_denied(address: str) -> TargetUnavailable:
    return TargetUnavailable(
        f"permission denied on the Docker engine at {address}; add your user to the 'docker' group "
        "(sudo usermod -aG docker $USER, then log in again) or run Jupyter as a user that may use Docker"
    )


def _unreachable(address: str, error: Exception) -> TargetUnavailable:
    text = str(error)
    if "Permission denied" in text or "PermissionError" in text:
        return _permission_denied(address)
    if address.startswith("unix://") and shutil.which("dockerd") is None and shutil.which("docker") is None:
        return TargetUnavailable(
            f"Docker is not installed on this machine (nothing answers at {address}); install it "
            "with 'sudo apt-get install -y docker.io' and start it, or use compute_target 'local'"
        )
    return TargetUnavailable(f"Docker engine not reachable at {address} ({_short(text)}); {START_HINT}")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def engine_info(client: Any) -> dict[str, Any]:
    """``docker info`` as a dict; an engine that stops answering is unavailable, not a crash."""
    try:
        return client.info()
    except Exception as error:
        raise TargetUnavailable(f"the Docker engine stopped answering ({_short(str(error))}); {START_HINT}") from error
