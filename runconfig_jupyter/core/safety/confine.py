"""The one confinement check for every path a run configuration names.

A run configuration can come from someone else: a shared notebook's ``%%runconfig`` cell read by the Lab
toolbar's Submit, a REST body, a form, a Python value. Any of its paths may become a bind mount
(``resume_from`` on Docker), a file we read and ship (conda / requirements files), or the folder we package.
So every such path goes through :class:`Confinement` before anything is recorded or any target contacted:

* it is resolved with ``realpath`` (symlinks followed at every level), so a link out of an allowed place
  is judged by where it really points;
* it must be inside an allowed place: the source directory, a run's ``outputs/`` in the run home (for
  ``resume_from``, simply the run's id), or a place the user registered explicitly (:func:`register_place`);
  with a ``root`` (the Jupyter server's root, for REST submits) the source directory must be inside the
  root, and other paths inside the root or a registered place;
* it must never be a system location, a credential folder or a socket, FIFO or device node, nor contain
  one - not even when registered (:func:`never_allowed`).

Refusals are ``ConfigError(field=...)`` so every front end shows them under the field that named the path.
The check narrows but cannot close the window between check and use (a folder swapped for a link after the
check); targets therefore re-check at start and mount the resolved path, never the text the user wrote.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import OUTPUTS_DIR
from runconfig_jupyter.core.safety.jupyter_runtime import jupyter_runtime_folder
from runconfig_jupyter.core.system.paths import RUN_ID, run_home
from runconfig_jupyter.core.system.records import record

if TYPE_CHECKING:  # created by the first registered place read or written (most runs have none)
    from runconfig_jupyter.core.safety.place import Place

PLACES_FILE = "places.yaml"
# The one folder of the run home that may hold registered places: local datastores (core/data/stores.py).
DATASTORES_FOLDER = "datastores"
# System locations: never a source, mount or file to read, even when registered.
SYSTEM_LOCATIONS = (
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
)
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock")
# Folders and files under a home that hold credentials.
CREDENTIALS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".netrc",
    ".git-credentials",
    ".pypirc",
)
CREDENTIAL_NAMES = frozenset(name.split("/")[0] for name in CREDENTIALS)
# A folder about to be bind-mounted is walked for sockets and device nodes; bounded in entries and time.
MOUNT_SCAN_ENTRIES = 200_000
MOUNT_SCAN_SECONDS = 10.0


# -- locations that are never allowed ---------------------------------------------------------------------
def never_allowed() -> list[tuple[Path, str]]:
    """``(real path, why)`` of every location no configuration may name, contain or sit in."""
    keys = ("HOME", "DOCKER_HOST", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "XDG_DATA_HOME")
    return list(_never_allowed(tuple(os.environ.get(key, "") for key in keys)))


@functools.lru_cache(maxsize=8)
def _never_allowed(_environment: tuple[str, ...]) -> tuple[tuple[Path, str], ...]:
    """Cached per value of the variables the list depends on (tests and users change HOME)."""
    found: list[tuple[Path, str]] = [(Path(p), "a system location") for p in SYSTEM_LOCATIONS]
    sockets = list(DOCKER_SOCKETS)
    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith("unix://"):
        sockets.append(docker_host.removeprefix("unix://"))
    found += [(Path(p), "the Docker engine's socket") for p in sockets]
    home = Path.home()
    if home != Path("/root") and Path("/root") not in home.parents:
        found.append((Path("/root"), "another user's home"))  # the administrator's, when we are not root
    found += [(home / name, "a credential store") for name in CREDENTIALS]
    runtime = jupyter_runtime_folder()  # None: no jupyter_core (core also runs from a bare script)
    if runtime is not None:
        found.append((Path(runtime), "Jupyter's runtime folder (server tokens, kernel keys)"))
    return tuple((_real(path), why) for path, why in found)


def _real(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except OSError:  # e.g. /proc/1/cwd of another user: where it leads cannot be known
        return Path(os.path.abspath(path))


def _resolved(path: Path, field: str, shown: Any) -> Path:
    """``realpath``, or a refusal when the path cannot be followed (where it leads is then unknown)."""
    try:
        return Path(os.path.realpath(path))
    except OSError as error:
        raise ConfigError(f"'{shown}' cannot be followed ({error.strerror}); it is refused", field=field) from None
    except ValueError as error:  # an embedded NUL byte
        raise ConfigError(f"{shown!r} is not a usable path ({error})", field=field) from None


def _under(path: Path, parent: Path) -> bool:
    """``path`` is ``parent`` or below it (both already resolved); on strings: ``Path.parents`` is slow."""
    text, prefix = str(path), str(parent)
    return text == prefix or text.startswith(prefix if prefix.endswith("/") else prefix + "/")


def refuse_never_allowed(real: Path, field: str, shown: Any = None) -> None:
    """Refuse ``real`` (already resolved) when it is, sits in, or contains a never-allowed location."""
    what = f"'{shown if shown is not None else real}'"
    via = f" (it resolves to {real})" if shown is not None and str(shown) != str(real) else ""
    for place, why in never_allowed():
        if _under(real, place):
            raise ConfigError(f"{what}{via} is inside {place}, {why}; a run may never reach it", field=field)
        if _under(place, real):
            raise ConfigError(
                f"{what}{via} contains {place}, {why}; name a folder that holds only the run's own files",
                field=field,
            )
    store = _credential_store(real)
    if store:
        raise ConfigError(f"{what}{via} is inside {store}, a credential store; a run may never reach it", field=field)
    for home in _homes():
        if _under(home, real):  # /home, /home/alice: would package or mount every store below
            held = next((home / n for n in CREDENTIALS if os.path.lexists(home / n)), None)
            if held is not None:
                raise ConfigError(
                    f"{what}{via} contains {held}, a credential store; name a folder that holds only the run's own "
                    "files",
                    field=field,
                )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return  # missing: the caller says so in its own words
    if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise ConfigError(f"{what}{via} is a socket, FIFO or device node; a run may never reach one", field=field)


def _homes(limit: int = 1000) -> list[Path]:
    """Our home, root's, and every ``/home/<user>`` (bounded): folders whose credential stores we protect."""
    homes = [_real(Path.home()), Path("/root")]
    try:
        with os.scandir("/home") as entries:
            for index, entry in enumerate(entries):
                if index >= limit:
                    break
                homes.append(Path(entry.path))
    except OSError:
        pass
    return homes


def _credential_store(real: Path) -> str | None:
    """A credential folder of *any* user's home on the way (``/home/alice/.ssh/...``), not only our own."""
    homes = [Path.home(), Path("/root")]
    if len(real.parts) > 2 and real.parts[1] == "home":
        homes.append(Path(*real.parts[:3]))
    for home in homes:
        if _under(real, home) and real != home:
            inside = real.relative_to(home).as_posix() + "/"
            for name in CREDENTIALS:
                if inside.startswith(name + "/"):
                    return str(home / name)
    return None


def credential_inodes(limit: int = 20_000) -> frozenset[tuple[int, int]]:
    """``(device, inode)`` of the files in every home's credential stores (bounded walk).

    A hard link *is* the file: ``proj/notes.txt`` hard-linked to ``~/.ssh/id_rsa`` has no path that says so.
    The packer asks this set about files with more than one link, so such a copy is never packaged.
    """
    found: set[tuple[int, int]] = set()
    visited = 0
    for home in _homes():
        for name in CREDENTIALS:
            pending = [str(home / name)]
            while pending and visited < limit:
                path = pending.pop()
                visited += 1
                try:
                    st = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.add((st.st_dev, st.st_ino))
                elif stat.S_ISDIR(st.st_mode):
                    try:
                        pending += [entry.path for entry in os.scandir(path)]
                    except OSError:
                        continue
    return frozenset(found)


def check_system_path(path: str | os.PathLike[str], field: str) -> Path:
    """For files read on the user's behalf without a source directory (``Environment.from_pip_requirements``)."""
    real = _resolved(Path(path).expanduser(), field, path)
    refuse_never_allowed(real, field, path)
    return real


# -- registered places ------------------------------------------------------------------------------------
def _places_file(home: Path | None) -> Path:
    return (home or run_home()) / PLACES_FILE


def registered_places(home: Path | None = None) -> list[Place]:
    """The places in ``<run home>/places.yaml``; an unreadable file is an error, never 'no places'."""
    file = _places_file(home)
    if not file.is_file():
        return []
    import yaml

    from runconfig_jupyter.core.safety.place import Place

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")[:1_000_000]) or {}
        entries = data.get("places", []) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError("expected 'places:' followed by a list")
        return [
            Place(str(e.get("name") or Path(e["path"]).name), _real(Path(str(e["path"]))), bool(e.get("writable")))
            for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as error:
        raise ConfigError(
            f"{file} cannot be read ({error}); fix it or remove it and register places again", field="places"
        ) from None


def reachable_in_run_home(real: Path, home: Path | None = None) -> bool:
    """Whether ``real`` (already resolved) may reach a run as far as the run home is concerned: a path outside the
    home may (other rules judge it); inside it only a run's ``outputs/`` and a local datastore's own folder
    (``datastores/<name>``) may, never runs.db, run records, logs, secrets or standby FIFOs - even when a
    registered place (a datastore over the runs folder, a place holding the home) covers them."""
    home = _real(Path(home) if home is not None else run_home())
    if not _under(real, home):
        return True
    parts = real.relative_to(home).parts
    return _in_runs_outputs(real, home) or (len(parts) >= 2 and parts[0] == DATASTORES_FOLDER)


def _in_runs_outputs(real: Path, home: Path) -> bool:
    """``real`` is a run's ``outputs/`` folder (or inside one) of the run home ``home`` (both resolved)."""
    if not _under(real, home) or real == home:
        return False
    parts = real.relative_to(home).parts
    return len(parts) >= 3 and parts[0] == "runs" and parts[2] == OUTPUTS_DIR


def register_place(
    path: str | os.PathLike[str], name: str | None = None, writable: bool = False, home: Path | None = None
) -> Place:
    """Allow runs to use ``path`` (read-only unless ``writable``). System locations are refused here too."""
    real = _resolved(Path(path).expanduser(), "places", path)
    refuse_never_allowed(real, "places", path)
    if not real.is_dir():
        raise ConfigError(f"'{path}' is not a folder; register the folder that holds the data", field="places")
    from runconfig_jupyter.core.safety.place import Place

    place = Place(name or real.name, real, bool(writable))
    places = [p for p in registered_places(home) if p.name != place.name and p.path != place.path]
    _write_places(home, [*places, place])
    return place


def unregister_place(name_or_path: str, home: Path | None = None) -> bool:
    """Forget a place by name or path; True when one was registered."""
    real = _real(Path(name_or_path).expanduser())
    places = registered_places(home)
    kept = [p for p in places if p.name != name_or_path and p.path != real]
    _write_places(home, kept)
    return len(kept) != len(places)


def _write_places(home: Path | None, places: list[Place]) -> None:
    import yaml

    file = _places_file(home)
    file.parent.mkdir(parents=True, exist_ok=True)
    temp = file.with_suffix(".tmp")
    temp.write_text(yaml.safe_dump({"places": [p.to_dict() for p in places]}, sort_keys=False), encoding="utf-8")
    temp.replace(file)


# -- the check ---------------------------------------------------------------------------------------------
@record
class Confinement:
    """Where one run's paths may point. Build it with :meth:`for_source`; every path goes through :meth:`path`."""

    source: Path  # real path of the source directory
    home: Path  # real path of the run home
    root: Path | None = None  # the server root (REST): a stricter bound for everything
    places: tuple[Place, ...] = ()

    @classmethod
    def for_source(
        cls,
        source_directory: str | os.PathLike[str],
        home: Path | None = None,
        root: Path | None = None,
        field: str = "source_directory",
    ) -> Confinement:
        """Resolve and check the source directory itself: not a system location, inside ``root`` when given."""
        home_real = _real(home or run_home())
        root_real = _real(root) if root is not None else None
        places = tuple(p for p in registered_places(home_real) if _allowed_place(p))
        real = _resolved(Path(source_directory).expanduser(), field, source_directory)
        refuse_never_allowed(real, field, source_directory)
        if _under(real, home_real):  # runs.db, other runs' logs and snapshots, secrets/ with secret values
            raise ConfigError(
                f"'{source_directory}' is inside the run home {home_real}, which holds every run's records and "
                "secret values; point source_directory at your project folder",
                field=field,
            )
        if root_real is not None and not _under(real, root_real):
            raise ConfigError(
                f"'{source_directory}' is outside the Jupyter root folder {root_real}; a submit through the server "
                "may only package folders under it",
                field=field,
            )
        return cls(real, home_real, root_real, places)

    def path(
        self,
        value: str | os.PathLike[str],
        field: str,
        kind: str = "any",
        writable: bool = False,
        base: Path | None = None,
    ) -> Path:
        """The real path of ``value`` (relative to ``base``, default the source directory), or ConfigError.

        ``kind`` is ``"file"``, ``"dir"`` or ``"any"``; a missing path is refused with the field named.
        """
        if not isinstance(value, str | os.PathLike) or not str(value) or "\0" in str(value):
            raise ConfigError("must be a path (text)", field=field)
        given = Path(value).expanduser()
        real = _resolved(given if given.is_absolute() else (base or self.source) / given, field, value)
        refuse_never_allowed(real, field, value)
        if not self._allowed(real, writable):
            raise ConfigError(f"'{value}'{self._resolves(value, real)} {self._where()}", field=field)
        if kind == "file" and not real.is_file():
            raise ConfigError(f"'{value}' is not a file{self._resolves(value, real)}", field=field)
        if kind == "dir" and not real.is_dir():
            raise ConfigError(f"'{value}' is not a folder{self._resolves(value, real)}", field=field)
        return real

    def source_file(self, value: str, field: str) -> Path:
        """A file that must be in the source directory itself (the script): a link out of it is refused."""
        real = _resolved(self.source / value, field, value)
        if not _under(real, self.source):
            raise ConfigError(
                f"'{value}'{self._resolves(value, real)} is not inside the source directory {self.source}; "
                "the run only gets a copy of that folder, so the script must live in it",
                field=field,
            )
        return real

    def resume_from(self, value: str, field: str = "resume_from") -> Path:
        """A run id (that run's outputs) or a folder in an allowed place; the real folder to mount read-only."""
        if not isinstance(value, str) or not value:
            raise ConfigError("must be a run id or a folder path", field=field)
        if RUN_ID.match(value) and value not in (".", ".."):
            outputs = self.home / "runs" / value / OUTPUTS_DIR
            if outputs.is_dir():
                real = _real(outputs)
                if not _under(real, self.home / "runs" / value):
                    raise ConfigError(f"run {value}'s outputs folder is a link out of the run; refused", field=field)
                self.check_mount(real, field)
                return real
            if not (self.source / value).exists() and os.sep not in value:
                raise ConfigError(
                    f"'{value}' is neither a folder nor the id of a run with outputs; give the checkpoint folder "
                    "or the id of the run to resume from",
                    field=field,
                )
        real = self.path(value, field, kind="dir")
        self.check_mount(real, field)
        return real

    def host_pip_packages(self, packages: list[str], field: str) -> None:
        """Pip entries a target installs *on this machine* (local, Ray): packages, never file-reading options.

        ``-r/root/.ssh/id_rsa`` as a "package" makes pip read that file and print its lines into the prepare
        log; ``-e``, ``--find-links``, ``-c`` read host folders too. So an entry starting with ``-`` is
        refused here, and an entry that is a local path (``./pkg``, ``/x/y.whl``, ``name @ file:///...``) goes
        through :meth:`path` like any other path of the configuration. (Docker runs pip inside the image.)
        """
        for index, entry in enumerate(packages):
            text, where = str(entry).strip(), f"{field}[{index}]"
            if text.startswith("-"):
                raise ConfigError(
                    f"'{text}' is a pip option, not a package: this target installs packages on this machine, "
                    "where options such as -r, -c, -e or --find-links read files; list the packages themselves "
                    "(a wheel or folder inside the source directory is fine), or use the docker target",
                    field=where,
                )
            url = re.search(r"file:(?://)?(/[^\s;#]*)", text)
            if url:
                self.path(urllib.parse.unquote(url.group(1)), where)
            elif "://" not in text and (text.startswith((".", "~", "/")) or "/" in text.split(";")[0]):
                self.path(re.sub(r"\[[^\]]*\]$", "", text.split(";")[0].strip()), where)

    def check_mount(self, real: Path, field: str) -> None:
        """A folder about to be mounted: no socket, FIFO or device node anywhere inside (see :func:`check_mount`)."""
        check_mount(real, field)

    # -- helpers -------------------------------------------------------------------------------------------
    def _allowed(self, real: Path, writable: bool) -> bool:
        places = [p.path for p in self.places if p.writable or not writable]
        if _under(real, self.home):  # even when the home sits in the project or the root: only runs' outputs
            return self._in_run_outputs(real) or self._in_home_datastore(real, places)
        if self.root is not None:
            return _under(real, self.root) or any(_under(real, p) for p in places)
        return self._in_run_outputs(real) or any(_under(real, p) for p in (self.source, *places))

    def _in_home_datastore(self, real: Path, places: list[Path]) -> bool:
        """A local datastore kept in the run home (``datastores/<name>``, e.g. workspaceblobstore), once registered."""
        folder = self.home / DATASTORES_FOLDER
        return any(_under(real, p) and _under(p, folder) and p != folder for p in places)

    def _in_run_outputs(self, real: Path) -> bool:
        """In the run home only a run's ``outputs/`` is a place: not runs.db, other runs' logs or standby FIFOs."""
        return _in_runs_outputs(real, self.home)

    def _where(self) -> str:
        names = ", ".join(str(p.path) for p in self.places) or "none"
        if self.root is not None:
            return (
                f"is outside the Jupyter root folder {self.root} and outside every registered place ({names}); "
                "move it under the root or register its folder (runconfig_jupyter.register_place)"
            )
        return (
            f"is outside the source directory {self.source}, the runs' outputs and every registered place ({names}); "
            "move it into the source directory, give a run id, or register its folder "
            "(runconfig_jupyter.register_place)"
        )

    @staticmethod
    def _resolves(value: Any, real: Path) -> str:
        return f" (it resolves to {real})" if str(value) != str(real) else ""


def check_mount(
    real: Path,
    field: str,
    max_entries: int = MOUNT_SCAN_ENTRIES,
    max_seconds: float = MOUNT_SCAN_SECONDS,
    too_big: str = "point at the checkpoint folder itself",
) -> None:
    """A folder about to be mounted: no socket, FIFO or device node anywhere inside (bounded walk).

    Needs no source directory: the driver checks a data folder (core/data) right before mounting it too, with
    bounds of its own (a dataset may hold millions of files; a checkpoint folder does not).
    """
    from runconfig_jupyter.core.snapshot.ignore import (
        is_never_packaged,  # pathspec: only when something is about to be mounted
    )

    deadline = time.monotonic() + max_seconds
    seen = 0
    pending = [str(real)]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            raise ConfigError(f"cannot read '{folder}' ({error.strerror}); fix its permissions", field) from None
        for entry in entries:
            seen += 1
            if seen > max_entries or time.monotonic() > deadline:
                raise ConfigError(
                    f"'{real}' holds more than {max_entries} entries (or took more than {max_seconds:g} s to "
                    f"check); {too_big}",
                    field=field,
                )
            mode = entry.stat(follow_symlinks=False).st_mode
            inside = os.path.relpath(entry.path, real)
            if is_never_packaged(inside, stat.S_ISDIR(mode)):  # the rule snapshots follow (core/ignore.py)
                raise ConfigError(
                    f"'{entry.path}' is a credential store; a folder holding one is never mounted "
                    "(RUNCONFIG_PACKAGE_CREDENTIALS names the ones you allow)",
                    field=field,
                )
            if entry.name in CREDENTIAL_NAMES and _credential_store(Path(entry.path)):
                raise ConfigError(
                    f"'{entry.path}' is a credential store; a folder holding one is never mounted", field=field
                )
            if stat.S_ISDIR(mode):
                pending.append(entry.path)
            elif stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                raise ConfigError(
                    f"'{entry.path}' is a socket, FIFO or device node; a folder holding one is never mounted",
                    field=field,
                )


def _allowed_place(place: Place) -> bool:
    """A registered place that became a system location (edited file, moved link) is ignored, not trusted."""
    try:
        refuse_never_allowed(place.path, "places")
    except ConfigError:
        return False
    return True


def check_config(config: Any, home: Path | None = None, root: Path | None = None) -> Confinement:
    """The host paths of a ScriptRunConfig: source directory, script, environment files.

    ``resume_from`` may also name a datastore path, so the configuration checks it (scriptrunconfig.py):
    a host folder through ``Confinement.resume_from``, a datastore path by asking the store.
    """
    confinement = Confinement.for_source(config.source_directory, home, root)
    if config.script and not config.command and isinstance(config.script, str):
        confinement.source_file(config.script, "script")
    python = config.effective_environment().python
    if python.conda_dependencies_file:
        confinement.path(python.conda_dependencies_file, "environment.python.conda_dependencies_file", "file")
    return confinement


def __getattr__(name: str) -> Any:
    """``Place`` lives in core/safety/place.py and is still importable from here."""
    if name == "Place":
        from runconfig_jupyter.core.safety.place import Place

        return Place
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
