"""Distributed runs on the local target: real processes, real torch.distributed (gloo, CPU), real signals."""

from __future__ import annotations

import json
import textwrap

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration
from runconfig_jupyter.core.errors import ConfigError, RunFailed
from tests.conftest import wait_for
from tests.integration.rank_scripts import DDP_SCRIPT, RANKS_SCRIPT


@pytest.fixture
def ddp_project(tmp_path):
    root = tmp_path / "ddp"
    root.mkdir()
    (root / "ddp.py").write_text(textwrap.dedent(DDP_SCRIPT))
    (root / "ranks.py").write_text(textwrap.dedent(RANKS_SCRIPT))
    (root / "env.py").write_text(
        "import json, os\nkeys = ['TF_CONFIG', 'OMPI_COMM_WORLD_RANK', 'AZ_BATCH_MASTER_NODE']\n"
        "print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)\n"
    )
    return root


def _pids(run) -> list[int]:
    return list(run.record.details.get("pids", []))


def _all_gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def test_pytorch_ddp_all_reduce_across_two_nodes_of_two_processes(ddp_project):
    config = ScriptRunConfig(
        str(ddp_project),
        script="ddp.py",
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=4, node_count=2),
    )
    run = Experiment("ddp").submit(config)
    run.wait_for_completion(timeout=180)
    log = run.get_log()
    # 1+2+3+4 = 10 on every rank proves all four processes joined one group and exchanged tensors.
    for rank, (node, local) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert f"[rank {rank}] rank {rank}/4 node {node} local {local} sum 10" in log
    assert (run.run_dir / "logs" / "rank_3.txt").read_text().startswith("rank 3/4")
    assert "[rank" not in (run.run_dir / "logs" / "rank_3.txt").read_text()
    assert run.get_metrics()["sum"] == 10
    assert (run.outputs_dir() / "sum.txt").read_text() == "10\n"
    details = run.get_details()["targetDetails"]
    assert len(details["pids"]) == 4 and details["distributed"]["world_size"] == 4
    assert _all_gone(details["pids"])
    assert not list(run.run_dir.glob("working*"))  # node working copies removed


def test_failing_rank_fails_the_run_and_stops_the_others(ddp_project):
    config = ScriptRunConfig(
        str(ddp_project), script="ranks.py", arguments=[1], distributed_job_config=MpiConfiguration(3)
    )
    run = Experiment("ddp").submit(config)
    with pytest.raises(RunFailed, match="rank 1 exited with code 3"):
        run.wait_for_completion(timeout=60)
    details = run.get_details()
    assert details["exitCode"] == 3 and "other ranks were stopped" in details["error"]["message"]
    assert len(_pids(run)) == 3 and _all_gone(_pids(run))
    log = run.get_log()
    assert all(f"[rank {r}] started {r}" in log for r in range(3))


def test_cancel_stops_every_rank(ddp_project):
    config = ScriptRunConfig(
        str(ddp_project),
        script="ranks.py",
        arguments=[-1],
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=2),
    )
    run = Experiment("ddp").submit(config)
    wait_for(lambda: run.get_log().count("] started ") == 2, timeout=60, message="both ranks started")
    pids = _pids(run)
    assert len(pids) == 2 and not _all_gone(pids)
    assert run.cancel()
    wait_for(lambda: run.record.is_terminal, timeout=30, message="run canceled")
    assert run.get_status() == "Canceled"
    assert _all_gone(pids)


def test_tensorflow_and_mpi_variables_reach_the_script(ddp_project):
    config = ScriptRunConfig(
        str(ddp_project), script="env.py", distributed_job_config=TensorflowConfiguration(1, parameter_server_count=1)
    )
    run = Experiment("ddp").submit(config)
    run.wait_for_completion(timeout=60)
    tasks = []
    for rank in (0, 1):
        seen = json.loads((run.run_dir / "logs" / f"rank_{rank}.txt").read_text())
        tf_config = json.loads(seen["TF_CONFIG"])
        assert set(tf_config["cluster"]) == {"worker", "ps"}
        tasks.append(tf_config["task"])
        assert seen["OMPI_COMM_WORLD_RANK"] is None  # only the chosen framework's variables
    assert tasks == [{"type": "worker", "index": 0}, {"type": "ps", "index": 0}]
    assert (run.run_dir / "logs" / "rank_1.txt").exists()


def test_a_parameter_server_slower_than_its_worker_ends_by_itself(ddp_project):
    """A ps that is still finishing when the workers are done is not cut off: servers are stopped only if they are
    still running SERVER_GRACE_SECONDS after the workers (a ps in server.join() never ends by itself); this one
    prints its last line after the worker ended and keeps it, with its own exit code."""
    (ddp_project / "slow_ps.py").write_text(
        "import json, os, time\n"
        "if json.loads(os.environ['TF_CONFIG'])['task']['type'] == 'ps':\n"
        "    time.sleep(2)\n"
        "    print('ps saved its state', flush=True)\n"
    )
    servers = TensorflowConfiguration(1, parameter_server_count=1)
    config = ScriptRunConfig(str(ddp_project), script="slow_ps.py", distributed_job_config=servers)
    run = Experiment("ddp").submit(config)
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    assert "ps saved its state" in (run.run_dir / "logs" / "rank_1.txt").read_text()


def test_bad_process_counts_are_refused_before_anything_is_recorded(ddp_project):
    config = ScriptRunConfig(
        str(ddp_project),
        script="ddp.py",
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=3, node_count=2),
    )
    experiment = Experiment("ddp-bad")
    with pytest.raises(ConfigError, match="multiple of node_count") as info:
        experiment.submit(config)
    assert info.value.field == "distributed_job_config.process_count"
    assert experiment.get_runs() == []


def test_deprecated_pytorch_estimator_submits_as_is(ddp_project):
    """Old v1 code: PyTorch(..., distributed_training=Gloo()) goes straight into Experiment.submit."""
    from runconfig_jupyter import Gloo, PyTorch

    with pytest.warns(DeprecationWarning, match="PyTorchConfiguration"):
        estimator = PyTorch(
            str(ddp_project),
            entry_script="ddp.py",
            compute_target="local",
            process_count_per_node=2,
            distributed_training=Gloo(),
            use_docker=False,
        )
    run = Experiment("ddp-estimator").submit(estimator)
    run.wait_for_completion(timeout=120)
    assert "[rank 1] rank 1/2 node 0 local 1 sum 3" in run.get_log()
    assert run.get_config().distributed_job_config.process_count == 2
