"""Run history of submitted runs (local target), following the manage-runs sample and the Run reference."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, Run, ScriptRunConfig, Workspace
from runconfig_jupyter.core.errors import AssetConflict, RunFailed, RunNotFound
from runconfig_jupyter.core.runs.history import read_history
from tests.conftest import wait_for


@pytest.fixture
def finished_run(v1_project):
    exp = Experiment(workspace=Workspace.from_config(), name="history")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="train.py", arguments=["--alpha", 0.25]))
    run.wait_for_completion(show_output=False)
    return exp, run


def test_tags_properties_description_live_in_the_run_folder(finished_run):
    exp, run = finished_run
    run.add_properties({"reviewer": "azureml-user"})
    run.add_properties({"reviewer": "azureml-user"})  # the same value again is fine
    with pytest.raises(AssetConflict, match="immutable"):
        run.add_properties({"reviewer": "different-user"})
    run.tag("quality", "great run")
    run.tag("quality", "fantastic run")
    run.tag("worth another look")
    run.description = "baseline"
    run.display_name = "alpha 0.25"
    assert run.get_tags() == {"stage": "train", "quality": "fantastic run", "worth another look": None}
    props = run.get_properties()
    assert props["reviewer"] == "azureml-user" and props["author"] == "script" and props["alpha"] == "0.25"
    again = Run(exp, run.id)  # another handle (as another process would make) sees the same
    assert (again.description, again.display_name) == ("baseline", "alpha 0.25")
    on_disk = json.loads((run.run_dir / "history.json").read_text())
    assert on_disk["tags"]["quality"] == "fantastic run" and on_disk["description"] == "baseline"
    assert run.record.details["tags"]["quality"] == "fantastic run"  # the index follows (lists, sidebar)
    found = list(exp.get_runs(properties={"reviewer": "azureml-user"}, tags={"quality": "fantastic run"}))
    assert [r.id for r in found] == [run.id]
    assert [r.id for r in exp.get_runs(tags="worth another look")] == [run.id]
    assert next(exp.get_runs()).id == run.id  # Azure's generator form works too
    assert list(exp.get_runs(tags={"quality": "poor"})) == []
    assert [r.id for r in exp.get_runs(type="azureml.scriptrun")] == [run.id]
    assert list(exp.get_runs(type="interactive")) == []


def test_in_script_history_and_children_on_the_local_target(finished_run):
    _exp, run = finished_run
    children = sorted(run.get_children(), key=lambda c: c.display_name or "")
    assert len(children) == 3 and all(c.get_status() == "Completed" for c in children)
    assert sorted(c.get_tags().get("fold") for c in children if c.get_tags()) == ["0", "1"]
    assert sorted(c.get_metrics().get("fold_score") for c in children if "fold_score" in c.get_metrics()) == [0.5, 0.6]
    left_open = next(c for c in children if c.display_name == "left-open")
    assert left_open.get_metrics() == {"x": 1}  # settled by the driver with its parent's outcome


def test_register_model_in_script_happens_when_outputs_are_collected(finished_run):
    from runconfig_jupyter import Model, Workspace

    _exp, run = finished_run
    model = Model(Workspace(), "from-script")
    assert (model.version, model.run_id, model.tags) == (1, run.id, {"alpha": "0.25"})
    assert Path(model.path).read_text() == "alpha=0.25"
    assert read_history(run.run_dir)["models"] == ["from-script:1"]
    assert "model registration failed: run.register_model('from-script', 'outputs/missing.pkl')" in run.get_log()
    assert run.get_status() == "Completed"
    # v1 scripts print what register_model returned: the script got the model's attributes, not None
    assert "pending model:|from-script|from-script:pending|None|{'alpha': 0.25}" in run.get_log()


def test_details_are_shaped_as_azure(finished_run):
    _exp, run = finished_run
    details = run.get_details()
    for key in ("runId", "status", "target", "startTimeUtc", "endTimeUtc", "properties", "logFiles", "tags"):
        assert details[key] is not None, key
    definition = details["runDefinition"]
    assert definition["script"] == "train.py" and definition["arguments"] == ["--alpha", 0.25]
    assert definition["target"] == "local" and "environment" in definition
    assert "logs/std_log.txt" in details["logFiles"]
    with_logs = run.get_details_with_logs()
    assert "trained" in with_logs["logFiles"]["logs/std_log.txt"]
    assert f"workspace home: {run.store.home}" in with_logs["logFiles"]["logs/std_log.txt"]
    written = run.get_all_logs(destination="all-logs")
    assert any(path.endswith("std_log.txt") for path in written)
    assert run.get_detailed_status()["status"] == "Completed"
    assert run.get_environment().python.user_managed_dependencies is False
    assert run.get_snapshot_id() == details["properties"]["ContentSnapshotId"]


def test_wait_for_completion_raises_on_failure_and_run_needs_its_experiment(v1_project):
    (v1_project / "broken.py").write_text("raise SystemExit(3)\n")
    exp = Experiment(workspace=Workspace.from_config(), name="broken")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="broken.py"))
    with pytest.raises(RunFailed, match="exited with code 3"):
        run.wait_for_completion(raise_on_error=True)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Failed"
    with pytest.raises(RunNotFound, match="belongs to experiment 'broken'"):
        Run(Experiment(Workspace.from_config(), "other"), run.id)


def test_fail_and_cancel_a_submitted_run_from_the_notebook(v1_project):
    (v1_project / "slow.py").write_text(
        textwrap.dedent("""
        import time
        from runconfig_jupyter import Run
        Run.get_context().log("started", 1)
        time.sleep(60)
        """)
    )
    exp = Experiment(workspace=Workspace.from_config(), name="stopped")
    config = ScriptRunConfig(source_directory=".", script="slow.py")
    failing = exp.submit(config)
    wait_for(lambda: failing.get_metrics().get("started") == 1, message="the script to start")
    failing.fail()
    failing.wait_for_completion(raise_on_error=False, timeout=30)
    assert failing.get_status() == "Failed" and failing.record.reason == "marked as failed by user"
    canceled = exp.submit(config)
    canceled.cancel()
    canceled.wait_for_completion(raise_on_error=False, timeout=30)
    assert canceled.get_status() == "Canceled"


def test_in_script_fail_is_recorded_even_when_the_script_exits_zero(v1_project):
    (v1_project / "gives_up.py").write_text(
        "from runconfig_jupyter import Run\nRun.get_context().fail('data looked wrong')\n"
    )
    run = Experiment(Workspace.from_config(), "gives-up").submit(
        ScriptRunConfig(source_directory=".", script="gives_up.py")
    )
    run.wait_for_completion(raise_on_error=False)
    assert (run.get_status(), run.record.reason) == ("Failed", "data looked wrong")


def test_tags_and_display_name_given_at_submit_are_run_history(v1_project):
    exp = Experiment(workspace=Workspace.from_config(), name="submit-tags")
    run = exp.submit(ScriptRunConfig(".", script="train.py"), tags={"team": "vision"}, display_name="first try")
    assert run.get_tags() == {"team": "vision"} and run.display_name == "first try"
    run.wait_for_completion()
    assert run.get_tags() == {"team": "vision", "stage": "train"}
    assert read_history(run.run_dir)["display_name"] == "first try"


def test_a_rerun_is_not_a_child(finished_run):
    exp, run = finished_run
    again = run.rerun()
    again.wait_for_completion()
    assert again.parent is None and again.get_details()["rerunOf"] == run.id
    assert again.id not in {c.id for c in run.get_children()}
    assert again.id in {r.id for r in exp.get_runs()}
    assert read_history(again.run_dir)["tags"] == {"stage": "train"}


def test_concurrent_taggers_lose_no_tag(v1_project):
    """history.json is read-modify-written under a lock: four processes tagging at once keep every tag."""
    import subprocess
    import sys

    run = Experiment(Workspace.from_config(), "many-writers").start_logging()
    code = textwrap.dedent(
        f"""
        import sys
        from runconfig_jupyter import Run
        run = Run.get({run.id!r})
        for i in range(25):
            run.tag(f"w{{sys.argv[1]}}-{{i}}", i)
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    assert len(run.get_tags()) == 100 and len(json.loads((run.run_dir / "history.json").read_text())["tags"]) == 100
    run.complete()


def test_run_definition_is_remembered_only_while_run_json_is_unchanged(finished_run):
    """get_details' runDefinition is built once per handle (the wait builds it before the run ends); a caller
    that changes what it got changes nothing for the next call, and a rewritten run.json is read again."""
    _exp, run = finished_run
    first = run.get_details()["runDefinition"]
    assert first["script"] == "train.py" and first["arguments"] == ["--alpha", 0.25]
    assert first["target"] == "local"
    first["arguments"].append("--tampered")
    first["script"] = "other.py"
    again = run.get_details()["runDefinition"]
    assert again["script"] == "train.py" and again["arguments"] == ["--alpha", 0.25]

    spec_path = run.run_dir / "run.json"
    spec = json.loads(spec_path.read_text())
    spec["config"]["run_config"]["arguments"] = ["--alpha", 0.5, "--beta", 1]
    spec_path.write_text(json.dumps(spec))  # another size: a different file state
    assert run.get_details()["runDefinition"]["arguments"] == ["--alpha", 0.5, "--beta", 1]
