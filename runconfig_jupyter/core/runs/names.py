"""Experiment names and run ids: the two names a run is found by.

Kept apart from ``submit.py`` because interactive runs, ``Experiment`` and the forms check names
too, and none of them should need the submit machinery (or import it back) to do so.
"""

from __future__ import annotations

import os
import re
import time

from runconfig_jupyter.core.errors import ConfigError

EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")


def check_experiment_name(name: str) -> str:
    if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
        raise ConfigError(
            f"experiment name {name!r} is not valid: use 1-255 letters, digits, '_' or '-', starting with a "
            "letter or digit (e.g. 'mnist-baseline')",
            field="experiment",
        )
    return name


def new_run_id(experiment: str) -> str:
    """``<experiment>_<unix-time>_<8 hex>``: sortable by time, unique without coordination.

    The hex part is 4 bytes of ``os.urandom``, which is what ``secrets.token_hex(4)`` returns; ``secrets`` itself
    is not imported for it (it brings ``hmac`` and OpenSSL's hashlib into every ``import`` of the run API).
    """
    return f"{experiment}_{int(time.time())}_{os.urandom(4).hex()}"
