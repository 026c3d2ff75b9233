"""The live parts: the log view's line protocol, logged images, and one live view per %submit.

LiveRunView is driven headless (its ``send`` captured: the messages a browser would get);
the browser side of the same protocol is checked in tests/ui/widgets/.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.widgets import render
from runconfig_jupyter.widgets.live import SubmittedRun
from runconfig_jupyter.widgets.live_view import LiveRunView
from runconfig_jupyter.widgets.run_details import RunDetails

# The smallest valid PNG (1x1, transparent), written by the tests as a run's logged image.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000"
    "0500010d0a2db40000000049454e44ae426082"
)


def _captured(view: LiveRunView) -> list[dict]:
    sent: list[dict] = []
    view.send = sent.append  # type: ignore[method-assign]
    return sent


def test_new_lines_are_sent_once_with_their_absolute_numbers():
    view = LiveRunView(run_id="r", window_lines=3)
    sent = _captured(view)
    view.add_lines(0, ["a", "b"], partial="c..")
    view.add_lines(0, ["a", "b", "c"], partial="")  # the follower hands over its whole window each time
    view.add_lines(0, ["a", "b", "c"], partial="")  # nothing new: nothing sent
    assert sent == [
        {"kind": "lines", "start": 0, "lines": ["a", "b"], "partial": "c.."},
        {"kind": "lines", "start": 2, "lines": ["c"], "partial": ""},
    ]
    view.add_lines(10, ["k", "\x1b[1mbold\x1b[0m"])  # lines 3-9 were skipped by the follower: a gap
    assert sent[-1] == {"kind": "lines", "start": 10, "lines": ["k", "bold"], "partial": ""}
    assert view.total == 12 and view.text == "k\nbold"


def test_a_new_view_is_sent_the_window_and_cancel_only_while_allowed():
    view = LiveRunView(run_id="r", window_lines=2)
    sent = _captured(view)
    view.add_lines(0, ["one", "two", "three"])
    view._handle_message(view, {"kind": "sync"}, [])
    assert sent[-1] == {"kind": "lines", "start": 1, "lines": ["two", "three"], "partial": ""}
    canceled: list[bool] = []
    view.on_cancel = lambda: canceled.append(True)
    view.ended = True
    view._handle_message(view, {"kind": "cancel"}, [])
    view.ended, view.can_cancel = False, False
    view._handle_message(view, {"kind": "cancel"}, [])
    assert canceled == [], "an ended run or a target that cannot cancel ignores a (stale) Cancel click"
    view.can_cancel = True
    view._handle_message(view, {"kind": "cancel"}, [])
    assert canceled == [True]


def test_the_snapshot_for_a_reopened_notebook_holds_the_last_lines():
    view = LiveRunView(run_id="r", window_lines=2, snapshot_every=3600)
    view.add_lines(0, ["1", "2", "3"], partial="4")
    view.save_snapshot()
    assert view.lines == ["2", "3"] and view.first_line == 1 and view.partial == "4"


def _append_image(run, relative: str, name: str = "confusion", description: str = "after epoch 3") -> None:
    """What log_image records (contract with the in-script API): a metrics line naming a file in the run folder."""
    record = {"name": name, "kind": "image", "value": {"path": relative, "description": description}, "step": 3}
    with open(run.run_dir / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps(record) + "\n")


def test_logged_images_show_beside_the_metrics_and_never_from_outside_the_run_folder(project, tmp_path):
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 2]), "img")
    run.wait_for_completion(timeout=60)
    (run.run_dir / "outputs" / "plots").mkdir(parents=True)
    (run.run_dir / "outputs" / "plots" / "cm.png").write_bytes(PNG)
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + b"SECRET")
    os.symlink(secret, run.run_dir / "outputs" / "link.png")
    _append_image(run, "outputs/plots/cm.png")
    _append_image(run, "../../" + secret.name, name="escape")
    _append_image(run, str(secret), name="absolute")
    _append_image(run, "outputs/link.png", name="symlink")
    _append_image(run, "outputs/missing.png", name="missing")
    details = RunDetails(run).start()
    assert details.wait(60)
    shown = details.images.value
    assert shown.count("<img") == 1 and "alt='after epoch 3'" in shown and "<b>confusion</b> (step 3)" in shown
    assert "4 more image(s) not shown" in shown
    import base64

    assert base64.b64encode(PNG).decode() in shown and base64.b64encode(b"SECRET").decode()[:6] not in shown
    assert render.run_file(run.run_dir, str(secret)) is None and render.run_file(run.run_dir, "../x") is None
    assert "confusion" not in details.charts, "an image is not a chart"


def test_images_are_bounded_in_count_and_size(tmp_path):
    for index in range(10):
        (tmp_path / f"{index}.png").write_bytes(PNG)
    (tmp_path / "big.png").write_bytes(PNG + b"\0" * 5000)
    records = [{"name": f"i{n}", "path": f"{n}.png"} for n in range(10)] + [{"name": "big", "path": "big.png"}]
    shown = render.images_html(tmp_path, records, max_count=4, per_image=1000)
    assert shown.count("<img") == 4 and "7 more image(s) not shown" in shown
    assert "<b>i9</b>" in shown and "<b>i5</b>" not in shown, "the newest are shown"


def _shell(project, monkeypatch) -> InteractiveShell:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    # The shell is a process-wide singleton: other suites turn the live view off on it; these tests need it on.
    shell.run_line_magic("config", "RunConfigMagics.live_view = True")
    return shell


def test_submit_shows_one_live_view_and_no_stale_table(project, monkeypatch):
    shell = _shell(project, monkeypatch)
    shell.run_cell_magic("runconfig", "one -q", "script: train.py\n")
    with capture_output() as first:
        shell.run_cell("%submit one -e single", store_history=True)
    run = shell.user_ns["_"]
    assert isinstance(run, SubmittedRun)
    bundles = [output.data for output in first.outputs]
    assert len(bundles) == 1 and "application/vnd.jupyter.widget-view+json" in bundles[0], bundles
    assert not any("text/html" in bundle for bundle in bundles), "no static run table under the live view"
    with capture_output() as later:
        shell.run_cell("_", store_history=True)  # shown from a later cell: a fresh live view, not a stale table
    assert len(later.outputs) == 1 and "application/vnd.jupyter.widget-view+json" in later.outputs[0].data
    run.wait_for_completion(timeout=60)
    assert [r.run_id for r in RunStore().list(experiment="single")] == [run.id]


def test_runconfig_with_an_unknown_target_is_refused_at_the_cell(project, monkeypatch):
    shell = _shell(project, monkeypatch)
    shell.user_ns.pop("bad", None)
    with capture_output() as captured:
        shell.run_cell_magic("runconfig", "bad", textwrap.dedent("script: train.py\ncompute_target: dockr\n"))
    assert "UnknownTarget" in captured.stderr and "Did you mean 'docker'" in captured.stderr
    assert "bad" not in shell.user_ns, "nothing stored: %submit would fail on it"
    with capture_output() as captured:
        shell.run_cell_magic("runconfig", "good -q", "script: train.py\ncompute_target: docker\n")
    assert captured.stderr == "" and "good" in shell.user_ns


@pytest.fixture(autouse=True)
def _close_views():
    yield
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, RunDetails):
            obj.close()


# Output types VS Code's notebook renderers draw (microsoft/vscode-notebook-renderers README), plus what VS Code's
# own notebook renderer draws (text, HTML, images) and its ipywidgets renderer (widget views).
VSCODE_RENDERS = {
    "text/plain",
    "text/html",
    "image/png",
    "image/svg+xml",
    "application/vnd.vegalite.v4+json",
    "application/vnd.vegalite.v5+json",
    "application/vnd.jupyter.widget-view+json",
}


def test_what_the_views_send_is_what_vs_code_renders(project):
    """As far as VS Code can be checked here: every output type is one it renders, and the anywidget
    carries its code in the widget state (VS Code loads anywidget's own front end from the kernel's
    environment, share/jupyter/nbextensions/anywidget, like any third-party widget)."""
    import sys

    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3]), "vscode")
    details = RunDetails(run).start()
    assert details.wait(60)
    for output in details.charts.values():
        for item in output.outputs:
            assert set(item["data"]) <= VSCODE_RENDERS, item["data"].keys()
    assert set(details.widget._repr_mimebundle_()) <= VSCODE_RENDERS
    state = details.view.get_state()
    assert state["_view_module"] == "anywidget" and "export default" in state["_esm"], "code inline, no URL"
    assert (Path(sys.prefix) / "share/jupyter/nbextensions/anywidget/extension.js").exists()
