"""Helpers shared by the v1 suites (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def aliased_target(alias: str, name: str | None = None, **spec: Any) -> Iterator[str]:
    """Register target ``name`` (when a ``type`` is given) and ``alias`` for it, as ported code would map a cluster."""
    from runconfig_jupyter.core.target.configured import register_target, unregister_target

    if spec:
        register_target(name, **spec)
    register_target(alias, alias_of=name)
    try:
        yield alias
    finally:
        unregister_target(alias)
        if spec:
            unregister_target(name)
