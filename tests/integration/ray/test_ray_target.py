"""The ray target against a REAL Ray cluster (head + one worker node on 127.0.0.1, started by the session fixture).

The GPU test asks for a GPU on this GPU-less cluster: that is the real refusal, not a fake.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import PyTorchConfiguration
from runconfig_jupyter.core.errors import RunFailed, TargetUnavailable
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.targets.ray.target import RayTarget
from tests.integration.rank_scripts import DDP_SCRIPT

pytestmark = pytest.mark.ray

TRAIN = """
import os, sys, time
from runconfig_jupyter import Run

run = Run.get_context()
steps = int(sys.argv[1])
for step in range(steps):
    run.log("loss", 1.0 / (step + 1))
    print(f"step {step} greeting={os.environ.get('GREETING')}", flush=True)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as out:
    out.write(f"{steps} steps\\n")
with open("pid.txt", "w") as out:
    out.write(str(os.getpid()))
if len(sys.argv) > 2 and sys.argv[2] == "sleep":
    print(f"pid {os.getpid()} sleeping", flush=True)
    time.sleep(300)
sys.exit(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "rayproj"
    root.mkdir()
    (root / "train.py").write_text(textwrap.dedent(TRAIN))
    (root / "ddp.py").write_text(textwrap.dedent(DDP_SCRIPT))
    return root


def test_single_run_completes_with_logs_metrics_and_outputs_and_a_failing_one_fails(ray_target, jobs, project):
    """Two runs at once (the cluster has room for both): one completes, one exits 3."""
    config = ScriptRunConfig(str(project), script="train.py", arguments=[3], compute_target=ray_target)
    config.run_config.environment_variables = {"GREETING": "hello"}
    run = Experiment("ray").submit(config)
    failing = Experiment("ray").submit(
        ScriptRunConfig(str(project), script="train.py", arguments=[1, "no", 3], compute_target=ray_target)
    )
    run.wait_for_completion(timeout=120)
    log = run.read_log()[0]
    assert "step 2 greeting=hello" in log  # log order, metrics, nothing left running: tests/contract
    assert (run.outputs_dir() / "model.txt").read_text() == "3 steps\n"
    details = run.get_details()["targetDetails"]
    assert jobs.get_job_status(details["ray_job_id"]).value == "SUCCEEDED"
    assert not (project / "outputs").exists()
    assert details["ray_working_dir"] and not Path(details["ray_working_dir"]).exists()

    with pytest.raises(RunFailed, match="exited with code 3"):
        failing.wait_for_completion(timeout=120)
    assert failing.get_details()["exitCode"] == 3
    # Outputs of a failed run come back too, and are its own: both runs upload the same content, which Ray
    # may extract once for both, yet each wrote ./outputs in its private copy.
    assert (failing.outputs_dir() / "model.txt").read_text() == "1 steps\n"


def test_two_rank_gloo_ddp_across_ray_nodes(ray_target, project):
    config = ScriptRunConfig(
        str(project),
        script="ddp.py",
        compute_target=ray_target,
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=2, node_count=2),
    )
    run = Experiment("ray").submit(config)
    run.wait_for_completion(timeout=180)
    log = run.read_log()[0]
    assert "started 2 pytorch ranks on 2 Ray node(s)" in run.get_log()  # the placement group spread them
    assert "[rank 0] rank 0/2 node 0" in log and "[rank 1] rank 1/2 node 1" in log
    assert log.count("sum 3") == 2  # 1 + 2: the ranks exchanged tensors
    assert (run.run_dir / "logs" / "rank_1.txt").read_text().startswith("rank 1/2")
    assert run.get_metrics()["sum"] == 3
    assert (run.outputs_dir() / "sum.txt").read_text() == "3\n"


def test_gpu_request_on_gpu_less_cluster_is_refused_up_front(ray_target, jobs, project):
    before = len(jobs.list_jobs())
    config = ScriptRunConfig(str(project), script="train.py", arguments=[1], compute_target=ray_target)
    config.environment.docker.gpu_support = True
    experiment = Experiment("ray-gpu")
    with pytest.raises(TargetUnavailable, match=r"asks for 1 GPU.*has 0 GPU") as info:
        experiment.submit(config)
    assert "gpu_support" in str(info.value)
    assert experiment.get_runs() == []
    assert len(jobs.list_jobs()) == before
    assert not [job for job in jobs.list_jobs() if job.status.value == "PENDING"]


def test_unreachable_address_is_target_unavailable(project):
    from runconfig_jupyter.core.runs.distributed import free_port

    target = RayTarget("gone", address=f"http://127.0.0.1:{free_port()}")
    assert target.available()[0] is False
    with pytest.raises(TargetUnavailable, match="not reachable"):
        submit(ScriptRunConfig(str(project), script="train.py"), "ray-gone", target=target)


def test_runtime_env_that_cannot_be_set_up_fails_in_preparing(ray_cluster, project):
    """A package the cluster cannot fetch: Ray fails the job before our entrypoint runs; the run says so."""
    target = RayTarget("broken", address=ray_cluster.address, runtime_env={"py_modules": ["gcs://_ray_pkg_0.zip"]})
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=[1]), "ray-broken", target=target)
    with pytest.raises(RunFailed, match="while preparing: Ray could not prepare the job"):
        run.wait_for_completion(timeout=120)
    assert run.get_details()["error"]["phase"] == "Preparing"
