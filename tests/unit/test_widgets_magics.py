"""%runconfig_form and %runs_table on a real headless IPython shell."""

from __future__ import annotations

import textwrap

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.widgets.form import RunConfigForm
from runconfig_jupyter.widgets.runs_table import RunsTable


def _shell(project, monkeypatch) -> InteractiveShell:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    shell.run_line_magic("load_ext", "runconfig_jupyter.widgets")
    return shell


def test_runconfig_form_magic_loads_a_config_variable(project, monkeypatch):
    shell = _shell(project, monkeypatch)
    with capture_output():
        shell.run_cell_magic("runconfig", "train -q", textwrap.dedent("script: train.py\narguments: [--epochs, 2]\n"))
        shell.run_line_magic("runconfig_form", "train -e magic -o form")
    form = shell.user_ns.pop("form")
    shell.user_ns.pop("train")
    assert isinstance(form, RunConfigForm)
    assert form.script.value == "train.py" and form.arguments.value == "--epochs 2"
    assert form.experiment.value == "magic" and form.source_directory.value == str(project)
    with capture_output() as captured:
        shell.run_line_magic("runconfig_form", "nope")
    assert "no variable named 'nope'" in captured.stderr


def test_runs_table_magic(project, monkeypatch):
    from runconfig_jupyter.core.config import ScriptRunConfig

    shell = _shell(project, monkeypatch)
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]), "tablemagic")
    run.wait_for_completion(timeout=60)
    with capture_output() as captured:
        shell.run_line_magic("runs_table", "-e tablemagic")
    assert "RunsTable" not in captured.stderr and captured.stderr == ""
    assert [r.run_id for r in RunsTable("tablemagic").records] == [run.id]
    with capture_output() as captured:
        shell.run_line_magic("runs_table", "-s NoSuchStatus")
    assert "NoSuchStatus" in captured.stderr


def test_runs_table_option_is_the_same_table(project, monkeypatch):
    """``%runs --table`` and ``%runs_table`` are two spellings of one thing: same table, same refusal."""
    from runconfig_jupyter.core.config import ScriptRunConfig

    shell = _shell(project, monkeypatch)
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1]), "tableoption")
    run.wait_for_completion(timeout=60)
    shown: list[RunsTable] = []
    real_show = RunsTable.show
    monkeypatch.setattr(RunsTable, "show", lambda table: (shown.append(table), real_show(table)))  # still shown
    with capture_output() as captured:
        shell.run_line_magic("runs", "--table -e tableoption -n 5")
        shell.run_line_magic("runs_table", "-e tableoption -n 5")
    assert captured.stderr == "" and "RUN ID" not in captured.stdout  # a widget, not the text listing
    assert [[r.run_id for r in table.records] for table in shown] == [[run.id], [run.id]]
    refusals = []
    for magic, line in (("runs", "--table -s NoSuchStatus"), ("runs_table", "-s NoSuchStatus")):
        with capture_output() as captured:
            shell.run_line_magic(magic, line)
        refusals.append(captured.stderr)
    assert "NoSuchStatus" in refusals[0] and refusals[0] == refusals[1]
