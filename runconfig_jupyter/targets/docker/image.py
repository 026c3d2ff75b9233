"""Images for Docker runs, one per environment, built once.

The tag is a hash of everything that changes the image: the environment's
``content_hash()`` (packages, interpreter, base image name or Dockerfile) and
the *id* of the base image it starts from, so an unchanged environment never
rebuilds and a base image that was rebuilt under the same name does. When we do
build, the prepare log says why (new environment, or which base changed).

Without packages to install and without a Dockerfile the base image is used as
it is: a build that adds nothing would only cost time.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import shlex
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, PreparationFailed
from runconfig_jupyter.core.system.digest import sha256_hex
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.conda_prefix import cached_prefix, conda_request

DEFAULT_BASE_IMAGE = "runconfig-jupyter/python:bookworm"
ENV_REPOSITORY = "runconfig-jupyter/env"
LABEL = "runconfig-jupyter"  # every image and container we make carries it
LABEL_ENV_HASH = "runconfig-jupyter.env_hash"
LABEL_BASE_ID = "runconfig-jupyter.base_id"
LABEL_RUN_ID = "runconfig-jupyter.run_id"
LABEL_HOME = "runconfig-jupyter.home"  # which run home built it: garbage collection judges only its own (garbage.py)
VENV = "/opt/runconfig-venv"
CONDA_IN_IMAGE = "/opt/conda-env"  # conda packages, installed on this machine for this path (conda_prefix.py)
CONDA_CONTEXT_DIR = "conda-env"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CA_IN_IMAGE = "/usr/local/share/runconfig-jupyter/ca-bundle.pem"
CA_ENV = "RUNCONFIG_CA_BUNDLE"
CA_FALLBACK_ENVS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
LOG_TAIL_LINES = 30
MAX_CA_BUNDLE = 16 << 20
BUILD_HINT = "build it (docker build -t {image} .) or load it (docker load -i image.tar), then submit again"


def home_label(home: Path) -> str:
    """The value of ``LABEL_HOME`` for a run home: a hash of its real path (the path itself stays private)."""
    return sha256_hex(str(Path(home).resolve()).encode())[:16]


def ca_bundle_path(setting: str | None = None) -> Path | None:
    """The CA bundle for pip/requests inside builds and runs (TLS-intercepting proxies).

    Target setting ``ca_bundle`` > $RUNCONFIG_CA_BUNDLE > the host's $PIP_CERT / $REQUESTS_CA_BUNDLE /
    $SSL_CERT_FILE. An explicit path that does not exist is a config error; "none" turns it off.
    """
    explicit = setting or os.environ.get(CA_ENV)
    if explicit:
        if explicit.lower() == "none":
            return None
        path = Path(explicit).expanduser()
        field = "targets.docker.ca_bundle" if setting else CA_ENV
        if not path.is_file():
            raise ConfigError(
                f"CA bundle '{explicit}' does not exist; point it at a PEM file or set it to 'none'", field=field
            )
        _check_certificates(path, field)
        return path
    for name in CA_FALLBACK_ENVS:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def _check_certificates(path: Path, field: str) -> None:
    """The bundle is copied into every image and container: only public certificates may travel that way.

    A setting pointing at ``/etc/shadow`` or ``~/.ssh/id_rsa`` would otherwise ship that file to the run.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(MAX_CA_BUNDLE + 1)
    except OSError as error:
        raise ConfigError(f"CA bundle '{path}' cannot be read ({error.strerror})", field=field) from None
    if len(head) > MAX_CA_BUNDLE or b"-----BEGIN CERTIFICATE-----" not in head or b"PRIVATE KEY" in head:
        raise ConfigError(
            f"'{path}' is not a PEM certificate bundle (certificates only, no private key, under "
            f"{MAX_CA_BUNDLE >> 20} MB); point it at the proxy's CA certificates or set it to 'none'",
            field=field,
        )


@dataclass
class ImagePlan:
    """What the run's image is and whether it must be built."""

    tag: str
    env_hash: str
    base: str | None  # base image name (None when a Dockerfile provides it)
    dockerfile: str | None  # None: use the base image as it is
    pip_packages: list[str]
    pip_options: list[str]
    conda_packages: list[str]

    @property
    def needs_build(self) -> bool:
        return self.dockerfile is not None


def plan_image(environment: Any, default_base: str, base_id: str | None) -> ImagePlan:
    python = environment.python
    docker = environment.docker
    conda = python.conda_dependencies
    pip_packages = conda.installed_pip_packages() if conda is not None and not python.user_managed_dependencies else []
    pip_options = list(conda.pip_options) if conda is not None and not python.user_managed_dependencies else []
    conda_packages = []
    if conda is not None and not python.user_managed_dependencies:
        conda_packages = [p for p in conda.conda_packages if p.split("=")[0].strip() not in ("python", "pip")]
    base = None if docker.base_dockerfile else (docker.base_image or default_base)
    env_hash = environment.content_hash()
    if not docker.base_dockerfile and not pip_packages and not conda_packages:
        return ImagePlan(base or default_base, env_hash, base, None, [], [], [])
    key = sha256_hex(f"{env_hash}\n{base or ''}\n{base_id or ''}".encode())[:24]
    lines = [docker.base_dockerfile.rstrip("\n")] if docker.base_dockerfile else [f"FROM {base}"]
    # Labelled before our steps, so even the build's intermediate containers say whose they are.
    lines.append(f"LABEL {LABEL}=1 {LABEL_ENV_HASH}={env_hash}")
    path = SYSTEM_PATH
    if conda_packages:
        # Solved and installed on this machine with py-rattler (channels it reaches), copied in here.
        path = f"{CONDA_IN_IMAGE}/bin:{path}"
        lines += [
            f"COPY {CONDA_CONTEXT_DIR}/ {CONDA_IN_IMAGE}/",
            f"ENV CONDA_PREFIX={CONDA_IN_IMAGE} PATH={path}",
        ]
    if pip_packages:
        quoted = " ".join(shlex.quote(p) for p in [*_split_options(pip_options), *pip_packages])
        lines += [
            f"COPY ca-bundle.pem {CA_IN_IMAGE}",
            f"RUN python3 -m venv --system-site-packages {VENV} && PIP_CERT={CA_IN_IMAGE} "
            f"{VENV}/bin/pip install --disable-pip-version-check --no-cache-dir --no-input {quoted}",
            f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:{path}",
        ]
    return ImagePlan(
        f"{ENV_REPOSITORY}:{key}", env_hash, base, "\n".join(lines) + "\n", pip_packages, pip_options, conda_packages
    )


def _split_options(options: list[str]) -> list[str]:
    return [part for option in options for part in shlex.split(option)]


def write_build_context(context: Any, dockerfile: str, ca_bundle: Path | None, conda_prefix: Path | None) -> None:
    """The build context (Dockerfile, CA bundle and, for conda packages, the staged prefix) into ``context``.

    The caller passes a spooled temporary file, so a large conda prefix goes to disk instead of memory.
    """
    import tarfile  # here: a submit imports this module to check the CA bundle, and builds nothing

    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, content in (
            ("Dockerfile", dockerfile.encode()),
            ("ca-bundle.pem", ca_bundle.read_bytes() if ca_bundle else b""),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
        if conda_prefix is not None:
            archive.add(conda_prefix, CONDA_CONTEXT_DIR)
    context.seek(0)


def base_image_id(client: Any, base: str | None) -> str | None:
    """The local id of the base image; a missing base is a preparation failure that says how to get one."""
    if base is None:
        return None
    import docker

    try:
        return client.images.get(base).id
    except docker.errors.ImageNotFound:
        pass
    try:
        return client.images.pull(base).id
    except Exception as error:
        raise PreparationFailed(
            f"base image '{base}' is not on this machine and could not be pulled ({_short(error)}); "
            + BUILD_HINT.format(image=base)
            + (" (the default image comes from scripts/ensure_docker.sh)" if base == DEFAULT_BASE_IMAGE else "")
        ) from error


def ensure_image(client: Any, ctx: TargetRunContext, default_base: str, ca_bundle: Path | None) -> str:
    """The image to run, built when needed; returns its tag (or the base image's name)."""
    environment = ctx.config.effective_environment()
    docker_section = environment.docker
    base = None if docker_section.base_dockerfile else (docker_section.base_image or default_base)
    base_id = base_image_id(client, base)
    plan = plan_image(environment, default_base, base_id)
    if not plan.needs_build:
        ctx.prepare_log(f"using image {plan.tag} as it is (no packages to install)")
        return plan.tag
    lock_dir = ctx.run_dir.parent.parent / "envs"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"docker-{plan.tag.rsplit(':', 1)[1]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs of one new environment: one builds, the other reuses
        existing = _find_image(client, plan.tag)
        if existing is not None:
            ctx.prepare_log(
                f"image {plan.tag} is cached (environment {plan.env_hash[:12]} and its base unchanged); not rebuilding"
            )
            ctx.record(image=plan.tag, image_id=existing.id, image_cached=True)
            return plan.tag
        ctx.prepare_log(f"building image {plan.tag}: {rebuild_reason(client, plan, base_id)}")
        request = conda_request(environment)
        staged = None
        if request is not None:
            ctx.progress("Installing conda packages", None, request.describe())
            staged = cached_prefix(request, lock_dir, plan.env_hash, ctx.prepare_log, alternative_prefix=CONDA_IN_IMAGE)
        try:
            _build(client, ctx, plan, ca_bundle, base_id, staged)
        finally:
            if staged is not None:  # the image is the cache from now on
                shutil.rmtree(staged, ignore_errors=True)
    return plan.tag


def rebuild_reason(client: Any, plan: ImagePlan, base_id: str | None) -> str:
    previous = [
        image
        for image in client.images.list(filters={"label": [f"{LABEL_ENV_HASH}={plan.env_hash}"]})
        if image.tags and image.labels.get(LABEL_BASE_ID) not in (None, base_id or "")
    ]
    if not previous:
        what = " ".join(plan.pip_packages + plan.conda_packages) or "custom Dockerfile"
        return f"new environment {plan.env_hash[:12]} ({what})"
    old = previous[0].labels.get(LABEL_BASE_ID, "?")
    return f"the base image {plan.base or '(Dockerfile)'} changed (was {old[:19]}, now {(base_id or '?')[:19]})"


def _find_image(client: Any, tag: str) -> Any:
    import docker

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _build(
    client: Any, ctx: TargetRunContext, plan: ImagePlan, ca_bundle: Path | None, base_id: str | None, conda: Path | None
) -> None:
    assert plan.dockerfile is not None
    ctx.progress("Building image", None, plan.tag)
    for line in plan.dockerfile.splitlines():
        ctx.prepare_log(f"  | {line}")
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    labels = {
        LABEL: "1",
        LABEL_ENV_HASH: plan.env_hash,
        LABEL_BASE_ID: base_id or "",
        LABEL_RUN_ID: ctx.run_id,
        LABEL_HOME: home_label(ctx.run_dir.parent.parent),
    }
    error_text = None
    import tempfile  # a build only (see write_build_context)

    context = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - closed in finally
    try:
        write_build_context(context, plan.dockerfile, ca_bundle, conda)
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=plan.tag,
            labels=labels,
            rm=True,
            forcerm=True,  # a failed step must not leave its container behind
            pull=False,
            decode=True,
        )
        steps = _StepStopper(client, ctx.cancel_event)
        try:
            for chunk in stream:
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in text.splitlines():
                    if line.strip():
                        ctx.prepare_log(line)
                        tail.append(line)
                steps.note(text)
                if "error" in chunk:
                    error_text = str(chunk.get("error")).strip()
                    ctx.prepare_log(error_text)
                    tail.append(error_text)
                if ctx.cancel_event.is_set():
                    stream.close()  # dropping the connection makes the engine abandon the build (forcerm cleans up)
                    break
        finally:
            steps.done()
        if ctx.cancel_event.is_set():  # seen between two lines, or the stream ended with the stopped step
            # Returning normally lets the driver record Canceled rather than a build failure.
            ctx.prepare_log("canceled while building the image")
            return
    except Exception as error:
        error_text = _short(error)
    finally:
        context.close()
    if error_text:
        raise PreparationFailed(
            f"building image {plan.tag} failed: {error_text}\n--- last lines of the build log "
            f"(complete: logs/prepare_log.txt) ---\n" + "\n".join(tail)
        )
    image = client.images.get(plan.tag)
    ctx.record(image=plan.tag, image_id=image.id, image_cached=False)
    ctx.prepare_log(f"built image {plan.tag} ({image.id[:19]})")


class _StepStopper:
    """Stops the build's running step when the run is canceled.

    The build loop notices a cancel only when the engine sends a line, and a step that prints nothing
    (``RUN sleep``, a long compile, a silent download) sends none until it ends: a cancel would wait for it,
    minutes perhaps. So a thread waits for the cancel and kills the step's container, which the classic
    builder names in a message of its own (" ---> Running in <id>"); the step fails, the engine ends the
    stream, and the loop returns.

    A step's output could print such a line too (the Dockerfile is a notebook's input): only a whole message
    with a full container id counts (nobody inside a build can learn another container's id; a short prefix
    would match any), and a named container is killed only if the engine says it is a running build step
    (``/bin/sh -c``) created since this build started.
    """

    STEP = re.compile(r" ---> Running in ([0-9a-f]{12,64})\n?")

    def __init__(self, client: Any, cancel: threading.Event):
        self.client, self.cancel = client, cancel
        self.started = time.time()
        self.containers: deque[str] = deque(maxlen=64)  # the steps named last (the newest is running)
        self.finished = threading.Event()
        threading.Thread(target=self._watch, name="build-cancel", daemon=True).start()

    def note(self, message: str) -> None:
        found = self.STEP.fullmatch(message)
        if found and found.group(1) not in self.containers:
            self.containers.append(found.group(1))

    def done(self) -> None:
        self.finished.set()

    def _watch(self) -> None:
        while not self.finished.is_set():
            if self.cancel.wait(0.2):
                break
        if self.finished.is_set():
            return
        for container in reversed(self.containers):
            try:
                info = self.client.api.inspect_container(container)
                created = created_seconds(info.get("Created"))
                step = (info.get("Config") or {}).get("Cmd", [])[:2] == ["/bin/sh", "-c"]
                if step and created >= self.started - 1 and (info.get("State") or {}).get("Running"):
                    self.client.api.kill(info["Id"])
            except Exception:  # gone already, or the engine refuses: the build ends at the step's end then
                continue


_CREATED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def created_seconds(text: Any) -> float:
    """Docker's ``Created`` (RFC 3339 with nanoseconds) as epoch seconds; 0 when unreadable."""
    match = _CREATED.match(str(text or ""))
    if not match:
        return 0.0
    fraction = (match.group(2) or "")[:7]
    zone = match.group(3) or "Z"
    stamp = f"{match.group(1)}{fraction}{'+00:00' if zone == 'Z' else zone}"
    return datetime.fromisoformat(stamp).timestamp()


def _short(error: BaseException | str, limit: int = 300) -> str:
    """One line of ``error``: for a Docker API error, the daemon's own explanation (``Get "https://...": dial tcp
    ...``) without the HTTP status and request URL docker-py puts before it."""
    explanation = getattr(error, "explanation", None)
    text = " ".join(str(explanation if isinstance(explanation, str) and explanation else error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
