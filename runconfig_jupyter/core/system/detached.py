"""Starting a process that must outlive whoever started it.

Drivers, standbys and scripts all start the same way: their own session (a
kernel interrupt or a closed terminal does not reach them, and the whole group
can be signalled at once), no stdin, and stdout+stderr appended to one log file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn_detached(
    argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log_path: Path | str
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with its output appended to ``log_path``; raises OSError like Popen."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
