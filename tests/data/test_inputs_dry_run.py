"""``%submit --dry-run`` lists each input (datastore, path, size, cached or not) and each output; records nothing."""

from __future__ import annotations

import textwrap

from IPython.utils.capture import capture_output

from runconfig_jupyter.core.runs.store import RunStore


def test_dry_run_lists_inputs_and_outputs(shell, datastore, run_home):
    body = textwrap.dedent(
        """
        script: report.py
        arguments: [--csv, 'DatasetConsumptionConfig:csv', --out, 'DatasetOutputConfig:model']
        dataReferences:
          whole: {dataStoreName: trainingdata, pathOnDataStore: train, mode: mount}
        data:
          csv:
            dataLocation: {datapath: {datastoreName: trainingdata, relativePath: 'train/**/*.csv'}}
            mechanism: download
        outputData:
          model:
            outputLocation: {datapath: {datastoreName: workspaceblobstore, relativePath: 'models/{run-id}'}}
        """
    )
    with capture_output():
        shell.run_cell_magic("runconfig", "withdata", body)
    with capture_output() as out:
        shell.run_line_magic("submit", "withdata --dry-run")
    text = out.stdout
    assert "data          whole (mount), csv (download), -> model (upload)" in text  # the configuration's summary
    assert "input  whole [mount] trainingdata:" in text
    assert "3 files, 32 B, local folder, nothing to fetch" in text  # a.csv 12 + more/b.csv 8 + notes.txt 12 bytes
    assert "input  csv [download]" in text and "(**/*.csv): 2 files, 20 B, copied from this machine" in text
    assert "output model [upload] -> workspaceblobstore:models/{run-id}" in text
    assert "Nothing submitted" in text
    assert RunStore().list() == []
