"""Docker target: submit -> first log line and submit -> Completed, against a bare ``docker run --rm``.

The baseline runs the same one-line script in the same warm base image with the docker CLI
(``docker run --rm IMAGE python -c ...``), measured in the same run on the same engine, so the
printed ratios say what our driver, snapshot copy, shim and log streaming cost on top of Docker
itself. "warm" is what a user sees from the second submit of a session on (a standby driver,
core/standby.py, waits pre-imported); "cold" starts a fresh driver process per submit.
Also: how long the "is this environment's image already built?" decision takes for an unchanged
environment (no rebuild).

    python benchmarks/bench_docker.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from timing import Pair, figure, paired, wait_for_line, wait_for_standby  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runconfig_jupyter.core.runs.store import RunStore  # noqa: E402

IMAGE = "runconfig-jupyter/python:bookworm"
LINE = "first line"


def bare(repeat: int) -> tuple[list[float], list[float]]:
    first, done = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(
            ["docker", "run", "--rm", IMAGE, "python", "-c", f"print({LINE!r}, flush=True)"], stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        process.stdout.readline()
        first.append(time.perf_counter() - start)
        process.wait()
        done.append(time.perf_counter() - start)
    return first, done


def ours(repeat: int, source: Path) -> tuple[list[float], list[float], int]:
    """Submit -> first line / Completed; also how many runs a warm standby driver served."""
    from runconfig_jupyter import Experiment, ScriptRunConfig
    from runconfig_jupyter.core.runs.status import RunStatus

    first, done, served = [], [], 0
    config = ScriptRunConfig(str(source), command=f"python -c {shlex.quote(f'print({LINE!r}, flush=True)')}")
    config.compute_target = "docker"
    experiment = Experiment("bench")
    for _ in range(repeat):
        wait_for_standby(experiment.store.home)
        start = time.perf_counter()
        run = experiment.submit(config)
        wait_for_line(run, LINE)
        first.append(time.perf_counter() - start)
        while run.store.get(run.id).status not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED):
            time.sleep(0.002)
        done.append(time.perf_counter() - start)
        assert run.get_status() == "Completed", run.get_details()
        served += bool(run.record.details.get("standby_driver"))
    return first, done, served


def decision(repeat: int, source: Path) -> list[float]:
    """Time for ensure_image() to find the already-built image of an unchanged environment."""
    from runconfig_jupyter import Experiment, ScriptRunConfig
    from runconfig_jupyter.core.config import CondaDependencies, Environment
    from runconfig_jupyter.targets.docker.client import connect
    from runconfig_jupyter.targets.docker.image import DEFAULT_BASE_IMAGE, ca_bundle_path, ensure_image

    environment = Environment("bench-six")
    environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.17.0"])
    config = ScriptRunConfig(str(source), script="train.py", compute_target="docker", environment=environment)
    client = connect()
    existing = {tag for image in client.images.list("runconfig-jupyter/env") for tag in image.tags}
    built = Experiment("bench").submit(config)  # builds it once (or finds it from an earlier run)
    built.wait_for_completion(timeout=600)
    lines: list[str] = []
    ctx = SimpleNamespace(
        config=config,
        run_dir=built.run_dir,
        run_id=built.id,
        cancel_event=threading.Event(),
        prepare_log=lines.append,
        record=lambda **_: None,
        progress=lambda *_a, **_k: None,
    )
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        ensure_image(client, ctx, DEFAULT_BASE_IMAGE, ca_bundle_path())
        times.append(time.perf_counter() - start)
    assert all("is cached" in line for line in lines), lines
    if built.record.details["image"] not in existing:  # leave the machine as we found it
        client.images.remove(built.record.details["image"], force=True)
    client.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_docker.sh")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as source:
        os.environ["RUNCONFIG_JUPYTER_HOME"] = home
        Path(source, "train.py").write_text("print('x')\n")
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "0"  # cold: a fresh driver process per submit
        done: dict[str, list[float]] = {"ours": [], "bare": []}

        def ours_first() -> float:
            first, finished, served = ours(1, Path(source))
            done["ours"] += finished
            counts["served"] += served
            return first[0]

        def bare_first() -> float:
            wait_for_standby(RunStore().home)  # both sides start on a machine where the standby is ready
            first, finished = bare(1)
            done["bare"] += finished
            return first[0]

        counts = {"served": 0}
        cold = paired(ours_first, bare_first, args.repeat)
        os.environ["RUNCONFIG_STANDBY_SECONDS"] = "120"  # the default: a warm standby driver
        ours(1, Path(source))  # the first submit of a session starts the first standby
        done = {"ours": [], "bare": []}
        counts["served"] = 0
        warm = paired(ours_first, bare_first, args.repeat, warmup=0)
        completed = Pair(done["ours"], done["bare"], warm.loads)
        decide = decision(args.repeat, Path(source))
    figure(
        "docker submit -> first line, warm vs `docker run --rm IMAGE python -c print`",
        warm,
        "<= 1.2x",
        note=f"{counts['served']}/{args.repeat} by a standby",
    )
    figure("docker submit -> Completed, warm vs `docker run --rm` exit", completed, "")
    figure("docker submit -> first line, cold (fresh driver) vs `docker run --rm`", cold, "")
    print(f"unchanged environment: image decision {statistics.median(decide) * 1000:.1f} ms (cached, no rebuild)")


if __name__ == "__main__":
    main()
