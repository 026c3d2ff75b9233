"""In-script run history on a target that cannot reach the run folder: a real Docker container.

Tags, properties, child runs and their metrics travel as marker lines on stderr and the driver applies
them; a script must not be able to touch any run but its own and the children it created.
"""

from __future__ import annotations

import textwrap

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig, Workspace
from runconfig_jupyter.core.runs.history import read_history
from runconfig_jupyter.core.runs.logsink import HISTORY_MARKER
from tests.v1.helpers import aliased_target


@pytest.fixture
def gpu_cluster_alias(docker_engine):
    with aliased_target("gpu-cluster", "docker") as alias:
        yield alias


def test_history_markers_from_a_container(v1_project, gpu_cluster_alias):
    ws = Workspace.from_config()
    victim = Experiment(ws, "victim").start_logging()
    victim.complete()
    forger = textwrap.dedent(
        f"""
        import json, os, sys
        root = os.environ["RUNCONFIG_RUN_ID"]
        forged = [
            {{"op": "tags", "run_id": "{victim.id}", "tags": {{"owned": "yes"}}}},
            {{"op": "child", "run_id": "{victim.id}_x", "name": "hijack"}},
            {{"op": "status", "run_id": "{victim.id}", "status": "Failed"}},
            {{"op": "child", "run_id": root + "_/../../../escape", "name": "traversal"}},
            {{"op": "metric", "run_id": root, "record": {{"name": "sneaky", "value": 1}}}},
        ]
        for record in forged:
            sys.stderr.buffer.write({HISTORY_MARKER!r} + json.dumps(record).encode() + b"\\n")
        sys.stderr.flush()
        """
    )
    (v1_project / "forger.py").write_text(forger)
    script = textwrap.dedent(
        """
        import subprocess, sys
        subprocess.run([sys.executable, "forger.py"], check=True)
        exec(open("train.py").read())
        """
    )
    (v1_project / "docker_train.py").write_text(script)
    config = ScriptRunConfig(source_directory=".", script="docker_train.py", compute_target=gpu_cluster_alias)
    run = Experiment(workspace=ws, name="in-docker").submit(config)
    run.wait_for_completion(raise_on_error=True, timeout=300)
    assert run.record.target_type == "docker" and run.get_details()["target"] == "gpu-cluster"
    assert run.get_tags() == {"stage": "train"}
    assert run.get_properties()["author"] == "script"
    children = list(run.get_children())
    assert len(children) == 3 and all(c.get_status() == "Completed" for c in children)
    assert sorted(c.get_metrics().get("fold_score", -1) for c in children) == [-1, 0.5, 0.6]
    # The forged records touched nothing outside this run.
    assert read_history(victim.run_dir)["tags"] == {} and victim.get_status() == "Completed"
    assert list(victim.get_children()) == []
    assert "workspace unreachable: the workspace (run home) is not reachable" in run.get_log()
    assert "sneaky" not in run.get_metrics()
    from runconfig_jupyter import Model

    assert Model(ws, "from-script").run_id == run.id  # registered by the driver from the collected outputs
    assert not list(run.run_dir.parent.parent.glob("escape*")) and not (run.run_dir.parent / "escape").exists()
    assert "\x1e@runconfig" not in run.get_log()
    assert (run.run_dir / "logs" / "driver_log.txt").read_text().count("ignored a run-history record") == 5
