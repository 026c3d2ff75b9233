"""A whole fresh script that submits and waits, against running the work without us.

What a user pays for ``python submit.py`` (a new interpreter: import this package, build the
config, snapshot, record, hand over to a driver, ``wait_for_completion``) compared with:

- local:  ``python t.py`` (the same script, run directly);
- docker: ``docker run --rm IMAGE python -c ...`` (the same script in the same warm image).

Whole processes, paired (ours, bare, ...; timing.py). As a user re-running a script sees it, a
warm standby driver left by the previous submit takes the run (the count is printed).

    python benchmarks/bench_script.py [--repeat 7] [--target local|docker|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import figure, paired, timed, wait_for_standby  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMAGE = "runconfig-jupyter/python:bookworm"
SCRIPT = "print('trained')\n"
SUBMIT = """
import sys
from runconfig_jupyter import Experiment, ScriptRunConfig
config = ScriptRunConfig(sys.argv[1], script="t.py", compute_target=sys.argv[2])
Experiment("bench-script").submit(config).wait_for_completion()
"""


def script_project(home: str, folder: str) -> Path:
    """Point this process (and the scripts it starts) at ``home`` and this checkout; the project to submit."""
    os.environ["RUNCONFIG_JUPYTER_HOME"] = home
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    source = Path(folder, "project")
    source.mkdir()
    (source / "t.py").write_text(SCRIPT)
    return source


def run_quietly(argv: list[str]) -> None:
    """Run ``argv`` with its output dropped; when it fails, its stderr (the run's reason) goes to ours first."""
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        done.check_returncode()


def measure(target: str, source: Path, home: Path, repeat: int) -> None:
    from runconfig_jupyter.core.runs.store import RunStore

    submit = source.parent / "submit.py"
    submit.write_text(SUBMIT)

    def ours() -> float:
        wait_for_standby(home)  # a user re-runs seconds later: the previous submit's standby waits
        return timed(lambda: run_quietly([sys.executable, str(submit), str(source), target]))

    if target == "local":
        bare_argv = [sys.executable, str(source / "t.py")]
        name, goal = "fresh script submit+wait, local vs `python t.py`", "<= 3x"
    else:
        bare_argv = ["docker", "run", "--rm", IMAGE, "python", "-c", SCRIPT]
        name, goal = "fresh script submit+wait, docker vs `docker run --rm`", "<= 1.5x"
    pair = paired(ours, lambda: timed(lambda: run_quietly(bare_argv)), repeat)
    records = RunStore(home).list("bench-script", limit=repeat)
    served = sum(bool(r.details.get("standby_driver")) for r in records)
    assert all(r.status.value == "Completed" for r in records), [r.reason for r in records]
    figure(name, pair, goal, note=f"{served}/{repeat} by a standby")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--target", choices=("local", "docker", "both"), default="both")
    args = parser.parse_args()
    targets = ["local", "docker"] if args.target == "both" else [args.target]
    for target in targets:
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as folder:
            measure(target, script_project(home, folder), Path(home), args.repeat)


if __name__ == "__main__":
    main()
