"""Call patterns of the v1 getting-started tutorials (get-started-day1 parts 1-4, the compute-instance and
quickstart-ci quickstarts, tutorials/quickstart), ported by imports only and run on the local target.

The data is replaced, never the calls: a tiny CIFAR-10 python-pickle batch folder served by a local
http.server stands in for the torchvision download, synthetic MNIST idx files for Azure Open Datasets, and
the training bodies are a few lines of torch/numpy where torchvision and scikit-learn are not installed.
"""

from __future__ import annotations

import gzip
import importlib
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from runconfig_jupyter.core.errors import AssetNotFound, NotSupportedLocally
from tests.data.test_dataset_v1_samples import web_folder  # noqa: F401 - fixture: a folder on 127.0.0.1
from tests.v1.helpers import aliased_target

NET = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3072, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
"""

# part 3's script: torchvision downloads and unpacks cifar-10-python.tar.gz into ./data, then trains; here the
# archive comes from CIFAR_URL (the local server) and the batch is read with pickle (no torchvision).
DOWNLOADING_TRAIN = """
import os, pickle, tarfile, urllib.request
import torch
from model import Net
from runconfig_jupyter.core import Run

run = Run.get_context()
os.makedirs("data", exist_ok=True)
urllib.request.urlretrieve(os.environ["CIFAR_URL"], "data/cifar-10-python.tar.gz")
with tarfile.open("data/cifar-10-python.tar.gz") as archive:
    archive.extractall("data", filter="data")
with open("data/cifar-10-batches-py/data_batch_1", "rb") as f:
    batch = pickle.load(f, encoding="bytes")
x, y = torch.tensor(batch[b"data"], dtype=torch.float32) / 255, torch.tensor(batch[b"labels"])
net = Net()
optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
for epoch in range(2):
    optimizer.zero_grad()
    loss = torch.nn.CrossEntropyLoss()(net(x), y)
    loss.backward()
    optimizer.step()
    run.log("loss", loss.item())
print("Finished Training")
"""

# part 4's script: the same training on the data folder given by --data_path (the mounted dataset).
DATA_PATH_TRAIN = """
import argparse, os, pickle
import torch
from model import Net
from runconfig_jupyter.core import Run

run = Run.get_context()
parser = argparse.ArgumentParser()
parser.add_argument("--data_path", type=str)
parser.add_argument("--learning_rate", type=float, default=0.001)
parser.add_argument("--momentum", type=float, default=0.9)
args = parser.parse_args()
print("LIST FILES IN DATA PATH...", sorted(os.listdir(args.data_path)))
with open(os.path.join(args.data_path, "cifar-10-batches-py", "data_batch_1"), "rb") as f:
    batch = pickle.load(f, encoding="bytes")
x, y = torch.tensor(batch[b"data"], dtype=torch.float32) / 255, torch.tensor(batch[b"labels"])
net = Net()
optimizer = torch.optim.SGD(net.parameters(), lr=args.learning_rate, momentum=args.momentum)
optimizer.zero_grad()
loss = torch.nn.CrossEntropyLoss()(net(x), y)
loss.backward()
optimizer.step()
run.log("loss", loss.item())
run.log("momentum", args.momentum)
"""

MNIST_TRAIN = """
import argparse, glob, gzip, os, pickle
import numpy as np
from runconfig_jupyter.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder")
parser.add_argument("--regularization", type=float, dest="reg", default=0.01)
args = parser.parse_args()
with gzip.open(glob.glob(os.path.join(args.data_folder, "**/train-labels-idx1-ubyte.gz"), recursive=True)[0]) as f:
    labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
run = Run.get_context()
run.log("regularization rate", float(args.reg))
run.log("accuracy", float(np.mean(labels == np.bincount(labels).argmax())))
os.makedirs("outputs", exist_ok=True)
with open("outputs/sklearn_mnist_model.pkl", "wb") as out:
    pickle.dump(np.bincount(labels), out)
"""


def cifar_archive(folder: Path) -> Path:
    """A CIFAR-10 python-pickle batch folder of 40 images (the layout torchvision unpacks), as its tar.gz."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {b"data": rng.integers(0, 255, (40, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 40).tolist()}
        (batches / name).write_bytes(pickle.dumps(batch))
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname=batches.name)
    return archive


def mnist_files(folder: Path) -> Path:
    """The four MNIST idx files (gzip), 60 training and 20 test images, as Azure Open Datasets served them."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, count in (("train", 60), ("t10k", 20)):
        images = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8).tobytes()
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 2051, count, 28, 28) + images)
        )
        labels = rng.integers(0, 10, count, dtype=np.uint8).tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, count) + labels))
    return folder


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


def test_day1_cluster_hello_training_and_mounted_data(v1_project, web_folder):  # noqa: F811 - the fixture
    """Parts 1-4: find-or-create the cluster, hello.py on it, the CIFAR-10 script that downloads its data (also run
    by hand, as the notebook's ``!python`` cell), the data uploaded to the default datastore and mounted."""
    from runconfig_jupyter.core import Dataset, Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import AmlCompute, ComputeTarget
    from runconfig_jupyter.core.compute_target import ComputeTargetException
    from runconfig_jupyter.widgets import RunDetails

    served, url = web_folder
    cifar_archive(served / "cifar")
    write(
        v1_project,
        {
            "code/hello/hello.py": 'print("hello world!")\n',
            "code/pytorch-cifar10-train/train.py": DOWNLOADING_TRAIN,
            "code/pytorch-cifar10-train/model.py": NET,
            "code/pytorch-cifar10-your-data/train.py": DATA_PATH_TRAIN,
            "code/pytorch-cifar10-your-data/model.py": NET,
            # the tutorial's file pins python and lists pip; both are the interpreter's, so nothing installs
            "configuration/pytorch-env.yml": "name: pytorch-env\ndependencies:\n  - python=3.11\n  - pip\n",
        },
    )
    ws = Workspace.from_config()
    with aliased_target("cpu-cluster", "local"):
        try:
            cpu_cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
        except ComputeTargetException:  # pragma: no cover - the alias exists
            config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
            cpu_cluster = ComputeTarget.create(ws, "cpu-cluster", config)
        cpu_cluster.wait_for_completion(show_output=True)

        experiment = Experiment(workspace=ws, name="day1-experiment-hello")
        run = experiment.submit(
            ScriptRunConfig(source_directory="./code/hello", script="hello.py", compute_target="cpu-cluster")
        )
        RunDetails(run).show()
        run.wait_for_completion(show_output=True, raise_on_error=True)
        assert "hello world!" in run.get_details_with_logs()["logFiles"]["logs/std_log.txt"]
        with pytest.raises(NotSupportedLocally):
            run.get_portal_url()

        environment_variables = {"CIFAR_URL": f"{url}cifar/cifar-10-python.tar.gz"}
        by_hand = subprocess.run(
            [sys.executable, "code/pytorch-cifar10-train/train.py"],
            env={**environment_variables, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert by_hand.returncode == 0 and "Finished Training" in by_hand.stdout, by_hand.stderr
        assert sorted(p.name for p in Path("data").iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]

        config = ScriptRunConfig(
            source_directory="code/pytorch-cifar10-train/", script="train.py", compute_target="cpu-cluster"
        )
        env = Environment.from_conda_specification(name="pytorch-env", file_path="configuration/pytorch-env.yml")
        env.environment_variables = environment_variables
        config.run_config.environment = env
        run = Experiment(workspace=ws, name="day1-experiment-train").submit(config)
        run.wait_for_completion(show_output=True, raise_on_error=True)
        assert len(run.get_metrics()["loss"]) == 2

        datastore = ws.get_default_datastore()
        datastore.upload(src_dir="./data", target_path="datasets/cifar10", overwrite=True)
        dataset = Dataset.File.from_files(path=(datastore, "datasets/cifar10"))
        arguments = [
            "--data_path",
            dataset.as_named_input("input").as_mount(),
            "--learning_rate",
            0.003,
            "--momentum",
            0.92,
        ]
        config = ScriptRunConfig(
            source_directory="./code/pytorch-cifar10-your-data",
            script="train.py",
            compute_target="cpu-cluster",
            arguments=arguments,
        )
        config.run_config.environment = Environment.from_conda_specification(
            name="pytorch-env", file_path="configuration/pytorch-env.yml"
        )
        run = Experiment(workspace=ws, name="day1-experiment-data").submit(config)
        run.wait_for_completion(show_output=True, raise_on_error=True)
        assert run.get_metrics()["momentum"] == 0.92
        log = run.get_details_with_logs()["logFiles"]["logs/std_log.txt"]
        assert "['cifar-10-batches-py', 'cifar-10-python.tar.gz']" in log
        assert ws.compute_targets["cpu-cluster"].name == "cpu-cluster"


def test_defaults_channel_of_an_environment_file_is_anacondas(v1_project):
    """Day 1's environment files list ``channels: [defaults, pytorch]``. ``defaults`` is conda's alias for
    Anaconda's channels; taken as a channel name it pointed at an empty anaconda.org channel and never solved."""
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace

    write(
        v1_project,
        {
            "hello.py": "print('hello')\n",
            "pytorch-env.yml": "name: pytorch-env\nchannels:\n  - defaults\n  - pytorch\n  - defaults\n"
            "dependencies:\n  - python=3.6.2\n  - runconfig-test-no-such-package\n",
        },
    )
    config = ScriptRunConfig(source_directory=".", script="hello.py", compute_target="local")
    config.run_config.environment = Environment.from_conda_specification(
        name="pytorch-env", file_path="pytorch-env.yml"
    )
    run = Experiment(workspace=Workspace.from_config(), name="day1-defaults").submit(config)
    run.wait_for_completion(raise_on_error=False, timeout=300)
    assert run.get_status() == "Failed" and run.get_details()["error"]["phase"] == "Preparing"
    prepare = run.read_log(name="prepare_log.txt")[0]
    main, r = "https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"
    assert f"runconfig-test-no-such-package from {main}, {r}, pytorch (py-rattler)" in prepare


def test_azureml_sdk_pip_packages_of_an_environment_are_not_installed(v1_project):
    """Day 1's pytorch-aml-env.yml lists ``pip: [azureml-sdk]`` for the cloud's run context. Installing it put the
    whole Azure SDK (a minute and more, older numpy and friends) under every run, or failed offline."""
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.targets.docker.image import plan_image

    write(
        v1_project,
        {
            "where.py": "import importlib.util, sys\nfrom runconfig_jupyter.core import Run\n"
            "Run.get_context().log('sdk', str(importlib.util.find_spec('azureml')))\n"
            "Run.get_context().log('python', sys.executable)\n",
            "pytorch-aml-env.yml": "name: pytorch-aml-env\ndependencies:\n  - python=3.6.2\n  - pip\n  - pip:\n"
            "    - azureml-sdk\n    - azureml-dataset-runtime[pandas,fuse]\n    - azureml_defaults==1.0\n",
        },
    )
    env = Environment.from_conda_specification(name="pytorch-aml-env", file_path="pytorch-aml-env.yml")
    config = ScriptRunConfig(source_directory=".", script="where.py", compute_target="local", environment=env)
    with pytest.warns(UserWarning, match=r"azureml-sdk, azureml-dataset-runtime\[pandas,fuse\], azureml_defaults==1.0"):
        run = Experiment(workspace=Workspace.from_config(), name="day1-aml-env").submit(config)
    run.wait_for_completion(raise_on_error=True, timeout=120)
    assert run.get_metrics() == {"sdk": "None", "python": sys.executable}
    assert env.python.conda_dependencies.pip_packages[0] == "azureml-sdk"  # the definition keeps what it lists
    assert plan_image(env, "python:3.11-slim", None).pip_packages == []  # nor does the docker image install it
    env.python.conda_dependencies.add_pip_package("six")
    assert env.python.conda_dependencies.installed_pip_packages() == ["six"]


def test_quickstart_interactive_run_registers_a_pytorch_model(v1_project):
    """tutorials/quickstart: ``start_logging(snapshot_directory=None)``, the state dict uploaded by name and
    registered with ``model_framework=Model.Framework.PYTORCH`` (missing: AttributeError); deployment refuses."""
    import torch

    from runconfig_jupyter.core import Environment, Experiment, Model, Workspace
    from runconfig_jupyter.core.model import InferenceConfig
    from runconfig_jupyter.core.webservice import AciWebservice

    ws = Workspace.from_config()
    run = Experiment(workspace=ws, name="cifar10-experiment").start_logging(snapshot_directory=None)
    net = torch.nn.Linear(3072, 10)
    run.log("learning rate", 0.001)
    torch.save(net.state_dict(), "cifar_net.pth")
    run.upload_file(name="cifar_net.pth", path_or_stream="cifar_net.pth")
    model = run.register_model(
        model_name="cifar10-model",
        model_path="cifar_net.pth",
        model_framework=Model.Framework.PYTORCH,
        description="cifar10 model",
    )
    run.complete()
    assert (model.model_framework, Model.Framework.SCIKITLEARN, Model.Framework.ONNX) == (
        "PyTorch",
        "ScikitLearn",
        "Onnx",
    )
    assert Model(ws, "cifar10-model", model_framework=Model.Framework.PYTORCH).version == model.version
    with pytest.raises(AssetNotFound):
        Model(ws, "cifar10-model", model_framework=Model.Framework.TENSORFLOW)
    assert Model.list(ws, model_framework=Model.Framework.PYTORCH) == [model]
    assert Model.list(ws, model_framework=Model.Framework.SCIKITLEARN) == []
    assert model.serialize()["modelFramework"] == "PyTorch"
    weights = torch.load(Model.get_model_path("cifar10-model", _workspace=ws))
    assert torch.equal(weights["weight"], net.state_dict()["weight"])

    with pytest.raises(AssetNotFound, match="curated"):
        Environment.get(ws, "AzureML-PyTorch-1.6-CPU")
    for deployment in (
        lambda: InferenceConfig(entry_script="score.py", environment=Environment("scoring")),
        lambda: AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1),
        lambda: Model.deploy(workspace=ws, name="cifar-service", models=[Model(ws, "cifar10-model")], overwrite=True),
    ):
        with pytest.raises(NotSupportedLocally):
            deployment()


def test_open_datasets_import_says_how_to_bring_the_files():
    """``from azureml.opendatasets import MNIST`` stopped with ModuleNotFoundError; it names what to do instead."""
    with pytest.raises(NotSupportedLocally) as refused:
        importlib.import_module("runconfig_jupyter.opendatasets")
    message = str(refused.value)
    assert message.count(". ") == 1 and "(azureml.opendatasets)" in message and "Dataset.File.from_files" in message


def test_quickstart_ci_job_submission_with_a_registered_file_dataset(v1_project):
    """quickstart-ci / compute-instance quickstarts: the MNIST files downloaded and registered as a new version,
    ``FileDataset.as_mount()`` straight into ``arguments``, ``compute_target='local'``, metrics, files, model."""
    from runconfig_jupyter.core import Dataset, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.environment import Environment
    from runconfig_jupyter.widgets import RunDetails

    write(v1_project, {"sklearn-mnist-batch/train.py": MNIST_TRAIN})
    ws = Workspace.from_config()
    exp = Experiment(workspace=ws, name="get-started-with-jobsubmission-tutorial")
    datastore = ws.get_default_datastore()
    datastore.upload(src_dir=str(mnist_files(v1_project.parent / "mnist")), target_path="mnist", overwrite=True)
    mnist_file_dataset = Dataset.File.from_files(path=(datastore, "mnist"))  # for MNIST.get_file_dataset()
    mnist_file_dataset.download(str(v1_project / "data"), overwrite=True)
    assert len(list((v1_project / "data").rglob("*-idx*-ubyte.gz"))) == 4
    for _ in range(2):
        registered = mnist_file_dataset.register(
            workspace=ws, name="mnist_opendataset", description="training and test dataset", create_new_version=True
        )
    assert registered.version == 1  # the same definition again is the same version
    with pytest.raises(AssetNotFound, match="curated"):
        Environment.get(workspace=ws, name="AzureML-Scikit-learn-0.20.3")

    args = ["--data-folder", registered.as_mount(), "--regularization", 0.5]
    src = ScriptRunConfig(
        source_directory="sklearn-mnist-batch",
        script="train.py",
        arguments=args,
        compute_target="local",
        environment=Environment("sk"),
    )
    run = exp.submit(config=src)
    RunDetails(run).show()
    run.wait_for_completion(show_output=True, raise_on_error=True)
    assert run.get_metrics()["regularization rate"] == 0.5
    assert "outputs/sklearn_mnist_model.pkl" in run.get_file_names()
    model = run.register_model(model_name="sklearn_mnist", model_path="outputs/sklearn_mnist_model.pkl")
    assert (model.name, model.id, model.version) == ("sklearn_mnist", "sklearn_mnist:1", 1)


def test_in_ten_minutes_notebook_run_and_environment_for_deployment(v1_project):
    """AzureMLIn10mins: an interactive run logs, uploads the pickled model by its name and registers it; the
    deployment environment (azureml pip packages and a conda pin) registers and is read back with version "1"."""
    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.core.conda_dependencies import CondaDependencies
    from runconfig_jupyter.core.environment import Environment
    from runconfig_jupyter.core.model import Model
    from runconfig_jupyter.core.webservice import AciWebservice

    ws = Workspace.from_config()
    run = Experiment(workspace=ws, name="azure-ml-in10-mins-tutorial").start_logging(snapshot_directory=None)
    run.log("accuracy", float(np.float64(0.9)))
    Path("sklearn_mnist_model.pkl").write_bytes(pickle.dumps({"means": [0.1]}))
    run.upload_file(name="sklearn_mnist_model.pkl", path_or_stream="sklearn_mnist_model.pkl")
    model = run.register_model(
        model_name="sklearn_mnist_model",
        model_path="sklearn_mnist_model.pkl",
        description="Mnist handwriting recognition",
    )
    run.complete()
    assert run.get_status() == "Completed" and Model(ws, "sklearn_mnist_model").run_id == run.id == model.run_id

    env = Environment("quickstart-env")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["azureml-dataset-runtime[pandas,fuse]", "azureml-defaults"],
        conda_packages=["scikit-learn==0.22.1"],
    )
    env.register(workspace=ws)
    myenv = Environment.get(workspace=ws, name="quickstart-env", version="1")
    assert myenv.python.conda_dependencies.conda_packages == ["scikit-learn==0.22.1"]
    with pytest.raises(NotSupportedLocally, match=r"^AciWebservice\.deploy_configuration\(\) needs Azure ML"):
        AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, tags={"data": "MNIST"}, description="d")
    # compute-instance quickstart's MLflow cell: an MLflow store of the run home (tests/v1/test_v1_mlflow.py uses it),
    # SQLite with SQLAlchemy, else MLflow's file store
    assert ws.get_mlflow_tracking_uri() in (
        f"sqlite:///{(ws.home / 'mlflow' / 'mlflow.db').resolve().as_posix()}",
        (ws.home / "mlflow" / "mlruns").resolve().as_uri(),
    )
