"""MPI runs on the local target through a real Open MPI ``mpirun`` (real processes, real signals).

``PMIX_RANK`` is set only by Open MPI's runtime, never by our direct launcher, so seeing it proves the ranks were
started by mpirun; with ``RUNCONFIG_MPI_LAUNCHER=direct`` it must be absent while the OMPI names stay.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import MpiConfiguration
from runconfig_jupyter.core.errors import RunFailed
from tests.conftest import wait_for
from tests.integration.rank_scripts import RANKS_SCRIPT

pytestmark = pytest.mark.skipif(
    shutil.which("mpirun") is None,
    reason="Open MPI's mpirun is not installed: run `scripts/install.sh test` as root or `apt-get install openmpi-bin`",
)

ENV_SCRIPT = """
import json, os
from runconfig_jupyter import Run

keys = ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
        "PMIX_RANK", "PMI_RANK", "AZ_BATCH_MASTER_NODE"]
seen = {k: os.environ.get(k) for k in keys}
print(json.dumps(seen), flush=True)
rank = os.environ["OMPI_COMM_WORLD_RANK"]
run = Run.get_context()
for step in range(100):  # both ranks append to the same metrics file at once
    run.log(f"count_r{rank}", step)
if rank == "0":
    run.log("accuracy", 0.5)
"""


@pytest.fixture
def mpi_project(tmp_path):
    root = tmp_path / "mpi"
    root.mkdir()
    (root / "env.py").write_text(textwrap.dedent(ENV_SCRIPT))
    (root / "ranks.py").write_text(textwrap.dedent(RANKS_SCRIPT))
    return root


def _all_gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def _rank_lines(run, rank: int) -> dict:
    return json.loads((run.run_dir / "logs" / f"rank_{rank}.txt").read_text().splitlines()[0])


def test_mpirun_starts_the_ranks_with_its_own_variables(mpi_project):
    config = ScriptRunConfig(str(mpi_project), script="env.py", distributed_job_config=MpiConfiguration(2))
    run = Experiment("mpi").submit(config)
    run.wait_for_completion(timeout=60)
    for rank in (0, 1):
        seen = _rank_lines(run, rank)
        assert seen["OMPI_COMM_WORLD_RANK"] == str(rank) and seen["OMPI_COMM_WORLD_SIZE"] == "2"
        assert seen["OMPI_COMM_WORLD_LOCAL_RANK"] == str(rank) and seen["OMPI_COMM_WORLD_LOCAL_SIZE"] == "2"
        assert seen["PMIX_RANK"] == str(rank)  # Open MPI's runtime set them, not us
        assert seen["PMI_RANK"] == str(rank) and seen["AZ_BATCH_MASTER_NODE"].startswith("127.0.0.1:")
    log = run.get_log()
    assert '[rank 0] {"OMPI_COMM_WORLD_RANK": "0"' in log and '[rank 1] {"OMPI_COMM_WORLD_RANK": "1"' in log
    metrics = run.get_metrics()
    # 200 concurrent appends from two processes: every record arrived whole.
    assert metrics["count_r0"] == list(range(100)) and metrics["count_r1"] == list(range(100))
    assert metrics["accuracy"] == 0.5
    details = run.get_details()["targetDetails"]
    assert details["launcher"] == "mpirun" and details["launcher_argv"][1:3] == ["-np", "2"]
    assert "MPI launcher: " in (run.run_dir / "logs" / "prepare_log.txt").read_text()
    assert len(details["pids"]) == 2 and _all_gone([details["pid"], *details["pids"]])


def test_failing_rank_fails_the_run_through_mpirun(mpi_project):
    config = ScriptRunConfig(
        str(mpi_project), script="ranks.py", arguments=[1], distributed_job_config=MpiConfiguration(2)
    )
    run = Experiment("mpi").submit(config)
    with pytest.raises(RunFailed, match="rank 1 exited with code 3"):
        run.wait_for_completion(timeout=60)
    details = run.get_details()
    assert details["exitCode"] == 3 and "other ranks were stopped by mpirun" in details["error"]["message"]
    target = details["targetDetails"]
    assert target["launcher"] == "mpirun" and _all_gone([target["pid"], *target["pids"]])
    assert "[rank 0] started 0" in run.get_log() and "[rank 1] started 1" in run.get_log()
    assert "[mpirun] " in run.get_log()  # mpirun's own explanation is in the run's log too


def test_cancel_ends_mpirun_and_every_rank(mpi_project):
    config = ScriptRunConfig(
        str(mpi_project), script="ranks.py", arguments=[-1], distributed_job_config=MpiConfiguration(2)
    )
    run = Experiment("mpi").submit(config)
    wait_for(lambda: run.get_log().count("] started ") == 2, timeout=30, message="both ranks started")
    # The ranks may print before the driver has found them both and recorded their pids (it polls mpirun's
    # children while their output is already merged into the log).
    wait_for(lambda: {"pid", "pids"} <= set(run.record.details), timeout=30, message="the pids to be recorded")
    details = run.record.details
    pids = [details["pid"], *details["pids"]]
    assert len(pids) == 3 and not _all_gone(pids)
    rank_pids = {int(line.split()[-1]) for line in run.get_log().splitlines() if "] started " in line}
    assert rank_pids == set(details["pids"])  # the recorded pids are the ranks themselves
    assert run.cancel()
    wait_for(lambda: run.record.is_terminal, timeout=30, message="run canceled")
    assert run.get_status() == "Canceled"
    assert _all_gone(pids)


def test_max_duration_ends_an_mpirun_run(mpi_project):
    config = ScriptRunConfig(
        str(mpi_project),
        script="ranks.py",
        arguments=[-1],
        distributed_job_config=MpiConfiguration(2),
        max_run_duration_seconds=3,
    )
    run = Experiment("mpi").submit(config)
    wait_for(lambda: run.record.is_terminal, timeout=40, message="run stopped by max duration")
    assert run.get_status() == "Canceled"
    details = run.record.details
    assert details["launcher"] == "mpirun" and _all_gone([details["pid"], *details["pids"]])


def test_direct_launcher_opt_out(mpi_project, monkeypatch):
    config = ScriptRunConfig(str(mpi_project), script="env.py", distributed_job_config=MpiConfiguration(2))
    config.run_config.environment_variables["RUNCONFIG_MPI_LAUNCHER"] = "direct"
    run = Experiment("mpi").submit(config)
    run.wait_for_completion(timeout=60)
    for rank in (0, 1):
        seen = _rank_lines(run, rank)
        assert seen["OMPI_COMM_WORLD_RANK"] == str(rank) and seen["PMIX_RANK"] is None
    details = run.get_details()["targetDetails"]
    assert details["launcher"] == "direct" and "asks for it" in details["launcher_reason"]
    assert "MPI launcher: direct" in (run.run_dir / "logs" / "prepare_log.txt").read_text()
    assert os.environ.get("RUNCONFIG_MPI_LAUNCHER") is None  # the run's variable, not the process's


def test_target_setting_opt_out_and_typo_refused_before_anything_is_recorded(mpi_project):
    from runconfig_jupyter.core.errors import ConfigError
    from runconfig_jupyter.targets.local.target import LocalTarget

    config = ScriptRunConfig(str(mpi_project), script="env.py", distributed_job_config=MpiConfiguration(2))
    run = Experiment("mpi").submit(config, target=LocalTarget("local", mpi_launcher="direct"))
    run.wait_for_completion(timeout=60)
    assert run.get_details()["targetDetails"]["launcher"] == "direct"
    assert _rank_lines(run, 1)["PMIX_RANK"] is None

    config.run_config.environment_variables["RUNCONFIG_MPI_LAUNCHER"] = "mpiexec"
    experiment = Experiment("mpi-typo")
    with pytest.raises(ConfigError, match="use one of auto, mpirun, direct") as info:
        experiment.submit(config)
    assert info.value.field == "RUNCONFIG_MPI_LAUNCHER" and experiment.get_runs() == []
