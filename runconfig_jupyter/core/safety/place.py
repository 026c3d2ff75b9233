"""A registered place: a folder the user allowed runs to use besides their own files (core/safety/confine.py).

Its own module because the configuration imports confine.py for every run while most runs read no places
file: the class is created by the first place read or registered, not by that import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Place:
    """A folder the user allowed runs to read (and, when ``writable``, write) besides their own files."""

    name: str
    path: Path
    writable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "writable": self.writable}
