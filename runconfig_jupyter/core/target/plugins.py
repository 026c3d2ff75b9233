"""Target types are plug-ins: found only through the entry-point group ``runconfig_jupyter.targets``.

A package adds a target type by declaring, in its ``pyproject.toml``::

    [project.entry-points."runconfig_jupyter.targets"]
    slurm = "runconfig_slurm.target:SlurmTarget"

The built-in types (local, docker, kernel, ray) are declared the same way in this project's own
``pyproject.toml``, so core never names a concrete target. Two costs are kept off the run's path:

* the scan of installed distributions (importing ``importlib.metadata`` and reading every distribution's
  metadata: ~30 ms, more with many packages installed) is done once per process and cached; a type that is
  not in the cache triggers one re-scan before it is refused, so a plug-in installed while a Jupyter server
  runs is found without a restart;
* the scan's result is also remembered on disk (``<run home>/cache/target-types.json``) for the folders of
  ``sys.path`` that hold distribution metadata and their modification times, so a fresh script and a fresh
  run driver (each a new process) read one small file instead. Installing or removing a distribution changes
  its folder's modification time (a new or removed ``*.dist-info``), which makes the remembered scan stale;
  a remembered entry point that no longer loads is scanned for again before it is reported broken;
* only the entry point asked for is loaded, so the docker SDK or ray are imported only by runs that use
  them. The standby driver loads its usual types (and calls their ``warm_up``) while it waits,
  so a claimed standby pays for neither the scan nor the import.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runconfig_jupyter.core.errors import TargetPluginError, UnknownTarget, closest
from runconfig_jupyter.core.system.records import record
from runconfig_jupyter.core.system.remembered import read_remembered, write_remembered

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "runconfig_jupyter.targets"
# The interface every loaded class must derive from, named rather than imported: the interface module uses this
# one to build targets from their specs, so importing it back would make the two a circle.
BASE_CLASS = ("runconfig_jupyter.core.target.interface", "ComputeTarget")


def is_target_class(candidate: Any) -> bool:
    """A class deriving from core/target/interface.py's ``ComputeTarget``."""
    return isinstance(candidate, type) and any(
        (klass.__module__, klass.__qualname__) == BASE_CLASS for klass in candidate.__mro__
    )


REMEMBERED_FILE = Path("cache", "target-types.json")  # under the run home
METADATA_SUFFIXES = (".dist-info", ".egg-info")  # what importlib.metadata looks for in a sys.path folder
REMEMBERED_PATHS = 16  # distinct sys.path layouts remembered (a notebook's, a script's, a driver's, ...)


class Point(Protocol):
    """What the registry needs of an entry point: ``importlib.metadata.EntryPoint`` or a remembered one."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


@record(frozen=True)
class RememberedPoint:
    """An entry point read back from the remembered scan: loaded as ``EntryPoint.load`` loads ``module:attr``."""

    name: str
    value: str
    group: str = GROUP

    def load(self) -> Any:
        reference = self.value.split("[", 1)[0]  # extras ("module:attr [extra]") do not change what is loaded
        module, _, attribute = reference.partition(":")
        loaded: Any = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            loaded = getattr(loaded, part)
        return loaded


def installed_entry_points() -> list[EntryPoint]:
    """Every entry point of the group in the distributions importable now (``sys.path`` as it is)."""
    from importlib.metadata import entry_points  # ~15 ms of imports: paid only by a process that scans

    return list(entry_points(group=GROUP))


def search_path_state() -> str:
    """The ``sys.path`` entries that hold distribution metadata, with their modification times: exactly what
    a scan reads. Entries without metadata (a script's folder, a driver's run folder) change nothing."""
    state: list[tuple[str, int]] = []
    for entry in sys.path:
        folder = entry or os.getcwd()
        try:
            if os.path.isdir(folder):
                with os.scandir(folder) as children:
                    if not any(child.name.lower().endswith(METADATA_SUFFIXES) for child in children):
                        continue
            state.append((folder, os.stat(folder).st_mtime_ns))  # a zip archive on sys.path counts as a whole
        except OSError:
            continue  # not there: holds nothing to scan
    return json.dumps(state)


def remembered_entry_points(fresh: bool = False) -> list[Point]:
    """The scan remembered for this very ``sys.path`` state, else (or when ``fresh``) a new scan, which is then
    remembered. Never raises for the file: an unreadable or unwritable cache only costs the scan."""
    state = search_path_state()
    remembered = read_remembered(REMEMBERED_FILE)
    try:
        points = None if fresh else remembered.get(state)
        if isinstance(points, list):
            return [RememberedPoint(str(name), str(value)) for name, value in points]
    except (ValueError, TypeError):  # a damaged entry: scanned and written anew
        pass
    scanned = installed_entry_points()
    if search_path_state() == state:  # nothing was installed while scanning
        _remember(remembered, state, scanned)
    return list(scanned)


def _remember(remembered: dict[str, Any], state: str, scanned: list[EntryPoint]) -> None:
    remembered.pop(state, None)
    remembered[state] = [[point.name, point.value] for point in scanned]
    kept = dict(list(remembered.items())[-REMEMBERED_PATHS:])  # the oldest layouts go first
    write_remembered(REMEMBERED_FILE, kept)  # a read-only home: every process scans, as before


class TargetTypes:
    """The target types installed, by type name; loads a type's class on first use only.

    ``scan`` lists the entry points (default: the installed distributions); a test or an embedding
    application may pass its own list, which is then the only source.
    """

    def __init__(self, scan: Callable[[], Iterable[Point]] | None = None):
        self._scan = scan  # None: the installed distributions, through the remembered scan
        self._points: dict[str, Point] | None = None
        self._classes: dict[str, type[Any]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, Point]:
        """Scan again (a plug-in was installed or ``sys.path`` changed); loaded classes are kept."""
        return self._read(fresh=True)

    def _read(self, fresh: bool) -> dict[str, Point]:
        if self._scan is not None:
            found: Iterable[Point] = self._scan()
        else:
            found = remembered_entry_points(fresh=fresh)
        points: dict[str, Point] = {}
        for point in found:
            points.setdefault(point.name, point)  # the first on sys.path wins, as for imports
        with self._lock:
            self._points = points
        return points

    def entry_points(self) -> dict[str, Point]:
        return self._points if self._points is not None else self._read(fresh=False)

    def names(self) -> list[str]:
        """The installed type names (for messages, ``%targets`` and the docs)."""
        return sorted(self.entry_points())

    def get(self, type_name: str) -> type[Any]:
        """The class of a target type; UnknownTarget when none is installed, TargetPluginError when it is broken."""
        cls = self._classes.get(type_name)
        if cls is not None:
            return cls
        point = self.entry_points().get(type_name) or self.refresh().get(type_name)
        if point is None:
            raise UnknownTarget(self._unknown_message(type_name), field="compute_target.type")
        try:
            cls = self._load(point)
        except TargetPluginError:
            fresh = self.refresh().get(type_name) if isinstance(point, RememberedPoint) else None
            if fresh is None or isinstance(fresh, RememberedPoint):
                raise
            cls = self._load(fresh)  # the remembered scan was stale: the installed entry point decides
        with self._lock:
            self._classes[type_name] = cls
        return cls

    def _load(self, point: Point) -> type[Any]:
        described = f"{point.name} = {point.value}"
        try:
            loaded: Any = point.load()
        except Exception as error:  # any failure of a third-party import is that plug-in's, named as such
            raise TargetPluginError(
                f"the target plug-in '{described}' (entry point group {GROUP}) cannot be loaded: "
                f"{type(error).__name__}: {error}. Reinstall or fix the package that provides it.",
                entry_point=described,
            ) from error
        if not is_target_class(loaded):
            raise TargetPluginError(
                f"the target plug-in '{described}' (entry point group {GROUP}) is not a ComputeTarget subclass "
                f"(got {loaded!r}); point the entry point at the target class.",
                entry_point=described,
            )
        return loaded

    def _unknown_message(self, type_name: str) -> str:
        names = self.names()
        suggestion = closest(type_name, names)
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        return (
            f"no compute target type '{type_name}' is installed.{hint} Installed types: {', '.join(names) or 'none'}. "
            f"A package adds one through the '{GROUP}' entry-point group."
        )


TARGET_TYPES = TargetTypes()


def target_class(type_name: str) -> type[Any]:
    """The class registered under ``type_name`` in the entry-point group (see ``TargetTypes.get``)."""
    return TARGET_TYPES.get(type_name)
