"""The script the per-target data tests run (stdlib only: it runs in the bare image, a remote kernel, Ray).

It reports what it could see and do with its data: the paths it was given (arguments and
AZUREML_DATAREFERENCE_*), the files under each input, whether writing into a mounted input worked (the
errno when not; only for the inputs named in ``--try-write``), whether a host file next to the registered
folder is visible anywhere, and it writes
into its output folder (plus a link to /etc/passwd that must never be uploaded).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import json, os, sys

    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    report = {"argv": args, "env": {k: v for k, v in os.environ.items() if k.startswith("AZUREML_DATAREFERENCE_")}}
    report["resume"] = os.environ.get("RUNCONFIG_RESUME_FROM")

    def files(root):
        if os.path.isfile(root):
            return [os.path.basename(root)]
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _s, names in os.walk(root) for f in names)

    for key in ("--mounted", "--copy", "--remote"):
        if key in args:
            folder = args[key]
            entry = {"files": files(folder)}
            if key[2:] not in args.get("--try-write", "").split(","):
                report[key] = entry
                continue
            try:
                with open(os.path.join(folder, "written-by-script.txt"), "w") as out:
                    out.write("x")
                entry["write"] = "ok"
            except OSError as error:
                entry["write"] = error.errno
            report[key] = entry
    if "--view" in args:  # a dataset naming some files of a folder: what the script can list and read there
        folder = args["--view"]
        names = files(folder)
        report["--view"] = {"files": names, "texts": {n: open(os.path.join(folder, n)).read() for n in names}}
    if "--file" in args:  # a single-file input: the path is the file itself
        report["file"] = {"path": args["--file"], "text": open(args["--file"]).read()}
    if "--secret" in args:
        secret = args["--secret"]
        report["secret_at_host_path"] = os.path.exists(secret)
        report["secret_anywhere_under_mnt"] = any("secret.txt" in names for _d, _s, names in os.walk("/mnt"))
    if report["resume"]:
        report["resume_files"] = files(report["resume"])
        report["checkpoint"] = open(os.path.join(report["resume"], "model.txt")).read()
    if "--out" in args:
        os.makedirs(args["--out"], exist_ok=True)
        with open(os.path.join(args["--out"], "result.txt"), "w") as out:
            out.write("written by the script")
        os.makedirs(os.path.join(args["--out"], "nested"), exist_ok=True)
        with open(os.path.join(args["--out"], "nested", "deep.txt"), "w") as out:
            out.write("deep")
        os.symlink("/etc/passwd", os.path.join(args["--out"], "leak"))
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/report.json", "w") as out:
        json.dump(report, out)
    sys.exit(int(args.get("--exit", "0")))
    """
)


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "probe.py").write_text(PROBE)
    return root


def report(run) -> dict:  # type: ignore[no-untyped-def]
    return json.loads((run.outputs_dir() / "report.json").read_text())
