"""Secret environment variables on the docker target (real dockerd): the container receives them, the records
do not hold them, and the kernel's own cloud credentials never enter the container (docs/SECURITY.md)."""

from __future__ import annotations

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.submit import submit
from tests.security.test_secrets import PASSWORD, RECEIVED_ALL, REPORT, RUNCONFIG, TOKEN, files_containing

pytestmark = pytest.mark.docker


def test_container_gets_the_secret_and_no_record_holds_it(project, run_home, monkeypatch, our_containers):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kernel-aws-secret")
    (project / "report.py").write_text(
        REPORT + "import os\nprint('aws', 'AWS_SECRET_ACCESS_KEY' in os.environ, flush=True)\n"
    )
    config = ScriptRunConfig.from_yaml(RUNCONFIG + "compute_target: docker\n", source_directory=str(project))
    run = submit(config, "dsecret")
    details = run.wait_for_completion(timeout=180)
    assert details["status"] == "Completed", details
    log = run.get_log()
    assert RECEIVED_ALL in log and "aws False" in log
    assert files_containing(run_home, (TOKEN, PASSWORD, "kernel-aws-secret"), skip=run_home / "secrets") == []
    assert our_containers(run.id) == []
