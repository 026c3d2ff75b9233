"""Jupyter's runtime folder (server tokens, kernel keys), for the never-allowed list (core/safety/confine.py).

jupyter_core computes it (``jupyter_core.paths.jupyter_runtime_dir``), but importing that module costs a fresh
``python submit.py`` ~3 ms (platformdirs, its expressions) for one string that rarely changes. So the answer is
remembered in ``<run home>/cache/jupyter-runtime.json`` (core/system/remembered.py) together with everything it
was computed from: the installed jupyter_core (its ``paths.py`` by path, size and modification time) and every
input of its rule (the variables it reads and the real path of the home folder). Any of those changed and
jupyter_core is asked again. ``JUPYTER_RUNTIME_DIR``, jupyter_core's first rule, is used as it is, as it does.

The file lives in the run home, which only its user writes (as the other remembered files beside it); the list
it feeds is computed from it only in the way jupyter_core itself would.
"""

from __future__ import annotations

import json
import os
from importlib.machinery import PathFinder
from pathlib import Path

from runconfig_jupyter.core.system.remembered import file_state, read_remembered, write_remembered

REMEMBERED_FILE = Path("cache", "jupyter-runtime.json")  # under the run home
# What jupyter_core's rule reads (jupyter_runtime_dir -> jupyter_data_dir -> platformdirs or the XDG folders).
RULE_INPUTS = ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_PLATFORM_DIRS", "XDG_DATA_HOME", "HOME")


def jupyter_runtime_folder() -> str | None:
    """jupyter_core's runtime folder; None when jupyter_core is not installed (core also runs from a bare script)."""
    explicit = os.environ.get("JUPYTER_RUNTIME_DIR")
    if explicit:
        return explicit
    spec = PathFinder.find_spec("jupyter_core")
    if spec is None or not spec.origin:
        return None
    state = json.dumps(
        [
            file_state(os.path.join(os.path.dirname(spec.origin), "paths.py")),
            [os.environ.get(name) for name in RULE_INPUTS],
            os.path.realpath(os.path.expanduser("~")),
        ]
    )
    remembered = read_remembered(REMEMBERED_FILE)
    if remembered.get("state") == state and isinstance(remembered.get("runtime_dir"), str):
        return remembered["runtime_dir"]
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    found = jupyter_runtime_dir()
    write_remembered(REMEMBERED_FILE, {"state": state, "runtime_dir": found})
    return found
