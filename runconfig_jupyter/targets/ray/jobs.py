"""A small client of the Ray Jobs REST API (the dashboard's ``/api/jobs`` and ``/api/packages``).

Ray's ``JobSubmissionClient`` imports Ray itself: 1.2 s of imports on a quiet
machine and 2-4 s on a loaded one, all of it on a run's critical path because the
driver is a fresh process. The HTTP API it wraps is small and stable (Ray 2.x):

* ``GET/PUT /api/packages/gcs/<name>``: does a package exist / upload its zip;
* ``POST /api/jobs/``: submit (entrypoint, submission_id, runtime_env, ...);
* ``GET /api/jobs/<id>``, ``GET /api/jobs/<id>/logs``, ``POST /api/jobs/<id>/stop``;
* ``/api/jobs/<id>/logs/tail``: a websocket of log chunks.

Local ``working_dir`` and ``py_modules`` folders are zipped the way Ray's SDK
zips them (a working dir without its folder name, a module with it) and named by
a hash of their content, so an unchanged folder is found on the cluster and not
uploaded again. Everything here is the standard library, plus ``websocket-client``
for the log tail when it is installed (otherwise the log is polled).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "gcs://_ray_pkg_"
LOG_POLL_SECONDS = 1.0


class RayJobsError(Exception):
    """The Jobs API answered ``status`` (0: not reachable) with ``body``."""

    def __init__(self, status: int, body: str, url: str):
        super().__init__(f"{status or 'no answer'} from {url}: {body.strip()[:500]}")
        self.status = status
        self.body = body


@dataclass
class JobInfo:
    """What ``wait`` reads of a job (the fields of Ray's ``JobDetails`` that we use)."""

    status: str
    message: str | None = None
    driver_exit_code: int | None = None


class RayJobsClient:
    """The calls the ray target makes, over HTTP; same names as Ray's ``JobSubmissionClient``."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout

    # -- HTTP ----------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise RayJobsError(0, str(getattr(error, "reason", error)), self.url + path) from error

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self._request(method, path, body, "application/json" if body is not None else "")
        if status != 200:
            raise RayJobsError(status, data.decode(errors="replace"), self.url + path)
        return json.loads(data or b"null")

    # -- packages --------------------------------------------------------------
    def upload_folder(self, folder: Path, include_parent: bool, excludes: Callable[[str], bool]) -> str:
        """``gcs://_ray_pkg_<hash>.zip`` of ``folder``, uploaded unless the cluster already has it."""
        files = package_files(folder, excludes)
        uri = package_uri(files, include_parent)
        path = "/api/packages/gcs/" + uri[len("gcs://") :]
        status, data = self._request("GET", path)
        if status == 200:
            return uri
        if status != 404:
            raise RayJobsError(status, data.decode(errors="replace"), self.url + path)
        status, data = self._request("PUT", path, zip_package(folder, files, include_parent), "application/zip")
        if status != 200:
            raise RayJobsError(status, data.decode(errors="replace"), self.url + path)
        return uri

    # -- jobs --------------------------------------------------------------------
    def submit_job(self, *, entrypoint: str, submission_id: str, runtime_env: dict[str, Any], **fields: Any) -> str:
        """Upload the runtime env's local folders, then submit; the submission id."""
        env = upload_local_folders(self, runtime_env)
        payload = {"entrypoint": entrypoint, "submission_id": submission_id, "runtime_env": env, **fields}
        reply = self._json("POST", "/api/jobs/", {k: v for k, v in payload.items() if v is not None})
        return str(reply.get("submission_id") or submission_id)

    def get_job_info(self, job_id: str) -> JobInfo:
        data = self._json("GET", f"/api/jobs/{job_id}")
        return JobInfo(str(data.get("status")), data.get("message"), data.get("driver_exit_code"))

    def get_job_status(self, job_id: str) -> str:
        return self.get_job_info(job_id).status

    def get_job_logs(self, job_id: str) -> str:
        return str(self._json("GET", f"/api/jobs/{job_id}/logs").get("logs") or "")

    def stop_job(self, job_id: str) -> bool:
        return bool(self._json("POST", f"/api/jobs/{job_id}/stop").get("stopped"))

    def tail_job_logs(self, job_id: str, stop: Callable[[], bool]) -> Iterator[str]:
        """Chunks of the job's log as they come (websocket); polls the whole log where websocket-client is missing.

        The polled form yields the log from the start each time; callers place chunks by position anyway.
        """
        try:
            import websocket  # websocket-client
        except ImportError:
            while not stop():
                yield self.get_job_logs(job_id)
                time.sleep(LOG_POLL_SECONDS)
            return
        address = "ws" + self.url[len("http") :] if self.url.startswith("http") else self.url
        headers = [f"{key}: {value}" for key, value in self.headers.items()]
        connection = websocket.create_connection(
            f"{address}/api/jobs/{job_id}/logs/tail", header=headers, timeout=self.timeout
        )
        try:
            connection.settimeout(1.0)
            while not stop():
                try:
                    chunk = connection.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except websocket.WebSocketConnectionClosedException:
                    return
                if not chunk:
                    return
                yield chunk if isinstance(chunk, str) else chunk.decode(errors="replace")
        finally:
            connection.close()


def upload_local_folders(client: RayJobsClient, runtime_env: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``runtime_env`` with a local ``working_dir`` and local ``py_modules`` folders replaced by URIs.

    ``excludes`` (gitignore patterns, as in Ray) apply to both, as Ray's SDK applies them.
    """
    env = dict(runtime_env)
    excludes = exclude_matcher(list(env.get("excludes") or []))
    working_dir = env.get("working_dir")
    if working_dir and Path(str(working_dir)).is_dir():
        env["working_dir"] = client.upload_folder(Path(str(working_dir)), False, excludes)
    modules = []
    for module in env.get("py_modules") or []:
        is_folder = isinstance(module, (str, os.PathLike)) and Path(module).is_dir()
        modules.append(client.upload_folder(Path(module), True, excludes) if is_folder else module)
    if modules:
        env["py_modules"] = modules
    return env


def package_uri(files: list[tuple[str, Path]], include_parent: bool) -> str:
    """A name that changes with any file's path, mode or content (the cluster keeps packages by name)."""
    digest = hashlib.sha256(b"parent\0" if include_parent else b"contents\0")
    for relative, path in files:
        digest.update(relative.encode(errors="surrogateescape") + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        if relative.endswith("/"):
            continue
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"{PACKAGE_PREFIX}{digest.hexdigest()[:32]}.zip"


def zip_package(folder: Path, files: list[tuple[str, Path]], include_parent: bool) -> bytes:
    """The zip Ray unpacks: a working dir's files at the top, a module under its folder's name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1, strict_timestamps=False) as archive:
        for relative, source in files:
            archive.write(source, f"{folder.name}/{relative}" if include_parent else relative)
    return buffer.getvalue()


def exclude_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Whether a relative path is excluded by ``excludes`` (gitignore syntax, read as Ray's SDK reads it)."""
    if not patterns:
        return lambda _relative: False
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    return spec.match_file


def package_files(folder: Path, excluded: Callable[[str], bool]) -> list[tuple[str, Path]]:
    """Files of ``folder`` (relative POSIX path, path), sorted, without excluded files and folders."""
    found: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        prefix = base.relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirs[:] = sorted(d for d in dirs if not excluded(prefix + d + "/"))
        files = [(prefix + name, base / name) for name in names if not excluded(prefix + name)]
        if prefix and not files and not dirs:  # an empty folder travels too (a script may expect it)
            files = [(prefix, base)]
        found.extend(files)
    return sorted(found)
