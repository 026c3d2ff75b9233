"""``run.input_datasets`` inside a target where only the in-script shim is installed (standard library only)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

from runconfig_jupyter.core.data.plan import DataInput, DataOutput, DataPlan, script_environment
from runconfig_jupyter.core.runs.shim import shim_tar

SCRIPT = """
import sys
sys.path.insert(0, SHIM)
import runconfig_jupyter
assert runconfig_jupyter.__file__.startswith(SHIM), runconfig_jupyter.__file__  # the shim, not the package
from runconfig_jupyter import Run
run = Run.get_context()
print(run.input_datasets["files"])
print(run.input_datasets["table"].to_pandas_dataframe().to_dict("list"))
print(run.output_datasets["model"])
try:
    run.input_datasets["ghost"]
except KeyError as error:
    print("KeyError", error)
"""


def test_input_datasets_with_only_the_shim(tmp_path):
    with tarfile.open(fileobj=io.BytesIO(shim_tar()), mode="r") as archive:
        archive.extractall(tmp_path, filter="data")
    data = tmp_path / "data"
    (data / "t").mkdir(parents=True)
    (data / "t" / "a.csv").write_text("x;y\n1;2\n")
    (data / "t" / "skip.txt").write_text("no")
    tabular = {"type": "tabular", "pattern": "*.csv", "options": {"separator": ";", "header": True}}
    plan = DataPlan(
        [
            DataInput("files", "s", "local", str(data)),
            DataInput("table", "s", "local", str(data / "t"), dataset=tabular),
        ],
        [DataOutput("model", "s", "local", "out")],
    )
    env = script_environment(plan, {"files": str(data), "table": str(data / "t"), "model": str(tmp_path / "out")})
    assert env["AZUREML_DATAREFERENCE_files"] == str(data)
    shim = str(tmp_path / "runconfig-shim")
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"SHIM = {shim!r}\n{SCRIPT}"],
        capture_output=True,
        text=True,
        env={**env, "RUNCONFIG_RUN_ID": "r1", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(data) and lines[1] == str({"x": [1], "y": [2]}) and lines[2] == str(tmp_path / "out")
    assert lines[3].startswith("KeyError") and "files, table" in lines[3]
    assert json.loads(env["RUNCONFIG_INPUT_DATASETS"])["table"]["options"]["separator"] == ";"
