"""What ``%submit`` shows: the RunDetails widget, or a text note where ipywidgets is missing.

Importing this module needs nothing beyond the core, so the magics can always
import it; ipywidgets is imported only when a view is actually shown.
"""

from __future__ import annotations

from typing import Any

from runconfig_jupyter.core.runs.script_run import ScriptRun


def widgets_available() -> bool:
    """ipywidgets and anywidget (the live log) both importable: the ``jupyter`` extra installs them."""
    try:
        import anywidget  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def show_run(run: Any, poll: float = 0.1) -> Any:
    """Show a live view of ``run`` and return it (a RunDetails), or print how to follow it and return None."""
    if widgets_available():
        from runconfig_jupyter.widgets.run_details import RunDetails

        details = RunDetails(run, poll=poll)
        details.show()
        return details
    record = run.record
    print(
        f"Submitted {run.id} ({record.status.value}) to target '{record.target}'. ipywidgets or anywidget is not "
        f"installed, so there is no live view: follow it with %logs {run.id} -f, or pip install ipywidgets anywidget"
    )
    return None


class SubmittedRun(ScriptRun):
    """The run ``%submit`` returns after showing its live view.

    A cell ending in ``%submit NAME`` would otherwise draw the returned run a second
    time, as a static table that stays at "Preparing" under the live view. In the cell
    that submitted it, displaying it draws nothing (the live view above is its view);
    displayed from any later cell, it draws a fresh live view, so nothing on screen is stale.
    """

    shown_in: int | None = None

    def _ipython_display_(self) -> None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and self.shown_in is not None and shell.execution_count == self.shown_in:
            return
        show_run(self)


def shown_run(run: Any, execution_count: int | None) -> SubmittedRun:
    """``run`` as a SubmittedRun whose live view was shown in the cell numbered ``execution_count``."""
    submitted = SubmittedRun(run.id, store=run.store)
    submitted.shown_in = execution_count
    return submitted
