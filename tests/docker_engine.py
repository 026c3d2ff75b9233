"""The real Docker engine for tests: started by scripts/ensure_docker.sh, or the test is skipped with its reason."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def engine_or_skip() -> Any:
    """A docker SDK client to the running engine; ``pytest.skip`` with the script's message when none can run."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_docker.sh")], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        pytest.skip(f"Docker engine cannot be started here: {result.stderr.strip() or result.stdout.strip()}")
    import docker

    return docker.from_env(timeout=120)
