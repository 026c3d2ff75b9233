"""``azureml.telemetry``: v1 notebooks open with ``set_diagnostics_collection(send_diagnostics=True)``.

Nothing here collects or sends diagnostics, so the opt-in is accepted and recorded for this process only
(``get_diagnostics_collection_info`` reports it back, as v1's did) and changes nothing else.
"""

from __future__ import annotations

from typing import Any

_STATE = {"send_diagnostics": False}


def set_diagnostics_collection(send_diagnostics: bool = True, verbosity: Any = None, reset: bool = False) -> None:
    """Accept v1's opt-in: nothing is ever sent, whatever the value."""
    _STATE["send_diagnostics"] = bool(send_diagnostics) and not reset


def get_diagnostics_collection_info() -> dict[str, Any]:
    return {"send_diagnostics": _STATE["send_diagnostics"], "collected": False}


__all__ = ["get_diagnostics_collection_info", "set_diagnostics_collection"]
