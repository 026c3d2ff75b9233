"""core/data/outputs.py and core/data/remote_access.py against real stores (a local folder, moto S3), no target.

What an output upload must never do (write to a read-only datastore, follow a link the script planted, let one
broken output cost the others), and what a recipe sent to another machine must never carry (a secret value).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runconfig_jupyter import Datastore, Workspace
from runconfig_jupyter.core.data.outputs import STATUS_FILE, produced_outputs, upload_outputs
from runconfig_jupyter.core.data.plan import DataOutput, DataPlan
from runconfig_jupyter.core.data.remote_access import filesystem_recipe, missing_variables, open_recipe
from runconfig_jupyter.core.data.stores import get_datastore_spec
from tests.data.conftest import CREDENTIALS


def output(name: str, store: Datastore, destination: str) -> DataOutput:
    return DataOutput(name=name, datastore=store.name, kind=store.kind, destination=destination)


def test_upload_marks_status_skips_links_and_specials_and_keeps_going_past_a_refused_store(tmp_path, out_store):
    read_only = Datastore.register_local(Workspace(), "frozen", str(_folder(tmp_path / "frozen")))
    plan = DataPlan(outputs=[output("ckpt", read_only, "c/run-1"), output("model", out_store, "m/run-1")])
    produced = {}
    for name in ("ckpt", "model"):
        folder = _folder(tmp_path / "run" / "data_outputs" / name)
        (folder / "weights.bin").write_bytes(b"w" * 1000)
        (folder / "passwd").symlink_to("/etc/passwd")
        os.mkfifo(folder / "pipe")
        produced[name] = folder
    lines: list[str] = []
    report = upload_outputs(plan, produced, "Canceled", lines.append, run_id="run-1")
    # the read-only store: refused, nothing written into it, named in the report
    assert list(Path(read_only.path_on_host).iterdir()) == []
    assert len(report.errors) == 1 and "output 'ckpt'" in report.errors[0] and "read-only" in report.errors[0]
    # the other output still went, marked with how the run ended; the link and the FIFO stayed behind
    destination = Path(out_store.path_on_host) / "m" / "run-1"
    assert sorted(p.name for p in destination.iterdir()) == [STATUS_FILE, "weights.bin"]
    status = json.loads((destination / STATUS_FILE).read_text())
    assert status == {**status, "run_id": "run-1", "status": "Canceled", "complete": False, "files": 1, "bytes": 1000}
    assert report.uploaded == {"model": (1, 1000)}
    assert any("model/passwd: a link or special file; not uploaded" in line for line in lines)
    assert any("model/pipe: a link or special file; not uploaded" in line for line in lines)


def test_a_file_already_at_the_destination_is_kept_unless_overwrite_and_the_run_is_told(tmp_path, out_store):
    destination = _folder(Path(out_store.path_on_host) / "shared")
    (destination / "model.txt").write_text("from an earlier run")
    folder = _folder(tmp_path / "produced")
    (folder / "model.txt").write_text("new")
    (folder / "extra.txt").write_text("extra")
    lines: list[str] = []
    plan = DataPlan(outputs=[output("m", out_store, "shared")])
    kept = upload_outputs(plan, {"m": folder}, "Completed", lines.append)
    assert (destination / "model.txt").read_text() == "from an earlier run"
    assert (destination / "extra.txt").read_text() == "extra" and (destination / STATUS_FILE).exists()
    assert "1 file(s) were already there" in kept.errors[0] and "overwrite=True" in kept.errors[0]
    replace = DataOutput(name="m", datastore=out_store.name, kind="local", destination="shared", overwrite=True)
    replaced = upload_outputs(DataPlan(outputs=[replace]), {"m": folder}, "Completed", lines.append)
    assert replaced.errors == [] and (destination / "model.txt").read_text() == "new"


def test_produced_prefers_the_run_folder_and_never_a_link(tmp_path, out_store):
    plan = DataPlan(outputs=[output("a", out_store, "x"), output("b", out_store, "y"), output("c", out_store, "z")])
    run_dir = tmp_path / "run"
    _folder(run_dir / "data_outputs" / "a")
    reported = _folder(tmp_path / "working" / "b")
    (run_dir / "data_outputs").joinpath("c").symlink_to(tmp_path)  # a link where a folder should be
    found = produced_outputs(plan, run_dir, {"a": tmp_path / "nowhere", "b": reported})
    assert found == {"a": run_dir / "data_outputs" / "a", "b": reported}


def test_recipe_names_the_credential_variables_and_opens_only_with_them(s3_store, monkeypatch):
    recipe = filesystem_recipe(get_datastore_spec("s3data"))
    assert recipe is not None and recipe["root"] == s3_store.root
    assert not any(value in json.dumps(recipe) for value in CREDENTIALS.values())
    assert {"TEST_S3_KEY", "TEST_S3_SECRET"} <= set(recipe["env"])
    # another machine without the variables cannot open it ...
    assert missing_variables(recipe, {}) == ["TEST_S3_KEY", "TEST_S3_SECRET"]
    with pytest.raises(KeyError, match="TEST_S3_KEY"):
        open_recipe(recipe, {})
    # ... one with them reads the bucket
    fs = open_recipe(recipe, {name: CREDENTIALS[name] for name in ("TEST_S3_KEY", "TEST_S3_SECRET")})
    assert fs.cat(f"{s3_store.root}/train/a.csv") == b"x,y\n1,2\n"


def test_a_local_datastore_has_no_recipe(local_store):
    assert filesystem_recipe(get_datastore_spec("localdata")) is None


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
