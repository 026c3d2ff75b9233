"""The local target's head start: the script's interpreter is started before a fresh driver imports the rest.

A fresh driver (core/runs/driver_entry.py) calls ``start_spare`` first, when the submitter names it (the
target's ``head_start``), before the plug-in loader and the target's own module: those import the target
interface's dataclasses (``inspect``, ``ast``, ``dis``: ~10 ms), and the spare's own interpreter start (~30 ms)
is what a cold run's first line waits for. So this module imports only what the prediction of a default
run's environment and the spare itself need. ``LocalTarget.warm_up`` (a standby, or a driver without the
head start) calls the same function.
"""

from __future__ import annotations

import os

from runconfig_jupyter.core.runs.script_env import standing_environment
from runconfig_jupyter.core.safety.inherit_env import inherited, setting_for
from runconfig_jupyter.targets.processes.spare import keep_spare


def start_spare() -> None:
    """Start the spare as the script's prestarted interpreter, in the environment a default run's script gets
    (the submitting process's variables through the default inherit_env filter, plus ours) without its
    per-run names; a run configured otherwise does not match it (spare.fits_prestarted)."""
    keep_spare(prestart_env={**inherited(os.environ, setting_for(None)), **standing_environment()})
