"""The run form (ipywidgets, headless) keeps the data sections: YAML in, a run that gets its data, errors inline."""

from __future__ import annotations

import textwrap

from runconfig_jupyter.widgets.form import RunConfigForm
from tests.data.inputs_helpers import report

YAML = textwrap.dedent(
    """
    script: report.py
    arguments: [--data, $AZUREML_DATAREFERENCE_train]
    dataReferences:
      train: {dataStoreName: trainingdata, pathOnDataStore: train, mode: download}
    """
)


def test_data_sections_load_into_the_form_and_reach_the_run(project, datastore):
    form = RunConfigForm(source_directory=str(project), check_targets=False)
    form.load_yaml(YAML)
    assert "dataReferences:" in form.data.value and "trainingdata" in form.data.value
    assert "dataReferences:" in form.export_yaml()  # and back out
    run = form.submit()
    assert run is not None, form.field_errors
    run.wait_for_completion(timeout=90)
    seen = report(run)
    assert seen["argv"][1].endswith("/working/inputs/train")
    assert seen["inputs"]["train"]["files"] == ["a.csv", "more/b.csv", "notes.txt"]


def test_a_bad_data_entry_is_shown_under_the_data_field(project, datastore, run_home):
    form = RunConfigForm(source_directory=str(project), check_targets=False)
    form.script.value = "report.py"
    form.data.value = "data:\n  x: {mechanism: stream, dataLocation: {datapath: {datastoreName: trainingdata}}}\n"
    assert form.submit() is None
    assert "mechanism" in form.field_errors["data"]
    form.data.value = "dataReferences:\n  y: {dataStoreName: trainingdata, pathOnDataStore: nothing-here}\n"
    assert form.submit() is None
    assert "does not exist" in form.field_errors["data"]
