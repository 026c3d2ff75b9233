"""Local target: submit -> first log line, against a bare ``python -c`` printing the same line.

Paired (ours, bare, ours, bare, ...; see timing.py), in the same run on the same machine:

- warm: from the second submit of a session on, a standby driver (core/standby.py) takes the run;
- cold: a fresh driver process per submit (``RUNCONFIG_STANDBY_SECONDS=0``).

Also the resident memory of a waiting standby and of a run's driver (while its script sleeps).

    python benchmarks/bench_local.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import figure, paired, rss_mb, wait_for_line, wait_for_standby  # benchmarks/timing.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
LINE = "first line"
# A list command is joined with spaces and split again, as Azure ML v1 did (core/runs/launch.py): quote the code.
PRINT_COMMAND = f"python -c {shlex.quote(f'print({LINE!r}, flush=True)')}"


def bare() -> float:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", f"print({LINE!r}, flush=True)"], stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.readline()
    elapsed = time.perf_counter() - start
    process.wait()
    return elapsed


class Ours:
    """Submit -> first line of the same one-line script; counts the runs a warm standby served."""

    def __init__(self, source: Path):
        from runconfig_jupyter import Experiment, ScriptRunConfig

        self.config = ScriptRunConfig(str(source), command=PRINT_COMMAND)
        self.experiment = Experiment("bench")
        self.served = 0

    def __call__(self) -> float:
        wait_for_standby(self.experiment.store.home)  # a user's next submit comes seconds later
        start = time.perf_counter()
        run = self.experiment.submit(self.config)
        wait_for_line(run, LINE)
        elapsed = time.perf_counter() - start
        run.wait_for_completion()
        self.served += bool(run.record.details.get("standby_driver"))
        return elapsed


def spare_rss_mb(standby_pid: int) -> float:
    """RSS of the spare a standby keeps (targets/processes/spare.py): its child, the script's prestarted
    interpreter (prestarted.py), or ``supervisor.py --await`` when the standby does not predict the run."""
    for child in Path(f"/proc/{standby_pid}/task/{standby_pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"prestarted.py" in cmdline or b"\0--await\0" in cmdline:
            return rss_mb(int(child))
    return 0.0


def memory(source: Path) -> tuple[float, float, float]:
    """RSS (MB) of a waiting standby, of its spare, and of a run's driver while the script sleeps."""
    from runconfig_jupyter import Experiment, ScriptRunConfig
    from runconfig_jupyter.core.runs.standby import waiting_pids

    experiment = Experiment("bench")
    wait_for_standby(experiment.store.home)
    pids = waiting_pids(experiment.store.home)
    standby = rss_mb(pids[0]) if pids else 0.0
    spare = spare_rss_mb(pids[0]) if pids else 0.0
    sleeper = "import time; print('up', flush=True); time.sleep(2)"
    config = ScriptRunConfig(str(source), command=f"python -c {shlex.quote(sleeper)}")
    run = experiment.submit(config)
    wait_for_line(run, "up")
    driver = rss_mb(run.record.driver_pid or 0)
    run.wait_for_completion()
    return standby, spare, driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as source:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        Path(source, "train.py").write_text("print('x')\n")
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "0"  # cold: a fresh driver process per submit
        cold = Ours(Path(source))
        cold_pair = paired(cold, bare, args.repeat)
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "120"  # the default: a warm standby driver
        warm = Ours(Path(source))
        warm()  # the first submit of a session starts the first standby
        warm.served = 0
        warm_pair = paired(warm, bare, args.repeat, warmup=0)
        standby_mb, spare_mb, driver_mb = memory(Path(source))
    figure(
        "local submit -> first line, warm (standby)",
        warm_pair,
        "<= 1.2x",
        note=f"{warm.served}/{args.repeat} by a standby",
    )
    figure("local submit -> first line, cold (fresh driver)", cold_pair, "<= 2.5x")
    print(
        f"MEMORY | waiting standby RSS {standby_mb:.1f} MB (+ its spare, the script's prestarted interpreter, "
        f"{spare_mb:.1f} MB) | "
        f"run driver RSS {driver_mb:.1f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
