"""The target a run was submitted to, as the run recorded it.

``submit`` writes the target's spec (type, name, settings: secret-free, a token is named by the
variable that holds it) and its capabilities into run.json. Re-run, cancel and every front end read
them from there instead of looking the target up again by name, because the name may mean nothing
in the reading process: a target registered with ``register_target`` in a notebook exists only in
that kernel, not in the Jupyter server that shows the sidebar. Runs recorded before capabilities
were written fall back to the target class (from the spec) and then to the configured name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord
from runconfig_jupyter.core.safety.bounded import MAX_JSON_BYTES, load_json, read_text_bounded
from runconfig_jupyter.core.target.configured import resolve_target
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget

# What a reader assumes when nothing says otherwise: a cancel goes through the driver, which any
# target's run has; a re-attach needs the target's own code, so it is not promised.
UNKNOWN_CAPABILITIES = {**Capabilities().to_dict(), "reattach": False}


def read_spec(run_dir: Path) -> dict[str, Any]:
    """A run's run.json (written once at submit); ``ConfigError`` when it is missing or damaged."""
    text = read_text_bounded(RunFolder(run_dir).spec_path, "run.json", MAX_JSON_BYTES, field="run.json")
    spec = load_json(text, "run.json", "run.json")
    if not isinstance(spec, dict):
        raise ConfigError(f"{run_dir / 'run.json'} is not a JSON object", field="run.json")
    return spec


def recorded_target(spec: dict[str, Any], target_name: str | None) -> ComputeTarget:
    """The run's target rebuilt from its recorded spec; by ``target_name`` for a run without one."""
    recorded = spec.get("target")
    if isinstance(recorded, dict) and recorded.get("type"):
        return ComputeTarget.from_spec(recorded)
    return resolve_target(target_name or "local")


def recorded_capabilities(spec: dict[str, Any], target_name: str | None) -> dict[str, Any]:
    """The capabilities recorded at submit, else those of the recorded target, else ``UNKNOWN_CAPABILITIES``."""
    recorded = spec.get("capabilities")
    if isinstance(recorded, dict):
        return {**UNKNOWN_CAPABILITIES, **recorded}
    try:
        return recorded_target(spec, target_name).capabilities().to_dict()
    except Exception:  # a target type not installed here, or a name nobody configured: still cancelable
        return dict(UNKNOWN_CAPABILITIES)


def cancel_refusal(record: RunRecord, capabilities: dict[str, Any]) -> str | None:
    """Why a cancel of this run cannot be asked for now, or None when it can.

    The one answer to "can this run be cancelled?": the server's cancel route refuses with this
    text, and the run JSON (sidebar) and the widgets show or disable Cancel from it.
    """
    if not capabilities.get("cancel", True):
        return f"target '{record.target}' cannot cancel runs; wait for the run to end"
    if record.is_terminal:
        return f"run {record.run_id} already ended {record.status.value}; there is nothing to cancel"
    return None


def cancel_offered(record: RunRecord, capabilities: dict[str, Any]) -> bool:
    """Whether a Cancel button is live: the cancel can be asked for and has not been asked yet."""
    return cancel_refusal(record, capabilities) is None and record.status != RunStatus.CANCEL_REQUESTED
