"""What every target brings back from a finished run, and how it lands in the run folder.

The script's ``./outputs`` becomes the run's ``outputs/`` and its ``./logs`` goes to
``logs/user/``; one definition keeps every target's run folder the same shape.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .base import RunContext


def collected_folders(ctx: RunContext) -> tuple[tuple[str, Path], ...]:
    """(folder in the script's working directory, where it goes in the run folder)."""
    return (("outputs", ctx.outputs_dir), ("logs", ctx.run_dir / "logs" / "user"))


def move_into(source: Path, destination: Path) -> None:
    """Move the entries of ``source`` into ``destination``; a re-collect replaces, never nests."""
    if not source.is_dir():
        return
    destination.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        target = destination / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        shutil.move(str(item), str(target))


def collect_from(root: Path, ctx: RunContext) -> None:
    """Move ``root/outputs`` and ``root/logs`` into the run folder."""
    for folder, destination in collected_folders(ctx):
        move_into(root / folder, destination)
