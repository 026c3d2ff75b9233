"""Where runs live on disk.

One home folder shared by every kernel, the server and plain scripts on the
machine, so any process can list and re-attach to any run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runconfig_jupyter.core.errors import ConfigError

HOME_ENV = "RUNCONFIG_JUPYTER_HOME"
# The one rule for a run id, wherever one arrives (Python API, magics, REST routes, websocket, resume_from):
# one path component, never '.', '..' or hidden, so ``runs/<id>`` can only name a folder of the run home.
RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,299}"
RUN_ID = re.compile(rf"^{RUN_ID_PATTERN}$")


def check_run_id(run_id: object, field: str = "run_id") -> str:
    """``run_id`` when it is a valid run id, else ConfigError naming ``field`` (before any path is built)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        shown = repr(run_id)[:80]
        raise ConfigError(
            f"{shown} is not a run id (letters, digits, '_', '-', '.', starting with a letter or digit); "
            "list runs with %runs or RunStore().list()",
            field=field,
        )
    return run_id


def run_home() -> Path:
    """``$RUNCONFIG_JUPYTER_HOME``, else ``<jupyter data dir>/runconfig``."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    try:
        from jupyter_core.paths import jupyter_data_dir

        base = Path(jupyter_data_dir())
    except ImportError:  # core must work from a bare script too
        base = Path.home() / ".local" / "share" / "jupyter"
    return (base / "runconfig").resolve()
