"""What the registries and facades need of a v1 ``Workspace``: its run home, nothing more.

``core/workspace.py`` has the ``Workspace`` class, which reaches *up* to experiments, models and compute
targets (``ws.experiments``). Modules below it that only keep or read a workspace (``ComputeTarget(ws,
name)``, the data layer, a driver registering datasets) depend on this protocol instead, so they never
import the class that imports them.

It also holds how v1 code finds a workspace's ``config.json`` (``Workspace.from_config()``): a file search that
needs no workspace object.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runconfig_jupyter.core.registries.home_workspace import HomeWorkspace  # noqa: F401 - re-exported lazily


class WorkspaceLike(Protocol):
    """Anything with a run home: a ``Workspace``, or a ``HomeWorkspace`` (core/registries/home_workspace.py)."""

    @property
    def home(self) -> Path: ...


CONFIG_FILE = "config.json"
CONFIG_DIRS = (".azureml", "aml_config", ".")
LOCAL_NAME = "local"


def find_config(path: str | Path | None = None, file_name: str | None = None) -> Path | None:
    """Azure's search: ``path`` (a file or folder), else the current folder and its parents, in .azureml/ first."""
    name = file_name or CONFIG_FILE
    if path is not None and Path(path).is_file():
        return Path(path)
    start = Path(path) if path is not None else Path.cwd()
    folders = [start] if path is not None else [start, *start.resolve().parents]
    for folder in folders:
        for sub in CONFIG_DIRS:
            candidate = folder / sub / name
            if candidate.is_file():
                return candidate
    return None


def __getattr__(name: str) -> Any:
    """``HomeWorkspace`` lives in core/registries/home_workspace.py: every ``import`` of the run API reads this
    module (``find_config``), few use that class, so it is created on first use."""
    if name == "HomeWorkspace":
        from runconfig_jupyter.core.registries.home_workspace import HomeWorkspace

        return HomeWorkspace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
