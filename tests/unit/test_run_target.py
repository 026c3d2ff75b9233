"""A run remembers its target (core/runs/run_target.py): what is recorded at submit, and the fallbacks for
runs recorded before capabilities were (real local runs, real run.json files)."""

from __future__ import annotations

import json

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import UnknownTarget
from runconfig_jupyter.core.runs.run_target import UNKNOWN_CAPABILITIES, recorded_capabilities, recorded_target
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.target.configured import register_target, resolve_target, unregister_target
from runconfig_jupyter.server.service import RunService


def _finished_run(project, target: str = "local"):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]), "remember", target)
    run.wait_for_completion(timeout=60)
    return run


def _rewrite_spec(run, change) -> dict:
    path = run.run_dir / "run.json"
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))
    return spec


def test_submit_records_the_target_spec_and_capabilities_and_rerun_uses_them(project):
    """(That no secret is recorded is proved with a real token: tests/server/test_rerun_recorded_target.py.)"""
    register_target("box", type="local")
    try:
        run = _finished_run(project, "box")
        expected = resolve_target("box")
    finally:
        unregister_target("box")
    spec = run.get_spec()
    assert spec["target"] == expected.to_spec() and spec["target"]["name"] == "box"
    assert spec["capabilities"] == expected.capabilities().to_dict()
    with pytest.raises(UnknownTarget):  # the name is gone: the record still knows the target
        resolve_target("box")
    assert recorded_target(spec, "box").to_spec() == spec["target"]
    again = run.rerun()
    again.wait_for_completion(timeout=60)
    assert again.record.target == "box" and again.get_spec()["target"] == spec["target"]


def test_a_run_recorded_before_capabilities_falls_back_to_its_target_class_then_its_name(project):
    run = _finished_run(project)
    local = resolve_target("local").capabilities().to_dict()
    spec = _rewrite_spec(run, lambda s: s.pop("capabilities"))
    assert recorded_capabilities(spec, run.record.target) == local
    spec = _rewrite_spec(run, lambda s: s.pop("target"))  # the oldest shape: only the record names the target
    assert recorded_target(spec, run.record.target).to_spec() == resolve_target("local").to_spec()
    assert RunService(run.store).run_detail(run.id)["capabilities"] == local
    again = run.rerun()  # resolved by the recorded name
    again.wait_for_completion(timeout=60)
    assert again.get_status() == "Completed" and again.record.target == "local"


def test_an_unknown_recorded_target_without_capabilities_is_assumed_cancelable_not_reattachable(project):
    run = _finished_run(project)
    spec = _rewrite_spec(run, lambda s: (s.pop("capabilities"), s.update(target={"type": "gone", "name": "gone"})))
    assert recorded_capabilities(spec, "gone") == UNKNOWN_CAPABILITIES
    assert UNKNOWN_CAPABILITIES["cancel"] is True and UNKNOWN_CAPABILITIES["reattach"] is False
    with pytest.raises(UnknownTarget):
        run.rerun()  # nothing to submit to, and nothing was recorded
    assert [r.run_id for r in run.store.list("remember")] == [run.id]
