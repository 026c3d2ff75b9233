"""Following a container's output into the run's log.

Docker hands out log chunks that split lines anywhere. Only whole lines are
passed on (a metric marker cut in half would otherwise be lost), and the
number of raw bytes passed on so far is kept in the run folder: a driver that
restarts (re-attach) reads the container's log again from the start and skips
what the run's log already holds, so nothing is shown twice or lost.

A new run's output is read through an attach opened *before* the container
starts (what ``docker run`` does): the first line arrives as soon as the
script writes it, with no log-file round trip and nothing missed in between.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.target.interface import TargetRunContext

OFFSET_FILE = ".docker_log_offset"


def offset_path(ctx: TargetRunContext) -> Path:
    return ctx.run_dir / OFFSET_FILE


def read_offset(ctx: TargetRunContext) -> int:
    try:
        return int(offset_path(ctx).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


class AttachedOutput:
    """Raw output chunks from an attach, until the container exits; ``close()`` if it is never read."""

    def __init__(self, response: Any, sock: Any):
        self._response = response
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        from docker.utils.socket import frames_iter

        try:
            for _stream, data in frames_iter(self._sock, False):
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()


def attach_output(client: Any, container_id: str) -> AttachedOutput:
    """stdout+stderr of a created (not yet started) container.

    The SDK's ``attach`` first asks the engine whether the container has a TTY (one more round trip);
    ours are created without one, so the multiplexed frames are read directly. The client's read
    timeout is lifted from the stream as the SDK's own log stream does, so a script may stay silent
    for as long as it likes. When this returns, the engine has attached: no output can be missed.
    """
    api = client.api
    response = api._post(
        api._url("/containers/{0}/attach", container_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        params={"logs": 0, "stdout": 1, "stderr": 1, "stream": 1},
        stream=True,
    )
    try:
        sock = api._get_raw_response_socket(response)  # raises APIError on a refusal
        api._disable_socket_timeout(sock)
    except BaseException:
        response.close()
        raise
    return AttachedOutput(response, sock)


class LogFollower:
    """Streams one container's stdout+stderr into ``ctx.write_log`` on a background thread.

    ``stream``: output already attached to (``attach_output``); without it the container's log
    is followed from its start, which is what re-attach needs (with ``skip_bytes``).
    """

    def __init__(
        self, ctx: TargetRunContext, container: Any, skip_bytes: int = 0, stream: Iterable[bytes] | None = None
    ):
        self.ctx = ctx
        self.container = container
        self.stream = stream
        self.skip = skip_bytes
        self.delivered = skip_bytes
        self.first_line = threading.Event()
        self.error: BaseException | None = None
        self._pending = b""
        self._thread = threading.Thread(target=self._follow, name="docker-logs", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        self._finish()

    def _follow(self) -> None:
        try:
            chunks = self.stream
            if chunks is None:
                chunks = self.container.logs(stdout=True, stderr=True, stream=True, follow=True)
            for chunk in chunks:
                self.feed(chunk)
        except Exception as error:  # the container vanished mid-stream; the caller decides what that means
            self.error = error

    def feed(self, chunk: bytes) -> None:
        if self.skip:
            dropped = min(self.skip, len(chunk))
            self.skip -= dropped
            chunk = chunk[dropped:]
            if not chunk:
                return
        buffered = self._pending + chunk
        cut = buffered.rfind(b"\n") + 1
        self._pending = buffered[cut:]
        if cut:
            self.ctx.write_log(buffered[:cut])
            self.delivered += cut
            self.first_line.set()
            self._save_offset()

    def _finish(self) -> None:
        if self._pending and not self._thread.is_alive():
            self.ctx.write_log(self._pending + b"\n")
            self.delivered += len(self._pending)
            self._pending = b""
            self._save_offset()

    def _save_offset(self) -> None:
        path = offset_path(self.ctx)
        temp = path.with_suffix(".tmp")
        try:
            temp.write_text(str(self.delivered))
            os.replace(temp, path)
        except OSError:
            pass
