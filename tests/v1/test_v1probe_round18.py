"""Round 18: calls ported v1 notebooks make that broke (RunDetails.get_widget_data, a finished run's details,
pip requirement files with includes, ``env.r``, the 2019 preview Dataset API), each on real local runs and files."""

from __future__ import annotations

from pathlib import Path

import pytest


def _submit(project: Path, experiment: str = "round18"):
    """The v1 sample's ``train.py`` (tests/v1/conftest.py) submitted as a notebook does; the run, ended."""
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace

    config = ScriptRunConfig(source_directory=str(project), script="train.py", arguments=["--alpha", "0.4"])
    run = Experiment(Workspace.from_config(), experiment).submit(config)
    run.wait_for_completion(timeout=240, raise_on_error=False)
    return run


def test_run_details_get_widget_data_returns_v1s_dict(v1_project):
    """azureml.widgets' ``RunDetails(run).get_widget_data()`` (used to print or check what the widget shows
    without rendering it) was an AttributeError. It gives v1's keys, filled from the finished local run."""
    from runconfig_jupyter.widgets import RunDetails

    run = _submit(v1_project)
    assert run.get_status() == "Completed", run.get_log()
    data = RunDetails(run).get_widget_data()
    assert data["status"] == "Completed" and data["run_id"] == run.id and data["loading"] is False
    metrics = {m["name"]: m for m in data["run_metrics"]}
    assert metrics["alpha"]["series"] == [{"data": [0.4]}] and metrics["alpha"]["run_id"] == run.id
    assert metrics["mse"]["series"][0]["data"] == [pytest.approx(0.8)]
    assert data["run_properties"]["runId"] == run.id
    assert {c["run_id"] for c in data["child_runs"]} == {c.id for c in run.get_children()} != set()
    assert "workspace home" in data["run_logs"]
    assert data["widget_settings"] == {}


def test_from_pip_requirements_reads_includes_and_options(tmp_path):
    """``Environment.from_pip_requirements(name, "requirements.txt")`` where the file says ``-r base.txt`` and
    ``--extra-index-url ...`` (the layout of many projects): the included file's packages are the environment's,
    the option line is a pip option the local target passes to pip; neither is a "package"."""
    from runconfig_jupyter import Environment
    from runconfig_jupyter.targets.local.env import host_pip_options

    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("numpy>=1.20  # arrays\n--requirement=common.txt\n")
    (tmp_path / "reqs" / "common.txt").write_text("pandas\n-r base.txt\n")  # a cycle is read once
    (tmp_path / "requirements.txt").write_text(
        "--extra-index-url https://download.pytorch.org/whl/cpu\n-r reqs/base.txt\nscikit-learn==1.3.0 \\\n"
        "    ; python_version >= '3.8'\n"
    )
    env = Environment.from_pip_requirements("proj", tmp_path / "requirements.txt")
    conda = env.python.conda_dependencies
    assert conda.pip_packages == ["numpy>=1.20", "pandas", "scikit-learn==1.3.0     ; python_version >= '3.8'"]
    assert conda.pip_options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    assert host_pip_options(conda.pip_options) == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]


@pytest.mark.parametrize("line", ["-r ../outside.txt", "--requirement /etc/hostname", "-r link.txt"])
def test_from_pip_requirements_never_reads_outside_the_folder(tmp_path, line):
    """An include leaving the named file's folder (``..``, an absolute path, a link out) is a ConfigError naming
    the line: the requirements file comes from a notebook cell."""
    from runconfig_jupyter import Environment
    from runconfig_jupyter.core.errors import ConfigError

    (tmp_path / "outside.txt").write_text("secret-package\n")
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "link.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "requirements.txt").write_text(f"numpy\n{line}\n")
    with pytest.raises(ConfigError, match=line.split()[-1].replace(".", r"\.")) as error:
        Environment.from_pip_requirements("proj", folder / "requirements.txt")
    assert error.value.field == "file_path" and "outside" in str(error.value)


def test_environment_r_section_is_kept_and_refused_only_at_submit(v1_project):
    """v1 notebooks set ``env.r = RSection()`` (``from azureml.core.environment import RSection, RCranPackage``)
    and read ``env.r``; it was an AttributeError. It is a kept section (None by default, as in v1) that round-trips
    through the runconfig YAML; only submitting the R environment raises NotSupportedLocally."""
    from runconfig_jupyter.core import Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.environment import Environment, RCranPackage, RSection
    from runconfig_jupyter.core.errors import NotSupportedLocally
    from runconfig_jupyter.core.runconfig import RunConfiguration

    env = Environment("r-env")
    assert env.r is None and "r" not in env.to_dict()
    env.r = RSection()
    env.r.r_version = "4.0.2"
    cran = RCranPackage()
    cran.name, cran.version = "caret", "6.0-86"
    env.r.cran_packages = [cran]
    rc = RunConfiguration()
    rc.environment = env
    path = rc.save(str(v1_project), name="r_run")
    assert "cranPackages" in path.read_text() and "rVersion: 4.0.2" in path.read_text()
    loaded = RunConfiguration.load(str(v1_project), name="r_run")
    assert loaded.environment.r == env.r and loaded.environment.r.cran_packages[0].name == "caret"

    config = ScriptRunConfig(source_directory=str(v1_project), script="train.py", environment=env)
    with pytest.raises(NotSupportedLocally, match=r"environment\.r"):
        Experiment(Workspace.from_config(), "r").submit(config)
    env.r = None
    run = Experiment(Workspace.from_config(), "r").submit(config)
    assert run.wait_for_completion(timeout=240)["status"] == "Completed"


def test_2019_preview_dataset_api(v1_project):
    """A 2019 notebook (azureml-core 1.0.x): ``Dataset.auto_read_files(path)``, ``Dataset.from_delimited_files``
    on the Dataset class, ``Dataset.list(ws)``, ``dataset.get_definitions()``. Each was an AttributeError: those
    with a modern equivalent run as it (Dataset.Tabular), definitions raise NotSupportedLocally naming the call."""
    pd = pytest.importorskip("pandas")
    from runconfig_jupyter import Dataset, Workspace
    from runconfig_jupyter.core.errors import NotSupportedLocally

    ws = Workspace.from_config()
    (v1_project / "iris.csv").write_text("sepal;species\n5.1;setosa\n4.9;versicolor\n")
    datastore = ws.get_default_datastore()
    datastore.upload_files([str(v1_project / "iris.csv")], target_path="iris", overwrite=True, show_progress=False)

    auto = Dataset.auto_read_files(datastore.path("iris/iris.csv"))
    frame = Dataset.from_delimited_files(datastore.path("iris/iris.csv"), separator=";").to_pandas_dataframe()
    assert list(frame["species"]) == ["setosa", "versicolor"] and isinstance(frame, pd.DataFrame)
    registered = auto.register(ws, "iris_auto")
    assert [d.name for d in Dataset.list(ws)] == ["iris_auto"] and Dataset.get(ws, "iris_auto") == registered
    for call in (registered.get_definitions, registered.get_definition, lambda: Dataset.from_json_files("x.json")):
        with pytest.raises(NotSupportedLocally, match=r"(?i)dataset"):
            call()
    with pytest.raises(NotSupportedLocally, match="skip_rows"):
        Dataset.from_delimited_files(datastore.path("iris/iris.csv"), skip_rows=2)
