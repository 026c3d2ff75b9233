"""A fresh run driver's process entry: its target's head start first, then the driver.

    python -m runconfig_jupyter.core.runs.driver_entry RUN_ID TARGET_TYPE [HEAD_START]

The driver module imports most of core (~20 ms of CPU here) before it can call a target's ``warm_up``
(core/runs/driver.py ``warm_up_target``). What a target starts there - the local target's spare supervisor
and the script's prestarted interpreter (targets/processes/spare.py) - only overlaps the driver's start if it
starts before those imports. So this entry loads the plug-in loader and the target's own module, calls
``warm_up``, and then runs the driver. The submitter names the type (it has just resolved the target); the
driver still rebuilds the target from the run's recorded spec, so a wrong name only loses the head start.
HEAD_START, when the target's class names one (``ComputeTarget.head_start``, e.g. the local target's
targets/local/head_start.py), runs even before the plug-in loader: the local target's spare then starts
~10 ms sooner, before the target interface's dataclasses are imported.

Started the ordinary way (``python -m``), it remembers what ``site`` gave it, so the next driver can start
without ``site`` (core/system/site_free.py); that start runs this same module.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    run_id, target_type = argv[:2]
    if len(argv) == 3:
        run_head_start(argv[2])
    # What site gave this process, when it had to run it: the next start can skip it. Taken after the head start,
    # whose imports (json and pathlib come with site_free) would delay it, and which changes neither sys.path nor
    # the import finders that this looks at.
    from runconfig_jupyter.core.system.site_free import capture, remember

    started = capture()
    try:
        from runconfig_jupyter.core.target.plugins import target_class

        target_class(target_type).warm_up()
    except Exception:
        pass  # a head start only: the driver loads the target itself and reports what is wrong with it
    from runconfig_jupyter.core.runs.driver import drive
    from runconfig_jupyter.core.runs.store import RunStore

    try:
        return drive(RunStore(), run_id)  # not driver.main, which would warm the target up a second time
    finally:
        remember(started)  # after the run: off its critical path


def run_head_start(where: str) -> None:
    """Call the target's ``head_start`` ("module:function", ComputeTarget.head_start); never raises."""
    import importlib

    module, _, function = where.partition(":")
    try:
        getattr(importlib.import_module(module), function)()
    except Exception:
        pass  # warm_up, next, starts what this did not


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
