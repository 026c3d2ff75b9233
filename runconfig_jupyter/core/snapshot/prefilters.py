"""Ignore rules' pre-filters, remembered across processes (``<run home>/cache/ignore-prefilters.json``).

A pre-filter (core/snapshot/ignore.py) is one expression combining pathspec's own translation of every
pattern of a rule set, so deriving it needs pathspec imported: ~10 ms and 30 modules, paid by every fresh
``python submit.py`` although its rule sets (the built-ins, the project's ``.gitignore``) rarely change.
This file maps a hash of a rule set's lines to its pre-filter's source, for one installed pathspec and one
version of the code that combines its patterns: a pathspec installed, upgraded or moved since (its
``__init__.py`` by path, size and modification time), or an edited or upgraded core/snapshot/ignore.py,
discards every entry, because the translation may differ.

The file lives in the run home, which only its user writes (as ``target-types.json`` beside it, see
core/target/plugins.py). Never raises for the file: a missing, damaged or unwritable cache only costs the
import, and a remembered source that does not compile is ignored by the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.system.digest import sha256_hex
from runconfig_jupyter.core.system.remembered import file_state, read_remembered, write_remembered

REMEMBERED_FILE = Path("cache", "ignore-prefilters.json")  # under the run home
REMEMBERED_SETS = 64  # distinct rule sets kept (the built-ins, a few projects' ignore files); the oldest go first

_loaded: dict[str, Any] | None = None  # this process's copy of the file
_lock = threading.Lock()  # a server packages in threads: one reads, updates and writes the copy at a time


def current_state(derived_by: str) -> str:
    """Which pathspec would be imported (without importing it) and which code derives the pre-filters;
    "" when pathspec is not installed (then nothing is remembered)."""
    spec = PathFinder.find_spec("pathspec")
    installed = file_state(spec.origin if spec is not None else None)
    return f"{installed}|{file_state(derived_by)}" if installed else ""


def rule_set_key(lines: tuple[str, ...]) -> str:
    return sha256_hex("\n".join(lines).encode(errors="surrogateescape"))


def _read(state: str) -> dict[str, Any]:
    global _loaded
    if _loaded is None or _loaded.get("state") != state:
        read = read_remembered(REMEMBERED_FILE)
        valid = read.get("state") == state and isinstance(read.get("sets"), dict)
        _loaded = read if valid else {"state": state, "sets": {}}
    return _loaded


def remembered_prefilter(lines: tuple[str, ...], derive: Callable[[], str | None], derived_by: str) -> str | None:
    """The remembered pre-filter source of ``lines``, else ``derive()`` (then remembered for the next process).

    ``derived_by`` is the file of the code ``derive`` runs (part of the state the entries are valid for).
    ``None`` (a rule set whose patterns cannot be combined) is remembered too: the spec decides every path.
    """
    state, key = current_state(derived_by), rule_set_key(lines)
    with _lock:
        sets: dict[str, Any] = _read(state)["sets"]
        if key in sets and (sets[key] is None or isinstance(sets[key], str)):
            return sets[key]
    source = derive()
    if state:  # only what an installed pathspec translated is worth remembering
        with _lock:
            remembered = _read(state)
            kept = {k: v for k, v in remembered["sets"].items() if k != key}
            kept[key] = source
            remembered["sets"] = dict(list(kept.items())[-REMEMBERED_SETS:])
            write_remembered(REMEMBERED_FILE, remembered)
    return source
