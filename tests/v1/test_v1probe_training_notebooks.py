"""Call patterns of the v1 training samples (train-on-local, using-environments, logging-api, train-on-amlcompute)
that broke when ported by imports only, each against the real local target and real runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from runconfig_jupyter.core.errors import ConfigError, NotSupportedLocally
from tests.v1.helpers import aliased_target


def test_core_modules_are_attributes_of_the_package_with_v1s_default_images():
    """``import azureml.core`` then ``azureml.core.runconfig.DEFAULT_CPU_IMAGE``, in a fresh interpreter."""
    code = textwrap.dedent(
        """
        import runconfig_jupyter.core
        from runconfig_jupyter.core.runconfig import RunConfiguration
        from runconfig_jupyter.core.environment import DEFAULT_GPU_IMAGE

        rc = RunConfiguration()
        rc.environment.docker.base_image = runconfig_jupyter.core.runconfig.DEFAULT_CPU_IMAGE
        print(rc.environment.docker.base_image, DEFAULT_GPU_IMAGE)
        print(runconfig_jupyter.core.compute.AmlCompute.__name__, runconfig_jupyter.core.workspace.Workspace.__name__)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cpu, gpu = result.stdout.split()[:2]
    assert cpu.startswith("mcr.microsoft.com/azureml/") and "cuda" in gpu
    assert result.stdout.split()[2:] == ["AmlCompute", "Workspace"]
    missing = subprocess.run(
        [sys.executable, "-c", "import runconfig_jupyter.core as c; c.no_such_module"], capture_output=True, text=True
    )
    assert "AttributeError" in missing.stderr


def test_estimator_built_only_to_look_at_its_environment(v1_project):
    """``PyTorch(source_directory='.', compute_target='local').run_config.environment``; a submit still refuses."""
    from runconfig_jupyter import Experiment, Workspace
    from runconfig_jupyter.train.dnn import PyTorch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = PyTorch(source_directory=".", compute_target="local")
    environment = estimator.run_config.environment
    assert environment.docker.enabled and environment.docker.base_image.startswith("mcr.microsoft.com/azureml/")
    with pytest.raises(ConfigError) as refused:
        Experiment(Workspace.from_config(), "estimator-env").submit(estimator)
    assert refused.value.field == "entry_script" and "entry_script='train.py'" in str(refused.value)


def test_spark_and_databricks_sections_are_kept_without_changing_untouched_environments(v1_project, tmp_path):
    from runconfig_jupyter import Environment, Workspace
    from runconfig_jupyter.core.environment import SparkSection

    ws = Workspace.from_config()
    plain = Environment("plain")
    before = (plain.to_dict(), plain.content_hash())
    assert "spark" not in before[0] and "databricks" not in before[0]

    env = Environment("batch")
    env.spark.precache_packages = False
    env.databricks.pypi_libraries.append({"package": "six"})
    assert isinstance(env.spark, SparkSection) and env.content_hash() == Environment("other").content_hash()
    registered = env.register(ws)
    again = Environment.get(ws, "batch", version=registered.version)
    assert again.spark.precache_packages is False and again.databricks.pypi_libraries == [{"package": "six"}]
    env.save_to_directory(tmp_path / "saved", overwrite=True)
    assert Environment.load_from_directory(tmp_path / "saved").spark.precache_packages is False
    assert (Environment("plain").to_dict(), Environment("plain").content_hash()) == before
    with pytest.raises(ConfigError):
        Environment.from_dict({"name": "x", "spark": {"precachePackage": False}})  # a typo is still refused


def test_interactive_run_upload_result_serializes_and_repr_follows_complete(v1_project):
    """logging-api: ``run.complete()``; ``run`` shows Completed; ``props = run.upload_file(...); props.serialize()``."""
    from pathlib import Path

    from runconfig_jupyter import Experiment, Workspace

    run = Experiment(Workspace.from_config(), "logging-api").start_logging()
    run.log("Magic Number", 42)
    run.complete()
    assert "status='Completed'" in repr(run)
    Path("myfile.txt").write_text("This is a dummy file.")
    props = run.upload_file(name="myfile_in_the_cloud.txt", path_or_stream="./myfile.txt")
    assert props == "myfile_in_the_cloud.txt" and props in run.get_file_names()
    record = props.serialize()
    artifact = record["artifacts"]["myfile_in_the_cloud.txt"]
    assert artifact["artifactId"] == f"ExperimentRun/dcid.{run.id}/myfile_in_the_cloud.txt" and record["errors"] == {}
    content = record["artifactContentInformation"]["myfile_in_the_cloud.txt"]["contentUri"]
    assert Path(content.removeprefix("file://")).read_text() == "This is a dummy file."
    failed = Experiment(Workspace.from_config(), "logging-api").start_logging()
    failed.fail()
    assert "status='Failed'" in repr(failed)


def test_cluster_name_aliased_to_local_answers_amlcompute_calls(v1_project):
    """train-on-amlcompute: the cluster's status, its Azure-only calls, and a run on it."""
    from runconfig_jupyter import Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import ComputeTarget

    ws = Workspace.from_config()
    with aliased_target("cpu-cluster", "local"):
        cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
        status = cluster.get_status()
        assert status == "Succeeded" and status.serialize()["provisioningState"] == "Succeeded"
        assert (status.current_node_count, status.errors) == (1, None)
        for call in (lambda: cluster.list_nodes(), lambda: cluster.update(idle_seconds_before_scaledown=300)):
            with pytest.raises(NotSupportedLocally):
                call()
        with pytest.raises(AttributeError):
            cluster.no_such_member  # noqa: B018 - a typo stays an AttributeError

        src = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--alpha", 0.3])
        src.run_config.target = cluster.name
        env = Environment("myenv")
        env.docker.enabled = True  # what every AmlCompute environment had
        src.run_config.environment = env
        with pytest.raises(ConfigError, match="register_target\\('cpu-cluster', alias_of='docker'\\)"):
            Experiment(ws, "train-on-amlcompute").submit(config=src)
        env.docker.enabled = False
        run = Experiment(ws, "train-on-amlcompute").submit(config=src)
        run.wait_for_completion(raise_on_error=True)
        assert run.get_details()["target"] == "cpu-cluster" and run.get_metrics()["alpha"] == 0.3


def test_start_logging_makes_the_outputs_folder_it_tracks(v1_project):
    """train-within-notebook saves ``outputs/model.pkl`` right after ``start_logging()``, with no makedirs."""
    from pathlib import Path

    from runconfig_jupyter import Experiment, Workspace

    experiment = Experiment(workspace=Workspace.from_config(), name="train-within-notebook")
    assert not Path("outputs").exists()
    for alpha in (0.1, 0.2):
        with experiment.start_logging() as run:
            run.log(name="alpha", value=alpha)
            Path("outputs/model.pkl").write_text(f"alpha={alpha}")
    assert run.get_file_names() == ["outputs/model.pkl"] and run.get_status() == "Completed"
    with experiment.start_logging(outputs=False) as untracked:
        untracked.log("x", 1)
    assert not Path("elsewhere").exists()
    experiment.start_logging(outputs="elsewhere").complete()
    assert Path("elsewhere").is_dir()


def test_data_reference_configuration_and_one_run_configuration_for_several_scripts(v1_project):
    """train-on-remote-vm: ``run_config.data_references = {ds.name: DataReferenceConfiguration(...)}`` with
    ``str(ds.as_download())`` as argument, then the same RunConfiguration for a script without arguments."""
    from pathlib import Path

    from runconfig_jupyter import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.runconfig import DataReferenceConfiguration, RunConfiguration

    ws = Workspace.from_config()
    ds = ws.get_default_datastore()
    Path("features.txt").write_text("1 2 3")
    ds.upload_files(["./features.txt"], target_path="diabetes", overwrite=True)
    folder = Path("vm-run")
    folder.mkdir()
    (folder / "train.py").write_text(
        "import argparse, os\nfrom runconfig_jupyter.core.run import Run\n"
        "p = argparse.ArgumentParser(); p.add_argument('--data-folder', dest='data_folder'); a = p.parse_args()\n"
        "Run.get_context().log('files', ','.join(sorted(os.listdir(a.data_folder))))\n"
    )
    (folder / "train2.py").write_text(
        "import sys\nfrom runconfig_jupyter import Run\nRun.get_context().log('argv', len(sys.argv))\n"
    )
    dr = DataReferenceConfiguration(
        datastore_name=ds.name, path_on_datastore="diabetes", mode="download", overwrite=True
    )
    assert (dr.mode, dr.path_on_datastore, dr["dataStoreName"]) == ("download", "diabetes", ds.name)
    with pytest.raises(ConfigError):
        DataReferenceConfiguration(datastore_name=ds.name, mode="copy")
    exp = Experiment(workspace=ws, name="train-on-remote-vm")
    with aliased_target("cpudsvm", "local"):
        vm_run_config = RunConfiguration(framework="python")
        vm_run_config.target = "cpudsvm"
        vm_run_config.data_references = {ds.name: dr}
        src = ScriptRunConfig(
            source_directory=str(folder),
            script="train.py",
            run_config=vm_run_config,
            arguments=["--data-folder", str(ds.as_download())],
        )
        run = exp.submit(config=src)
        run.wait_for_completion(raise_on_error=True)
        assert run.get_metrics()["files"] == "features.txt"
        again = ScriptRunConfig(source_directory=str(folder), script="train2.py", run_config=vm_run_config)
        assert again.arguments == [] and vm_run_config.script == "train2.py"  # shared fields: the newest sets them
        run = exp.submit(config=again)
        run.wait_for_completion(raise_on_error=True)
        assert run.get_metrics()["argv"] == 1 and run.get_details()["target"] == "cpudsvm"
    kept = RunConfiguration(script="train.py", arguments=["--x", 1])  # arguments put in by hand stay
    assert ScriptRunConfig(source_directory=".", run_config=kept).arguments == ["--x", 1]


def test_compute_instance_sample_calls(v1_project):
    """train-on-computeinstance: ``ws._workspace_id`` names it, ``source_directory=''``, the target object set on
    the run configuration, ``get_active_runs()`` while the run goes, and the Azure-only instance calls."""
    from pathlib import Path

    from runconfig_jupyter import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.compute import ComputeInstance

    ws = Workspace.from_config()
    compute_name = f"ci{ws._workspace_id}"[:10]
    assert compute_name == f"ci{Workspace.from_config()._workspace_id}"[:10]  # stable for the home
    with pytest.raises(NotSupportedLocally):
        ComputeInstance.supported_vmsizes(workspace=ws)
    Path("slow.py").write_text("import time\nfrom runconfig_jupyter import Run\nRun.get_context()\ntime.sleep(60)\n")
    with aliased_target(compute_name, "local"):
        instance = ComputeInstance(workspace=ws, name=compute_name)
        src = ScriptRunConfig(source_directory="", script="slow.py")
        src.run_config.target = instance
        assert src.run_config.target == compute_name and src.source_directory == "."
        run = Experiment(workspace=ws, name="train-on-computeinstance").submit(config=src)
        try:
            active = [(r.run_id, r.status) for r in instance.get_active_runs()]
            assert [run_id for run_id, _ in active] == [run.id]
            assert active[0][1] in ("Queued", "Preparing", "Starting", "Running")
        finally:
            run.cancel()
        run.wait_for_completion(raise_on_error=False)
        assert list(instance.get_active_runs()) == []
        for call in (instance.stop, instance.start, instance.restart):
            with pytest.raises(NotSupportedLocally):
                call(wait_for_completion=True, show_output=True)


def test_tensorboard_import_and_start_say_where_the_logs_are(v1_project):
    """tensorboard sample: ``from azureml.tensorboard import Tensorboard``; ``Tensorboard([run]).start()``."""
    from pathlib import Path

    from runconfig_jupyter import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.tensorboard import Tensorboard

    Path("tb.py").write_text(
        "import os\nos.makedirs('logs/tb-logs', exist_ok=True)\nopen('logs/tb-logs/events', 'w')\n"
    )
    run = Experiment(Workspace.from_config(), "tensorboard-demo").submit(ScriptRunConfig(".", script="tb.py"))
    run.wait_for_completion(raise_on_error=True)
    tb = Tensorboard([run])
    with pytest.raises(NotSupportedLocally) as refused:
        tb.start()
    folder = tb.log_dirs()[run.id]
    assert f"--logdir_spec {run.id}:{folder}" in str(refused.value)
    assert (Path(folder) / "tb-logs" / "events").is_file()
    tb.stop()
