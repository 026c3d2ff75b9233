"""Call patterns of the v1 tutorials (the MNIST image-classification tutorial in its 2018 to 2021 versions, and the
first-experiment tutorial) that broke when ported by imports only, each against the real local target and real runs.

The data is the only thing replaced: small synthetic files in MNIST's idx format, served by an HTTP server on
127.0.0.1 that each test starts and stops; the training bodies are a few lines of numpy (no scikit-learn here).
"""

from __future__ import annotations

import functools
import gzip
import http.server
import importlib
import os
import pickle
import struct
import sys
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally
from tests.v1.helpers import aliased_target

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

LOAD_DATA = '''
import gzip, struct
import numpy as np


def load_data(filename, label=False):
    """An idx file (gzip) as a numpy array: images one row each, labels one column."""
    with gzip.open(filename) as gz:
        gz.read(4)
        count = struct.unpack(">I", gz.read(4))[0]
        if label:
            return np.frombuffer(gz.read(count), dtype=np.uint8).reshape(count, 1)
        rows, cols = struct.unpack(">II", gz.read(8))
        return np.frombuffer(gz.read(count * rows * cols), dtype=np.uint8).reshape(count, rows * cols)
'''

# The tutorials' train.py with the scikit-learn body replaced by a nearest-centroid classifier in numpy.
TRAIN = '''
import argparse, glob, os, pickle
import numpy as np
from runconfig_jupyter.core import Run
from utils import load_data

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder")
parser.add_argument("--regularization", type=float, dest="reg", default=0.01)
args = parser.parse_args()
print("Data folder:", args.data_folder)
print("Files:", sorted(os.path.relpath(p, args.data_folder) for p in glob.glob(args.data_folder + "/**", recursive=True)
                       if os.path.isfile(p)))


def find(name, old_name):
    """The 2021 script globs for the idx name below the mount; the 2018 one reads <folder>/mnist/<short name>."""
    found = glob.glob(os.path.join(args.data_folder, "**/" + name), recursive=True)
    return found[0] if found else os.path.join(args.data_folder, "mnist", old_name)


X_train = load_data(find("train-images-idx3-ubyte.gz", "train-images.gz"), False) / 255.0
X_test = load_data(find("t10k-images-idx3-ubyte.gz", "test-images.gz"), False) / 255.0
y_train = load_data(find("train-labels-idx1-ubyte.gz", "train-labels.gz"), True).reshape(-1)
y_test = load_data(find("t10k-labels-idx1-ubyte.gz", "test-labels.gz"), True).reshape(-1)
run = Run.get_context()
centroids = np.stack([X_train[y_train == k].mean(axis=0) for k in range(10)])
y_hat = np.argmin(((X_test[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
run.log("regularization rate", float(args.reg))
run.log("accuracy", float(np.average(y_hat == y_test)))
os.makedirs("outputs", exist_ok=True)
with open("outputs/sklearn_mnist_model.pkl", "wb") as out:
    pickle.dump(centroids, out)
'''


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as out:
        out.write(header + array.astype(np.uint8).tobytes())


def make_mnist(folder: Path) -> Path:
    """The four MNIST files, 200 training and 50 test images of 28x28, labels the images can be told apart by."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 200), ("t10k", 50)):
        labels = rng.integers(0, 10, count)
        images = rng.random((count, 28, 28)) * 40 + labels[:, None, None] * 20
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # fsspec's http reads stop early on purpose
            pass


@pytest.fixture
def mnist_server(tmp_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:<port>/mnist/`` serving the MNIST files and one file no dataset names; stopped after."""
    root = tmp_path / "web"
    make_mnist(root / "mnist")
    (root / "mnist" / "not-in-the-dataset.bin").write_bytes(b"x" * 1000)
    (root / "secret.txt").write_text("outside the registered URL")
    (root / "mnist" / "diabetes.csv").write_text("AGE,BMI,Y\n59,32.1,151\n48,21.6,75\n,25.0,141\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/mnist/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def script_folder(v1_project: Path) -> Path:
    """The tutorial's ``sklearn-mnist`` folder: train.py and the utils.py it imports (copied by the notebook)."""
    (v1_project / "utils.py").write_text(LOAD_DATA)
    folder = v1_project / "sklearn-mnist"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    (folder / "utils.py").write_text(LOAD_DATA)
    return folder


def test_2018_compute_cell_batchai_callable_compute_targets_and_train_widgets(v1_project):
    """01.train-models: ``from azureml.core.compute import BatchAiCompute``; ``name in ws.compute_targets()``
    (a method then); ``BatchAiCompute.provisioning_configuration(...)``; ``compute_target.status.serialize()``;
    ``from azureml.train.widgets import RunDetails``."""
    from runconfig_jupyter.core import Workspace
    from runconfig_jupyter.core.compute import BatchAiCompute, ComputeTarget
    from runconfig_jupyter.train.widgets import RunDetails
    from runconfig_jupyter.widgets import RunDetails as CurrentRunDetails

    assert RunDetails is CurrentRunDetails
    ws = Workspace.from_config()
    name = ws.name + "gpu"
    assert name not in ws.compute_targets() and "local" in ws.compute_targets()
    config = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_NC6",
        vm_priority="lowpriority",
        autoscale_enabled=True,
        cluster_min_nodes=1,
        cluster_max_nodes=3,
    )
    with pytest.raises(NotSupportedLocally, match=f"register_target\\('{name}'"):
        ComputeTarget.create(ws, name, config)  # not mapped yet: says how
    with aliased_target(name, "local"):
        assert name in ws.compute_targets() and ws.compute_targets()[name].alias_of == "local"
        compute_target = ComputeTarget.create(ws, name, config)
        compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
        assert compute_target.status.serialize()["provisioningState"] == "Succeeded"
        with pytest.raises(NotSupportedLocally):
            compute_target.list_nodes()  # AmlCompute's Azure-only members, BatchAiCompute's too


def test_2018_mnist_datastore_upload_estimator_and_model(v1_project, script_folder, mnist_server):
    """img-classification-part1 (2018-2019): files fetched with urllib into ./data, ``ds.upload(src_dir='./data',
    target_path='mnist')``, an Estimator with ``'--data-folder': ds.as_mount()`` on the cluster, the model
    registered from the run."""
    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.core.compute import AmlCompute, ComputeTarget
    from runconfig_jupyter.train.estimator import Estimator

    ws = Workspace.from_config()
    exp = Experiment(workspace=ws, name="sklearn-mnist")
    os.makedirs("./data", exist_ok=True)
    for remote, local in zip(FILES, ("train-images", "train-labels", "test-images", "test-labels"), strict=True):
        urllib.request.urlretrieve(mnist_server + remote, filename=f"./data/{local}.gz")
    ds = ws.get_default_datastore()
    assert ds.datastore_type == "Local"
    ds.upload(src_dir="./data", target_path="mnist", overwrite=True, show_progress=True)
    with aliased_target("cpucluster", "local"):
        compute_target = ComputeTarget.create(ws, "cpucluster", AmlCompute.provisioning_configuration(max_nodes=4))
        script_params = {"--data-folder": ds.as_mount(), "--regularization": 0.8}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            est = Estimator(
                source_directory=str(script_folder),
                script_params=script_params,
                compute_target=compute_target,
                entry_script="train.py",
            )
            with pytest.raises(ConfigError, match="use_docker=False"):
                exp.submit(config=est)  # v1's estimators ran in docker: the message says both ways out
            est = Estimator(
                source_directory=str(script_folder),
                script_params=script_params,
                compute_target=compute_target,
                entry_script="train.py",
                use_docker=False,
            )
        run = exp.submit(config=est)
        from runconfig_jupyter.train.widgets import RunDetails

        RunDetails(run).show()  # headless: the widget is built and displayed nowhere, as in nbconvert
        run.wait_for_completion(show_output=False, raise_on_error=True)
    metrics = run.get_metrics()
    assert metrics["regularization rate"] == 0.8 and metrics["accuracy"] > 0.9
    assert "outputs/sklearn_mnist_model.pkl" in run.get_file_names()
    model = run.register_model(model_name="sklearn_mnist", model_path="outputs/sklearn_mnist_model.pkl")
    assert (model.name, model.id) == ("sklearn_mnist", f"sklearn_mnist:{model.version}")


def test_web_urls_in_from_files_need_a_registered_datastore_that_serves_them(v1_project, mnist_server):
    """``Dataset.File.from_files(path=[url, ...])``: refused with the registration to make while no datastore serves
    the URLs (a dataset never reads an arbitrary host), then read from the registered one; ``..`` stays refused."""
    from runconfig_jupyter.core import Dataset, Datastore, Workspace

    ws = Workspace.from_config()
    web_paths = [mnist_server + name for name in FILES]
    with pytest.raises(ConfigError) as refused:
        Dataset.File.from_files(path=web_paths)
    assert f"Datastore.register_fsspec(ws, 'web-data', '{mnist_server}')" in str(refused.value)
    assert refused.value.field == "path[0]"
    Datastore.register_fsspec(ws, "mnist-web", mnist_server)
    Datastore.register_fsspec(ws, "web-root", mnist_server.removesuffix("mnist/"))
    dataset = Dataset.File.from_files(path=web_paths)
    assert [p["datastore"] for p in dataset._definition["paths"]] == ["mnist-web"] * 4  # the closest one
    assert dataset.to_path() == ["/" + name for name in FILES]
    with pytest.raises(ConfigError, match="leaves the datastore"):
        Dataset.File.from_files(path=[mnist_server + "../secret.txt"])
    with pytest.raises(ConfigError, match="leaves the datastore"):
        Dataset.File.from_files(path=[mnist_server + "%2e%2e/secret.txt"])  # '..' to the server, see below


def test_percent_encoded_dots_do_not_leave_a_web_datastore(v1_project, mnist_server):
    """Security: ``%2e%2e`` is ``..`` to a web server and to the URL library (which drops it with the folder before
    it), so a path on an http datastore spelled that way read the server's files above the registered URL."""
    from runconfig_jupyter.core import Dataset, Datastore, Workspace
    from runconfig_jupyter.core.data.filesystems import join

    store = Datastore.register_fsspec(Workspace.from_config(), "mnist-web", mnist_server)
    assert Dataset.File.from_files(path=[(store, "train-labels-idx1-ubyte.gz")]).to_path()  # the store answers
    for escape in ("%2e%2e/secret.txt", "%2E%2E/secret.txt", "a/%2e%2e/%2e%2e/secret.txt", "%2e%2e%2fsecret.txt"):
        with pytest.raises(ConfigError, match="leaves the datastore"):
            Dataset.File.from_files(path=[(store, escape)])
        with pytest.raises(ConfigError, match="leads out of the datastore"):
            join(mnist_server, escape)  # a registered definition edited on disk is checked again when read


def test_2021_mnist_dataset_of_urls_mounted_into_a_run(v1_project, script_folder, mnist_server, tmp_path):
    """img-classification-part1 (2020-2021): a dataset of the four URLs, downloaded into ./data, registered, then
    ``dataset.as_named_input('mnist').as_mount()`` in an Estimator's ``script_params`` and ``ds.as_mount()`` in a
    ScriptRunConfig's ``arguments`` with an Environment from a conda file; the run sees the four files only."""
    from runconfig_jupyter.core import Dataset, Datastore, Experiment, Model, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import AmlCompute, ComputeTarget
    from runconfig_jupyter.core.environment import Environment
    from runconfig_jupyter.train.estimator import Estimator

    ws = Workspace.from_config()
    exp = Experiment(workspace=ws, name="sklearn-mnist")
    Datastore.register_fsspec(ws, "mnist-web", mnist_server)
    data_folder = os.path.join(os.getcwd(), "data")
    os.makedirs(data_folder, exist_ok=True)
    mnist_file_dataset = Dataset.File.from_files(path=[mnist_server + name for name in FILES])
    mnist_file_dataset.download(data_folder, overwrite=True)
    assert sorted(os.listdir(data_folder)) == sorted(FILES)
    mnist_file_dataset = mnist_file_dataset.register(
        workspace=ws, name="mnist_opendataset", description="training and test dataset", create_new_version=True
    )
    Path("sklearn-env.yml").write_text("name: sklearn-env\ndependencies:\n  - python=3.11\n")
    env = Environment.from_conda_specification(name="sklearn-env", file_path="sklearn-env.yml")
    env.register(workspace=ws)
    with aliased_target("cpu-cluster", "local"):
        if "cpu-cluster" in ws.compute_targets:
            compute_target = ws.compute_targets["cpu-cluster"]
        else:  # pragma: no cover - the alias above maps it
            compute_target = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            est = Estimator(
                source_directory=str(script_folder),
                script_params={
                    "--data-folder": mnist_file_dataset.as_named_input("mnist_opendataset").as_mount(),
                    "--regularization": 0.5,
                },
                compute_target=compute_target,
                environment_definition=env,
                entry_script="train.py",
            )
        args = ["--data-folder", mnist_file_dataset.as_mount(), "--regularization", 0.5]
        src = ScriptRunConfig(
            source_directory=str(script_folder),
            script="train.py",
            arguments=args,
            compute_target=compute_target,
            environment=env,
        )
        from runconfig_jupyter.core.data.describe import describe_plan
        from runconfig_jupyter.core.data.resolve import build_plan

        (line,) = describe_plan(build_plan(src, "dry-run"))  # what a dry run says it would fetch: the four files
        assert "mnist-web" in line and ": 4 files," in line
        runs = [exp.submit(config=est), exp.submit(config=src)]
        for run in runs:
            run.wait_for_completion(show_output=True, raise_on_error=True)
    for run in runs:
        assert run.get_metrics()["accuracy"] > 0.9, run.get_log()
        assert f"Files: {sorted(FILES)}" in run.get_log()  # not the served folder's other file
    model = runs[1].register_model(model_name="sklearn_mnist", model_path="outputs/sklearn_mnist_model.pkl")
    downloaded = Model(ws, "sklearn_mnist").download(target_dir=str(tmp_path / "model"), exist_ok=True)
    with open(downloaded, "rb") as saved:
        assert pickle.load(saved).shape == (10, 784) and model.version == 1


def test_ray_nodes_fetch_only_the_listed_files_of_a_web_dataset(v1_project, mnist_server, tmp_path):
    """A Ray target with ``fetch='worker'`` fetches inputs on the node (targets/ray/data.py ``node_data``): a dataset
    of URLs is the four files there too, not the whole served folder. Run here as the node would, without Ray."""
    from runconfig_jupyter.core import Datastore, Workspace
    from runconfig_jupyter.core.data.plan import DataInput, DataPlan
    from runconfig_jupyter.core.data.remote_access import filesystem_recipe
    from runconfig_jupyter.core.data.stores import get_datastore_spec
    from runconfig_jupyter.targets.ray.data import node_data

    Datastore.register_fsspec(Workspace.from_config(), "mnist-web", mnist_server)
    inp = DataInput("mnist", "mnist-web", "fsspec", "", mode="mount", pattern="{" + ",".join(FILES) + "}")
    recipe = filesystem_recipe(get_datastore_spec("mnist-web"))
    entry = {"name": "mnist", "mode": "mount", "path": "", "pattern": inp.pattern, "recipe": recipe}
    _argv, env = node_data({"plan": DataPlan([inp]).to_dict(), "inputs": [entry]}, tmp_path / "work", ["x"])
    folder = Path(env["AZUREML_DATAREFERENCE_mnist"])
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == sorted(FILES)


def test_dataset_of_several_files_as_one_run_input(v1_project, script_folder, tmp_path):
    """A dataset of several files of one datastore is one run input: their common folder, holding those files only
    when downloaded; files of two datastores are still refused at submit, naming the input."""
    from runconfig_jupyter.core import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace

    ws = Workspace.from_config()
    ds = ws.get_default_datastore()
    make_mnist(Path("upload/mnist"))
    (Path("upload/mnist/extra.txt")).write_text("not named")
    ds.upload(src_dir="upload", target_path="deep", overwrite=True, show_progress=False)
    named = [(ds, f"deep/mnist/{name}") for name in FILES]
    exp = Experiment(ws, "several-files")
    for mode in ("as_download", "as_mount"):
        argument = getattr(Dataset.File.from_files(path=named).as_named_input("mnist"), mode)()
        run = exp.submit(ScriptRunConfig(str(script_folder), script="train.py", arguments=["--data-folder", argument]))
        run.wait_for_completion(raise_on_error=True)
        assert run.get_metrics()["accuracy"] > 0.9
        if mode == "as_download":
            assert f"Files: {sorted(FILES)}" in run.get_log()
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    (other_folder / "t.gz").write_bytes(b"1")
    other = Datastore.register_local(ws, "other", str(other_folder))
    mixed = Dataset.File.from_files(path=[named[0], (other, "t.gz")]).as_named_input("mixed").as_mount()
    with pytest.raises(ConfigError, match="2 datastores") as refused:
        exp.submit(ScriptRunConfig(str(script_folder), script="train.py", arguments=["--data-folder", mixed]))
    assert refused.value.field == "data.mixed"


@pytest.mark.parametrize(
    ("module", "name", "says"),
    [
        ("runconfig_jupyter.opendatasets", "MNIST", "Dataset.File.from_files(path=[url, ...])"),
        ("runconfig_jupyter.opendatasets", "Diabetes", "Dataset.Tabular.from_delimited_files"),
        ("runconfig_jupyter.train.automl", "AutoMLConfig", "ScriptRunConfig"),
        ("runconfig_jupyter.train.automl.run", "AutoMLRun", "ScriptRunConfig"),
    ],
)
def test_azure_only_imports_of_the_tutorials_say_what_to_do(module, name, says):
    """``from azureml.opendatasets import MNIST`` (the tutorial's data cell), ``from azureml.train.automl import
    AutoMLConfig`` (the AutoML tutorials): NotSupportedLocally with one sentence, not ModuleNotFoundError."""
    for _ in range(2):  # a second import in the same kernel says the same
        with pytest.raises(NotSupportedLocally) as refused:
            getattr(importlib.import_module(module), name)
        assert says in str(refused.value) and str(refused.value).count("needs Azure ML") == 1
    assert module not in sys.modules


def test_deployment_cells_raise_not_supported_locally(v1_project, tmp_path):
    """img-classification-part2 (deploy): the AKS cluster, ACI configuration, inference configuration and deploy."""
    from runconfig_jupyter.core import Model, Workspace
    from runconfig_jupyter.core.compute import AksCompute, ComputeTarget
    from runconfig_jupyter.core.model import InferenceConfig
    from runconfig_jupyter.core.webservice import AciWebservice

    ws = Workspace.from_config()
    (tmp_path / "model.pkl").write_bytes(b"m")
    model = Model.register(ws, str(tmp_path / "model.pkl"), "sklearn_mnist")
    calls = [
        lambda: AksCompute.provisioning_configuration(location="eastus"),
        lambda: AksCompute.attach_configuration(resource_group="rg", cluster_name="aks"),
        lambda: ComputeTarget.create(ws, "aks-cluster", None),
        lambda: AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1),
        lambda: InferenceConfig(entry_script="score.py", environment=None),
        lambda: Model.deploy(ws, "sklearn-mnist-svc", [model], None, None),
    ]
    for call in calls:
        with pytest.raises(NotSupportedLocally) as refused:
            call()
        assert str(refused.value).count(".") >= 1 and "needs Azure ML" in str(refused.value)


def test_the_opendatasets_advice_reads_a_table_from_its_url(v1_project, mnist_server):
    """What the NotSupportedLocally of ``from azureml.opendatasets import Diabetes`` says to do instead of
    ``Diabetes.get_tabular_dataset().to_pandas_dataframe().dropna()``, done: a tabular dataset of the CSV's URL."""
    pytest.importorskip("pandas")
    from runconfig_jupyter.core import Dataset, Datastore, Workspace

    ws = Workspace.from_config()
    Datastore.register_fsspec(ws, "open-data", mnist_server)
    url = mnist_server + "diabetes.csv"
    x_df = Dataset.Tabular.from_delimited_files(path=[url]).to_pandas_dataframe().dropna()
    y_df = x_df.pop("Y")
    assert list(x_df.columns) == ["AGE", "BMI"] and list(y_df) == [151, 75]


def test_first_experiment_interactive_runs_best_model_download(v1_project):
    """tutorial-1st-experiment-sdk-train: a run per alpha with ``start_logging()``, the model dumped into
    ``outputs/`` (no makedirs) and uploaded under its bare name, then the best run by ``get_metrics()['rmse']`` over
    ``experiment.get_runs()`` and ``Run(experiment, run_id).download_file(name=...)``."""
    from runconfig_jupyter.core import Experiment, Run, Workspace

    ws = Workspace.from_config()
    experiment = Experiment(workspace=ws, name="diabetes-experiment")
    rng = np.random.default_rng(1)
    X = rng.random((100, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + rng.normal(0, 0.1, 100)
    for alpha in [0.1, 0.2, 0.3]:
        run = experiment.start_logging()
        run.log("alpha_value", alpha)
        weights = np.linalg.solve(X[:80].T @ X[:80] + alpha * 50 * np.eye(3), X[:80].T @ y[:80])
        run.log("rmse", float(np.sqrt(np.mean((X[80:] @ weights - y[80:]) ** 2))))
        model_name = "model_alpha_" + str(alpha) + ".pkl"
        filename = "outputs/" + model_name
        with open(filename, "wb") as out:
            pickle.dump(weights, out)
        run.upload_file(name=model_name, path_or_stream=filename)
        run.complete()
    assert "diabetes-experiment" in repr(experiment)
    best = min(experiment.get_runs(), key=lambda r: r.get_metrics()["rmse"])
    best_run = Run(experiment=experiment, run_id=best.get_details()["runId"])
    assert best_run.get_metrics()["alpha_value"] == 0.1
    assert "model_alpha_0.1.pkl" in best_run.get_file_names()
    best_run.download_file(name="model_alpha_0.1.pkl")
    with open("model_alpha_0.1.pkl", "rb") as saved:
        assert pickle.load(saved).shape == (3,)
