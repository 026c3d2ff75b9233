"""What the Lab and Notebook 7 browser tests share: scripts that print and log, page queries, axe-core."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from runconfig_jupyter.core.runs.store import RunStore

# A script whose log overflows the log box at once, then keeps printing: ``chatty.py BURST SLOW [STEP_S]``.
# It logs a loss curve and, through the in-script API's own emit path, an image record as log_image writes it.
CHATTY = textwrap.dedent(
    """
    import os, sys, time, zlib, struct
    from runconfig_jupyter import Run
    run = Run.get_context()
    burst, slow = int(sys.argv[1]), int(sys.argv[2])
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2

    def png(width, height):
        raw = b"".join(b"\\x00" + bytes([200, 60, 60] * width) for _ in range(height))
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
        return b"\\x89PNG\\r\\n\\x1a\\n" + body

    os.makedirs("outputs", exist_ok=True)
    with open("outputs/plot.png", "wb") as out:
        out.write(png(40, 30))
    for i in range(30):
        run.log("loss", 2.0 ** -i)
    run._emit("confusion", {"path": "outputs/plot.png"}, "image", 0, "")
    for i in range(burst):
        print(f"line {i}", flush=True)
    for i in range(burst, burst + slow):
        print(f"line {i}", flush=True)
        time.sleep(pause)
    """
)


def write_chatty(folder: Path) -> None:
    (folder / "chatty.py").write_text(CHATTY)


def newest_run(experiment: str, timeout: float = 15.0, **match: object) -> str:
    """The id of the newest run in ``experiment`` (matching ``match`` fields), waiting for it, bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in RunStore().list(experiment=experiment):
            if all(getattr(record, key) == value for key, value in match.items()):
                return record.run_id
        time.sleep(0.1)
    raise AssertionError(f"no run in {experiment} matching {match}")


def run_item(page, run_id: str):
    return page.locator(f'#runconfig-runs .rc-run[data-run-id="{run_id}"]')


def run_view(page, run_id: str):
    return page.locator(f"#runconfig-run-{run_id}")


def confirm_cancel(page) -> None:
    """Cancel asks first; press the dialog's warning button ("Cancel run" / "Cancel all")."""
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-warn").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)


AT_END = "el => el.scrollTop + el.clientHeight >= el.scrollHeight - 8"


def notebook_json(*sources: str) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s} for s in sources
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# -- axe-core ----------------------------------------------------------------------------------------------
AXE_CACHE = Path(os.environ.get("RUNCONFIG_AXE_CACHE", Path.home() / ".cache" / "runconfig-jupyter" / "axe"))


def axe_script() -> Path:
    """axe-core from the npm registry, installed once into a cache folder (not into the project)."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE_CACHE), "axe-core@4"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0 or not script.exists():
            pytest.fail(f"could not install axe-core from npm: {result.stderr[-2000:]}")
    return script


def serious_violations(page, selector: str) -> list[str]:
    """axe-core's serious and critical violations inside ``selector`` (JupyterLab's own chrome is not ours)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result = page.evaluate(
        "async selector => { const r = await axe.run(document.querySelector(selector), {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})); }",
        selector,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
