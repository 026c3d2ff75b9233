"""What ``%submit`` shows: the RunDetails widget, or a text note where ipywidgets is missing.

Importing this module needs nothing beyond the core, so the magics can always
import it; ipywidgets is imported only when a view is actually shown.
"""

from __future__ import annotations

from typing import Any


def widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def show_run(run: Any, poll: float = 0.1) -> Any:
    """Show a live view of ``run`` and return it (a RunDetails), or print how to follow it and return None."""
    if widgets_available():
        from .run_details import RunDetails

        details = RunDetails(run, poll=poll)
        details.show()
        return details
    record = run.record
    print(
        f"Submitted {run.id} ({record.status.value}) to target '{record.target}'. ipywidgets is not installed, "
        f"so there is no live view: follow it with %logs {run.id} -f, or pip install ipywidgets"
    )
    return None
