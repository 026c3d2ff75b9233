"""Call patterns of further v1 samples (how-to-use-estimator, the environment docs' private registry, the run
history export to TensorBoard) that broke when ported by imports only, each against the real local target."""

from __future__ import annotations

import json
import warnings

import pytest

from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally

BASE_IMAGE = "runconfig-jupyter/python:bookworm"


def test_container_registry_imports_and_attributes_on_a_fresh_environment(v1_project, tmp_path):
    """Environment docs (fastai with a custom image): ``env.docker.base_image_registry.address = ...`` on a fresh
    ``Environment`` (was AttributeError on None), ``from azureml.core.container_registry import ContainerRegistry``
    (also ``azureml.core`` and ``azureml.core.runconfig``), and ``Environment.from_docker_image(...,
    container_registry=registry)`` (was TypeError: not iterable). The address is kept in the definition; a
    password is never written to a file and a submit with one says to use ``docker login``."""
    from runconfig_jupyter.core import ContainerRegistry as FromCore
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.container_registry import ContainerRegistry, RegistryIdentity
    from runconfig_jupyter.core.runconfig import ContainerRegistry as FromRunconfig

    assert FromCore is ContainerRegistry is FromRunconfig
    ws = Workspace.from_config()
    plain = Environment("plain")
    before = (plain.to_dict(), plain.content_hash())
    assert plain.to_dict()["docker"]["baseImageRegistry"] is None

    env = Environment("fastai-env")
    env.docker.base_image = "myregistry.azurecr.io/fastai:latest"
    env.docker.base_image_registry.address = "myregistry.azurecr.io"
    env.docker.base_image_registry.username = "username"
    assert env.to_dict()["docker"]["baseImageRegistry"] == {"address": "myregistry.azurecr.io", "username": "username"}
    assert env.content_hash() != before[1]
    registered = env.register(ws)
    again = Environment.get(ws, "fastai-env", version=registered.version)
    assert again.docker.base_image_registry.address == "myregistry.azurecr.io"
    assert again.docker.base_image_registry.username == "username"

    registry = ContainerRegistry()
    registry.address = "myregistry.azurecr.io"
    registry.username = "username"
    registry.password = "password"
    identity = RegistryIdentity()
    identity.client_id = "client"
    env.docker.base_image_registry.registry_identity = identity
    assert env.to_dict()["docker"]["baseImageRegistry"]["registryIdentity"]["clientId"] == "client"
    assert Environment.from_dict(env.to_dict()).docker.base_image_registry.registry_identity.client_id == "client"
    from_image = Environment.from_docker_image("private", "myregistry.azurecr.io/img:1", container_registry=registry)
    assert from_image.docker.base_image_registry.address == "myregistry.azurecr.io"
    assert from_image.docker.base_image_registry.password == "password"  # kept in memory, as set
    assert "password" not in repr(from_image.docker.base_image_registry)
    from_image.save_to_directory(str(tmp_path / "saved"), overwrite=True)
    saved = (tmp_path / "saved" / "azureml_environment.json").read_text()
    assert "myregistry.azurecr.io" in saved and "password" not in saved.lower().replace('"password": null', "")
    assert registry.password == "password"  # the caller's object is not changed by the environment

    from_image.python.user_managed_dependencies = True
    (v1_project / "hello.py").write_text("print('hello')\n")
    src = ScriptRunConfig(source_directory=str(v1_project), script="hello.py", environment=from_image)
    with pytest.raises(ConfigError) as refused:
        Experiment(ws, "registry").submit(src)
    assert "docker login" in str(refused.value)
    assert (Environment("plain").to_dict(), Environment("plain").content_hash()) == before


@pytest.mark.usefixtures("docker_engine")
def test_estimator_with_container_registry_details_runs_its_custom_image(v1_project):
    """how-to-use-estimator: ``from azureml.core.runconfig import ContainerRegistry`` (was ImportError), its
    ``address``/``username``/``password`` set, then ``Estimator(compute_target='local', custom_docker_image=...,
    image_registry_details=registry, user_managed=True)``: the run completes in the image and its definition keeps
    the registry's address without the password."""
    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.core.runconfig import ContainerRegistry
    from runconfig_jupyter.train.estimator import Estimator

    (v1_project / "dummy_train.py").write_text(
        "from runconfig_jupyter.core import Run\nRun.get_context().log_list('fib', [0, 1, 1, 2, 3])\n"
    )
    registry = ContainerRegistry()
    registry.address = "myregistry.azurecr.io"
    registry.username = "username"
    registry.password = "password"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = Estimator(
            source_directory=str(v1_project),
            compute_target="local",
            entry_script="dummy_train.py",
            custom_docker_image=BASE_IMAGE,
            image_registry_details=registry,
            user_managed=True,
        )
    # The password is dropped, and said to be: the pull uses this machine's docker login instead.
    said = [str(w.message) for w in caught if w.category is UserWarning]
    assert len(said) == 1 and "image_registry_details" in said[0] and "docker login" in said[0], said
    assert "password" not in json.dumps(est.run_config.environment.docker.base_image_registry.to_dict())
    assert registry.password == "password"  # the caller's object is left as it was
    run = Experiment(Workspace.from_config(), "estimator-test").submit(est)
    run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics() == {"fib": [0, 1, 1, 2, 3]}
    details = json.dumps(run.get_details()["runDefinition"])
    assert "myregistry.azurecr.io" in details and '"password"' not in details and '"username"' in details


def test_estimator_registry_details_without_a_password_warn_of_nothing(v1_project):
    """A registry given as a dict with no password (the usual case after ``docker login``) is kept silently."""
    from runconfig_jupyter.train.estimator import Estimator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = Estimator(
            source_directory=str(v1_project),
            compute_target="local",
            entry_script="train.py",
            custom_docker_image=BASE_IMAGE,
            image_registry_details={"address": "myregistry.azurecr.io", "username": "me"},
        )
    assert not [w for w in caught if w.category is UserWarning]
    assert est.run_config.environment.docker.base_image_registry.address == "myregistry.azurecr.io"


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """The scalars of one TensorBoard log folder, read with TensorBoard's own reader (not ours)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_export_run_history_to_tensorboard_logs(v1_project, tmp_path):
    """export-run-history-to-tensorboard: an interactive root run, ``with root_run.child_run(name) as run:`` per
    alpha logging on the root, then ``from azureml.tensorboard.export import export_to_tensorboard``;
    ``export_to_tensorboard(root_run, logdir)`` (was ModuleNotFoundError) writes event files TensorBoard reads:
    each numeric metric a scalar series, one folder per run; ``Tensorboard([], local_root=logdir).start()``
    names that folder (it named an empty ``--logdir_spec``)."""
    pytest.importorskip("tensorboard", reason="TensorBoard's reader checks the files (the test extra has it)")
    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.core.errors import NotSupportedLocally
    from runconfig_jupyter.tensorboard import Tensorboard
    from runconfig_jupyter.tensorboard.export import export_to_tensorboard

    root_run = Experiment(Workspace.from_config(), "export-to-tensorboard").start_logging()
    alphas = [0.1, 0.2, 0.3]
    for alpha in alphas:
        with root_run.child_run("alpha" + str(alpha)) as run:
            run.log("child_alpha", alpha)
            root_run.log("alpha", alpha)
            root_run.log("mse", 3000 + alpha)
    root_run.log("note", "text is not a scalar")
    logdir = tmp_path / "exportedTBlogs"
    logdir.mkdir()
    export_to_tensorboard(root_run, str(logdir))
    root_run.complete()

    scalars = _scalars(logdir / root_run.id)
    assert sorted(scalars) == ["alpha", "mse"]
    assert [step for step, _ in scalars["alpha"]] == [0, 1, 2]
    assert [round(v, 5) for _, v in scalars["alpha"]] == alphas
    assert [round(v, 1) for _, v in scalars["mse"]] == [3000.1, 3000.2, 3000.3]
    children = {child.id: child for child in root_run.get_children()}
    assert len(children) == 3 and {p.name for p in logdir.iterdir()} == {root_run.id, *children}
    child_id = next(i for i, child in children.items() if child.get_metrics() == {"child_alpha": 0.2})
    assert [round(v, 5) for _, v in _scalars(logdir / child_id)["child_alpha"]] == [0.2]

    only_root = tmp_path / "only-root"
    export_to_tensorboard([root_run], str(only_root), recursive=False)
    assert [p.name for p in only_root.iterdir()] == [root_run.id]

    with pytest.raises(NotSupportedLocally) as refused:
        Tensorboard([], local_root=str(logdir), port=6006).start()
    assert f"tensorboard --port 6006 --logdir {logdir}" in str(refused.value)


def test_chainer_estimator_runs_like_the_other_framework_estimators(v1_project):
    """train-hyperparameter-tune-deploy-with-chainer (2019-2020) and the Chainer docs: ``from azureml.train.dnn
    import Chainer`` (was ImportError), ``Chainer(source_directory, script_params={...}, compute_target=...,
    entry_script=..., use_gpu=True)``: runs with the installed packages; ``framework_version`` pins chainer, a
    conflicting pin or a non-MPI distribution is refused as for PyTorch; distributed-chainer's ``Mpi()`` is taken."""
    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.train.dnn import Chainer, Gloo, Mpi
    from tests.v1.helpers import aliased_target

    (v1_project / "chainer_mnist.py").write_text(
        "import argparse\nfrom runconfig_jupyter.core.run import Run\n"
        "p = argparse.ArgumentParser()\np.add_argument('--epochs', type=int)\np.add_argument('--batchsize', type=int)\n"
        "p.add_argument('--output_dir')\na = p.parse_args()\nrun = Run.get_context()\n"
        "run.log('Batch size', a.batchsize)\nrun.log('Epochs', a.epochs)\nprint('out', a.output_dir)\n"
    )
    script_params = {"--epochs": 2, "--batchsize": 128, "--output_dir": "./outputs"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with aliased_target("gpu-cluster", "local"):
            estimator = Chainer(
                source_directory=str(v1_project),
                script_params=script_params,
                compute_target="gpu-cluster",
                entry_script="chainer_mnist.py",
                use_docker=False,
            )
            run = Experiment(Workspace.from_config(), "chainer-mnist").submit(estimator)
            run.wait_for_completion(raise_on_error=True)
        assert run.get_metrics() == {"Batch size": 128, "Epochs": 2}
        assert "5.1.0" in Chainer.get_supported_versions()
        pinned = Chainer(str(v1_project), entry_script="chainer_mnist.py", framework_version="5.1.0")
        assert "chainer==5.1.0" in pinned.run_config.environment.python.conda_dependencies.pip_packages
        with pytest.raises(ConfigError) as both:
            Chainer(str(v1_project), framework_version="5.1.0", pip_packages=["chainer==7.8.1"])
        assert both.value.field == "framework_version"
        with pytest.raises(ConfigError):
            Chainer(str(v1_project), node_count=2, distributed_training=Gloo())
        mpi = Chainer(str(v1_project), entry_script="chainer_mnist.py", node_count=2, distributed_training=Mpi())
        assert mpi.run_config.node_count == 2


def test_spark_and_pipeline_compute_classes_import_and_say_what_to_do(v1_project):
    """train-in-spark: ``from azureml.core.compute import ComputeTarget, HDInsightCompute`` (was ImportError), then
    ``HDInsightCompute.attach_configuration(address=..., ssh_port=22, username=..., password=...)`` inside
    ``try: ... except ComputeTargetException``: NotSupportedLocally naming PySpark on a mapped target, and the rest
    of the notebook (``RunConfiguration(framework="pyspark")`` with ``target = 'myhdi'``) runs once it is mapped.
    The Databricks, Data Lake Analytics, Data Factory, Kubernetes and Synapse computes of the pipeline notebooks
    import and answer alike (pipelines are declared unavailable)."""
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import (
        AdlaCompute,
        ComputeTarget,
        DatabricksCompute,
        DataFactoryCompute,
        HDInsightCompute,
        KubernetesCompute,
        SynapseCompute,
    )
    from runconfig_jupyter.core.errors import NotSupportedLocally
    from runconfig_jupyter.core.runconfig import RunConfiguration
    from runconfig_jupyter.exceptions import ComputeTargetException
    from tests.v1.helpers import aliased_target

    ws = Workspace.from_config()
    with pytest.raises(NotSupportedLocally) as refused:
        try:
            HDInsightCompute.attach_configuration(address="hdi-ssh.example", ssh_port=22, username="u", password="p")
        except ComputeTargetException:
            pass
    message = str(refused.value)
    assert "pyspark" in message.lower() and "alias_of='local'" in message
    for kind in (DatabricksCompute, AdlaCompute, DataFactoryCompute, KubernetesCompute, SynapseCompute):
        for method in ("attach_configuration", "provisioning_configuration"):
            with pytest.raises(NotSupportedLocally) as other:
                getattr(kind, method)(resource_group="rg", workspace_name="w", access_token="t")
            assert f"{kind.__name__}.{method}()" in str(other.value)
    assert issubclass(HDInsightCompute, ComputeTarget)

    (v1_project / "train-spark.py").write_text(
        "from runconfig_jupyter.core.run import Run\nRun.get_context().log('rows', 3)\n"
    )
    with aliased_target("myhdi", "local"):
        hdi_compute = ComputeTarget(workspace=ws, name="myhdi")
        hdi_run_config = RunConfiguration(framework="pyspark")
        hdi_run_config.target = hdi_compute.name
        src = ScriptRunConfig(source_directory=str(v1_project), script="train-spark.py", run_config=hdi_run_config)
        run = Experiment(workspace=ws, name="train-on-spark").submit(config=src)
        run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics() == {"rows": 3} and run.get_details()["target"] == "myhdi"


def test_notebook_run_import_says_how_and_the_way_it_names_runs_a_notebook(v1_project):
    """how-to-use-estimator (2019) and v1 notebook-run CI scripts: ``from azureml.contrib.notebook import
    NotebookRunConfig, AzureMLNotebookHandler`` (was ModuleNotFoundError) raises NotSupportedLocally naming a run
    whose command executes the notebook; that run, done as said, logs the notebook's metric and keeps the notebook."""
    import subprocess
    import sys

    import nbformat

    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    imported = subprocess.run(
        [sys.executable, "-c", "from runconfig_jupyter.contrib.notebook import NotebookRunConfig"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "NotSupportedLocally" in imported.stderr and "ModuleNotFoundError" not in imported.stderr
    command = imported.stderr.split("command='")[1].split("'")[0].replace("NOTEBOOK", "notebook_example")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from runconfig_jupyter.core import Run\nRun.get_context().log_list('Fibonacci numbers', [0, 1, 1, 2])"
        )
    ]
    nbformat.write(notebook, str(v1_project / "notebook_example.ipynb"))
    run = Experiment(Workspace.from_config(), "notebook-run").submit(
        ScriptRunConfig(source_directory=str(v1_project), command=command)
    )
    run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics() == {"Fibonacci numbers": [0, 1, 1, 2]}
    assert "outputs/notebook_example.ipynb" in run.get_file_names()


def test_register_model_with_a_resource_configuration_keeps_it(v1_project):
    """train-hyperparameter-tune-deploy-with-sklearn and the estimator docs: ``from azureml.core.resource_configuration
    import ResourceConfiguration`` (was ModuleNotFoundError), then ``run.register_model(model_name=...,
    model_path='outputs/model.joblib', model_framework=Model.Framework.SCIKITLEARN, model_framework_version=...,
    resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))`` and ``Model.register(..., same)``:
    registered, the configuration read back with the model."""
    from runconfig_jupyter.core import Experiment, Model, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.resource_configuration import ResourceConfiguration

    (v1_project / "train_iris.py").write_text(
        "import os\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/model.joblib', 'w').write('model')\n"
    )
    ws = Workspace.from_config()
    run = Experiment(ws, "train_iris").submit(ScriptRunConfig(str(v1_project), script="train_iris.py"))
    run.wait_for_completion(raise_on_error=True)
    model = run.register_model(
        model_name="sklearn-iris",
        model_path="outputs/model.joblib",
        model_framework=Model.Framework.SCIKITLEARN,
        model_framework_version="0.19.1",
        resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5),
    )
    again = Model(ws, "sklearn-iris")
    assert again.model_framework == Model.Framework.SCIKITLEARN and again.model_framework_version == "0.19.1"
    assert again.resource_configuration == ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    assert model.serialize()["resourceConfiguration"] == {"cpu": 1, "memoryInGB": 0.5, "gpu": None}
    local = Model.register(
        workspace=ws,
        model_name="my-sklearn-model",
        model_path=str(v1_project / "train_iris.py"),
        model_framework=Model.Framework.SCIKITLEARN,
        resource_configuration=ResourceConfiguration(cpu=2, memory_in_gb=4, gpu=1),
    )
    assert Model(ws, local.name).resource_configuration.gpu == 1
    assert Model(ws, "sklearn-iris").serialize()["resourceConfiguration"]["cpu"] == 1


def test_register_model_in_the_script_keeps_framework_and_resources(v1_project):
    """The sklearn/TensorFlow training scripts of the estimator docs register in-script: ``run.register_model(
    model_name=..., model_path='outputs/model.joblib', model_framework=Model.Framework.SCIKITLEARN,
    model_framework_version='1.3', resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))``. The
    framework, its version and the resources were dropped on the way to the driver, so the registered model had
    none and ``Model(ws, name, model_framework=...)`` did not find it."""
    _register_in_script(v1_project, "local")


@pytest.mark.usefixtures("docker_engine")
def test_register_model_in_a_container_imports_model_and_resource_configuration(v1_project):
    """The same script on the docker target, where only the in-script stand-in package is importable:
    ``from azureml.core.model import Model`` (for ``Model.Framework``) and ``from azureml.core.resource_configuration
    import ResourceConfiguration`` were ModuleNotFoundError there."""
    _register_in_script(v1_project, "docker")


def _register_in_script(v1_project, target: str) -> None:
    """Submit the registering script to ``target`` and check the registered model."""
    from runconfig_jupyter.core import Experiment, Model, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.resource_configuration import ResourceConfiguration

    (v1_project / "train_sk.py").write_text(
        "import os\nfrom runconfig_jupyter.core import Run\nfrom runconfig_jupyter.core.model import Model\n"
        "from runconfig_jupyter.core.resource_configuration import ResourceConfiguration\n"
        "os.makedirs('outputs', exist_ok=True)\nopen('outputs/model.joblib', 'w').write('m')\n"
        "pending = Run.get_context().register_model(model_name='sk-in-script', model_path='outputs/model.joblib', "
        "model_framework=Model.Framework.SCIKITLEARN, model_framework_version='1.3', "
        "resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))\n"
        "print('pending', pending.model_framework, pending.model_framework_version)\n"
    )
    ws = Workspace.from_config()
    src = ScriptRunConfig(str(v1_project), script="train_sk.py", compute_target=target)
    run = Experiment(ws, "train-sk").submit(src)
    run.wait_for_completion(raise_on_error=True, timeout=300)
    model = Model(ws, "sk-in-script", model_framework=Model.Framework.SCIKITLEARN)
    assert model.run_id == run.id and model.model_framework_version == "1.3"
    assert model.resource_configuration == ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    logs = run.get_details_with_logs()["logFiles"].values()
    assert any("pending ScikitLearn 1.3" in text for text in logs)  # the PendingModel answers like the Model


@pytest.mark.parametrize(
    "module", ["runconfig_jupyter.interpret", "runconfig_jupyter.explain.model", "runconfig_jupyter.contrib.interpret"]
)
def test_interpretability_imports_say_what_to_use(module):
    """The explain-model notebooks open with ``from azureml.interpret import ExplanationClient`` (or the older
    ``azureml.explain.model`` / ``azureml.contrib.interpret``): a sentence naming the open-source packages, not a
    ModuleNotFoundError that reads like a broken install."""
    import importlib
    import sys

    sys.modules.pop(module, None)
    with pytest.raises(NotSupportedLocally, match="interpret-community"):
        importlib.import_module(module)


def test_keyvault_and_script_run_config_helpers_of_azureml_core(v1_project):
    """``from azureml.core import Webservice, Keyvault``; ``ws.get_default_keyvault().set_secret(...)`` (the secrets
    samples) says how secrets reach a run here; ``get_run_config_from_script_run(src)`` is the config it submits."""
    from runconfig_jupyter.core import Keyvault, ScriptRunConfig, Webservice, Workspace
    from runconfig_jupyter.core.script_run_config import get_run_config_from_script_run
    from runconfig_jupyter.core.webservice import Webservice as FromModule

    assert Webservice is FromModule
    ws = Workspace.from_config()
    with pytest.raises(NotSupportedLocally, match="environment variables"):
        ws.get_default_keyvault().set_secret(name="key", value="not stored anywhere")
    with pytest.raises(NotSupportedLocally, match="environment variables"):
        Keyvault().get_secret("key")
    src = ScriptRunConfig(str(v1_project), script="train.py", arguments=["--epochs", 2])
    config = get_run_config_from_script_run(src)
    assert (config.script, config.arguments) == ("train.py", ["--epochs", 2])
