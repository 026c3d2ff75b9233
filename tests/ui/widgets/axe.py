"""axe-core for the accessibility checks: installed from npm at test time into a cache folder.

axe-core is MPL-2.0, so it is not vendored here; ``npm install`` puts the single ``axe.min.js``
into ``$RUNCONFIG_UI_CACHE`` (default ``~/.cache/runconfig-jupyter``) once, and the tests inject
it into the page with Playwright.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4"
SERIOUS = ("serious", "critical")


def axe_script() -> Path:
    cache = Path(os.environ.get("RUNCONFIG_UI_CACHE", Path.home() / ".cache" / "runconfig-jupyter")) / "axe-core"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch axe-core for the accessibility check")
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--silent", f"axe-core@{AXE_VERSION}"],
        check=True,
        timeout=180,
    )
    return script


def serious_violations(page: Any, selector: str) -> list[dict[str, Any]]:
    """Run axe on the elements matching ``selector``; the serious and critical violations, with their nodes."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result = page.evaluate(
        """async (selector) => {
            const found = await window.axe.run({ include: [[selector]] }, { resultTypes: ['violations'] });
            return found.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({ target: n.target, summary: n.failureSummary })),
            }));
        }""",
        selector,
    )
    return [violation for violation in result if violation["impact"] in SERIOUS]
