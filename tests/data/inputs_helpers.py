"""What the data-input tests share: a local datastore with files, and a script that reports what it was given."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

REPORT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from runconfig_jupyter import Run

    run = Run.get_context()
    seen = {}
    for name, value in run.input_datasets.items():
        if hasattr(value, "to_pandas_dataframe"):
            frame = value.to_pandas_dataframe()
            seen[name] = {"tabular": True, "rows": len(frame), "columns": list(frame.columns)}
        elif os.path.isdir(value):
            files = sorted(
                os.path.relpath(os.path.join(d, f), value) for d, _s, names in os.walk(value) for f in names
            )
            seen[name] = {"path": value, "files": files}
        else:
            seen[name] = {"path": value, "text": open(value).read()}
    env = {k: v for k, v in os.environ.items() if k.startswith("AZUREML_DATAREFERENCE_")}
    for name, folder in run.output_datasets.items():
        with open(os.path.join(folder, "result.txt"), "w") as out:
            out.write("written by the script")
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/report.json", "w") as out:
        json.dump({"argv": sys.argv[1:], "env": env, "inputs": seen}, out)
    """
)


def make_data(root: Path) -> Path:
    """A folder to register as a datastore: train/ (two csv files, a text file), a single file at the top."""
    (root / "train" / "more").mkdir(parents=True)
    (root / "train" / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (root / "train" / "more" / "b.csv").write_text("x,y\n5,6\n")
    (root / "train" / "notes.txt").write_text("not a table\n")
    (root / "single.txt").write_text("one file\n")
    return root


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "report.py").write_text(REPORT_SCRIPT)
    return root


def report(run) -> dict:  # type: ignore[no-untyped-def]
    """What the script saw (outputs/report.json of a completed run)."""
    return json.loads((run.outputs_dir() / "report.json").read_text())
