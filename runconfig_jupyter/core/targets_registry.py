"""Configured compute targets, by name.

Built-ins (``local``, ``docker``) need no configuration. Others (remote
kernels, Ray clusters, a second Docker setup) come from ``<home>/targets.yaml``,
from traitlets config (front ends pass ``TargetSettings.targets``), or from
``register_target`` at run time. Specs never hold secrets: a remote token is
named by the environment variable that holds it (``token_env``).
"""

from __future__ import annotations

from typing import Any

import yaml

from runconfig_jupyter.targets.base import ComputeTarget, TargetInfo

from .bounded import load_yaml
from .errors import ConfigError, UnknownTarget, closest
from .paths import run_home
from .secret_env import refuse_secret_docker_env

BUILTIN_TARGETS: dict[str, dict[str, Any]] = {
    "local": {"type": "local"},
    "docker": {"type": "docker"},
}
SECRET_KEYS = ("token", "password", "secret", "api_key")

_registered: dict[str, dict[str, Any]] = {}


def _check_no_secrets(name: str, spec: dict[str, Any]) -> None:
    refuse_secret_docker_env(spec.get("arguments"), f"targets.{name}.arguments")  # recorded with every run
    for key in spec:
        if key.lower() in SECRET_KEYS:
            raise ConfigError(
                f"target '{name}' has a '{key}' value: secrets are never stored. Put it in an environment "
                f"variable and name it with '{key}_env' (e.g. {key}_env: MY_{key.upper()})",
                field=f"targets.{name}.{key}",
            )


def targets_file() -> Any:
    return run_home() / "targets.yaml"


def configured_targets(extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """All targets by name: built-ins, then the YAML file, traitlets config, and registrations."""
    targets = {name: dict(spec) for name, spec in BUILTIN_TARGETS.items()}
    path = targets_file()
    if path.exists():
        try:
            loaded = load_yaml(path.read_text(), what=str(path)) or {}
        except ConfigError as error:
            error.field = error.field or "targets"
            raise
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must map target names to settings", field="targets")
        targets.update({str(name): dict(spec or {}) for name, spec in loaded.items()})
    targets.update(extra or {})
    targets.update(_registered)
    for name, spec in targets.items():
        _check_no_secrets(name, spec)
        if "type" not in spec:
            raise ConfigError(
                f"target '{name}' has no 'type' (one of local, docker, kernel, ray)", field=f"targets.{name}"
            )
    return targets


def register_target(name: str, type: str, persist: bool = False, **settings: Any) -> None:
    """Make a target available by name in this process (and, with ``persist``, in targets.yaml)."""
    spec = {"type": type, **settings}
    _check_no_secrets(name, spec)
    _registered[name] = spec
    if persist:
        path = targets_file()
        current = (load_yaml(path.read_text(), what=str(path)) or {}) if path.exists() else {}
        current[name] = spec
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(current, sort_keys=True))


def unregister_target(name: str) -> None:
    _registered.pop(name, None)


def resolve_target(target: str | ComputeTarget | None, extra: dict[str, dict[str, Any]] | None = None) -> ComputeTarget:
    if isinstance(target, ComputeTarget):
        return target
    name = target or "local"
    targets = configured_targets(extra)
    spec = targets.get(name)
    if spec is None:
        suggestion = closest(name, targets)
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        raise UnknownTarget(
            f"no compute target named '{name}'.{hint} Configured: {', '.join(sorted(targets))}. "
            f"Add one to {targets_file()} or with register_target().",
            field="compute_target",
        )
    return ComputeTarget.from_spec({**spec, "name": name})


def list_targets(extra: dict[str, dict[str, Any]] | None = None, check: bool = True) -> list[TargetInfo]:
    """Every configured target with capabilities and, when ``check``, whether it is reachable now."""
    infos = []
    for name, spec in configured_targets(extra).items():
        settings = {k: v for k, v in spec.items() if k != "type"}
        try:
            target = ComputeTarget.from_spec({**spec, "name": name})
            available, detail = target.available() if check else (True, "")
            infos.append(TargetInfo(name, spec["type"], target.capabilities(), available, detail, settings))
        except Exception as error:  # one broken entry must not hide the others
            from runconfig_jupyter.targets.base import Capabilities

            infos.append(TargetInfo(name, spec["type"], Capabilities(), False, str(error), settings))
    return infos
