"""RunDetails driven headless (widget models, no browser) against real local runs.

Every run here is real: ``submit`` through the core API starts a detached run
driver that runs the conftest project's train.py; the widget reads only the run
folder and the store, exactly as it does in a notebook.
"""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.charts import VEGALITE_MIME
from runconfig_jupyter.core.runs.script_run import ScriptRun, submit
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.runs.store import RunRecord
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome
from runconfig_jupyter.widgets.run_details import RunDetails
from tests.conftest import wait_for


def _follower_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("runconfig-follow-")]


def test_follows_a_real_run_to_completed_with_logs_metrics_and_outputs(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 4, "--sleep", 0.1]), "wd")
    details = RunDetails(run).start()
    assert details.wait(60), "the follower never saw the run end"
    assert details.view.status == "Completed" and details.view.ended and details.view.error_text == ""
    assert details.view.detail == "exit code 0 (success)", details.view.detail
    for epoch in range(4):
        assert f"epoch {epoch} loss" in details.log_text
    assert details.view.lines[-1].startswith("env "), "the saved snapshot ends with the last line"
    assert "data-metric='loss'" in details.metrics.value and "loss" in details.charts
    spec = details.charts["loss"].outputs[0]["data"][VEGALITE_MIME]
    assert [row["value"] for row in spec["data"]["values"]] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert "data-metric='accuracies'" in details.metrics.value and "data-metric='table'" in details.metrics.value
    assert "outputs/model.txt" in details.outputs.value
    assert "download='model.txt' href='data:text/plain;base64," in details.outputs.value
    assert not details.view.can_cancel, "a finished run cannot be canceled"
    assert details.progress_box.layout.display == "none"
    assert not details.follower.alive and not _follower_threads()
    series = details.follower.state.metrics["loss"]
    assert series.values == pytest.approx([1.0, 0.5, 1 / 3, 0.25]) and series.count == 4


def test_log_lines_appear_while_the_run_is_still_running(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 40, "--sleep", 0.1]), "wd")
    details = RunDetails(run).start()
    try:
        wait_for(lambda: "epoch 1 loss" in details.log_text, 30, message="a log line in the widget")
        assert not run.record.is_terminal, "the line should show while the run is running"
        assert details.view.status == "Running" and details.view.can_cancel
        wait_for(lambda: "data-metric='loss'" in details.metrics.value, 10, message="a live metric")
    finally:
        run.cancel()
        details.close()
    assert not details.follower.alive


def test_cancel_button_cancels_a_running_run_and_the_thread_stops(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 0.1]), "wd")
    details = RunDetails(run).start()
    wait_for(lambda: run.get_status() == "Running", 30, message="Running")
    assert details.view.can_cancel and not details.view.ended
    details.view._handle_message(details.view, {"kind": "cancel"}, [])  # what the view's Cancel button sends
    assert details.view.cancel_requested
    assert details.wait(30)
    assert run.get_status() == "Canceled"
    assert details.view.status == "Canceled" and not details.view.can_cancel
    assert "killed by SIGTERM (cancel)" in details.view.detail or "canceled" in details.view.detail, details.view.detail
    assert not details.follower.alive and not _follower_threads()


def test_closing_the_widget_stops_the_thread_but_not_the_run(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 0.1]), "wd")
    details = RunDetails(run).start()
    wait_for(lambda: "epoch 0" in details.log_text, 30, message="first line")
    details.widget.close()  # what the front end does when the view goes away
    assert not details.follower.alive
    assert run.get_status() == "Running"
    run.cancel()
    wait_for(lambda: run.record.is_terminal, 30, message="cancel")


def test_reattach_by_run_id_as_after_a_kernel_restart(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 12, "--sleep", 0.1]), "wd")
    wait_for(lambda: "epoch 2" in run.get_log(), 30, message="some output")
    details = RunDetails.attach(run.id)  # a fresh handle, nothing shared with the submitting object
    assert isinstance(details.run, ScriptRun) and details.run is not run
    details.start()
    assert details.wait(60)
    assert "epoch 0 loss" in details.log_text and "epoch 11 loss" in details.log_text
    assert details.view.status == "Completed"


def test_log_view_is_bounded_and_keeps_the_newest_lines(tmp_path):
    source = tmp_path / "spam"
    source.mkdir()
    (source / "spam.py").write_text("for i in range(20000):\n    print(f'line {i:05d} ' + 'x' * 40)\n")
    run = submit(ScriptRunConfig(str(source), script="spam.py"), "wd")
    details = RunDetails(run, tail_lines=50, tail_bytes=16 * 1024).start()
    assert details.wait(60)
    state = details.follower.state
    assert len(state.tail) == 50 and state.tail[-1].startswith("line 19999")
    assert "line 19950" in details.log_text and "line 19949" not in details.log_text
    assert "lines are not kept here: see Full log" in details.view.note
    assert run.get_log().count("\n") == 20000, "the run's own log stays complete"
    details.full_log_button.click()
    assert "line 00000" in details.full_log.value and details.full_log.layout.display == ""


def test_preparing_shows_progress_with_the_phase(project):
    run = submit(ScriptRunConfig(str(project), script="train.py"), "wd")
    details = RunDetails(run)
    now = time.time()
    preparing = RunRecord(
        run.id,
        "wd",
        RunStatus.PREPARING,
        "local",
        "local",
        now,
        now,
        progress={"phase": "Building image", "fraction": 0.4},
    )
    details._draw_status(preparing)
    assert details.progress_box.layout.display == "" and details.progress.value == pytest.approx(0.4)
    assert "Building" in details.progress_label.value and details.progress.description == "Preparing"
    assert details.view.can_cancel and details.view.status == "Preparing"
    run.wait_for_completion(timeout=60)


def test_failed_run_shows_exit_code_and_phase(project):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--fail", 3]), "wd")
    details = RunDetails(run).start()
    assert details.wait(60)
    assert details.view.status == "Failed"
    assert "code 3" in details.view.detail and "in Running" in details.view.detail


def test_live_view_delegates_to_run_details_and_falls_back_to_text(project, monkeypatch, capsys):
    from runconfig_jupyter.widgets import live

    run = submit(ScriptRunConfig(str(project), script="train.py"), "wd")
    view = live.show_run(run)
    assert isinstance(view, RunDetails)
    assert view.wait(60)
    for missing in ("ipywidgets", "anywidget"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, missing, None)  # as if it were not installed
            assert live.show_run(run) is None
        assert f"%logs {run.id} -f" in capsys.readouterr().out


def test_core_does_not_import_widgets(tmp_path):
    import subprocess

    code = textwrap.dedent(
        """
        import sys
        import runconfig_jupyter.core.runs.script_run, runconfig_jupyter.core.runs.submit
        import runconfig_jupyter.core.runs.driver
        bad = [m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython', 'tornado', 'jupyter_server')
               or m.startswith('runconfig_jupyter.widgets')]
        print(bad)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_failing_draw_does_not_stop_the_follower(project):
    from runconfig_jupyter.core.runs.follow import RunFollower

    calls: list[int] = []

    def flaky(state) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(state.tail))
        if len(calls) == 1:
            raise RuntimeError("view gone for a moment")

    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3, "--sleep", 0.1]), "wd")
    follower = RunFollower(run, flaky).start()
    follower._thread.join(60)  # type: ignore[union-attr]
    assert follower.state.finished and isinstance(follower.error, RuntimeError)
    assert len(calls) >= 2 and follower.updates == len(calls) - 1
    tail = "\n".join(follower.state.tail)
    assert "epoch 2 loss" in tail and "env None" in tail


class NoCancelTarget(ComputeTarget):
    """Declares cancel=False only; never started (no such target exists on this machine)."""

    type_name = "widget-test-no-cancel"

    def capabilities(self) -> Capabilities:
        return Capabilities(cancel=False)

    def start(self, ctx) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")

    def wait(self, ctx) -> Outcome:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")

    def cancel(self, ctx, reason: str) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")


def test_cancel_is_disabled_for_a_target_that_cannot_cancel(project, install_target_types):
    """The button follows the run's target capabilities (read from run.json's target spec)."""
    install_target_types(NoCancelTarget)
    run = submit(ScriptRunConfig(str(project), script="train.py"), "wd")
    run.wait_for_completion(timeout=60)
    spec_path = run.run_dir / "run.json"
    spec = json.loads(spec_path.read_text())
    spec["target"] = {"type": NoCancelTarget.type_name, "name": "no-cancel"}
    del spec["capabilities"]  # as a run recorded before capabilities were: the recorded target's class answers
    spec_path.write_text(json.dumps(spec))
    details = RunDetails(run)
    assert details.can_cancel is False and not details.view.can_cancel
    assert "cannot cancel" in details.view.cancel_tooltip


def _record_target_elsewhere(run: ScriptRun, cancel: bool) -> None:
    """Make run.json name a target type installed nowhere in this process, as a kernel target registered only
    in another notebook is unknown to the server: only the capabilities recorded with the run can answer."""
    spec_path = run.run_dir / "run.json"
    spec = json.loads(spec_path.read_text())
    spec["target"] = {"type": "registered-in-another-kernel", "name": "elsewhere"}
    spec["capabilities"] = {**spec["capabilities"], "cancel": cancel}
    spec_path.write_text(json.dumps(spec))


@pytest.mark.parametrize("cancel", [True, False])
def test_widget_and_server_answer_can_it_be_cancelled_the_same(project, cancel):
    """One function (core/runs/run_target.py) answers for the RunDetails widget, the server's run JSON (what the
    Lab sidebar reads) and the server's cancel route, from the capabilities recorded with the run."""
    from runconfig_jupyter.core.errors import RunStateError
    from runconfig_jupyter.server.service import RunService

    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 600, "--sleep", 0.1]), "wd")
    wait_for(lambda: run.get_status() == "Running", timeout=60, message="the run to start")
    _record_target_elsewhere(run, cancel)
    service = RunService(run.store)
    details = RunDetails(run)
    try:
        summary = service.run_detail(run.id)
        assert summary["capabilities"]["cancel"] is cancel
        assert details.view.can_cancel is summary["can_cancel"] is cancel
        if cancel:
            assert details.view.cancel_tooltip == "Cancel this run"
            assert service.cancel(run.id)["status"] in ("CancelRequested", "Canceled")
            run.wait_for_completion(timeout=60, raise_on_error=False)
        else:
            assert "'local' cannot cancel runs" in details.view.cancel_tooltip
            with pytest.raises(RunStateError, match="'local' cannot cancel runs"):
                service.cancel(run.id)
            assert run.get_status() == "Running"  # the refused cancel reached nothing
    finally:
        run.cancel()  # the handle's own cancel is not gated: the test cleans up its run either way
        run.wait_for_completion(timeout=60, raise_on_error=False)
        details.close()
    ended = service.run_detail(run.id)
    assert ended["status"] == "Canceled" and ended["can_cancel"] is False
    assert RunDetails(run).view.can_cancel is False


def test_many_metrics_are_read_in_bounded_chunks_and_none_lost(tmp_path):
    source = tmp_path / "metrics"
    source.mkdir()
    (source / "log_many.py").write_text(
        "from runconfig_jupyter import Run\nrun = Run.get_context()\nfor i in range(5000):\n    run.log('m', i)\n"
    )
    run = submit(ScriptRunConfig(str(source), script="log_many.py"), "wd")
    details = RunDetails(run)
    details.follower.metrics_chunk = 16 * 1024  # many polls' worth
    details.start()
    assert details.wait(60)
    series = details.follower.state.metrics["m"]
    assert series.count == 5000 and series.points[-1] == (4999.0, 4999.0) and series.points[0] == (0.0, 0.0)
    assert len(series.points) <= series.max_points, "thinned, not grown without bound"
    assert (run.run_dir / "metrics.jsonl").stat().st_size > 10 * details.follower.metrics_chunk
