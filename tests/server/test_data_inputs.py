"""Data in a REST submit: refusals are typed answers naming the entry (never a 500); a good input reaches the run."""

from __future__ import annotations

import asyncio

from runconfig_jupyter import Datastore, Workspace
from runconfig_jupyter.core.data.plan import DataPlan
from runconfig_jupyter.core.runs.store import RunStore
from tests.data.inputs_helpers import make_data

RUNCONFIG = """
script: train.py
arguments: ['1', '0', $AZUREML_DATAREFERENCE_train]
dataReferences:
  train: {{dataStoreName: {store}, pathOnDataStore: {path}, mode: download}}
"""


async def test_data_refusals_and_a_run_with_an_input(api, workspace, tmp_path):
    Datastore.register_local(Workspace(), "trainingdata", str(make_data(tmp_path / "data")))
    cases = [
        ("nosuchstore", "train", 404, "UnknownDatastore"),
        ("trainingdata", "nothing-here", 404, "DataPathMissing"),
        ("trainingdata", "../../etc", 400, "ConfigError"),
    ]
    for store, path, status, error in cases:
        body = {"path": "proj", "runconfig": RUNCONFIG.format(store=store, path=path)}
        code, answer = await api("runs", method="POST", body=body)
        assert (code, answer["error"], answer["field"]) == (status, error, "dataReferences.train"), answer
    code, listing = await api("runs")
    assert listing["total"] == 0  # nothing recorded by the refusals
    body = {"path": "proj", "runconfig": RUNCONFIG.format(store="trainingdata", path="train")}
    code, run = await api("runs", method="POST", body=body)
    assert code == 201, run
    for _ in range(600):
        code, state = await api("runs", run["run_id"])
        if state["status"] in ("Completed", "Failed", "Canceled"):
            break
        await asyncio.sleep(0.1)
    assert state["status"] == "Completed", state
    planned = DataPlan.load(RunStore().run_dir(run["run_id"])).input("train")
    assert (planned.datastore, planned.mode, planned.path) == (
        "trainingdata",
        "download",
        str(tmp_path / "data" / "train"),
    )
