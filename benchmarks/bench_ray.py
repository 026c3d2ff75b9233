"""Ray target: submit -> Completed, against a bare ``JobSubmissionClient.submit_job`` of the same script.

Both are measured in the same run against the same private Ray head (started
here on free ports, killed by PID at the end). The bare side uploads the same
folder as working_dir and polls ``get_job_status`` until SUCCEEDED; ours goes
through snapshot, run record, detached driver, launcher (private copy, outputs
shipped back), log tail and collect. Both sides get one warm-up submit so the
content-hashed upload is cached for both.

    PYTHONPATH=. python benchmarks/bench_ray.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCRIPT = """
import os
os.makedirs("outputs", exist_ok=True)
open("outputs/done.txt", "w").write("ok")
print("trained")
"""


def bare(address: str, source: Path, repeat: int) -> list[float]:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        job = client.submit_job(entrypoint="python train.py", runtime_env={"working_dir": str(source)})
        while client.get_job_status(job).value not in ("SUCCEEDED", "FAILED", "STOPPED"):
            time.sleep(0.05)
        times.append(time.perf_counter() - start)
    return times[1:]


def ours(address: str, source: Path, repeat: int) -> list[float]:
    from runconfig_jupyter import Experiment, ScriptRunConfig
    from runconfig_jupyter.targets.ray import RayTarget

    target = RayTarget("bench", address=address)
    experiment = Experiment("bench-ray")
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        run = experiment.submit(ScriptRunConfig(str(source), script="train.py"), target=target)
        run.wait_for_completion(timeout=300)
        times.append(time.perf_counter() - start)
        assert (run.outputs_dir() / "done.txt").exists()
    return times[1:]


def main() -> None:
    from tests.integration.ray.cluster import start_cluster

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cluster = start_cluster(num_cpus=2)
    try:
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as folder:
            os.environ["RUNCONFIG_JUPYTER_HOME"] = home
            source = Path(folder)
            (source / "train.py").write_text(SCRIPT)
            baseline = bare(cluster.address, source, args.repeat)
            submitted = ours(cluster.address, source, args.repeat)
    finally:
        cluster.stop()
    b, o = statistics.median(baseline), statistics.median(submitted)
    print(f"bare submit_job -> SUCCEEDED : {b:6.2f} s (median of {args.repeat}; {[round(t, 2) for t in baseline]})")
    print(f"ray target      -> Completed : {o:6.2f} s (median of {args.repeat}; {[round(t, 2) for t in submitted]})")
    print(f"ratio                        : {o / b:6.2f}x")


if __name__ == "__main__":
    main()
