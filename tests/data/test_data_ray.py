"""Data on the ray target: a REAL Ray cluster (a head on 127.0.0.1) and a REAL S3 server (moto).

With ``fetch: worker`` the Ray workers read the store themselves: the job carries the store's recipe with the
credential variable NAMES only, and the values come from the cluster side (here the target's runtime_env, the
way a user grants them). A folder of this machine is refused, at submit and before the cluster is even asked,
when the cluster's address is not this machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.data.remote_access import filesystem_recipe
from runconfig_jupyter.core.data.stores import get_datastore_spec
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from runconfig_jupyter.data import OutputFileDatasetConfig
from tests.data.conftest import CREDENTIALS
from tests.data.targets_helpers import make_project, report

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture
def worker_fetch_target(ray_cluster) -> str:
    register_target(
        "ray-data", type="ray", address=ray_cluster.address, fetch="worker", runtime_env={"env_vars": CREDENTIALS}
    )
    yield "ray-data"
    unregister_target("ray-data")


def test_workers_read_the_store_and_the_output_is_uploaded(worker_fetch_target, s3_store, out_store, tmp_path):
    store = s3_store.datastore
    arguments = [
        "--remote",
        store.path("train", data_reference_name="remote").as_mount(),
        "--copy",
        store.path("train/sub", data_reference_name="copy").as_download(),
        "--out",
        OutputFileDatasetConfig(name="model", destination=(out_store, "ray/{run-id}")),
        "--try-write",
        "copy",
    ]
    project = make_project(tmp_path / "project")
    config = ScriptRunConfig(str(project), script="probe.py", arguments=arguments, compute_target=worker_fetch_target)
    run = Experiment("data-ray").submit(config)
    run.wait_for_completion(timeout=200, raise_on_error=False)
    assert run.get_status() == "Completed", (run.get_details(), run.get_log())
    seen = report(run)
    prepare = (run.run_dir / "logs" / "prepare_log.txt").read_text()
    assert "input 'remote': read by the workers from the store" in prepare
    assert seen["--remote"]["files"] == ["a.csv", "sub/b.csv"]
    assert seen["argv"]["--remote"] == seen["env"]["AZUREML_DATAREFERENCE_remote"]
    assert seen["--copy"] == {"files": ["b.csv"], "write": "ok"}  # a private copy in the run's working dir
    assert "/work/data/copy" in seen["argv"]["--copy"]
    # what the job carried for the store: the variables' names, never their values
    recipe = filesystem_recipe(get_datastore_spec("s3data"))
    assert "${env:TEST_S3_KEY}" in recipe["json"] and "${env:TEST_S3_SECRET}" in recipe["json"]
    assert not any(secret in recipe["json"] or secret in prepare for secret in CREDENTIALS.values())
    destination = Path(out_store.path_on_host) / "ray" / run.id
    assert (destination / "result.txt").read_text() == "written by the script"
    assert json.loads((destination / "_RUN_STATUS.json").read_text())["status"] == "Completed"


def test_local_folder_on_this_machines_cluster_is_used_in_place(ray_cluster, local_store, tmp_path):
    """A mounted folder is the folder itself; a mounted dataset naming some files of a folder (a glob) is those
    files only, linked on the node (the folder's other files are not part of the input)."""
    from runconfig_jupyter import Dataset

    (Path(local_store.path_on_host) / "train" / "notes.txt").write_text("not part of the dataset\n")
    csvs = Dataset.File.from_files((local_store, "train/*.csv")).as_named_input("csvs").as_mount()
    register_target("ray-here", type="ray", address=ray_cluster.address)
    try:
        config = ScriptRunConfig(
            str(make_project(tmp_path / "project")),
            script="probe.py",
            arguments=["--mounted", local_store.path("train", data_reference_name="train").as_mount(), "--view", csvs],
            compute_target="ray-here",
        )
        run = Experiment("data-ray").submit(config)
        run.wait_for_completion(timeout=200, raise_on_error=False)
    finally:
        unregister_target("ray-here")
    assert run.get_status() == "Completed", (run.get_details(), run.get_log())
    seen = report(run)
    assert seen["argv"]["--mounted"] == str(Path(local_store.path_on_host, "train").resolve())
    assert seen["--mounted"]["files"] == ["a.csv", "notes.txt"]
    assert seen["--view"] == {"files": ["a.csv"], "texts": {"a.csv": "x,y\n1,2\n"}}


def test_local_folder_is_refused_for_a_cluster_elsewhere_before_anything_is_asked_or_recorded(local_store, tmp_path):
    register_target("ray-far", type="ray", address="http://192.0.2.77:8265")  # TEST-NET: nothing answers there
    try:
        config = ScriptRunConfig(
            str(make_project(tmp_path / "project")),
            script="probe.py",
            arguments=["--mounted", local_store.path("train", data_reference_name="train").as_mount()],
            compute_target="ray-far",
        )
        experiment = Experiment("data-ray-refused")
        started = time.monotonic()
        with pytest.raises(ConfigError) as refused:
            experiment.submit(config)
    finally:
        unregister_target("ray-far")
    assert refused.value.field == "data.train"
    assert "cannot see" in str(refused.value) and "192.0.2.77" in str(refused.value)
    assert time.monotonic() - started < 5  # refused here: the unreachable cluster was never waited for
    assert experiment.store.list(limit=10) == []


def test_node_side_paths_copies_and_variables_without_a_cluster(tmp_path):
    """What the launcher does on a node before the script starts (targets/ray/data.py), on real folders."""
    from runconfig_jupyter.core.data.plan import DataInput, DataOutput, DataPlan
    from runconfig_jupyter.core.runs.launch import expand
    from runconfig_jupyter.targets.ray.data import node_data

    data = tmp_path / "price$data"  # a '$' in a path stays a literal dollar through the template
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("1")
    (data / "sub" / "b.csv").write_text("2")
    (data / "notes.txt").write_text("3")
    plan = DataPlan(
        [
            DataInput("seen", "ds", "local", str(data), mode="mount"),
            DataInput("csvs", "ds", "local", str(data), mode="download", pattern="**/*.csv"),
        ],
        [DataOutput("model", "out", "local", "m/{run-id}")],
    )
    spec = {
        "plan": plan.to_dict(),
        "inputs": [
            {"name": i.name, "mode": i.mode, "path_on_compute": None, "pattern": i.pattern, "host_path": str(data)}
            for i in plan.inputs
        ],
    }
    work = tmp_path / "work"
    template = ["python", "train.py", "DatasetConsumptionConfig:seen", "${AZUREML_DATAREFERENCE_csvs}"]
    template += ["DatasetOutputConfig:model"]
    argv_template, env = node_data(spec, work, template)
    argv = expand(argv_template, env)
    assert argv[2] == str(data) and argv[3] == str(work / "data" / "csvs") == env["AZUREML_DATAREFERENCE_csvs"]
    assert argv[4] == str(work / "data_outputs" / "model") and (work / "data_outputs" / "model").is_dir()
    copied = sorted(p.relative_to(work / "data" / "csvs").as_posix() for p in (work / "data" / "csvs").rglob("*.*"))
    assert copied == ["a.csv", "sub/b.csv"]  # the glob kept only the csv files
    assert json.loads(env["RUNCONFIG_INPUT_DATASETS"])["seen"]["path"] == str(data)
