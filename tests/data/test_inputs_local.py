"""Inputs and outputs on the local target, end to end: real datastores, real driver, real script processes.

The script (tests/data/inputs_helpers.py) reports its argv, its AZUREML_DATAREFERENCE_* variables and what
``Run.get_context().input_datasets`` gave it, so each test checks what the script itself saw.
"""

from __future__ import annotations

from runconfig_jupyter import Dataset, Experiment, ScriptRunConfig
from runconfig_jupyter.core.data.plan import DataPlan
from runconfig_jupyter.data import OutputFileDatasetConfig
from tests.data.inputs_helpers import report


def submit(project, arguments, **run_config):  # type: ignore[no-untyped-def]
    config = ScriptRunConfig(str(project), script="report.py", arguments=arguments)
    for key, value in run_config.items():
        setattr(config.run_config, key, value)
    run = Experiment("data").submit(config)
    run.wait_for_completion(timeout=90)
    return run


def test_mount_is_the_registered_folder_itself_and_download_a_private_copy(project, datastore, tmp_path):
    mounted = datastore.path("train").as_mount()
    downloaded = Dataset.File.from_files((datastore, "train/**/*.csv")).as_named_input("csvs").as_download()
    run = submit(project, ["--mounted", mounted, "--csvs", downloaded])
    seen = report(run)
    data = (tmp_path / "data" / "train").resolve()
    # mount: nothing copied, the script reads the datastore's own folder; env var and argument agree
    assert seen["argv"][:2] == ["--mounted", str(data)]
    assert seen["env"]["AZUREML_DATAREFERENCE_trainingdata"] == str(data)
    assert seen["inputs"]["trainingdata"]["files"] == ["a.csv", "more/b.csv", "notes.txt"]
    # download: a copy under the run's working folder holding only what the glob names
    copy = seen["argv"][3]
    assert copy == seen["env"]["AZUREML_DATAREFERENCE_csvs"] and copy.startswith(str(run.run_dir / "working"))
    assert seen["inputs"]["csvs"]["files"] == ["a.csv", "more/b.csv"]
    plan = DataPlan.load(run.run_dir)
    assert [(i.name, i.mode, i.kind, i.path) for i in plan.inputs] == [
        ("trainingdata", "mount", "local", str(data)),
        ("csvs", "download", "local", str(data)),
    ]
    assert plan.input("csvs").pattern == "**/*.csv"
    details = run.get_details()  # v1's inputDatasets, from the recorded plan
    assert [
        (d["consumptionDetails"]["inputName"], d["consumptionDetails"]["mechanism"]) for d in details["inputDatasets"]
    ] == [
        ("trainingdata", "Mount"),
        ("csvs", "Download"),
    ]


def test_download_of_one_file_to_a_path_on_compute(project, datastore):
    single = datastore.path("single.txt", data_reference_name="single").as_download(path_on_compute="/data/in")
    run = submit(project, ["--file", single])
    seen = report(run)
    # an absolute path_on_compute is re-rooted below the working folder: the host's /data is never written
    expected = str(run.run_dir / "working" / "data" / "in" / "single.txt")
    assert seen["argv"] == ["--file", expected] and seen["inputs"]["single"]["text"] == "one file\n"


def test_registered_tabular_dataset_reads_as_a_data_frame_in_the_script(project, datastore, workspace):
    table = Dataset.Tabular.from_delimited_files((datastore, "train/**/*.csv"))
    assert len(table.to_pandas_dataframe()) == 3  # in the notebook
    registered = table.register(workspace, "table", description="two csv files")
    run = submit(project, ["--table", Dataset.get_by_name(workspace, "table").as_named_input("table")])
    seen = report(run)
    assert seen["inputs"]["table"] == {"tabular": True, "rows": 3, "columns": ["x", "y"]}
    recorded = DataPlan.load(run.run_dir).input("table").dataset
    assert recorded["name"] == "table" and recorded["version"] == registered.version == 1
    assert recorded["id"] == registered.id


def test_runconfig_data_sections_without_arguments_objects(project, datastore):
    """data / dataReferences given as v1 runconfig entries (a YAML file or cell), with v1's placeholder tokens."""
    run = submit(
        project,
        ["--refs", "$AZUREML_DATAREFERENCE_refs", "--ds", "DatasetConsumptionConfig:ds"],
        data_references={"refs": {"dataStoreName": "trainingdata", "pathOnDataStore": "train", "mode": "mount"}},
        data={
            "ds": {
                "dataLocation": {"datapath": {"datastoreName": "trainingdata", "relativePath": "single.txt"}},
                "mechanism": "download",
            }
        },
    )
    seen = report(run)
    assert seen["argv"][1] == seen["env"]["AZUREML_DATAREFERENCE_refs"]
    assert seen["argv"][3].endswith("/working/inputs/ds/single.txt")
    assert seen["inputs"]["ds"]["text"] == "one file\n"


def test_output_folder_is_given_to_the_script_and_reported_for_upload(project, workspace, datastore):
    output = OutputFileDatasetConfig("model", destination=(workspace.get_default_datastore(), "models/{run-id}"))
    run = submit(project, ["--out", output.as_upload()])
    seen = report(run)
    folder = seen["argv"][1]
    assert folder == seen["env"]["AZUREML_DATAREFERENCE_model"]
    assert folder == str(run.run_dir / "working" / "data_outputs" / "model")
    out = DataPlan.load(run.run_dir).output("model")
    assert (out.datastore, out.destination, out.mode) == ("workspaceblobstore", f"models/{run.id}", "upload")
    [described] = run.get_details()["outputDatasets"]
    assert described["identifier"]["path"] == f"models/{run.id}" and described["outputDetails"]["outputName"] == "model"


def test_mount_at_a_path_on_compute_and_a_clash_with_the_source_folder(project, datastore):
    at = datastore.path("train", data_reference_name="at").as_mount()
    at.path_on_compute = "data/train"  # v1: DataReference(path_on_compute=...) for a mount
    run = submit(project, ["--at", at])
    seen = report(run)
    assert seen["argv"][1] == str(run.run_dir / "working" / "data" / "train")
    assert seen["inputs"]["at"]["files"] == ["a.csv", "more/b.csv", "notes.txt"]
    clash = datastore.path("train", data_reference_name="clash").as_mount()
    clash.path_on_compute = "report.py"  # a file of the source directory
    run = Experiment("data").submit(ScriptRunConfig(str(project), script="report.py", arguments=[clash]))
    details = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert details["status"] == "Failed" and details["error"]["phase"] == "Preparing"
    assert "already taken" in details["error"]["message"]


LIST_AND_READ = """
import json, os, sys
seen = {}
for name, folder in zip(sys.argv[1::2], sys.argv[2::2]):
    names = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _s, fs in os.walk(folder) for f in fs)
    seen[name] = {n: open(os.path.join(folder, n)).read() for n in names}
os.makedirs("outputs", exist_ok=True)
with open("outputs/report.json", "w") as out:
    json.dump(seen, out)
"""


def test_a_mounted_dataset_of_some_files_of_a_folder_shows_those_files_only(project, datastore, tmp_path):
    """v1's mount of a file dataset (``from_files((store, "train/**/*.csv")).as_mount()``, or of a list of files)
    shows the dataset, not its whole folder: the script's ``os.walk`` of the mount point finds the named files only
    (before, it found train/notes.txt too and would have trained on it), reads them, and nothing is copied."""
    (project / "list.py").write_text(LIST_AND_READ)
    globbed = Dataset.File.from_files((datastore, "train/**/*.csv")).as_named_input("csvs").as_mount()
    listed = Dataset.File.from_files([(datastore, "train/a.csv"), (datastore, "train/notes.txt")])
    arguments = ["globbed", globbed, "listed", listed.as_named_input("two").as_mount()]
    config = ScriptRunConfig(str(project), script="list.py", arguments=arguments)
    run = Experiment("data").submit(config)
    run.wait_for_completion(timeout=90)
    seen = report(run)
    assert seen == {
        "globbed": {"a.csv": "x,y\n1,2\n3,4\n", "more/b.csv": "x,y\n5,6\n"},
        "listed": {"a.csv": "x,y\n1,2\n3,4\n", "notes.txt": "not a table\n"},
    }
    data = tmp_path / "data" / "train"
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) == [
        "a.csv",
        "more/b.csv",
        "notes.txt",
    ]
    assert not (run.run_dir / ".data_views").exists()  # links only, removed with the run; the data stays
