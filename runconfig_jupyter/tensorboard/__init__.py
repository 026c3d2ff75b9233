"""``azureml.tensorboard``: ``from runconfig_jupyter.tensorboard import Tensorboard`` imports, as ported code needs.

v1's ``Tensorboard([run]).start()`` streamed the runs' ``./logs`` from Azure's artifact store into a TensorBoard it
started. Here a script's ``./logs`` is already on this machine (``<run folder>/logs/user`` once collected), so
``start()`` raises ``NotSupportedLocally`` naming the ``tensorboard`` command over exactly those folders (and over
``local_root``, where ``export_to_tensorboard`` in ``.export`` wrote a run history's metrics).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import NotSupportedLocally
from runconfig_jupyter.core.runs.folder import RunFolder


class Tensorboard:
    """v1's signature: ``Tensorboard(runs, local_root=None, port=6006)``."""

    def __init__(self, runs: Iterable[Any], local_root: str | None = None, port: int = 6006):
        self.runs = list(runs)
        self.local_root = local_root
        self.port = int(port)

    def log_dirs(self) -> dict[str, str]:
        """Run id -> the folder its script's ``./logs`` is collected into."""
        return {run.id: str(RunFolder(run.run_dir).user_logs_dir) for run in self.runs}

    def start(self, start_browser: bool = False) -> str:
        folders = self.log_dirs()
        if self.local_root is not None:  # v1 read local_root too: the export sample passes no runs, only it
            folders[Path(self.local_root).name or "local_root"] = str(self.local_root)
        if len(folders) == 1 and not self.runs:
            logdir = f"--logdir {self.local_root}"
        else:
            logdir = "--logdir_spec " + ",".join(f"{name}:{folder}" for name, folder in folders.items())
        raise NotSupportedLocally(
            "Tensorboard.start() (streaming run logs from Azure's artifact store)",
            f"The logs are on this machine: run 'tensorboard --port {self.port} {logdir}' "
            "(pip install tensorboard) once the runs have ended.",
        )

    def stop(self) -> None:
        """Nothing was started."""


__all__ = ["Tensorboard"]
