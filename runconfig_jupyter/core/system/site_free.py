"""Starting our own Python processes (run drivers, standbys) without ``site``, when that changes nothing.

Python's ``site`` step builds ``sys.path`` from the site-packages folders and their ``.pth`` files, and runs
the ``import`` lines those files hold. On some machines that costs most of an interpreter's start: here a
``.pth`` imports certifi (``importlib.resources``, ``pathlib``, ``tempfile``: ~20 of the ~30 ms), and a fresh
driver pays it on the run's critical path, before it can start the script's own interpreter.

A process started the ordinary way records what ``site`` gave it (:func:`capture` / :func:`remember`): the
resulting ``sys.path`` and prefixes, and the state of every folder and ``.pth`` file that result was built
from. The next start with the same interpreter and the same environment (:func:`module_command`) is
``python -S -c BOOT``, which puts that ``sys.path`` back and runs the module as ``-m`` would. The record is
used only when:

- every folder on it and every ``.pth`` file in a site folder still has the modification time, inode and size
  it had (an install, an uninstall, a new ``.pth`` or a ``sitecustomize.py`` dropped on the path changes one);
- ``site``'s work amounted to that list: no ``sitecustomize``/``usercustomize`` ran, and the import system
  was left as a bare interpreter has it (an editable install in setuptools' strict mode adds a finder, so
  that interpreter is always started the ordinary way). The one finder tolerated is setuptools'
  ``distutils`` shim, which only answers ``import distutils``, a module the driver never imports.

What a ``.pth`` ``import`` line does besides (certifi's CA append here) is not repeated in the driver; the
script's own interpreter is always started with ``site``. When the module is not importable from the
remembered path after all, the boot replaces itself with the ordinary ``python -m`` start.

Standard library only: the submitting process asks this before every driver start.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.system.remembered import file_state, read_remembered, write_remembered

REMEMBERED = Path("cache") / "site-path.json"
REMEMBERED_LAYOUTS = 8  # interpreters x environments remembered (a kernel's, a server's, a script's, ...)
# The variables that change what ``site`` and the interpreter's own path computation give.
PATH_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONPLATLIBDIR", "HOME")
# A bare interpreter's finders, and the one a .pth may add that the driver cannot notice (see above).
ALLOWED_FINDERS = {
    "_frozen_importlib.BuiltinImporter",
    "_frozen_importlib.FrozenImporter",
    "_frozen_importlib_external.PathFinder",
    "_distutils_hack.DistutilsMetaFinder",
}
BARE_PATH_HOOKS = 2  # zipimport's and the FileFinder's

BOOT = """import sys
sys.path[:] = {path!r}
sys.prefix, sys.exec_prefix = {prefixes!r}
import importlib.util, os, runpy
try:
    found = importlib.util.find_spec({module!r}) is not None
except ImportError:
    found = False
if not found:  # the remembered path no longer holds it: start the ordinary way
    os.execv(sys.executable, [sys.executable, "-m", {module!r}, *sys.argv[1:]])
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


def layout_key(environ: Mapping[str, str]) -> str:
    """What, besides the files, decides the path a process gets: the interpreter, its user, the variables."""
    facts = [sys.executable, sys.version, os.geteuid(), [environ.get(name) for name in PATH_VARIABLES]]
    return json.dumps(facts)  # the facts themselves (no hashlib: a fresh driver loads it only if it must)


def _site_folders() -> list[str]:
    site = sys.modules.get("site")
    if site is None:
        return []
    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE is not False:
        folders.append(site.getusersitepackages())
    return folders


def _pth_files(folders: list[str]) -> list[str]:
    found = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.extend(f"{folder}/{name}" for name in sorted(names) if name.endswith(".pth"))
    return found


def _finder_name(finder: object) -> str:
    kind = finder if isinstance(finder, type) else type(finder)  # the built-in finders are classes
    return f"{kind.__module__}.{kind.__qualname__}"


def _imports_as_without_site() -> bool:
    return (
        all(_finder_name(finder) in ALLOWED_FINDERS for finder in sys.meta_path)
        and len(sys.path_hooks) == BARE_PATH_HOOKS
        and "sitecustomize" not in sys.modules
        and "usercustomize" not in sys.modules
    )


def capture() -> dict[str, Any] | None:
    """What ``site`` gave this process, taken as it starts (before any import of ours changes sys.path or the
    finders); None when it was started without ``site`` (nothing to learn) or by a script (no ``-m``)."""
    if sys.flags.no_site or not sys.path:
        return None
    path = list(sys.path if sys.flags.safe_path else sys.path[1:])  # without -m's working folder
    site_folders = _site_folders()
    folders = list(dict.fromkeys([*path, *site_folders]))
    stamps = {name: file_state(name) for name in [*folders, *_pth_files(site_folders)]}
    eligible = _imports_as_without_site()
    return {
        "key": layout_key(os.environ),
        "path": path if eligible else None,
        "prefixes": [sys.prefix, sys.exec_prefix],
        "stamps": stamps,
    }


def remember(captured: dict[str, Any] | None) -> None:
    """Keep ``captured`` for the next start; never fails (it only saves time)."""
    if captured is None:
        return
    layouts = read_remembered(REMEMBERED)
    layouts.pop(captured["key"], None)
    layouts[captured["key"]] = {name: value for name, value in captured.items() if name != "key"}
    while len(layouts) > REMEMBERED_LAYOUTS:
        layouts.pop(next(iter(layouts)))
    write_remembered(REMEMBERED, layouts)


def remembered_start(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The record for a process started with ``environ``, when every file it was built from is unchanged."""
    record = read_remembered(REMEMBERED).get(layout_key(environ))
    if not isinstance(record, dict) or not isinstance(record.get("path"), list):
        return None
    stamps = record.get("stamps")
    if not isinstance(stamps, dict) or any(file_state(name) != stamp for name, stamp in stamps.items()):
        return None  # a file added to or removed from a folder moves the folder's time
    return record


def module_command(module: str, args: list[str], environ: Mapping[str, str]) -> list[str]:
    """The argv that runs ``python -m module args`` in a process with ``environ``: without ``site`` when a
    valid record says it changes nothing, else the ordinary way."""
    record = remembered_start(environ)
    if record is None:
        return [sys.executable, "-m", module, *args]
    boot = BOOT.format(path=record["path"], prefixes=tuple(record["prefixes"]), module=module)
    return [sys.executable, "-S", "-c", boot, *args]
