"""Turning a planned input into files on this machine (the host side every target starts from).

``host_source`` gives the folder (or file) holding an input's data on the host: for a local datastore the
registered folder itself, checked again through confinement (the plan was checked at submit, but a link can be
swapped since: the path used is the resolved one, and it must still sit in a registered place); for remote kinds
a copy in the shared download cache (core/data/cache.py), fetched with byte progress. ``copy_input`` then makes
the ``download`` mode's private copy, keeping only the files a dataset's glob names; ``view_input`` is the
``mount`` of such a dataset: links to those files only, so the script's mount point holds the dataset, not every
file of the folder it lies in (as a v1 mount of a file dataset did).
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.input_datasets import files_under, listed_paths
from runconfig_jupyter.core.safety.confine import reachable_in_run_home, refuse_never_allowed, registered_places

if TYPE_CHECKING:
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.plan import DataInput

Progress = Callable[[int, int], None]
LOCAL = "local"
VIEWS = ".data_views"  # in a run's folder: the linked views of mounted datasets that name some files of a folder


def confined_host_path(path: str | os.PathLike[str], field: str, home: Path | None = None) -> Path:
    """The real path of ``path``, refused unless it lies in a registered place (and never in a forbidden one).

    Only registered places count here, not the run's source directory: data reaches a run only through a
    datastore the user registered (core/data/stores.py registers a local datastore's folder as a place).
    """
    real = Path(os.path.realpath(path))
    refuse_never_allowed(real, field, path)
    if not reachable_in_run_home(real, home):
        raise ConfigError(
            f"'{path}' is in the run home, where a run may read only runs' outputs/ folders and datastores; "
            "name a run's outputs (<run id>/outputs) or a registered datastore",
            field=field,
        )
    places = registered_places(home)
    if not any(real == place.path or place.path in real.parents for place in places):
        names = ", ".join(str(p.path) for p in places) or "none"
        raise ConfigError(
            f"'{path}'{f' (it resolves to {real})' if str(real) != str(path) else ''} is outside every registered "
            f"place ({names}); data reaches a run only from a registered datastore (Datastore.register_local)",
            field=field,
        )
    return real


def host_source(inp: DataInput, cache: DownloadCache, progress: Progress | None = None) -> Path:
    """Where the input's data is on this machine: the registered folder itself, or the cached copy."""
    field = f"data.{inp.name}"
    if inp.kind == LOCAL:
        real = confined_host_path(inp.path, field)
        if not real.exists():
            from runconfig_jupyter.core.errors import DataPathMissing

            raise DataPathMissing(f"'{inp.path}' no longer exists on datastore '{inp.datastore}'", field=field)
        return real
    from runconfig_jupyter.core.data.filesystems import join, open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    fs, root = open_filesystem(get_datastore_spec(inp.datastore, field=field), field=field)
    only = listed_paths(inp.pattern)  # a dataset of several paths: those files, not their whole folder
    return cache.fetch(fs, join(root, inp.path, field), progress=progress, field=field, only=only)


def copy_input(source: Path, target: Path, pattern: str | None = None, field: str = "data") -> Path:
    """The ``download`` copy of an input at ``target`` (a folder; a single-file input lands inside it).

    Returns the path the script is given: the folder, or the file in it for a single-file input.
    """
    target.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        shutil.copy2(source, target / source.name)
        return target / source.name
    for relative, real in picked_files(source, pattern, field):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real, destination)
    return target


def view_input(source: Path, view: Path, pattern: str, field: str = "data", link_root: str | None = None) -> Path:
    """The ``mount`` of a dataset naming some files of the folder ``source`` (a glob, or a list of paths): a new
    folder ``view`` holding, each at its place below ``source``, a link to every file ``pattern`` names and nothing
    else. Nothing is copied, and a script listing its mount point sees the dataset's files only (the folder's other
    files are not part of the input; training on them would be wrong).

    Links name the real files; with ``link_root`` (where a container sees ``source``) they name that place instead,
    so a view mounted into a container resolves there. Returns ``view``.
    """
    if view.is_symlink() or view.exists():
        shutil.rmtree(view)  # a view left by an earlier attempt of this run: made anew, never merged
    view.mkdir(parents=True)
    root = Path(os.path.realpath(source))
    for relative, real in picked_files(source, pattern, field):
        link = view / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        target = str(real) if link_root is None else posixpath.join(link_root, real.relative_to(root).as_posix())
        link.symlink_to(target)
    return view


def picked_files(source: Path, pattern: str | None, field: str) -> Iterator[tuple[Path, Path]]:
    """(path relative to ``source``, real file) of each file of the folder ``source`` that ``pattern`` names.

    A file that is a link leading out of the folder is refused: a copy or a view would carry a file from
    elsewhere into the run.
    """
    root = Path(os.path.realpath(source))
    for file in files_under(source, pattern):
        real = Path(os.path.realpath(file))
        if file.is_symlink() and root not in real.parents:
            raise ConfigError(
                f"'{file}' is a link to {real}, outside the input's folder {root}; links out of a datastore are "
                "never copied into a run (remove the link, or register the folder it points to)",
                field=field,
            )
        yield file.relative_to(source), real


def place_on_compute(working_dir: Path, path_on_compute: str | None, default: str) -> Path:
    """Where ``path_on_compute`` lands for a process on this machine: always below the run's working folder.

    An absolute ``path_on_compute`` (meaningful in a container) is re-rooted under the working folder, so a run
    configuration can never make the local target write data over a host path; '..' is refused at submit.
    """
    relative = (path_on_compute or default).replace("\\", "/").lstrip("/")
    if ".." in relative.split("/"):
        raise ConfigError(f"'{path_on_compute}' leaves the run's folder ('..')", field="pathOnCompute")
    return working_dir / relative
