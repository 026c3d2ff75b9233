"""A real, small file system for full-disk tests: a 2 MiB tmpfs mounted as the run home (needs root)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SIZE = "2m"


@pytest.fixture
def small_home(tmp_path_factory: pytest.TempPathFactory, run_home, monkeypatch) -> Path:
    """The run home on its own 2 MiB tmpfs; drivers of its runs ended and the mount removed afterwards."""
    from tests.conftest import _end_leftover_drivers

    home = tmp_path_factory.mktemp("smallhome")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(home)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(home))
    try:
        yield home
    finally:
        _end_leftover_drivers(home)
        subprocess.run(["umount", str(home)], capture_output=True)
        if os.path.ismount(home):
            subprocess.run(["umount", "-l", str(home)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a ballast file until the disk is full; returns it (delete it to give the space back)."""
    ballast = folder / "ballast.bin"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return ballast
