"""Target types are plug-ins: found only through the entry-point group ``runconfig_jupyter.targets``.

A package adds a target type by declaring, in its ``pyproject.toml``::

    [project.entry-points."runconfig_jupyter.targets"]
    slurm = "runconfig_slurm.target:SlurmTarget"

The built-in types (local, docker, kernel, ray) are declared the same way in this project's own
``pyproject.toml``, so core never names a concrete target. Two costs are kept off the run's path:

* the scan of installed distributions (a few milliseconds, more with many packages installed) is done
  once per process and cached; a type that is not in the cache triggers one re-scan before it is
  refused, so a plug-in installed while a Jupyter server runs is found without a restart;
* only the entry point asked for is loaded, so the docker SDK or ray are imported only by runs that use
  them. The standby driver loads its usual types (and calls their ``warm_up``) while it waits,
  so a claimed standby pays for neither the scan nor the import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import TargetPluginError, UnknownTarget, closest

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


def installed_entry_points() -> list[EntryPoint]:
    """Every entry point of the group in the distributions importable now (``sys.path`` as it is)."""
    from importlib.metadata import entry_points  # ~10 ms of imports: paid only by a process that resolves a type

    return list(entry_points(group=GROUP))


class TargetTypes:
    """The target types installed, by type name; loads a type's class on first use only.

    ``scan`` lists the entry points (default: the installed distributions); a test or an embedding
    application may pass its own list, which is then the only source.
    """

    def __init__(self, scan: Callable[[], Iterable[EntryPoint]] = installed_entry_points):
        self._scan = scan
        self._points: dict[str, EntryPoint] | None = None
        self._classes: dict[str, type[Any]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, EntryPoint]:
        """Scan again (a plug-in was installed or ``sys.path`` changed); loaded classes are kept."""
        points: dict[str, EntryPoint] = {}
        for point in self._scan():
            points.setdefault(point.name, point)  # the first on sys.path wins, as for imports
        with self._lock:
            self._points = points
        return points

    def entry_points(self) -> dict[str, EntryPoint]:
        return self._points if self._points is not None else self.refresh()

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
        cls = self._load(point)
        with self._lock:
            self._classes[type_name] = cls
        return cls

    def _load(self, point: EntryPoint) -> type[Any]:
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
