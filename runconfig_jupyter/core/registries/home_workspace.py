"""A workspace known by its run home alone, for the registries and facades (core/registries/home.py).

Its own module so that the run API's import (which reads home.py for ``find_config``) does not create the
class; ``from runconfig_jupyter.core.registries.home import HomeWorkspace`` still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HomeWorkspace:
    """A workspace known by its run home alone (a run's driver registering its outputs as datasets)."""

    home: Path
