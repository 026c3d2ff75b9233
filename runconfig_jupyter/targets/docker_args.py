"""Docker CLI-style run arguments -> docker SDK ``containers.create`` keyword arguments.

Azure ML v1 took ``docker run`` arguments as a list of strings
(``DockerConfiguration.arguments``, ``environment.docker.arguments``). We accept
the resource and runtime options a training run needs and refuse, by name,
anything that would reach outside the container (privileged mode, host mounts,
host devices, capabilities), because a run's config may come from a shared
notebook. Unknown options are refused too, with the closest known spelling.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, closest
from runconfig_jupyter.core.input_checks import parse_size

from .docker_gpu import GpuRequest, environment_gpu_request, parse_gpus

DEFAULT_SHM_SIZE = "2g"

# option -> (SDK keyword, value kind)
VALUE_OPTIONS: dict[str, tuple[str, str]] = {
    "--memory": ("mem_limit", "size"),
    "--memory-swap": ("memswap_limit", "size"),
    "--memory-reservation": ("mem_reservation", "size"),
    "--shm-size": ("shm_size", "size"),
    "--cpus": ("nano_cpus", "cpus"),
    "--cpu-shares": ("cpu_shares", "int"),
    "--cpuset-cpus": ("cpuset_cpus", "str"),
    "--pids-limit": ("pids_limit", "int"),
    "--ipc": ("ipc_mode", "ipc"),
    "--env": ("environment", "env"),
    "--gpus": ("device_requests", "gpus"),
    "--ulimit": ("ulimits", "ulimit"),
    "--user": ("user", "str"),
    "--hostname": ("hostname", "str"),
    "--label": ("labels", "label"),
    "--tmpfs": ("tmpfs", "tmpfs"),
    "--network": ("network", "network"),
    "--net": ("network", "network"),
}
SHORT_OPTIONS = {"-m": "--memory", "-e": "--env", "-u": "--user", "-h": "--hostname", "-l": "--label"}
FLAG_OPTIONS: dict[str, tuple[str, Any]] = {"--init": ("init", True)}
IGNORED_FLAGS = {"--rm", "-i", "-t", "-it", "--interactive", "--tty", "-d", "--detach"}
UNSAFE: dict[str, str] = {
    "--privileged": "gives the container full access to the host",
    "--volume": "mounts a host folder; the run gets a copy of the source directory instead",
    "-v": "mounts a host folder; the run gets a copy of the source directory instead",
    "--mount": "mounts a host folder; the run gets a copy of the source directory instead",
    "--volumes-from": "shares another container's volumes",
    "--device": "exposes a host device (for GPUs use --gpus)",
    "--cap-add": "adds kernel capabilities",
    "--security-opt": "weakens the container's isolation",
    "--pid": "shares a process namespace",
    "--userns": "changes user-namespace isolation",
    "--uts": "shares the host's UTS namespace",
    "--cgroupns": "changes cgroup isolation",
    "--cgroup-parent": "moves the container's cgroup",
    "--name": "the target names containers itself",
    "--entrypoint": "the target starts the script itself",
    "--workdir": "the source directory's copy is the working directory",
    "-w": "the source directory's copy is the working directory",
    "--read-only": "the source directory copy must be writable",
    "--runtime": "choose GPUs with --gpus; other runtimes are not supported",
}
IPC_MODES = ("host", "private", "shareable", "none")
ULIMIT_NAMES = ("nofile", "nproc", "memlock", "stack", "core", "fsize", "cpu", "as", "locks", "sigpending", "msgqueue")


@dataclass
class RunOptions:
    """Everything the docker arguments decided, ready for ``containers.create``."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    gpu: GpuRequest | None = None
    memory_limit: str | None = None  # as the user wrote it, for the out-of-memory message

    def create_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.kwargs)
        if self.gpu is not None:
            kwargs["device_requests"] = [self.gpu.device_request()]
        return kwargs


def _tokens(arguments: Iterable[Any], field_name: str) -> list[str]:
    if isinstance(arguments, str):
        raise ConfigError("must be a list of strings such as ['--memory', '4g']", field=field_name)
    tokens: list[str] = []
    for item in arguments or []:
        tokens.extend(shlex.split(str(item)) if " " in str(item) else [str(item)])
    return tokens


def _size(option: str, value: str, field_name: str) -> str:
    try:
        parse_size(value, field_name)  # one rule for sizes everywhere (core/input_checks.py)
    except ConfigError as error:
        raise ConfigError(f"{option} {value!r} is not a size: {error.message}", field=field_name) from None
    return value.strip().lower()


def _convert(option: str, kind: str, value: str, field_name: str) -> Any:
    if kind == "size":
        return _size(option, value, field_name)
    if kind == "cpus":
        try:
            cpus = float(value)
        except ValueError:
            cpus = -1.0
        if cpus <= 0:
            raise ConfigError(f"{option} {value!r} must be a positive number such as 1.5", field=field_name)
        return int(cpus * 1e9)
    if kind == "int":
        try:
            return int(value)
        except ValueError as error:
            raise ConfigError(f"{option} {value!r} must be a whole number", field=field_name) from error
    if kind == "ipc":
        if value not in IPC_MODES and not value.startswith("container:"):
            raise ConfigError(f"{option} {value!r}: use one of {', '.join(IPC_MODES)}", field=field_name)
        return value
    if kind == "network":
        if value == "host":
            raise ConfigError(
                f"{option} host is not allowed: it shares the host's network stack; use the default bridge "
                "or a named Docker network",
                field=field_name,
            )
        return value
    return value


def parse_docker_arguments(
    arguments: Iterable[Any], field_name: str = "run_config.docker.arguments", options: RunOptions | None = None
) -> RunOptions:
    """Parse one argument list into ``options`` (later lists override earlier ones)."""
    options = options or RunOptions()
    tokens = _tokens(arguments, field_name)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name, has_inline, inline = token.partition("=") if token.startswith("--") else (token, False, "")
        if not token.startswith("--") and token in SHORT_OPTIONS:
            name = SHORT_OPTIONS[token]
        elif not token.startswith("--") and token[:2] in SHORT_OPTIONS and len(token) > 2:
            name, has_inline, inline = SHORT_OPTIONS[token[:2]], True, token[2:]
        if name in UNSAFE or token in UNSAFE:
            which = name if name in UNSAFE else token
            raise ConfigError(f"docker argument '{which}' is not allowed: it {UNSAFE[which]}", field=field_name)
        if name in IGNORED_FLAGS:
            continue
        if name in FLAG_OPTIONS:
            key, value = FLAG_OPTIONS[name]
            options.kwargs[key] = value
            continue
        if name not in VALUE_OPTIONS:
            known = [*VALUE_OPTIONS, *FLAG_OPTIONS]
            suggestion = closest(name, known)
            hint = f" Did you mean '{suggestion}'?" if suggestion else ""
            raise ConfigError(
                f"unknown or unsupported docker argument '{token}'.{hint} Supported: {', '.join(sorted(known))}",
                field=field_name,
            )
        if has_inline:
            value = inline
        else:
            if index >= len(tokens):
                raise ConfigError(f"docker argument '{name}' needs a value", field=field_name)
            value = tokens[index]
            index += 1
        key, kind = VALUE_OPTIONS[name]
        if kind == "env":
            var, sep, val = value.partition("=")
            if not sep or not var:
                raise ConfigError(f"{name} {value!r} must look like NAME=value", field=field_name)
            options.environment[var] = val
        elif kind == "label":
            label, _, val = value.partition("=")
            options.labels[label] = val
        elif kind == "gpus":
            options.gpu = parse_gpus(value, field_name)
        elif kind == "ulimit":
            options.kwargs.setdefault("ulimits", []).append(_ulimit(value, field_name))
        elif kind == "tmpfs":
            path, _, mount_options = value.partition(":")
            if not path.startswith("/"):
                raise ConfigError(f"--tmpfs {value!r} needs an absolute path in the container", field=field_name)
            options.kwargs.setdefault("tmpfs", {})[path] = mount_options
        else:
            options.kwargs[key] = _convert(name, kind, value, field_name)
            if key == "mem_limit":
                options.memory_limit = value
    return options


def _ulimit(value: str, field_name: str) -> Any:
    from docker.types import Ulimit

    name, _, limits = value.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        soft_value = int(soft)
        hard_value = int(hard) if hard else soft_value
    except ValueError:
        soft_value = hard_value = -2
    if name not in ULIMIT_NAMES or soft_value < -1 or hard_value < -1:
        raise ConfigError(f"--ulimit {value!r} must look like nofile=1024:2048", field=field_name)
    return Ulimit(name=name, soft=soft_value, hard=hard_value)


def run_options(config: Any, target_arguments: Iterable[Any] = ()) -> RunOptions:
    """All docker settings of a run, in increasing precedence.

    target settings < environment.docker (shm_size, arguments, gpu_support) < run_config.docker
    (shm_size, arguments); shm_size defaults to 2g as in Azure ML.
    """
    environment = config.effective_environment()
    run_docker = config.run_config.docker
    options = RunOptions()
    parse_docker_arguments(target_arguments, "targets.docker.arguments", options)
    env_docker = environment.docker
    shm = getattr(run_docker, "shm_size", None) or getattr(env_docker, "shm_size", None) or DEFAULT_SHM_SIZE
    options.kwargs["shm_size"] = _size("shm_size", str(shm), "run_config.docker.shm_size")
    options.gpu = environment_gpu_request(environment)
    parse_docker_arguments(getattr(env_docker, "arguments", None) or [], "environment.docker.arguments", options)
    parse_docker_arguments(getattr(run_docker, "arguments", None) or [], "run_config.docker.arguments", options)
    return options
