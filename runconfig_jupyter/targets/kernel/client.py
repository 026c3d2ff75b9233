"""A small client for a remote Jupyter Server or Jupyter Kernel Gateway.

Only what the kernel target needs: check the token, list kernel specs, start /
interrupt / shut down kernels, upload through the contents API (when the server
has one), and execute code over the kernel websocket while collecting what it
prints. Both servers speak the same kernel REST and websocket protocol; the
gateway lacks ``/api/contents`` and answers 401 (the server 403) to a bad token.

The token goes only into the ``Authorization`` header. It is never part of a
URL, an error message or anything this module logs, so it cannot leak into run
records through an exception text.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from runconfig_jupyter.core.errors import TargetAuthError, TargetUnavailable

PROTOCOL_VERSION = "5.3"
# A websocket message to the server must stay well under its 10 MiB cap (base64 grows data by 4/3).
MAX_CODE_MESSAGE_BYTES = 7 * 1024 * 1024
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class KernelGone(TargetUnavailable):
    """The kernel id is unknown to the server (shut down, culled, or the server restarted)."""


class ChannelLost(TargetUnavailable):
    """The websocket closed or stopped answering; the kernel (and the remote run) may be fine."""


class KernelDied(TargetUnavailable):
    """The kernel process died or restarted while executing our code."""


@dataclass
class ExecResult:
    """What one ``execute_request`` produced."""

    stdout: str = ""
    stderr: str = ""
    status: str = "ok"
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    user_expressions: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def normalize_url(url: str) -> str:
    """``http(s)://host:port[/base]`` without a trailing slash, query or fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class KernelClient:
    """REST access to one server; thread-safe (a ``requests.Session`` per call site is not needed)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        verify_tls: bool = True,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        token_hint: str = "the token",
    ):
        self.url = normalize_url(url)
        self._token = token or None
        self.verify_tls = verify_tls
        self.timeout = (connect_timeout, read_timeout)
        self.token_hint = token_hint
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "runconfig-jupyter"
        if self._token:
            self._session.headers["Authorization"] = f"token {self._token}"
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"KernelClient({self.url!r})"

    # -- plumbing ------------------------------------------------------------
    def _request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self._session.request(method, f"{self.url}{path}", verify=self.verify_tls, **kwargs)
        except requests.exceptions.SSLError as error:
            raise TargetUnavailable(
                f"TLS verification failed for {self.url}: {type(error).__name__}. Use the server's real certificate, "
                "or set verify_tls: false on the target for a self-signed one you trust"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            raise TargetUnavailable(
                f"cannot reach the Jupyter server at {self.url} ({_short(error)}). Check that the server is running, "
                "that the URL, port and base path are right, and that any SSH tunnel or firewall lets you through"
            ) from None
        if response.status_code in (401, 403):
            raise TargetAuthError(
                f"the server at {self.url} refused our token (HTTP {response.status_code} on {method} {path}). "
                f"Check that {self.token_hint} holds this server's current token (jupyter server list shows it)"
            )
        if response.status_code == 404 and path.startswith("/api/kernels/"):
            raise KernelGone(f"kernel {path.split('/')[3]} no longer exists on {self.url}")
        if response.status_code not in expect:
            raise TargetUnavailable(
                f"{method} {self.url}{path} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        return response

    # -- server --------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """Reachability and token in one call; returns the kernel specs.

        Kernel specs need authentication on both servers, while a gateway refuses to
        list kernels (403) unless started with ``--KernelGatewayApp.list_kernels``.
        """
        return self.kernelspecs()

    def kernelspecs(self) -> dict[str, Any]:
        return self._request("GET", "/api/kernelspecs").json()

    def has_contents(self) -> bool:
        """A Jupyter Server has ``/api/contents``; a Kernel Gateway answers 404 (or 405)."""
        try:
            self._request("GET", "/api/contents", params={"content": "0"})
        except TargetAuthError:
            raise
        except TargetUnavailable:
            return False
        return True

    # -- kernels -------------------------------------------------------------
    def start_kernel(self, name: str, path: str | None = None, env: dict[str, str] | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if path is not None:
            body["path"] = path
        if env:
            body["env"] = env
        return self._request("POST", "/api/kernels", json=body, expect=(200, 201)).json()["id"]

    def kernel(self, kernel_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/kernels/{kernel_id}").json()

    def shutdown(self, kernel_id: str) -> bool:
        """True when a kernel was shut down, False when it was already gone."""
        try:
            self._request("DELETE", f"/api/kernels/{kernel_id}", expect=(200, 204))
        except KernelGone:
            return False
        return True

    # -- contents API (Jupyter Server only) ------------------------------------
    def contents_mkdirs(self, path: str) -> None:
        """Create every folder of ``path`` (relative to the server root); existing ones are fine."""
        current = ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}" if current else part
            api = f"/api/contents/{quote(current)}"
            response = self._request("GET", api, params={"content": "0"}, expect=(200, 404))
            if response.status_code == 404:
                self._request("PUT", api, json={"type": "directory"}, expect=(200, 201))

    def contents_upload(
        self,
        path: str,
        data: bytes,
        chunk_size: int = 4 * 1024 * 1024,
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """PUT a file as base64; big files go in the contents API's numbered chunks (1, 2, ..., -1 last).

        Returns False when ``stop`` was set between two chunks (the partial file is left for cleanup).
        """
        api = f"/api/contents/{quote(path)}"
        name = path.rsplit("/", 1)[-1]
        total = len(data)
        if total <= chunk_size:
            body = {"type": "file", "format": "base64", "name": name, "content": base64.b64encode(data).decode()}
            self._request("PUT", api, json=body, expect=(200, 201))
            if progress:
                progress(total, total)
            return True
        offset, number = 0, 1
        while offset < total:
            if stop is not None and stop.is_set():
                return False
            piece = data[offset : offset + chunk_size]
            offset += len(piece)
            body = {
                "type": "file",
                "format": "base64",
                "name": name,
                "chunk": -1 if offset >= total else number,
                "content": base64.b64encode(piece).decode(),
            }
            self._request("PUT", api, json=body, expect=(200, 201))
            number += 1
            if progress:
                progress(offset, total)
        return True

    def contents_delete(self, path: str) -> None:
        self._request("DELETE", f"/api/contents/{quote(path)}", expect=(204, 404))

    # -- websocket -------------------------------------------------------------
    def websocket_url(self, kernel_id: str, session_id: str) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/api/kernels/{kernel_id}/channels"
        return urlunsplit((scheme, parts.netloc, path, f"session_id={session_id}", ""))

    def connect(self, kernel_id: str) -> KernelChannel:
        return KernelChannel(self, kernel_id)

    def auth_headers(self) -> list[str]:
        return [f"Authorization: token {self._token}"] if self._token else []


class KernelChannel:
    """One websocket to one kernel; ``execute`` is serialized per channel (one thread at a time)."""

    def __init__(self, client: KernelClient, kernel_id: str, open_timeout: float = 15.0):
        import websocket

        self.client = client
        self.kernel_id = kernel_id
        self.session_id = uuid.uuid4().hex
        self._lock = threading.Lock()
        sslopt = None if client.verify_tls else {"cert_reqs": 0, "check_hostname": False}
        try:
            self._ws = websocket.create_connection(
                client.websocket_url(kernel_id, self.session_id),
                header=client.auth_headers(),
                timeout=open_timeout,
                sslopt=sslopt,
                enable_multithread=True,
            )
        except websocket.WebSocketBadStatusException as error:
            code = getattr(error, "status_code", None)
            if code in (401, 403):
                raise TargetAuthError(
                    f"the server at {client.url} refused our token on the kernel websocket (HTTP {code}); "
                    f"check {client.token_hint}"
                ) from None
            if code == 404:
                raise KernelGone(f"kernel {kernel_id} no longer exists on {client.url}") from None
            raise ChannelLost(f"kernel websocket to {client.url} refused: HTTP {code}") from None
        except (OSError, websocket.WebSocketException) as error:
            raise ChannelLost(f"cannot open the kernel websocket at {client.url}: {_short(error)}") from None

    def _quick_ack(self) -> None:
        """Acknowledge at once (Linux): servers do not set TCP_NODELAY on kernel websockets, so without
        this every reply waits for our delayed ACK (~40 ms per call on loopback instead of ~10)."""
        if _QUICKACK is None or self._ws.sock is None:
            return
        try:
            self._ws.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self._ws.close(timeout=1)
        except Exception:  # closing a dead socket is fine
            pass

    def _message(
        self, msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "session": self.session_id,
                "username": "runconfig",
                "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                "version": PROTOCOL_VERSION,
            },
            "parent_header": {},
            "metadata": metadata or {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }

    def execute(
        self,
        code: str,
        timeout: float | None = 120.0,
        metadata: dict[str, Any] | None = None,
        user_expressions: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run ``code`` and wait for the kernel to go idle; stdout/stderr/error/user_expressions are collected.

        Bulk data belongs in ``metadata``, not in ``code``: IPython tokenizes and echoes the
        code (execute_input on iopub), which makes megabyte literals slow; the metadata reaches
        the kernel untouched (``kernel.get_parent()``).
        """
        return self.execute_many([(code, metadata)], user_expressions, timeout, window=1)[0]

    def execute_many(
        self,
        requests: Iterable[tuple[str, dict[str, Any] | None]],
        user_expressions: dict[str, str] | None = None,
        timeout: float | None = 120.0,
        window: int = 2,
        stop_on_error: bool = True,
    ) -> list[ExecResult]:
        """Run several requests with up to ``window`` in flight, so sending one overlaps running the previous.

        Results come back in order. After an error no further request is sent (when ``stop_on_error``).
        ``timeout`` applies to each request from the moment it was sent.
        """
        import websocket

        pending = iter(requests)
        results: list[ExecResult] = []
        flight: dict[str, tuple[int, float, list[bool]]] = {}  # msg_id -> (index, sent at, [idle, replied])
        exhausted = failed = False
        with self._lock:
            try:
                while True:
                    while not exhausted and not failed and len(flight) < window:
                        item = next(pending, None)
                        if item is None:
                            exhausted = True
                            break
                        msg_id = self._send_execute(item[0], item[1], user_expressions)
                        flight[msg_id] = (len(results), time.monotonic(), [False, False])
                        results.append(ExecResult())
                    if not flight:
                        return results
                    oldest = min(sent for _, sent, _ in flight.values())
                    if timeout is not None and time.monotonic() - oldest > timeout:
                        raise ChannelLost(f"no answer from kernel {self.kernel_id} within {timeout:g} s")
                    reply = self._receive()
                    if reply is None:
                        continue
                    msg_type = reply.get("msg_type") or reply.get("header", {}).get("msg_type")
                    content = reply.get("content", {})
                    if msg_type == "status" and content.get("execution_state") in ("dead", "restarting"):
                        raise KernelDied(f"kernel {self.kernel_id} {content['execution_state']}")
                    parent = reply.get("parent_header", {}).get("msg_id")
                    if parent not in flight:
                        continue
                    index, _sent, marks = flight[parent]
                    _apply(results[index], msg_type, content, marks)
                    if all(marks):
                        del flight[parent]
                        failed = failed or (stop_on_error and not results[index].ok)
            except (OSError, websocket.WebSocketException) as error:
                raise ChannelLost(f"the kernel websocket to {self.client.url} broke: {_short(error)}") from None

    def _send_execute(self, code: str, metadata: dict[str, Any] | None, user_expressions: dict[str, str] | None) -> str:
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": user_expressions or {},
            "allow_stdin": False,
        }
        message = self._message("execute_request", content, metadata)
        payload = json.dumps(message)
        if len(payload) > MAX_CODE_MESSAGE_BYTES:
            raise ValueError(f"execute_request of {len(payload)} bytes exceeds the safe websocket size")
        self._ws.send(payload)
        return message["header"]["msg_id"]

    def _receive(self) -> dict[str, Any] | None:
        """One message, or None after a second of silence (so callers can check their deadlines)."""
        import websocket

        self._ws.settimeout(1.0)
        self._quick_ack()
        try:
            raw = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        if not raw:
            raise ChannelLost(f"the kernel websocket to {self.client.url} closed")
        return json.loads(raw)


def _apply(result: ExecResult, msg_type: str | None, content: dict[str, Any], marks: list[bool]) -> None:
    """Fold one message belonging to a request into its result; ``marks`` = [idle seen, reply seen]."""
    if msg_type == "stream":
        if content.get("name") == "stdout":
            result.stdout += content.get("text", "")
        else:
            result.stderr += content.get("text", "")
    elif msg_type == "error":
        result.status = "error"
        result.ename, result.evalue = content.get("ename"), content.get("evalue")
        result.traceback = content.get("traceback", [])
    elif msg_type == "execute_reply":
        marks[1] = True
        result.user_expressions = content.get("user_expressions") or {}
        if content.get("status") != "ok":
            result.status = content.get("status", "error")
            result.ename = result.ename or content.get("ename")
            result.evalue = result.evalue or content.get("evalue")
    elif msg_type == "status" and content.get("execution_state") == "idle":
        marks[0] = True


def _short(error: BaseException) -> str:
    """The innermost, most telling part of a requests/urllib3 error, without URLs that could carry secrets."""
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker
    return type(error).__name__
