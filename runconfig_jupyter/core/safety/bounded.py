"""Bounded parsing of untrusted YAML and JSON: every byte of input costs at most a bounded amount of work.

A run configuration arrives from a notebook cell, a file in a shared folder or a REST body; any of them
may be hostile. PyYAML shares the object an alias points at, so loading a "billion laughs" document is
cheap, but everything after it (line maps, deep copies, ``to_dict``, ``json.dumps`` into run.json)
walks the expanded tree: nine levels of nine aliases is 9**9 nodes, minutes of CPU and gigabytes of
memory. A recursive alias (``&a [*a]``) makes that walk endless, and deep nesting overflows the
recursive composer. So the loader here counts, while composing, how many nodes the document would have
once every alias is expanded, refuses an alias to a node still being composed, and limits depth and
size; each refusal is a ``ConfigError`` naming the line, raised long before the budget costs a second.

JSON bodies get the same size and depth bounds (``load_json``).
"""

from __future__ import annotations

import json
from typing import Any

from runconfig_jupyter.core.errors import ConfigError

MAX_DOCUMENT_BYTES = 256 << 10  # a run configuration is a few KiB, a conda file or inline Dockerfile a few dozen
MAX_EXPANDED_NODES = 100_000  # scalars + collections after alias expansion
MAX_DEPTH = 64  # Azure's deepest runconfig section is 5 levels
MAX_JSON_BYTES = 1 << 20  # a REST body carries a runconfig (at most MAX_DOCUMENT_BYTES), a path, a few tags


def _bounded_loader_class() -> type:
    """Built lazily: the run driver reads JSON only and should not import PyYAML."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """``SafeLoader`` whose composer keeps an expanded-node budget, a depth limit and refuses cycles."""

        def __init__(self, stream: str, what: str):
            super().__init__(stream)
            self.what = what
            self.expanded = 0
            self.depth = 0
            self.weights: dict[str, int] = {}  # anchor -> expanded size of the node it names
            self.open_anchors: set[str] = set()

        def refuse(self, message: str, mark: Any) -> ConfigError:
            return ConfigError(f"the {self.what} {message}", line=mark.line + 1 if mark else None)

        def charge(self, nodes: int, mark: Any) -> None:
            self.expanded += nodes
            if self.expanded > MAX_EXPANDED_NODES:
                raise self.refuse(
                    f"expands to more than {MAX_EXPANDED_NODES:,} values (aliases '*name' repeat whole "
                    "sections); write the values out or use fewer aliases",
                    mark,
                )

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in self.open_anchors:
                    raise self.refuse(
                        f"has an alias '*{event.anchor}' inside its own anchor (a cycle)", event.start_mark
                    )
                self.charge(self.weights.get(event.anchor, 1), event.start_mark)
                return super().compose_node(parent, index)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.refuse(f"nests deeper than {MAX_DEPTH} levels; flatten it", event.start_mark)
            anchor = getattr(event, "anchor", None)
            before = self.expanded
            self.charge(1, event.start_mark)
            if anchor:
                self.open_anchors.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
                if anchor:
                    self.open_anchors.discard(anchor)
            if anchor:
                self.weights[anchor] = self.expanded - before
            return node

    return BoundedLoader


_LOADER: type | None = None


def load_yaml_node(text: str, what: str = "run configuration") -> tuple[Any, Any]:
    """``(data, root node)`` of one YAML document, or ``ConfigError`` naming the line; bounded in time and memory.

    The node tree lets callers map keys to lines (serialization.parse_yaml); its expanded size is bounded.
    """
    import yaml

    global _LOADER
    if not isinstance(text, str):
        raise ConfigError(f"the {what} must be text, got {type(text).__name__}")
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError(
            f"the {what} is {len(text):,} characters; the limit is {MAX_DOCUMENT_BYTES:,}. "
            "Keep data out of the configuration (put it in a file of the source directory)"
        )
    if _LOADER is None:
        _LOADER = _bounded_loader_class()
    loader = None
    try:
        loader = _LOADER(text, what)  # the reader refuses control characters right here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"the {what} is not valid YAML: {problem}; fix the indentation, brackets or quotes there",
            line=mark.line + 1 if mark else None,
        ) from None
    except RecursionError:  # a construct path we did not bound: still a typed refusal
        raise ConfigError(f"the {what} nests too deeply; flatten it") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def read_text_bounded(path: Any, what: str = "file", limit: int = MAX_DOCUMENT_BYTES, field: str | None = None) -> str:
    """A configuration file's text, reading at most ``limit`` bytes (a 10 GB sparse file must not be loaded).

    Not UTF-8, too big or unreadable: ``ConfigError`` naming the file, never a raw OSError or UnicodeDecodeError.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ConfigError(f"cannot read the {what} {path}: {error.strerror or error}", field=field) from None
    if len(data) > limit:
        raise ConfigError(
            f"the {what} {path} is larger than {limit:,} bytes; it cannot be a configuration", field=field
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"the {what} {path} is not UTF-8 text ({error.reason} at byte {error.start})", field=field
        ) from None


def load_yaml(text: str, what: str = "YAML file") -> Any:
    """The data of one bounded YAML document (see ``load_yaml_node``)."""
    return load_yaml_node(text, what)[0]


def load_json(raw: str | bytes, what: str = "request body", field: str | None = "body") -> Any:
    """``json.loads`` with the size and depth bounds of YAML; ``ConfigError`` naming ``field`` otherwise."""
    if len(raw) > MAX_JSON_BYTES:
        raise ConfigError(f"the {what} is {len(raw):,} bytes; the limit is {MAX_JSON_BYTES:,}", field=field)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ConfigError(f"the {what} nests too deeply (limit {MAX_DEPTH} levels)", field=field) from None
    except ValueError as error:
        raise ConfigError(f"the {what} is not JSON: {error}", field=field) from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"the {what} nests deeper than {MAX_DEPTH} levels; flatten it", field=field)
    return data


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (a recursive walk would overflow on the inputs it must refuse)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest
