"""The local engine's runtimes, remembered between processes, so a submit asks the engine once at most.

Every submit records what its target can do (``capabilities().gpu``: does the engine list a GPU runtime?).
Asking costs a ``GET /info`` (~10 ms, more on a busy machine: dockerd gathers disks, plugins and runtimes for
it) on top of the reachability check, in every fresh script. The runtimes an engine offers change when it
restarts, and a restart recreates its socket, so the answer is kept in ``<run home>/cache/docker-engine.json``
with the socket's identity (device, inode, change time) and reused while that identity holds, for at most
``REMEMBER_SECONDS`` (a configuration reload keeps the socket: this bounds how long the recorded capability
can lag behind it).

Only the recorded capability reads it. A run that asks for GPUs is still checked against the engine's own
fresh answer before anything is created (``DockerTarget.validate`` and ``prepare``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

MEMO_FILE = Path("cache", "docker-engine.json")  # under the run home
REMEMBER_SECONDS = 300.0
MEMO_ADDRESSES = 8  # engines remembered (a machine rarely talks to more than one local socket)


def socket_identity(address: str) -> str | None:
    """Who answers at a ``unix://`` address: changes when the engine restarts (None: not a local socket)."""
    if not address.startswith("unix://"):
        return None
    try:
        found = os.stat(address[len("unix://") :])
    except OSError:
        return None
    return f"{found.st_dev}:{found.st_ino}:{found.st_ctime_ns}"


def _memo_file() -> Path:
    from runconfig_jupyter.core.system.paths import run_home

    return run_home() / MEMO_FILE


def _read() -> dict[str, Any]:
    try:
        read = json.loads(_memo_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: the engine is asked, and the file written anew
        return {}
    return read if isinstance(read, dict) else {}


def remembered_runtimes(address: str) -> list[str] | None:
    """The runtime names the engine at ``address`` listed, if remembered for the engine answering there now."""
    identity = socket_identity(address)
    entry = _read().get(address) if identity is not None else None
    if not isinstance(entry, dict) or entry.get("identity") != identity:
        return None
    age = time.time() - float(entry.get("at", 0))
    runtimes = entry.get("runtimes")
    if not 0 <= age < REMEMBER_SECONDS or not isinstance(runtimes, list):
        return None
    return [str(name) for name in runtimes]


def remember_runtimes(address: str, info: dict[str, Any]) -> None:
    """Keep the runtimes of ``info`` (the engine's ``/info`` answer); never fails a submit."""
    from runconfig_jupyter.core.system.atomic import write_json_atomically

    identity = socket_identity(address)
    if identity is None:
        return
    memo = _read()
    memo.pop(address, None)
    memo[address] = {"identity": identity, "at": time.time(), "runtimes": sorted(info.get("Runtimes") or {})}
    try:
        path = _memo_file()
        path.parent.mkdir(exist_ok=True)  # never the home itself: a removed home stays removed
        write_json_atomically(path, dict(list(memo.items())[-MEMO_ADDRESSES:]), durable=False)
    except (OSError, ValueError):
        pass  # a read-only home: the next submit asks the engine again
