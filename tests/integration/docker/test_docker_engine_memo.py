"""A submit looks at the real engine once, and a fresh script's next submit reuses what it saw (engine_memo.py).

Real dockerd. The memo only feeds the capabilities recorded with a run: a memo that lies about a GPU runtime
changes what is recorded, never what a GPU run is allowed to do (the engine itself is asked for that).
"""

from __future__ import annotations

import json

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import TargetUnavailable
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.targets.docker import engine_memo
from runconfig_jupyter.targets.docker.client import engine_address
from runconfig_jupyter.targets.docker.target import DockerTarget

pytestmark = pytest.mark.docker


def _memo(run_home) -> dict:
    return json.loads((run_home / engine_memo.MEMO_FILE).read_text())


def test_a_submit_remembers_the_engines_runtimes_and_records_them(project, docker_client, run_home, monkeypatch):
    monkeypatch.setenv("RUNCONFIG_IGNORE_NVIDIA_HOOK", "1")
    run = Experiment("dkmemo").submit(ScriptRunConfig(str(project), script="train.py", compute_target="docker"))
    run.wait_for_completion(timeout=120)
    address = engine_address()
    entry = _memo(run_home)[address]
    assert entry["runtimes"] == sorted(docker_client.info()["Runtimes"])
    assert entry["identity"] == engine_memo.socket_identity(address)
    assert run.get_spec()["capabilities"]["gpu"] is False  # runc only on these machines


def test_the_memo_feeds_capabilities_but_never_lets_a_gpu_run_through(project, docker_client, run_home, monkeypatch):
    monkeypatch.setenv("RUNCONFIG_IGNORE_NVIDIA_HOOK", "1")
    assert "nvidia" not in docker_client.info()["Runtimes"]
    address = engine_address()
    engine_memo.remember_runtimes(address, {"Runtimes": {"runc": {}, "nvidia": {}}})  # a lie, for this engine
    remembered_at = _memo(run_home)[address]["at"]
    assert DockerTarget().capabilities().gpu is True  # the memo was used: the engine would have said runc only
    assert _memo(run_home)[address]["at"] == remembered_at  # using it does not make it younger
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker")
    config.run_config.environment.docker.gpu_support = True
    with pytest.raises(TargetUnavailable, match="no NVIDIA runtime"):
        Experiment("dkmemo-gpu").submit(config)
    assert RunStore(run_home).list("dkmemo-gpu") == []  # refused before anything was recorded
    assert _memo(run_home)[address]["runtimes"] == sorted(docker_client.info()["Runtimes"])  # corrected by it


def test_a_memo_of_another_engine_process_is_not_used(docker_client, run_home, monkeypatch):
    monkeypatch.setenv("RUNCONFIG_IGNORE_NVIDIA_HOOK", "1")
    address = engine_address()
    engine_memo.remember_runtimes(address, {"Runtimes": {"nvidia": {}}})
    memo = _memo(run_home)
    memo[address]["identity"] = "0:0:0"  # what a restarted engine's new socket looks like to the memo
    (run_home / engine_memo.MEMO_FILE).write_text(json.dumps(memo))
    assert DockerTarget().capabilities().gpu is False  # asked the engine itself
    assert _memo(run_home)[address]["identity"] == engine_memo.socket_identity(address)
