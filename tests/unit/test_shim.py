"""The in-script shim works with nothing but the standard library."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

from runconfig_jupyter.core.runs.logsink import METRIC_MARKER
from runconfig_jupyter.core.runs.shim import shim_tar


def test_shim_emits_metric_markers_in_an_isolated_interpreter(tmp_path):
    with tarfile.open(fileobj=io.BytesIO(shim_tar()), mode="r") as archive:
        archive.extractall(tmp_path, filter="data")
    script = "from runconfig_jupyter import Run; Run.get_context().log('loss', 0.5); print('done')"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'runconfig-shim')!r}); {script}"],
        capture_output=True,
        env={"RUNCONFIG_RUN_ID": "r1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert result.stdout == b"done\n"
    marker_line = result.stderr.strip()
    assert marker_line.startswith(METRIC_MARKER)
    assert json.loads(marker_line[len(METRIC_MARKER) :])["value"] == 0.5
