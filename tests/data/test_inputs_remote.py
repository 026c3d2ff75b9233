"""Inputs from Azure Blob (Azurite) and S3 (moto server) on the local target: through the shared download cache.

A mount of a remote input is the cache's copy (fetched in Preparing, with progress); a second run of unchanged
data reuses that copy (same entry, nothing downloaded again); a changed file makes a new copy.
"""

from __future__ import annotations

import textwrap

import pytest
from IPython.utils.capture import capture_output

from runconfig_jupyter import Dataset, Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.store import RunStore
from tests.data.conftest import make_store
from tests.data.inputs_helpers import report


def run_with(project, arguments):  # type: ignore[no-untyped-def]
    run = Experiment("remote").submit(ScriptRunConfig(str(project), script="report.py", arguments=arguments))
    run.wait_for_completion(timeout=120)
    return run


@pytest.mark.parametrize("kind", ["azure_blob", "s3"])
def test_remote_inputs_mount_from_the_cache_and_download_a_copy(
    kind, request, tmp_path, credentials, project, run_home
):
    store = make_store(kind, request, tmp_path, name="remote")
    store.put("train/a.csv", b"x,y\n1,2\n")
    store.put("train/sub/b.csv", b"x,y\n3,4\n")
    store.put("train/readme.txt", b"not a table\n")
    mounted = store.datastore.path("train", data_reference_name="whole").as_mount()
    csvs = Dataset.File.from_files((store.datastore, "train/**/*.csv")).as_named_input("csvs").as_download()
    first = run_with(project, ["--whole", mounted, "--csvs", csvs])
    seen = report(first)
    cache = str(run_home / "data_cache" / "entries")
    assert seen["argv"][1].startswith(cache) and seen["env"]["AZUREML_DATAREFERENCE_whole"] == seen["argv"][1]
    assert seen["inputs"]["whole"]["files"] == ["a.csv", "readme.txt", "sub/b.csv"]
    assert seen["argv"][3].startswith(str(first.run_dir / "working"))
    assert seen["inputs"]["csvs"]["files"] == ["a.csv", "sub/b.csv"]
    progress = RunStore().get(first.id).progress or {}
    assert progress.get("phase", "").startswith("Fetching")  # the last preparation step reported

    again = report(run_with(project, ["--whole", mounted, "--csvs", csvs]))
    assert again["argv"][1] == seen["argv"][1]  # unchanged data: the same cache entry

    store.put("train/a.csv", b"x,y\n9,9\n")
    changed = report(run_with(project, ["--whole", mounted, "--csvs", csvs]))
    assert changed["argv"][1] != seen["argv"][1] and changed["argv"][1].startswith(cache)


def test_dry_run_says_whether_a_remote_input_is_cached(request, tmp_path, credentials, project, shell):
    store = make_store("s3", request, tmp_path, name="remote")
    store.put("train/a.csv", b"x,y\n1,2\n")
    body = textwrap.dedent(
        """
        script: report.py
        arguments: [$AZUREML_DATAREFERENCE_train]
        dataReferences:
          train: {dataStoreName: remote, pathOnDataStore: train, mode: download}
        """
    )
    with capture_output():
        shell.run_cell_magic("runconfig", "withdata", body)
    with capture_output() as before:
        shell.run_line_magic("submit", "withdata --dry-run")
    assert "input  train [download] remote:train: 1 files, 8 B, not cached" in before.stdout
    run_with(project, [store.datastore.path("train", data_reference_name="train").as_download()])
    with capture_output() as after:
        shell.run_line_magic("submit", "withdata --dry-run")
    assert "1 files, 8 B, cached, nothing to download" in after.stdout
