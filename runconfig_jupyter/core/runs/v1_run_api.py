"""The names of Azure ML v1's ``Run`` class, so a ported script never dies on an AttributeError.

Standard library only: this module ships inside the in-script shim.

Why a list and not a blanket ``__getattr__``: a v1 method that has no local meaning (``get_portal_url``,
``submit_child`` from inside a script, ``get_secret`` without a Key Vault) must not stop a training
script that only calls it for bookkeeping, so it warns once and returns None. A name that was never
part of v1 (``run.lgo(...)``) is a typo and must still fail loudly, with a suggestion.

The list is the public surface of ``azureml.core.Run`` as documented for SDK v1 (methods and
properties). Whatever the in-script run implements itself is found before ``__getattr__`` is asked,
so this only covers what is missing.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from typing import Any

V1_RUN_METHODS = frozenset(
    {
        "add_properties",
        "add_type_provider",
        "cancel",
        "child_run",
        "clean",
        "complete",
        "create_children",
        "download_file",
        "download_files",
        "fail",
        "flush",
        "get",
        "get_all_logs",
        "get_children",
        "get_context",
        "get_detailed_status",
        "get_details",
        "get_details_with_logs",
        "get_environment",
        "get_file_names",
        "get_metrics",
        "get_portal_url",
        "get_properties",
        "get_secret",
        "get_secrets",
        "get_snapshot_id",
        "get_status",
        "get_submitted_run",
        "get_tags",
        "list",
        "list_by_compute",
        "log",
        "log_accuracy_table",
        "log_confusion_matrix",
        "log_image",
        "log_list",
        "log_predictions",
        "log_residuals",
        "log_row",
        "log_table",
        "register_model",
        "remove_tags",
        "restore_snapshot",
        "set_tags",
        "start",
        "submit_child",
        "tag",
        "take_snapshot",
        "upload_file",
        "upload_files",
        "upload_folder",
        "wait_for_completion",
    }
)

V1_RUN_PROPERTIES = frozenset(
    {"description", "display_name", "experiment", "id", "name", "number", "parent", "portal_url", "properties"}
    | {"status", "tags", "type"}
)

# Where a name has a local alternative, the warning says so; the rest get the generic sentence.
ALTERNATIVES = {
    "get_portal_url": "there is no portal: follow the run with %runs, the run widget or the sidebar",
    "portal_url": "there is no portal: follow the run with %runs, the run widget or the sidebar",
    "submit_child": "submit further runs from the notebook with Experiment.submit",
    "take_snapshot": "the source directory is snapshotted when the run is submitted",
    "restore_snapshot": "call restore_snapshot on the ScriptRun in the notebook",
    "list_by_compute": "use %runs or Experiment.get_runs in the notebook",
    "add_type_provider": "run types are not pluggable locally",
    "clean": "the run's working copy is removed by the target when the run ends",
}

_warned: set[str] = set()


def fallback(owner: str, name: str) -> Any:
    """What ``run.<name>`` gives when the in-script run does not implement it (see module docstring)."""
    if name in V1_RUN_METHODS:
        _warn_once(owner, name, called=True)
        return _skipped
    if name in V1_RUN_PROPERTIES:
        _warn_once(owner, name, called=False)
        return None
    close = difflib.get_close_matches(name, sorted(V1_RUN_METHODS | V1_RUN_PROPERTIES), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise AttributeError(f"'{owner}' object has no attribute '{name}' (not part of Azure ML v1's Run API{hint})")


def _skipped(*_args: Any, **_kwargs: Any) -> None:
    return None


def _warn_once(owner: str, name: str, called: bool) -> None:
    if name in _warned:
        return
    _warned.add(name)
    what = f"Run.{name}()" if called else f"Run.{name}"
    advice = ALTERNATIVES.get(name, "it needs Azure ML's service")
    result = "the call was skipped and returned None" if called else "it reads as None"
    message = f"{what} is not available locally ({advice}); {result}."
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    sys.stderr.flush()
