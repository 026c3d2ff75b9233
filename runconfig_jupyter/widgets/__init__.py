"""ipywidgets front end: RunConfigForm, RunDetails (with the LiveRunView anywidget), RunsTable.

Imported lazily so ``runconfig_jupyter.widgets.live`` (used by ``%submit``)
works where ipywidgets is not installed; the core never imports this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunConfigForm": "runconfig_jupyter.widgets.form",
    "RunDetails": "runconfig_jupyter.widgets.run_details",
    "RunsTable": "runconfig_jupyter.widgets.runs_table",
    "RunFollower": "runconfig_jupyter.core.runs.follow",
    "LiveRunView": "runconfig_jupyter.widgets.live_view",
    "show_run": "runconfig_jupyter.widgets.live",
}

__all__ = [*_EXPORTS, "load_ipython_extension"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runconfig_jupyter.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext runconfig_jupyter.widgets``: adds %runconfig_form and %runs_table."""
    from runconfig_jupyter.widgets.magics import load_ipython_extension as load

    load(ipython)
