"""Call patterns of Microsoft's public ml-frameworks samples (PyTorch, TensorFlow, Keras, scikit-learn, fastai
training notebooks), ported by imports only and run against the real local target.

Each test is a minimal reproduction of a pattern those notebooks use that broke here: the opening cells of
every one of them, and the per-node ``torch.distributed.launch`` command holding a dataset.
"""

from __future__ import annotations

import pytest

from runconfig_jupyter import Dataset, Experiment, PyTorchConfiguration, ScriptRunConfig, Workspace, register_target
from runconfig_jupyter.core.compute import ComputeTarget
from runconfig_jupyter.core.target.configured import unregister_target


@pytest.fixture
def cluster_alias():
    register_target("gpu-cluster", alias_of="local")
    yield "gpu-cluster"
    unregister_target("gpu-cluster")


def test_opening_cells_without_config_json(tmp_path, monkeypatch, cluster_alias, capsys):
    """Diagnostics opt-in, the workspace printout with ``+`` and the cluster's status ``serialize()``."""
    from runconfig_jupyter.telemetry import get_diagnostics_collection_info, set_diagnostics_collection

    monkeypatch.chdir(tmp_path)  # no config.json anywhere up from here
    set_diagnostics_collection(send_diagnostics=True)
    assert get_diagnostics_collection_info() == {"send_diagnostics": True, "collected": False}
    ws = Workspace.from_config()
    line = "Subscription id: " + ws.subscription_id + ", Resource group: " + ws.resource_group
    assert line == "Subscription id: local, Resource group: local"
    cluster = ComputeTarget(workspace=ws, name=cluster_alias)
    cluster.wait_for_completion(show_output=True)
    status = cluster.get_status()
    assert status == "Succeeded" and status.provisioning_state == "Succeeded" and status.current_node_count == 1
    assert status.serialize()["provisioningState"] == "Succeeded"
    assert "gpu-cluster (alias of 'local')" in capsys.readouterr().out


LAUNCHED = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--data-dir")
parser.add_argument("--epochs", type=int)
args = parser.parse_args()
with open(os.path.join(args.data_dir, "part.txt")) as f:
    print("RANK", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "read", f.read(), "epochs", args.epochs)
"""


def test_per_node_launch_command_list_holding_a_dataset(tmp_path, monkeypatch, cluster_alias):
    """``command=["python -m torch.distributed.launch ... train.py --data-dir", ds.as_download(), "--epochs 2"]``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.txt").write_text("hello")
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(LAUNCHED)
    monkeypatch.chdir(tmp_path)
    ws = Workspace.from_config()
    dataset = Dataset.File.upload_directory(src_dir=str(data), target=(ws.get_default_datastore(), "probe-data"))
    launch = [
        "python -m torch.distributed.launch --nproc_per_node 2 --nnodes 1 --node_rank $NODE_RANK "
        "--master_addr $MASTER_ADDR --master_port $MASTER_PORT --use_env train.py --data-dir",
        dataset.as_download(),
        "--epochs 2",
    ]
    config = ScriptRunConfig(
        source_directory=str(project),
        command=launch,
        compute_target=ComputeTarget(workspace=ws, name=cluster_alias),
        distributed_job_config=PyTorchConfiguration(node_count=1),
    )
    assert isinstance(config.command[1], str) and config.command[1].startswith("DatasetConsumptionConfig:")
    assert len(config.run_config.data) == 1
    run = Experiment(ws, "per-node-launch").submit(config)
    run.wait_for_completion(raise_on_error=True)
    log = run.get_details_with_logs()["logFiles"]["logs/std_log.txt"]
    for rank in (0, 1):
        assert f"RANK {rank} of 2 read hello epochs 2" in log


TCP_INIT = """
import argparse
import torch, torch.distributed as dist
from runconfig_jupyter.core.run import Run
parser = argparse.ArgumentParser()
parser.add_argument("--dist-url")
parser.add_argument("--rank", type=int)
parser.add_argument("--world-size", type=int)
args = parser.parse_args()
dist.init_process_group("gloo", init_method=args.dist_url, world_size=args.world_size, rank=args.rank)
total = torch.tensor([float(args.rank + 1)])
dist.all_reduce(total)
if args.rank == 0:
    Run.get_context().log("total", total.item())
dist.destroy_process_group()
"""


@pytest.mark.parametrize("nodes, processes", [(1, 2), (2, None)])
def test_rank_and_init_url_from_azure_variables(make_project, cluster_alias, nodes, processes):
    """``--dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD --rank $AZ_BATCHAI_TASK_INDEX``: each process its own rank."""
    project = make_project({"pytorch_mnist.py": TCP_INIT})
    arguments = ["--dist-url", "$AZ_BATCHAI_PYTORCH_INIT_METHOD", "--rank", "$AZ_BATCHAI_TASK_INDEX", "--world-size", 2]
    config = ScriptRunConfig(
        source_directory=str(project),
        script="pytorch_mnist.py",
        arguments=arguments,
        compute_target=cluster_alias,
        distributed_job_config=PyTorchConfiguration(
            communication_backend="Gloo", node_count=nodes, process_count=processes
        ),
    )
    run = Experiment("tcp-init").submit(config)
    run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics()["total"] == 3.0  # ranks 0 and 1 met: 1 + 2


PARAMETER_SERVER = """
import json, os, sys, time
from runconfig_jupyter.core.run import Run
task = json.loads(os.environ["TF_CONFIG"])["task"]
if task["type"] == "ps":
    while True:  # what server.join() does: serve until stopped
        time.sleep(0.2)
if task["index"] == 0:
    Run.get_context().log("chief", 1)
sys.exit(int(sys.argv[1]) if task["index"] == 1 else 0)
"""


@pytest.mark.parametrize("worker_exit, status", [(0, "Completed"), (3, "Failed")])
def test_parameter_server_serving_forever_ends_with_the_workers(make_project, cluster_alias, worker_exit, status):
    """``TensorflowConfiguration(worker_count=2, parameter_server_count=1)`` with a ps in ``server.join()``."""
    from runconfig_jupyter import TensorflowConfiguration

    project = make_project({"tf_mnist_replica.py": PARAMETER_SERVER})
    config = ScriptRunConfig(
        source_directory=str(project),
        script="tf_mnist_replica.py",
        arguments=[worker_exit],
        compute_target=cluster_alias,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1),
    )
    run = Experiment("tf-ps").submit(config)
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == status, run.get_log()
    if worker_exit:
        assert "rank 1 exited with code 3" in str(details)
    else:
        assert run.get_metrics()["chief"] == 1


CHECKPOINT = """
import argparse, os
from runconfig_jupyter.core.run import Run
parser = argparse.ArgumentParser()
parser.add_argument("--resume-from")
args = parser.parse_args()
start = 0
if args.resume_from:
    with open(os.path.join(args.resume_from, "model.ckpt")) as f:
        start = int(f.read())
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.ckpt", "w") as f:
    f.write(str(start + 5))
Run.get_context().log("epochs", start + 5)
"""


def test_resume_from_a_previous_runs_outputs_datapath(make_project):
    """``run._get_outputs_datapath().create_data_reference(DataPathComputeBinding(mode="mount"))`` as an argument."""
    from runconfig_jupyter.data.datapath import DataPathComputeBinding

    project = make_project({"train.py": CHECKPOINT})
    experiment = Experiment(Workspace.from_config(), "resume")
    first = experiment.submit(ScriptRunConfig(str(project), script="train.py"))
    first.wait_for_completion(raise_on_error=True)
    checkpoint_path = first._get_outputs_datapath()
    assert (checkpoint_path.datastore_name, checkpoint_path.path_on_datastore) == (
        "workspaceartifactstore",
        f"{first.id}/outputs",
    )
    reference = checkpoint_path.create_data_reference(datapath_compute_binding=DataPathComputeBinding(mode="mount"))
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--resume-from", str(reference)])
    config.run_config.data_references = {reference.data_reference_name: reference.to_config()}
    resumed = experiment.submit(config)
    resumed.wait_for_completion(raise_on_error=True)
    assert resumed.get_metrics()["epochs"] == 10
    # the same path as resume_from (the older estimator spelling of the sample) is kept as that datastore path
    config = ScriptRunConfig(str(project), script="train.py", resume_from=checkpoint_path)
    assert config.resume_from == f"datastore://workspaceartifactstore/{first.id}/outputs"
    config.validate()  # the store answers and holds the folder


@pytest.mark.usefixtures("docker_engine")
def test_custom_base_image_that_cannot_be_had_fails_in_one_sentence(make_project):
    """``env.docker.base_image = "<custom image>"`` that is neither local nor pullable (a registry that refuses)."""
    from runconfig_jupyter import Environment

    project = make_project({"train.py": "print('never runs')\n"})
    environment = Environment("fastai")
    environment.docker.enabled = True
    environment.docker.base_image = "localhost:1/fastdotai/fastai:latest"
    environment.python.user_managed_dependencies = True
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", environment=environment)
    run = Experiment("custom-image").submit(config)
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    message = details["error"]["message"]
    assert details["status"] == "Failed" and details["error"]["phase"] == "Preparing"
    assert message.startswith("base image 'localhost:1/fastdotai/fastai:latest' is not on this machine")
    assert "connection refused" in message and "docker build -t localhost:1/fastdotai/fastai:latest" in message
    assert "Server Error" not in message and "http+docker" not in message  # the daemon's reason, not docker-py's


def test_sklearn_estimator_and_hyperdrive_submodules(make_project, cluster_alias):
    """``from azureml.train.sklearn import SKLearn`` and ``azureml.train.hyperdrive.<submodule>`` imports."""
    import warnings

    from runconfig_jupyter import Environment
    from runconfig_jupyter.core.errors import AssetNotFound, ConfigError, NotSupportedLocally
    from runconfig_jupyter.train.hyperdrive.parameter_expressions import choice
    from runconfig_jupyter.train.hyperdrive.run import PrimaryMetricGoal
    from runconfig_jupyter.train.hyperdrive.runconfig import HyperDriveConfig, HyperDriveRunConfig
    from runconfig_jupyter.train.hyperdrive.sampling import RandomParameterSampling
    from runconfig_jupyter.train.sklearn import SKLearn

    project = make_project({"train_iris.py": "import sys\nfrom runconfig_jupyter import Run\n"
                            "Run.get_context().log('args', ' '.join(sys.argv[1:]))\n"})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = SKLearn(
            source_directory=str(project),
            script_params={"--kernel": "linear", "--penalty": 1.0},
            compute_target=cluster_alias,
            entry_script="train_iris.py",
            use_docker=False,
        )
        pinned = SKLearn(str(project), entry_script="train_iris.py", framework_version="0.20.3")
        assert pinned.environment.python.conda_dependencies.pip_packages == ["scikit-learn==0.20.3"]
        with pytest.raises(ConfigError, match="single process"):
            SKLearn(str(project), entry_script="train_iris.py", node_count=2)
    run = Experiment("train_iris").submit(estimator)
    run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics()["args"] == "--kernel linear --penalty 1.0"
    assert PrimaryMetricGoal.MAXIMIZE == "MAXIMIZE"
    for unavailable in (
        lambda: choice("linear", "rbf"),
        RandomParameterSampling,
        HyperDriveConfig,
        HyperDriveRunConfig,
    ):
        with pytest.raises(NotSupportedLocally, match="Sweep locally"):
            unavailable()
    with pytest.raises(AssetNotFound, match="curated environments"):  # the lowercase curated names of 2022 on
        Environment.get(Workspace.from_config(), name="azureml-sklearn-1.5")


def test_user_error_exception_catches_an_unregistered_dataset():
    """``try: Dataset.get_by_name(ws, name) except UserErrorException: register it`` (keras/tensorflow samples)."""
    from runconfig_jupyter.core.errors import AssetNotFound, ConfigError
    from runconfig_jupyter.exceptions import UserErrorException

    ws = Workspace.from_config()
    with pytest.raises(UserErrorException) as caught:
        Dataset.get_by_name(workspace=ws, name="mnist-dataset")
    assert isinstance(caught.value, AssetNotFound) and issubclass(ConfigError, UserErrorException)


def test_estimator_resume_from_a_datapath_passes_resume_from_argument(make_project):
    """v1's ``TensorFlow(..., resume_from=run._get_outputs_datapath())``: the script gets ``--resume-from <folder>``."""
    import warnings

    from runconfig_jupyter.train.dnn import TensorFlow

    project = make_project({"train.py": CHECKPOINT})
    experiment = Experiment(Workspace.from_config(), "resume-estimator")
    first = experiment.submit(ScriptRunConfig(str(project), script="train.py"))
    first.wait_for_completion(raise_on_error=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = TensorFlow(
            source_directory=str(project),
            compute_target="local",
            entry_script="train.py",
            resume_from=first._get_outputs_datapath(),
            use_docker=False,
        )
    assert estimator.arguments[0] == "--resume-from" and estimator.resume_from is None
    resumed = experiment.submit(estimator)
    resumed.wait_for_completion(raise_on_error=True)
    assert resumed.get_metrics()["epochs"] == 10


def test_docker_estimator_on_a_cluster_aliased_to_local_says_how_to_remap(make_project, cluster_alias):
    """v1 estimators default to ``use_docker=True``; a cluster name mapped to local says to map it to docker."""
    import warnings

    from runconfig_jupyter.core.errors import ConfigError
    from runconfig_jupyter.train.dnn import PyTorch

    project = make_project({"pytorch_train.py": "print('x')\n"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = PyTorch(str(project), compute_target=cluster_alias, entry_script="pytorch_train.py", use_gpu=True)
    with pytest.raises(ConfigError) as refused:
        Experiment("remap").submit(estimator)
    assert "register_target('gpu-cluster', alias_of='docker')" in str(refused.value)
    assert "use_docker=False" in str(refused.value)


def test_user_managed_estimator_with_a_framework_version_runs(make_project):
    """``PyTorch(..., user_managed=True, framework_version='1.6')`` (horovod samples): nothing to install, it runs."""
    import warnings

    from runconfig_jupyter import MpiConfiguration
    from runconfig_jupyter.train.dnn import PyTorch

    project = make_project({"train.py": "import os\nprint('RANK', os.environ['OMPI_COMM_WORLD_RANK'])\n"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator = PyTorch(
            str(project),
            compute_target="local",
            entry_script="train.py",
            node_count=1,
            process_count_per_node=2,
            distributed_training=MpiConfiguration(),
            user_managed=True,
            use_docker=False,
            framework_version="1.6",
        )
    assert any("installs nothing with user_managed=True" in str(w.message) for w in caught)
    run = Experiment("user-managed").submit(estimator)
    run.wait_for_completion(raise_on_error=True)
    assert "RANK 0" in run.get_log() and "RANK 1" in run.get_log()
