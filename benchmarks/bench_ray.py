"""Ray target: submit -> Completed, against a bare ``JobSubmissionClient.submit_job`` of the same script.

Both are measured in the same run, paired (timing.py), against the same private Ray head
(started here on free ports, killed by PID at the end). The bare side uploads the same
folder as working_dir and polls ``get_job_status`` until SUCCEEDED; ours goes
through snapshot, run record, detached driver, launcher (private copy, outputs
shipped back), log tail and collect. Both sides get one warm-up submit so the
content-hashed upload is cached for both.

    PYTHONPATH=. python benchmarks/bench_ray.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import figure, paired

SCRIPT = """
import os
os.makedirs("outputs", exist_ok=True)
open("outputs/done.txt", "w").write("ok")
print("trained")
"""


class Bare:
    """``JobSubmissionClient.submit_job`` of the same folder, polled every 50 ms until it ends."""

    def __init__(self, address: str, source: Path):
        from ray.job_submission import JobSubmissionClient

        self.client = JobSubmissionClient(address)
        self.source = source

    def __call__(self) -> float:
        start = time.perf_counter()
        job = self.client.submit_job(entrypoint="python train.py", runtime_env={"working_dir": str(self.source)})
        while self.client.get_job_status(job).value not in ("SUCCEEDED", "FAILED", "STOPPED"):
            time.sleep(0.05)
        return time.perf_counter() - start


class Ours:
    """Submit -> Completed through the ray target (snapshot, record, driver, launcher, logs, outputs)."""

    def __init__(self, address: str, source: Path):
        from runconfig_jupyter import Experiment, ScriptRunConfig
        from runconfig_jupyter.targets.ray.target import RayTarget

        self.target = RayTarget("bench", address=address)
        self.experiment = Experiment("bench-ray")
        self.config = ScriptRunConfig(str(source), script="train.py")

    def __call__(self) -> float:
        start = time.perf_counter()
        run = self.experiment.submit(self.config, target=self.target)
        run.wait_for_completion(timeout=300)
        elapsed = time.perf_counter() - start
        assert (run.outputs_dir() / "done.txt").exists()
        return elapsed


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
            pair = paired(Ours(cluster.address, source), Bare(cluster.address, source), args.repeat)
    finally:
        cluster.stop()
    figure(
        "Ray submit -> Completed vs bare `JobSubmissionClient.submit_job` polled", pair, "<= 1.2x", unit=1.0, suffix="s"
    )


if __name__ == "__main__":
    main()
