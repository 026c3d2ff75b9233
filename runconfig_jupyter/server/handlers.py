"""REST and websocket handlers under ``<base_url>/runconfig/api/``.

Each handler authenticates like every Jupyter API (token or cookie; POSTs also
need the xsrf token), authorizes against the ``runconfig`` resource, runs the
blocking core call in a thread, and turns typed errors into their HTTP status
(``RunConfigError.http_status``) with a JSON body naming the field, so a client
never sees a bare 500 for bad input. The shapes are documented in openapi.yaml.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.escape import url_escape
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from runconfig_jupyter.core.errors import ConfigError, RunConfigError
from runconfig_jupyter.core.safety.bounded import load_json
from runconfig_jupyter.core.system.paths import RUN_ID_PATTERN, check_run_id
from runconfig_jupyter.server.files import INLINE_TYPES
from runconfig_jupyter.server.service import RunService, version_info
from runconfig_jupyter.server.watcher import RunWatcher

AUTH_RESOURCE = "runconfig"
# The issue names /runconfig/; the first sidebar builds used /runconfig-jupyter/. Both are served.
API_PREFIX = "runconfig/api"
RUN_ID = rf"(?P<run_id>{RUN_ID_PATTERN})"  # the one run-id rule (core/paths.py)

FILE_CHUNK = 1 << 20
FILE_SECONDS = 600.0  # a download slower than this is cut off rather than holding the file open forever

T = TypeVar("T")


def error_body(error: BaseException) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    field = getattr(error, "field", None)
    if field:
        body["field"] = field
    return body


def typed_errors(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Answer a RunConfigError with its own status and a JSON body; anything else is a JSON 500 with the type."""

    @wraps(method)
    async def wrapper(self: BaseRunHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except RunConfigError as error:
            self.set_status(error.http_status)
            self.finish(json.dumps(error_body(error)))
        except web.HTTPError:
            raise
        except Exception as error:
            self.log.exception("runconfig-jupyter: unexpected error in %s", self.request.path)
            self.set_status(500)
            self.finish(json.dumps({"error": type(error).__name__, "message": f"unexpected server error: {error}"}))

    return wrapper


class BaseRunHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> RunService:
        return self.settings["runconfig_service"]

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Core calls touch SQLite and the disk: keep them off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))

    def body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        data = load_json(self.request.body)
        if not isinstance(data, dict):
            raise ConfigError("the request body must be a JSON object", field="body")
        return data

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))


class VersionHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self) -> None:
        self.reply(version_info())


class RunsHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self) -> None:
        arg = self.get_query_argument
        result = await self.call(
            self.service.list_runs,
            experiment=arg("experiment", None),
            status=arg("status", None),
            limit=arg("limit", None),
            offset=arg("offset", None),
            updated_since=arg("updated_since", None),
        )
        self.reply(result)

    @web.authenticated
    @authorized("execute")
    @typed_errors
    async def post(self) -> None:
        run = await self.call(self.service.submit, self.body())
        self.reply(run, status=201)


class RunHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(self.service.run_detail, run_id))


class LogHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str) -> None:
        arg = self.get_query_argument
        result = await self.call(
            self.service.read_log, run_id, arg("name", None), arg("offset", None), arg("max_bytes", None)
        )
        self.reply(result)


class MetricsHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(self.service.metrics, run_id))


class CancelHandler(BaseRunHandler):
    @web.authenticated
    @authorized("write")
    @typed_errors
    async def post(self, run_id: str) -> None:
        self.reply(await self.call(self.service.cancel, run_id), status=202)


class RerunHandler(BaseRunHandler):
    @web.authenticated
    @authorized("execute")
    @typed_errors
    async def post(self, run_id: str) -> None:
        experiment = self.body().get("experiment")
        self.reply(await self.call(self.service.rerun, run_id, experiment), status=201)


class OutputsHandler(BaseRunHandler):
    """Kept for clients built against API 1: answers the read-only listing and copies nothing (see FilesHandler)."""

    @web.authenticated
    @authorized("read")
    @typed_errors
    async def post(self, run_id: str) -> None:
        self.reply(await self.call(self.service.list_files, run_id))


class FilesHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(self.service.list_files, run_id))


class FileHandler(BaseRunHandler):
    """One file of a run, streamed read-only from the run folder (confinement in files.py).

    The answer is sandboxed (CSP ``sandbox``, ``nosniff``) and only images and plain data are inline;
    everything else is an attachment, so a file a run wrote can never run script in the Jupyter origin.
    """

    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str, path: str) -> None:
        download = self.get_query_argument("download", "0").lower() in ("1", "true", "yes")
        opened = await self.call(self.service.open_file, run_id, path)
        try:
            inline = not download and opened.content_type in INLINE_TYPES
            disposition = "inline" if inline else "attachment"
            self.set_header("Content-Type", opened.content_type)
            self.set_header("Content-Disposition", f"{disposition}; filename*=UTF-8''{url_escape(opened.name, False)}")
            self.set_header("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Content-Length", str(opened.size))
            self.set_header("Cache-Control", "no-store")
            await self._stream(opened.fd, opened.size)
        finally:
            os.close(opened.fd)
        self.finish(set_content_type=opened.content_type)

    async def _stream(self, fd: int, size: int) -> None:
        """Send exactly ``size`` bytes (the size when opened: a file still growing does not stream forever)."""
        deadline = time.monotonic() + FILE_SECONDS
        left = size
        while left > 0:
            chunk = await self.call(os.read, fd, min(FILE_CHUNK, left))
            if not chunk:
                break  # truncated while streaming; the client sees a short body
            left -= len(chunk)
            self.write(chunk)
            await self.flush()
            if time.monotonic() > deadline:
                raise web.HTTPError(504, "file transfer took too long")


class ChartsHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self, run_id: str) -> None:
        arg = self.get_query_argument
        self.reply(
            await self.call(self.service.charts, run_id, arg("compare", None), arg("log", None), arg("metrics", None))
        )


class TargetsHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    @typed_errors
    async def get(self) -> None:
        check = self.get_query_argument("check", "true").lower() not in ("0", "false", "no")
        self.reply({"targets": await self.call(self.service.targets, check)})


class GarbageHandler(BaseRunHandler):
    @web.authenticated
    @authorized("write")
    @typed_errors
    async def post(self) -> None:
        self.reply(await self.call(self.service.collect_garbage, self.body()))


class OpenAPIHandler(BaseRunHandler):
    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        from pathlib import Path

        text = (Path(__file__).parent / "openapi.yaml").read_text(encoding="utf-8")
        self.finish(text, set_content_type="application/yaml")


class EventsSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Live run updates and log follow.

    Client -> server: ``{"action": "subscribe_runs"}``, ``{"action": "follow", "run_id": ..., "offsets": {...}}``,
    ``{"action": "unfollow", "run_id": ...}``. Server -> client: ``hello``, ``runs``, ``log``, ``log_end``, ``error``.
    """

    auth_resource = AUTH_RESOURCE

    @property
    def watcher(self) -> RunWatcher:
        return self.settings["runconfig_watcher"]

    def set_default_headers(self) -> None:
        """JupyterHandler's headers do not apply to a websocket upgrade."""

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        user = self.current_user
        if not await ensure_async(self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)):
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.watcher.add(self)
        self.send({"type": "hello", **version_info()})

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.write_message(json.dumps(message, default=str))
        except WebSocketClosedError:
            self.watcher.remove(self)

    def on_message(self, message: str | bytes) -> None:
        """Every bad message gets a typed ``error`` reply; the socket stays open for the next one."""
        try:
            data = load_json(message, what="message", field="message")
            action = data.get("action") if isinstance(data, dict) else None
            if action == "subscribe_runs":
                self.watcher.subscribe_runs(self)
            elif action == "follow":
                self.watcher.follow(self, _run_id(data), data.get("offsets"))
            elif action == "unfollow":
                self.watcher.unfollow(self, _run_id(data))
            else:
                raise ConfigError(f"unknown action {action!r}; use subscribe_runs, follow or unfollow", field="action")
        except RunConfigError as error:
            self.send({"type": "error", "status": error.http_status, **error_body(error)})
        except Exception as error:  # never close the socket over one message
            self.log.exception("runconfig-jupyter: unexpected error handling a websocket message")
            self.send({"type": "error", "status": 500, "error": type(error).__name__, "message": str(error)})

    def on_close(self) -> None:
        self.watcher.remove(self)
        super().on_close()


def _run_id(data: dict[str, Any]) -> str:
    return check_run_id(data.get("run_id"))


def handlers(base_url: str) -> list[tuple[str, type, dict[str, Any]]]:
    routes = [
        ("version", VersionHandler),
        ("runs", RunsHandler),
        (f"runs/{RUN_ID}", RunHandler),
        (f"runs/{RUN_ID}/log", LogHandler),
        (f"runs/{RUN_ID}/metrics", MetricsHandler),
        (f"runs/{RUN_ID}/cancel", CancelHandler),
        (f"runs/{RUN_ID}/rerun", RerunHandler),
        (f"runs/{RUN_ID}/outputs", OutputsHandler),
        (f"runs/{RUN_ID}/files", FilesHandler),
        (f"runs/{RUN_ID}/files/(?P<path>.+)", FileHandler),
        (f"runs/{RUN_ID}/charts", ChartsHandler),
        ("targets", TargetsHandler),
        ("gc", GarbageHandler),
        ("openapi.yaml", OpenAPIHandler),
        ("events", EventsSocket),
    ]
    return [(url_path_join(base_url, API_PREFIX, pattern), handler, {}) for pattern, handler in routes]
