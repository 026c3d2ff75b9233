"""Starting a process that must outlive whoever started it.

Drivers, standbys and scripts all start the same way: their own session (a
kernel interrupt or a closed terminal does not reach them, and the whole group
can be signalled at once), no stdin, and stdout+stderr appended to one log file.

``subprocess`` (with ``selectors`` and ``locale``, ~4 ms here) is imported by the call, not by this module: a
submit that hands its run to a waiting standby imports this module and starts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess


def spawn_detached(
    argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log_path: Path | str
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with its output appended to ``log_path``; raises OSError like Popen."""
    import subprocess

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
