"""Azure ML's on-disk runconfig YAML: camelCase out, camelCase or snake_case in.

Every config class is a ``Section``: a dataclass whose fields map to YAML keys
(``max_run_duration_seconds`` <-> ``maxRunDurationSeconds``). Reading is strict
about typos - a key close to a known one raises ``UnknownKeyError`` with the
suggestion and the YAML line - but keeps keys that resemble nothing we know
(newer or unsupported Azure sections) in ``extra``, so they round-trip instead
of being silently dropped.
"""

from __future__ import annotations

import copy
import re
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError, closest
from runconfig_jupyter.core.safety.bounded import load_yaml_node
from runconfig_jupyter.core.system.records import field, fields, record

Path_ = tuple[Any, ...]


def to_camel(name: str) -> str:
    """``max_run_duration_seconds`` -> ``maxRunDurationSeconds``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_snake(name: str) -> str:
    """``maxRunDurationSeconds`` -> ``max_run_duration_seconds``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def norm(key: Any) -> Any:
    """The spelling-insensitive form of a key: case, ``_`` and ``-`` ignored."""
    return key.replace("_", "").replace("-", "").lower() if isinstance(key, str) else key


def dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class LineMap:
    """Line numbers (1-based) of keys and list items in a YAML document, by spelling-insensitive path."""

    def __init__(self, lines: dict[Path_, int] | None = None):
        self._lines = lines or {}

    def line(self, path: Iterable[Any]) -> int | None:
        return self._lines.get(tuple(norm(p) for p in path))

    def find(self, *paths: Iterable[Any]) -> int | None:
        """First known line among alternative paths (e.g. the SRC key and its run-config twin)."""
        for path in paths:
            found = self.line(path)
            if found:
                return found
        return None

    def __bool__(self) -> bool:
        return bool(self._lines)


def parse_yaml(text: str, what: str = "run configuration") -> tuple[Any, LineMap]:
    """Parse YAML within bounds (core/bounded.py) and remember where each key sits; errors name the line."""
    data, node = load_yaml_node(text, what)
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, LineMap(lines)


def _walk(node: Any, path: Path_, lines: dict[Path_, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, norm(key.value))
            if child in lines:
                raise ConfigError(
                    f"'{key.value}' is given twice (first on line {lines[child]}); keep one",
                    field=dotted((*path, key.value)),
                    line=key.start_mark.line + 1,
                )
            lines[child] = key.start_mark.line + 1
            _walk(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.setdefault(child, item.start_mark.line + 1)
            _walk(item, child, lines)


def dump_yaml(data: Any) -> str:
    """Block-style YAML in insertion order, the way Azure ML writes runconfig files."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def candidates_like(key: str, attrs: Iterable[str], disk_keys: Mapping[str, str]) -> list[str]:
    """Valid keys spelled the way the user spells: snake_case for snake_case input, else camelCase."""
    snake = "_" in key
    return [attr if snake else disk_keys[attr] for attr in attrs]


def fail(message: str, path: Iterable[Any], lines: LineMap | None) -> ConfigError:
    path = tuple(path)
    return ConfigError(message, field=dotted(path) or None, line=lines.line(path) if lines else None)


def plain(value: Any) -> Any:
    """A deep copy of a YAML-able value (so objects never share mutable lists or dicts)."""
    return copy.deepcopy(value)


@record(repr=False, eq=False)
class Section:
    """Base of every config section: camelCase serialisation, tolerant loading, kept extras.

    Subclasses declare ``_keys`` (attribute -> on-disk key when plain camelCase is not Azure's
    spelling), ``_types`` (attribute -> a class with ``from_dict``/``to_dict`` for nested
    sections) and ``_passthrough`` (Azure keys we know but do not model: kept verbatim).

    Subclasses are ``@dataclass(repr=False, eq=False)``: they share the ``__repr__`` and ``__eq__`` below,
    which answer exactly as the ones ``dataclasses`` would write for each class, instead of having a copy of
    each compiled per class whenever the configuration is first imported (~0.15 ms a class, ~2 ms in all).
    """

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)

    _keys: ClassVar[dict[str, str]] = {}
    _types: ClassVar[dict[str, Any]] = {}
    _passthrough: ClassVar[frozenset[str]] = frozenset()

    @reprlib.recursive_repr()  # "..." for a section that holds itself, as the generated repr says
    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        """Same class and equal compared fields, in order (the generated ``__eq__``); unhashable, as it was."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = [f.name for f in fields(self) if f.compare]
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    @classmethod
    def attrs(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra" and not f.name.startswith("_")]

    @classmethod
    def disk_keys(cls) -> dict[str, str]:
        return {attr: cls._keys.get(attr) or to_camel(attr) for attr in cls.attrs()}

    def to_dict(self) -> dict[str, Any]:
        """The Azure on-disk (camelCase) form; extras come back under the keys they were read with."""
        out: dict[str, Any] = {}
        for attr, key in self.disk_keys().items():
            value = getattr(self, attr)
            out[key] = value.to_dict() if hasattr(value, "to_dict") else plain(value)
        out.update(plain(self.extra))
        return out

    @classmethod
    def from_dict(
        cls,
        data: Any,
        path: Path_ = (),
        lines: LineMap | None = None,
        also_valid: Iterable[str] = (),
    ) -> Any:
        """Build from camelCase or snake_case keys; typos raise ``UnknownKeyError`` with the closest key."""
        if data is None:
            return cls()
        if isinstance(data, cls):
            return copy.deepcopy(data)
        if not isinstance(data, Mapping):
            raise fail(f"expected a mapping of keys, got {type(data).__name__} {data!r}", path, lines)
        disk = cls.disk_keys()
        lookup: dict[str, str] = {}
        for attr, key in disk.items():
            lookup[norm(attr)] = attr
            lookup[norm(key)] = attr
        passthrough = {norm(k) for k in cls._passthrough}
        kwargs: dict[str, Any] = {}
        seen: dict[str, str] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise fail(f"keys must be text, got {key!r}", (*path, key), lines)
            attr = lookup.get(norm(key))
            if attr is None:
                if norm(key) in passthrough:
                    extra[key] = plain(value)
                    continue
                valid = candidates_like(key, cls.attrs(), disk) + list(also_valid)
                if closest(key, valid):
                    raise UnknownKeyError(key, valid, section=dotted(path) or None, line=_line(lines, (*path, key)))
                extra[key] = plain(value)  # an unknown section: kept and written back, never dropped
                continue
            if attr in seen:
                raise fail(f"given twice, as '{seen[attr]}' and '{key}'; keep one spelling", (*path, key), lines)
            seen[attr] = key
            kind = cls._types.get(attr)
            if value is None:
                continue  # Azure writes empty keys ("maxRunDurationSeconds:"): they mean "the default"
            kwargs[attr] = kind.from_dict(value, (*path, key), lines) if kind is not None else plain(value)
        try:
            obj = cls(**kwargs)
        except ConfigError as error:
            message = str(error)
            if error.field and message.startswith(f"{error.field}: "):
                message = message[len(error.field) + 2 :]
            sub = (*path, *(error.field.split(".") if error.field else ()))
            raise fail(message, sub, lines) from None
        obj.extra = extra
        return obj

    def copy(self) -> Any:
        return copy.deepcopy(self)


def _line(lines: LineMap | None, path: Path_) -> int | None:
    return lines.line(path) if lines else None
