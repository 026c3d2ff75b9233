"""Call patterns of further v1 samples (the 2018-2019 tensorboard and remote-VM notebooks, ...) that broke when
ported by imports only, each against the real local target."""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter.core.errors import NotSupportedLocally
from tests.v1.helpers import aliased_target


def test_contrib_tensorboard_imports_of_the_2019_notebooks(v1_project):
    """training-with-deep-learning/tensorboard (2019) opens with ``from azureml.contrib.tensorboard import
    Tensorboard`` and the run-history export samples of that time with ``from azureml.contrib.tensorboard.export
    import export_to_tensorboard`` (the package moved to ``azureml.tensorboard`` later): both were
    ModuleNotFoundError. They are the same classes and functions as under ``runconfig_jupyter.tensorboard``: the
    export writes the interactive run's metrics as TensorBoard logs, and ``start()`` names the command over them."""
    from runconfig_jupyter.contrib.tensorboard import Tensorboard
    from runconfig_jupyter.contrib.tensorboard.export import export_to_tensorboard
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    exp = Experiment(workspace=Workspace.from_config(), name="image-classifier-webservice")
    runner = exp.start_logging()
    runner.log_list("training_loss", [0.5, 0.25, 0.125])
    logdir = "exportedTBlogs"
    Path(logdir).mkdir()
    export_to_tensorboard(runner, logdir)
    events = list((Path(logdir) / runner.id).iterdir())
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents.")
    tb = Tensorboard([], local_root=logdir, port=6006)
    with pytest.raises(NotSupportedLocally) as refused:
        tb.start()
    assert f"tensorboard --port 6006 --logdir {logdir}" in str(refused.value)
    tb.stop()
    runner.complete()

    # the 2019 notebook's local run: its script writes TensorBoard logs under ./logs
    Path("tb.py").write_text("import os\nos.makedirs('logs', exist_ok=True)\nopen('logs/events.out.tfevents.1', 'w')\n")
    run = exp.submit(ScriptRunConfig(".", script="tb.py"))
    run.wait_for_completion(raise_on_error=True)
    tb = Tensorboard([run])
    with pytest.raises(NotSupportedLocally) as refused:
        tb.start()
    assert f"--logdir_spec {run.id}:{tb.log_dirs()[run.id]}" in str(refused.value)
    assert (Path(tb.log_dirs()[run.id]) / "events.out.tfevents.1").is_file()


def test_dsvm_compute_of_the_2018_remote_vm_notebooks(v1_project):
    """01.getting-started/04.train-on-remote-vm (2018): ``from azureml.core.compute import DsvmCompute``
    was ImportError. As in v1, ``DsvmCompute(ws, name)`` finds the VM (here: the target its name is mapped to) or
    raises ``ComputeTargetException``; ``DsvmCompute.provisioning_configuration(vm_size=...)`` is kept, and
    ``DsvmCompute.create(ws, name=..., provisioning_configuration=...)`` gives back the mapped target, or says how to
    map the name. The run goes to that target under the VM's name."""
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import DsvmCompute
    from runconfig_jupyter.core.compute_target import ComputeTargetException

    ws = Workspace.from_config()
    compute_target_name = "mydsvm"
    with pytest.raises(ComputeTargetException, match="register_target\\('mydsvm', alias_of='local'\\)"):
        DsvmCompute(workspace=ws, name=compute_target_name)
    dsvm_config = DsvmCompute.provisioning_configuration(vm_size="Standard_D2_v2")
    dsvm_config.ssh_port = "22"
    with pytest.raises(NotSupportedLocally, match="mydsvm"):
        DsvmCompute.create(ws, name=compute_target_name, provisioning_configuration=dsvm_config)

    with aliased_target(compute_target_name, "local"):
        dsvm_compute = DsvmCompute.create(ws, name=compute_target_name, provisioning_configuration=dsvm_config)
        dsvm_compute.wait_for_completion(show_output=True)
        found = DsvmCompute(ws, compute_target_name)
        assert (found.name, found.alias_of) == ("mydsvm", "local")
        with pytest.raises(NotSupportedLocally):
            found.supported_vmsizes()

        src = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--alpha", 0.25])
        src.run_config.target = dsvm_compute
        run = Experiment(ws, "train-on-remote-vm").submit(src)
        run.wait_for_completion(raise_on_error=True)
        assert run.get_details()["target"] == "mydsvm" and run.get_metrics()["alpha"] == 0.25
        with pytest.raises(NotSupportedLocally, match=r"targets\.yaml"):
            dsvm_compute.delete()  # the notebook's clean-up cell


def test_tensorflow_package_helpers_of_conda_dependencies(v1_project):
    """Keras/TensorFlow deployment notebooks: ``myenv = CondaDependencies.create(conda_packages=['numpy',
    'keras', ...]); myenv.add_tensorflow_pip_package(core_type='cpu', version=None)`` then
    ``f.write(myenv.serialize_to_string())`` (and ``add_tensorflow_conda_package``, ``core_type='gpu',
    version='1.13.1'``): AttributeError. As in v1 they add TensorFlow, pinned exactly; a GPU request names
    ``tensorflow-gpu`` only for the releases that had one (before 2.1: ``tensorflow`` itself runs on GPUs since),
    and a core type that is neither says so."""
    from runconfig_jupyter.core import Environment
    from runconfig_jupyter.core.conda_dependencies import CondaDependencies
    from runconfig_jupyter.core.errors import ConfigError

    myenv = CondaDependencies.create(conda_packages=["numpy", "keras", "Pillow", "matplotlib"])
    myenv.add_tensorflow_pip_package(core_type="cpu", version=None)
    Path("myenv.yml").write_text(myenv.serialize_to_string())
    env = Environment.from_conda_specification(name="keras-env", file_path="myenv.yml")
    assert env.python.conda_dependencies.pip_packages == ["tensorflow"]
    assert env.python.conda_dependencies.conda_packages == ["numpy", "keras", "Pillow", "matplotlib"]

    gpu = CondaDependencies()
    gpu.add_tensorflow_pip_package(core_type="gpu", version="1.13.1")
    gpu.add_tensorflow_pip_package(core_type="GPU", version="2.2.0")
    gpu.add_tensorflow_conda_package(core_type="gpu", version=None)
    gpu.add_tensorflow_conda_package()
    assert gpu.pip_packages == ["tensorflow-gpu==1.13.1", "tensorflow==2.2.0"]
    assert gpu.conda_packages == ["tensorflow"]
    with pytest.raises(ConfigError, match="core_type must be 'cpu' or 'gpu'"):
        gpu.add_tensorflow_pip_package(core_type="tpu")


ACI_TRAIN = """
import os
from runconfig_jupyter.core.run import Run

os.makedirs('./outputs', exist_ok=True)
run = Run.get_submitted_run()
for alpha in (0.0, 0.5):
    run.log('alpha', alpha)
    run.log('mse', 1.0 - alpha)
"""

BASE_IMAGE = "runconfig-jupyter/python:bookworm"


def _train_on_aci(v1_project, target: str):
    """03.train-on-aci (2018): a RunConfiguration for the 'containerinstance' target, sized with
    ``run_config.container_instance``, its script finding its run with ``Run.get_submitted_run()``."""
    import warnings

    from runconfig_jupyter.core import Experiment, Workspace
    from runconfig_jupyter.core.runconfig import RunConfiguration
    from runconfig_jupyter.core.script_run_config import ScriptRunConfig

    (v1_project / "train_aci.py").write_text(ACI_TRAIN)
    run_config = RunConfiguration()
    run_config.target = "containerinstance"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_config.container_instance.region = "eastus"
        run_config.container_instance.cpu_cores = 1
        run_config.container_instance.memory_gb = 2
    assert any("no effect on machines you own" in str(w.message) for w in caught)
    assert (run_config.container_instance.region, run_config.container_instance.memory_gb) == ("eastus", 2)
    with pytest.raises(AttributeError, match="region"):
        run_config.container_instance.regoin = "eastus"
    run_config.environment.python.user_managed_dependencies = True
    run_config.auto_prepare_environment = True
    if target == "docker":
        run_config.environment.docker.enabled = True
        run_config.environment.docker.base_image = BASE_IMAGE
    run_config.save(path=str(v1_project), name="aci")
    kept = RunConfiguration.load(path=str(v1_project), name="aci")
    assert kept.container_instance.cpu_cores == 1 and kept.container_instance.region == "eastus"

    with aliased_target("containerinstance", target):
        src = ScriptRunConfig(source_directory=str(v1_project), script="train_aci.py", run_config=run_config)
        run = Experiment(Workspace.from_config(), "train-on-aci").submit(src)
        run.wait_for_completion(show_output=False, raise_on_error=True)
    metrics = run.get_metrics()
    assert metrics == {"alpha": [0.0, 0.5], "mse": [1.0, 0.5]}
    assert metrics["alpha"][metrics["mse"].index(min(metrics["mse"]))] == 0.5


def test_train_on_aci_run_configuration_on_the_local_target(v1_project):
    """03.train-on-aci: ``run_config.container_instance.region = 'eastus'`` (and ``cpu_cores``, ``memory_gb``) was
    AttributeError, and so was the script's ``Run.get_submitted_run()`` (the 2018 name of ``get_context()``). The
    sizes are kept in the run configuration (a warning says they have no local effect), the script logs into its
    run."""
    _train_on_aci(v1_project, "local")


@pytest.mark.usefixtures("docker_engine")
def test_train_on_aci_run_configuration_in_docker(v1_project):
    """The same notebook with its docker environment, where the script only has the in-script stand-in package:
    ``Run.get_submitted_run()`` was AttributeError there too."""
    _train_on_aci(v1_project, "docker")
