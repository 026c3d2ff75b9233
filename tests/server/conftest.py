"""pytest-jupyter's in-process server, with the runconfig-jupyter server extension enabled.

The plugin is imported here rather than listed in ``pytest_plugins`` so its autouse
asyncio fixtures stay inside tests/server and never reach the sync browser tests.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403

API = ("runconfig", "api")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": True}}}


@pytest.fixture
def api(jp_fetch):
    """``await api("runs", method="POST", body={...})`` -> (status, json); errors are returned, not raised."""

    async def call(*parts: str, method: str = "GET", body: Any = None, params: dict | None = None, **kw: Any):
        payload = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        if method == "POST" and payload is None:
            payload = ""
        response = await jp_fetch(*API, *parts, method=method, body=payload, params=params, raise_error=False, **kw)
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    return call


@pytest.fixture
def workspace(jp_root_dir: Path) -> Path:
    """A notebook folder under the server root: a script, a notebook with a %%runconfig cell."""
    folder = jp_root_dir / "proj"
    folder.mkdir()
    (folder / "train.py").write_text(
        textwrap.dedent(
            """
            import os, sys, time
            from runconfig_jupyter import Run
            run = Run.get_context()
            steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
            for i in range(steps):
                run.log("loss", 1.0 / (i + 1))
                print(f"step {i}", flush=True)
                time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.05 if steps < 10 else 0.2)
            os.makedirs("outputs", exist_ok=True)
            open("outputs/model.txt", "w").write("weights")
            """
        )
    )
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# demo"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["%%runconfig\n", "script: train.py\n", "arguments: ['2']\n"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "demo.ipynb").write_text(json.dumps(notebook))
    (folder / "plain.ipynb").write_text(json.dumps({**notebook, "cells": notebook["cells"][:1]}))
    (folder / "long.runconfig").write_text("script: train.py\narguments: ['200']\n")
    return folder
