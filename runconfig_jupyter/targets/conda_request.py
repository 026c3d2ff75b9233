"""The conda packages one run asks for, and from which channels (targets/conda_prefix.py).

Its own module because every local run's target imports conda_prefix.py while few runs ask for conda
packages: the class is created by the first request, not by that import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CondaRequest:
    packages: tuple[str, ...]
    channels: tuple[str, ...]

    def describe(self) -> str:
        return f"{', '.join(self.packages)} from {', '.join(self.channels)}"
