"""Target settings: declared once per target type, validated one way for every type.

Each target class names a frozen dataclass in ``Settings``; every field has a type, a default and a help
text (``setting(default, "help")``). The built-in types a fresh submit imports declare theirs as a frozen
``@record`` (core/system/records.py) with ``record_setting``, which creates the class without compiling code;
both kinds are read the same way here. That one declaration is what the target reads
(``self.options.url``), what ``check_settings`` validates a spec against (unknown keys refused with the
closest spelling, wrong types refused, secret-looking keys refused) and what ``settings_help`` shows in
``%targets --help`` and the docs. Specs go into targets.yaml and every run.json, so they never hold a
secret: a token is named by the environment variable that holds it (``token_env``).
"""

from __future__ import annotations

import functools
import types
import typing
from typing import TYPE_CHECKING, Any, Union

from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError
from runconfig_jupyter.core.system import records

if TYPE_CHECKING:
    from runconfig_jupyter.core.target.setting_help import SettingHelp

SECRET_KEYS = ("token", "password", "secret", "api_key")
NOT_SETTINGS = ("type", "name")  # every spec's own keys, not the type's settings


def _field_options(default: Any, help: str) -> dict[str, Any]:
    """A settings field's default and help text; a list or dict default is copied for each target."""
    if isinstance(default, (list, dict)):
        return {"default_factory": lambda: type(default)(default), "metadata": {"help": help}}
    return {"default": default, "metadata": {"help": help}}


def setting(default: Any, help: str) -> Any:
    """A field of a ``@dataclass(frozen=True)`` Settings class (the plug-in contract, docs/ADDING_A_TARGET.md)."""
    import dataclasses

    return dataclasses.field(**_field_options(default, help))


def record_setting(default: Any, help: str) -> Any:
    """The same field for a ``@record(frozen=True)`` Settings class (core/system/records.py)."""
    return records.field(**_field_options(default, help))


@records.record(frozen=True)
class NoSettings:
    """A target type that takes no settings."""


def refuse_secret_keys(section: str, spec: dict[str, Any]) -> None:
    """A literal token or password in a spec would be copied into targets.yaml and every run record."""
    for key in spec:
        if str(key).lower() in SECRET_KEYS:
            raise ConfigError(
                f"a '{key}' value is a secret and secrets are never stored. Put it in an environment variable and "
                f"name it with '{key}_env' (e.g. {key}_env: MY_{str(key).upper()})",
                field=f"{section}.{key}",
            )


@functools.lru_cache(maxsize=64)
def type_hints(settings_cls: type) -> dict[str, Any]:
    """A settings class's resolved annotations, once per class: resolving them evaluates every annotation
    string (``from __future__ import annotations``), and a target's spec is checked each time it is rebuilt
    (every row of a run list whose run.json records no capabilities)."""
    return typing.get_type_hints(settings_cls)


def check_settings(settings_cls: type, target_name: str, values: dict[str, Any]) -> Any:
    """The validated settings object for ``values`` (a spec without type and name)."""
    section = f"targets.{target_name}"
    refuse_secret_keys(section, values)
    fields = {field.name: field for field in records.fields(settings_cls)}
    for key in values:
        if key not in fields:
            raise UnknownKeyError(str(key), fields, section=section)
    hints = type_hints(settings_cls)
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise ConfigError(
                f"must be {_describe(hints[key])}, got {type(value).__name__} {value!r}", field=f"{section}.{key}"
            )
    return settings_cls(**values)


def settings_help(settings_cls: type) -> list[SettingHelp]:
    """Name, type, default and help of each setting, in declaration order."""
    from runconfig_jupyter.core.target.setting_help import SettingHelp

    hints = type_hints(settings_cls)
    rows = []
    for field in records.fields(settings_cls):
        default = field.default_value()
        rows.append(SettingHelp(field.name, _describe(hints[field.name]), default, field.metadata.get("help", "")))
    return rows


def settings_text(settings_cls: type) -> str:
    """The settings as indented lines ``name (type, default ...): help`` for ``%targets --settings``."""
    rows = settings_help(settings_cls)
    if not rows:
        return "  (no settings)"
    return "\n".join(f"  {row.name} ({row.type}, default {row.default!r}): {row.help}" for row in rows)


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML/JSON value fits a declared type (bool is not a number; an int is a float)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return isinstance(value, (list, tuple)) and all(_matches(v, item) for v in value)
    if origin is dict:
        key_type, value_type = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            _matches(k, key_type) and _matches(v, value_type) for k, v in value.items()
        )
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if hint is float:
        return "a number"
    if origin is not None:
        return {list: "a list", tuple: "a list", dict: "a mapping"}.get(origin, str(hint))
    return {bool: "true or false", int: "an integer", str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


def __getattr__(name: str) -> Any:
    """``SettingHelp`` lives in core/target/setting_help.py and is still importable from here."""
    if name == "SettingHelp":
        from runconfig_jupyter.core.target.setting_help import SettingHelp

        return SettingHelp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
