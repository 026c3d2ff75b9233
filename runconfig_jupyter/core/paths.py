"""Where runs live on disk.

One home folder shared by every kernel, the server and plain scripts on the
machine, so any process can list and re-attach to any run.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "RUNCONFIG_JUPYTER_HOME"


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
