"""Docker CLI-style run arguments -> docker SDK ``containers.create`` keyword arguments.

Azure ML v1 took ``docker run`` arguments as a list of strings
(``DockerConfiguration.arguments``, ``environment.docker.arguments``). A run's config may come from a
shared notebook or a REST body, so these are an ALLOW list: only options that cannot reach outside the
container (resource limits, the container's own environment, user, hostname, labels, tmpfs, GPUs) are
accepted, and their values are checked too (``--ipc`` and ``--network`` only take values that keep the
container's own namespaces). Everything else is refused with a ``ConfigError`` naming the option; a
known-dangerous one also says why. Every spelling goes through the same table: ``--ipc=host``,
``--ipc host``, ``"--ipc host"`` in one string, camelCase or snake_case (``--shmSize``, ``shm_size``)
and the mapping form ``{ipc: host}`` a YAML author may write. We build SDK keywords ourselves, so no
text of the user's ever reaches the engine as an option.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runconfig_jupyter.core.config.input_checks import parse_size
from runconfig_jupyter.core.errors import ConfigError, closest
from runconfig_jupyter.targets.docker.gpu import GpuRequest, environment_gpu_request, parse_gpus

DEFAULT_SHM_SIZE = "2g"
OUR_LABELS = "runconfig-jupyter"

# The allow list: option -> (SDK keyword, value kind). Nothing here can leave the container.
VALUE_OPTIONS: dict[str, tuple[str, str]] = {
    "--memory": ("mem_limit", "size"),
    "--memory-swap": ("memswap_limit", "size"),
    "--memory-reservation": ("mem_reservation", "size"),
    "--shm-size": ("shm_size", "size"),
    "--cpus": ("nano_cpus", "cpus"),
    "--cpu-shares": ("cpu_shares", "int"),
    "--cpuset-cpus": ("cpuset_cpus", "cpuset"),
    "--pids-limit": ("pids_limit", "int"),
    "--ipc": ("ipc_mode", "ipc"),
    "--env": ("environment", "env"),
    "--gpus": ("device_requests", "gpus"),
    "--ulimit": ("ulimits", "ulimit"),
    "--user": ("user", "user"),
    "--hostname": ("hostname", "hostname"),
    "--label": ("labels", "label"),
    "--tmpfs": ("tmpfs", "tmpfs"),
    "--network": ("network", "network"),
    "--net": ("network", "network"),
}
SHORT_OPTIONS = {"-m": "--memory", "-e": "--env", "-u": "--user", "-h": "--hostname", "-l": "--label"}
FLAG_OPTIONS: dict[str, tuple[str, Any]] = {"--init": ("init", True)}
IGNORED_FLAGS = {"--rm", "-i", "-t", "-it", "-ti", "--interactive", "--tty", "-d", "--detach"}
# Values that keep the container in its own namespace; 'host' and 'container:<other>' never pass.
IPC_MODES = ("private", "shareable", "none")
NETWORK_MODES = ("bridge", "default", "none")
# Why some options are refused (for the message only: refusal is decided by the allow list above).
REFUSED_BECAUSE: dict[str, str] = {
    "--privileged": "gives the container full access to the host",
    "--volume": "mounts a host folder; the run gets a copy of the source directory instead",
    "-v": "mounts a host folder; the run gets a copy of the source directory instead",
    "--mount": "mounts a host folder; the run gets a copy of the source directory instead",
    "--volumes-from": "shares another container's volumes",
    "--device": "exposes a host device (for GPUs use --gpus)",
    "--device-cgroup-rule": "exposes host devices",
    "--cap-add": "adds kernel capabilities",
    "--security-opt": "weakens the container's isolation",
    "--pid": "shares a process namespace",
    "--userns": "changes user-namespace isolation",
    "--uts": "shares the host's UTS namespace",
    "--cgroupns": "changes cgroup isolation",
    "--cgroup-parent": "moves the container's cgroup",
    "--env-file": "reads a file of the host",
    "--label-file": "reads a file of the host",
    "--link": "joins another container",
    "--add-host": "rewrites name resolution",
    "--name": "the target names containers itself",
    "--entrypoint": "the target starts the script itself",
    "--workdir": "the source directory's copy is the working directory",
    "-w": "the source directory's copy is the working directory",
    "--read-only": "the source directory copy must be writable",
    "--runtime": "choose GPUs with --gpus; other runtimes are not supported",
    "--sysctl": "changes kernel parameters",
    "--oom-kill-disable": "lets the container exhaust the host's memory",
}
ULIMIT_NAMES = ("nofile", "nproc", "memlock", "stack", "core", "fsize", "cpu", "as", "locks", "sigpending", "msgqueue")
USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}(:[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})?$")
HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?$")
CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
TMPFS = re.compile(r"^/[A-Za-z0-9_./\-]*(:[A-Za-z0-9_=,.\-]*)?$")


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


def option_name(text: str) -> str:
    """One spelling per option: ``--shmSize``, ``shm_size``, ``--SHM-SIZE`` -> ``--shm-size``; ``-m`` stays."""
    bare = text.lstrip("-")
    if text.startswith("-") and not text.startswith("--") and len(bare) == 1:
        return text  # short options are case-sensitive (-h is not -H)
    kebab = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", bare).replace("_", "-").lower()
    return f"--{kebab}"


def _tokens(arguments: Any, field_name: str) -> list[str]:
    if isinstance(arguments, str):
        raise ConfigError("must be a list of strings such as ['--memory', '4g']", field=field_name)
    if isinstance(arguments, Mapping):  # {memory: 4g, ipc: private, init: true, env: [A=1, B=2]}
        tokens: list[str] = []
        for key, value in arguments.items():
            name = option_name(str(key)) if str(key).startswith("-") else option_name(f"--{key}")
            for item in value if isinstance(value, list) else [value]:
                if item is True:
                    tokens.append(name)
                elif item is not None and item is not False:
                    tokens += [name, str(item)]
        return tokens
    tokens = []
    for item in arguments or []:
        if isinstance(item, Mapping):
            tokens += _tokens(item, field_name)
        else:
            tokens.extend(shlex.split(str(item)) if " " in str(item) else [str(item)])
    return tokens


def _split(token: str) -> tuple[str, bool, str]:
    """``(option, has_inline_value, inline_value)`` for ``--opt=v``, ``--opt``, ``-m512m``, ``-e=A=1``."""
    if token.startswith("--"):
        name, has_inline, inline = token.partition("=")
        return option_name(name), bool(has_inline), inline
    if token.startswith("-") and len(token) > 2 and token[:2] in SHORT_OPTIONS:
        rest = token[2:]
        return token[:2], True, rest[1:] if rest.startswith("=") else rest
    if not token.startswith("-"):  # a bare word where an option belongs: 'ipc=host' from a YAML author
        name, has_inline, inline = token.partition("=")
        return option_name(f"--{name}"), bool(has_inline), inline
    return token, False, ""


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
        if value not in IPC_MODES:
            raise ConfigError(
                f"{option} {value!r} is not allowed: use one of {', '.join(IPC_MODES)} ('host' and "
                "'container:<name>' would share another namespace's memory)",
                field=field_name,
            )
        return value
    if kind == "network":
        if value not in NETWORK_MODES:
            raise ConfigError(
                f"{option} {value!r} is not allowed: use one of {', '.join(NETWORK_MODES)} ('host', "
                "'container:<name>' and other networks reach outside the run)",
                field=field_name,
            )
        return value
    patterns = {"user": USER, "hostname": HOSTNAME, "cpuset": CPUSET}
    if kind in patterns and not patterns[kind].match(value):
        raise ConfigError(f"{option} {value!r} is not a valid value", field=field_name)
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
        name, has_inline, inline = _split(token)
        name = SHORT_OPTIONS.get(name, name)
        if name in IGNORED_FLAGS or token in IGNORED_FLAGS:
            continue
        if name in FLAG_OPTIONS and not has_inline:
            key, value = FLAG_OPTIONS[name]
            options.kwargs[key] = value
            continue
        if name not in VALUE_OPTIONS:
            raise _refused(name, token, field_name)
        if has_inline:
            value = inline
        else:
            if index >= len(tokens):
                raise ConfigError(f"docker argument '{name}' needs a value", field=field_name)
            value = tokens[index]
            index += 1
        _apply(options, name, value, field_name)
    return options


def _refused(name: str, token: str, field_name: str) -> ConfigError:
    """Not on the allow list: say why when the option is a known way out, else suggest a spelling."""
    why = REFUSED_BECAUSE.get(name) or REFUSED_BECAUSE.get(token)
    if why:
        return ConfigError(f"docker argument '{name}' is not allowed: it {why}", field=field_name)
    known = [*VALUE_OPTIONS, *FLAG_OPTIONS]
    suggestion = closest(name, known)
    hint = f" Did you mean '{suggestion}'?" if suggestion else ""
    return ConfigError(
        f"docker argument '{token}' is not on the allow list.{hint} Allowed: {', '.join(sorted(known))}",
        field=field_name,
    )


def _apply(options: RunOptions, name: str, value: str, field_name: str) -> None:
    key, kind = VALUE_OPTIONS[name]
    if kind == "env":
        var, sep, val = value.partition("=")
        if not sep or not var:
            raise ConfigError(f"{name} {value!r} must look like NAME=value", field=field_name)
        options.environment[var] = val
    elif kind == "label":
        label, _, val = value.partition("=")
        if not label or label.startswith(OUR_LABELS):
            raise ConfigError(f"{name} {value!r}: labels starting with '{OUR_LABELS}' are ours", field=field_name)
        options.labels[label] = val
    elif kind == "gpus":
        options.gpu = parse_gpus(value, field_name)
    elif kind == "ulimit":
        options.kwargs.setdefault("ulimits", []).append(_ulimit(value, field_name))
    elif kind == "tmpfs":
        path, _, mount_options = value.partition(":")
        if not TMPFS.match(value) or ".." in path.split("/"):
            raise ConfigError(
                f"--tmpfs {value!r} needs an absolute path in the container, e.g. /scratch:size=1g", field=field_name
            )
        options.kwargs.setdefault("tmpfs", {})[path] = mount_options
    else:
        options.kwargs[key] = _convert(name, kind, value, field_name)
        if key == "mem_limit":
            options.memory_limit = value


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
