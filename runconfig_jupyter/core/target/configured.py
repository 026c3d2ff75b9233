"""Configured compute targets, by name.

Built-ins (``local``, ``docker``) need no configuration. Others (remote
kernels, Ray clusters, a second Docker setup) come from three sources, merged
here and nowhere else, later ones winning: ``<home>/targets.yaml``, the
traitlets ``TargetSettings`` a front end made current (``jupyter_server_config.py``
or ``ipython_config.py``: ``c.TargetSettings.targets = {...}``; see
core/target/target_settings.py), and ``register_target`` at run time. So the
magics, the widgets, the server and a plain script all see the same targets.
Specs never hold secrets: a remote token is named by the environment variable
that holds it (``token_env``); see core/target/settings.py.

Aliases map other names onto configured targets, so code ported from Azure ML
(``compute_target="cpu-cluster"``) runs unchanged once the cluster name is mapped:
``aliases: {cpu-cluster: local, gpu-cluster: docker}`` in targets.yaml, or
``register_target("cpu-cluster", alias_of="local")``. ``aliases`` is therefore a
reserved key in targets.yaml, not a target name. An alias names a target, never
another alias, and never hides a target of the same name.
"""

from __future__ import annotations

from typing import Any

from runconfig_jupyter.core.errors import ConfigError, UnknownTarget, closest
from runconfig_jupyter.core.safety.bounded import load_yaml, read_text_bounded
from runconfig_jupyter.core.safety.secret_env import refuse_secret_docker_env
from runconfig_jupyter.core.system.paths import run_home
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, TargetInfo
from runconfig_jupyter.core.target.plugins import target_class
from runconfig_jupyter.core.target.settings import NOT_SETTINGS, check_settings, refuse_secret_keys

BUILTIN_TARGETS: dict[str, dict[str, Any]] = {
    "local": {"type": "local"},
    "docker": {"type": "docker"},
}

ALIASES_KEY = "aliases"

_registered: dict[str, dict[str, Any]] = {}
_registered_aliases: dict[str, str] = {}
_current_config: list[Any] = []  # the TargetSettings a front end made current (at most one)


def use_target_settings(settings: Any) -> None:
    """Make a front end's traitlets ``TargetSettings`` (anything with ``targets`` and ``aliases``) a source.

    Read live on every lookup, so ``%config TargetSettings.targets = {...}`` takes effect at once.
    ``None`` removes the source again.
    """
    _current_config[:] = [] if settings is None else [settings]


def current_target_source() -> Any:
    """The TargetSettings a front end made current, or None."""
    return _current_config[0] if _current_config else None


def _config_targets() -> dict[str, dict[str, Any]]:
    return {str(name): dict(spec or {}) for config in _current_config for name, spec in dict(config.targets).items()}


def _config_aliases() -> dict[str, str]:
    return {str(alias): str(target) for config in _current_config for alias, target in dict(config.aliases).items()}


def _check_no_secrets(name: str, spec: dict[str, Any]) -> None:
    refuse_secret_docker_env(spec.get("arguments"), f"targets.{name}.arguments")  # recorded with every run
    refuse_secret_keys(f"targets.{name}", spec)


def targets_file() -> Any:
    return run_home() / "targets.yaml"


def _load_file() -> dict[str, Any]:
    path = targets_file()
    if not path.exists():
        return {}
    try:
        loaded = load_yaml(read_text_bounded(path, field="targets"), what=str(path)) or {}
    except ConfigError as error:
        error.field = error.field or "targets"
        raise
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must map target names to settings", field="targets")
    return loaded


def configured_targets() -> dict[str, dict[str, Any]]:
    """All targets by name: built-ins, then the YAML file, traitlets config, and registrations."""
    targets = {name: dict(spec) for name, spec in BUILTIN_TARGETS.items()}
    loaded = {name: spec for name, spec in _load_file().items() if name != ALIASES_KEY}
    for name, spec in loaded.items():
        if spec is not None and not isinstance(spec, dict):
            raise ConfigError(f"target '{name}' must be a mapping of settings", field=f"targets.{name}")
    targets.update({str(name): dict(spec or {}) for name, spec in loaded.items()})
    for name, spec in _config_targets().items():
        if name == ALIASES_KEY:
            raise ConfigError(
                f"'{ALIASES_KEY}' is reserved; use TargetSettings.aliases", field="TargetSettings.targets"
            )
        targets[name] = spec
    targets.update(_registered)
    for name, spec in targets.items():
        _check_no_secrets(name, spec)
        if "type" not in spec:
            raise ConfigError(
                f"target '{name}' has no 'type' (an installed target type such as local, docker, kernel or ray)",
                field=f"targets.{name}",
            )
    return targets


def target_aliases_declared() -> dict[str, str]:
    """Aliases as declared (not checked); see ``target_aliases``."""
    loaded = _load_file().get(ALIASES_KEY) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"'{ALIASES_KEY}' in {targets_file()} must map names to targets, e.g. {{cpu-cluster: local}}",
            field=f"targets.{ALIASES_KEY}",
        )
    return {**{str(alias): str(target) for alias, target in loaded.items()}, **_config_aliases(), **_registered_aliases}


def _check_alias(alias: str, target: str, targets: dict[str, dict[str, Any]]) -> None:
    if alias in targets:
        raise ConfigError(
            f"alias '{alias}' has the name of a configured target; rename the alias or the target",
            field=f"targets.{ALIASES_KEY}.{alias}",
        )
    if target not in targets:
        raise UnknownTarget(
            f"alias '{alias}' points at '{target}', which is not a configured target "
            f"(configured: {', '.join(sorted(targets))})",
            field=f"targets.{ALIASES_KEY}.{alias}",
        )


def target_aliases() -> dict[str, str]:
    """Alias -> target name, from targets.yaml's ``aliases`` and ``register_target(..., alias_of=...)``."""
    aliases = target_aliases_declared()
    targets = configured_targets()
    for alias, target in aliases.items():
        _check_alias(alias, target, targets)
    return aliases


def alias_target(name: str) -> str | None:
    """The target an alias points at (checked), or None when ``name`` is no alias; other aliases are not read."""
    target = target_aliases_declared().get(name)
    if target is not None:
        _check_alias(name, target, configured_targets())
    return target


def register_target(
    name: str, type: str | None = None, persist: bool = False, alias_of: str | None = None, **settings: Any
) -> None:
    """Make a target available by name in this process (and, with ``persist``, in targets.yaml).

    ``register_target("cpu-cluster", alias_of="local")`` makes a name (e.g. an Azure cluster's) run on an
    existing target instead of defining a new one.
    """
    if (type is None) == (alias_of is None):
        raise ConfigError("give either type (a new target) or alias_of (another name for a target)", field="type")
    if name == ALIASES_KEY:
        raise ConfigError(f"'{ALIASES_KEY}' is reserved in targets.yaml; choose another name", field="name")
    if alias_of is not None:
        if settings:
            raise ConfigError("an alias takes no settings of its own; configure the target it points at", field=name)
        _registered_aliases[name] = alias_of
        try:
            alias_target(name)  # reject a clash or an unknown target now, not at submit
        except BaseException:
            _registered_aliases.pop(name)
            raise
        if persist:
            _persist(lambda current: current.setdefault(ALIASES_KEY, {}).__setitem__(name, alias_of))
        return
    spec = {"type": type, **settings}
    _check_no_secrets(name, spec)
    try:
        settings_cls = target_class(type).Settings
    except UnknownTarget:  # its plug-in may be installed later; the name is refused when a run asks for it
        settings_cls = None
    if settings_cls is not None:
        check_settings(settings_cls, name, settings)  # a typo or a wrong type fails here, not at submit
    _registered[name] = spec
    if persist:
        _persist(lambda current: current.__setitem__(name, spec))


def _persist(change: Any) -> None:
    import yaml  # only when writing targets.yaml: a submit to a built-in target does not pay for it

    path = targets_file()
    current = _load_file()
    change(current)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(current, sort_keys=True))


def unregister_target(name: str) -> None:
    _registered.pop(name, None)
    _registered_aliases.pop(name, None)


def resolve_target(target: str | ComputeTarget | None) -> ComputeTarget:
    """The target for a name; an alias resolves to its target's settings under the alias's own name."""
    if isinstance(target, ComputeTarget):
        return target
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"must be a target name such as 'local' or 'docker', got {target!r}", field="compute_target")
    name = target or "local"
    targets = configured_targets()
    spec = targets.get(name)
    if spec is None:
        aliased = alias_target(name)
        if aliased is not None:
            return ComputeTarget.from_spec({**targets[aliased], "name": name})
        raise UnknownTarget(
            unknown_target_message(name, [*targets, *target_aliases_declared()]), field="compute_target"
        )
    return ComputeTarget.from_spec({**spec, "name": name})


def unknown_target_message(name: str, known: list[str]) -> str:
    """What to do about a target name nobody configured (often an Azure cluster name in ported code)."""
    suggestion = closest(name, known)
    hint = f" Did you mean '{suggestion}'?" if suggestion else ""
    return (
        f"no compute target named '{name}'.{hint} Configured: {', '.join(sorted(known))}. If '{name}' is an "
        f"Azure ML cluster name from ported code, map it to a local target: add 'aliases: {{{name}: local}}' "
        f"(or docker, ...) to {targets_file()}, or call register_target('{name}', alias_of='local'). "
        "A new machine is added with register_target(name, type=...)."
    )


def list_targets(check: bool = True) -> list[TargetInfo]:
    """Every configured target with capabilities and, when ``check``, whether it is reachable now."""
    infos = []
    targets = configured_targets()
    for name, spec in targets.items():
        settings = {k: v for k, v in spec.items() if k not in NOT_SETTINGS}
        try:
            target = ComputeTarget.from_spec({**spec, "name": name})
            available, detail = target.available() if check else (True, "")
            infos.append(TargetInfo(name, spec["type"], target.capabilities(), available, detail, settings))
        except Exception as error:  # one broken entry must not hide the others
            infos.append(TargetInfo(name, spec["type"], Capabilities(), False, str(error), settings))
    by_name = {info.name: info for info in infos}
    for alias, target in target_aliases_declared().items():  # an alias is reachable exactly when its target is
        try:
            _check_alias(alias, target, targets)
        except ConfigError as error:  # a broken alias is listed with its error, like a broken target
            infos.append(TargetInfo(alias, "alias", Capabilities(), False, str(error), {"alias_of": target}))
            continue
        base = by_name[target]
        infos.append(TargetInfo(alias, base.type, base.capabilities, base.available, base.detail, {"alias_of": target}))
    return infos
