"""v1 defaults ported code relies on: ``env.python.conda_dependencies`` is a ready object, ``run_config.amlcompute``.

The hashes below were computed by the code before this change (main at 92be3d8), so an untouched environment
must keep its image cache keys, venv cache and serialized form exactly.
"""

from __future__ import annotations

import hashlib
import json
import warnings

from runconfig_jupyter import CondaDependencies, Environment, Experiment, ScriptRunConfig
from runconfig_jupyter.core.config.runconfig import read_conda_file
from runconfig_jupyter.core.runconfig import RunConfiguration
from runconfig_jupyter.targets.conda_prefix import conda_request
from runconfig_jupyter.targets.docker.image import plan_image

OLD_DEFAULT_HASH = "c20f11fe80bcc177e83fcf498bdf89521eaf84d69d3bc4c8e0287743ec226987"
OLD_DOCKER_HASH = "652f466ad5c0ba678fdb17997b61ad3158b8948761bcd5186d6f6842177e1d8d"
OLD_RUNCONFIG_DICT_HASH = "9650dc847125ddb7d66e2a14f78f222d2aa93fe56a8e9cf260cff574102208af"


def test_untouched_environment_hashes_and_serializes_as_before():
    environment = Environment("x")
    assert isinstance(environment.python.conda_dependencies, CondaDependencies)
    assert environment.content_hash() == OLD_DEFAULT_HASH
    assert environment.python.to_dict()["condaDependencies"] is None
    environment.docker.enabled = True
    environment.docker.base_image = "runconfig-jupyter/python:bookworm"
    assert environment.content_hash() == OLD_DOCKER_HASH
    canonical = json.dumps(RunConfiguration().to_dict(), sort_keys=True, default=str)
    assert hashlib.sha256(canonical.encode()).hexdigest() == OLD_RUNCONFIG_DICT_HASH


def test_untouched_default_means_no_packages_for_every_builder():
    environment = Environment("x")
    assert conda_request(environment) is None
    plan = plan_image(environment, "base:1", None)
    assert plan.dockerfile is None  # no image build for an environment without packages
    again = Environment.from_dict(json.loads(json.dumps(environment.to_dict())))
    assert again == environment and again.content_hash() == OLD_DEFAULT_HASH
    environment.python.conda_dependencies = None  # v1 code may reset it: still a usable object
    assert environment.python.conda_dependencies.pip_packages == []


def test_added_package_changes_hash_and_round_trips():
    environment = Environment("x")
    environment.python.conda_dependencies.add_pip_package("six")
    environment.python.conda_dependencies.add_channel("conda-forge")
    assert environment.content_hash() != OLD_DEFAULT_HASH
    again = Environment.from_dict(environment.to_dict())
    assert again.python.conda_dependencies.pip_packages == ["six"]
    assert again.python.conda_dependencies.channels == ["conda-forge"]


def test_conda_file_is_still_read_when_the_default_object_is_present(tmp_path):
    (tmp_path / "env.yml").write_text("name: e\ndependencies:\n  - pip:\n    - six\n")
    environment = Environment("x")
    environment.python.conda_dependencies_file = "env.yml"
    read_conda_file(environment, (tmp_path,))
    assert environment.python.conda_dependencies.pip_packages == ["six"]


def test_amlcompute_settings_are_kept_in_the_passthrough_section(tmp_path):
    rc = RunConfiguration()
    assert rc.amlcompute.vm_size is None and "amlCompute" not in rc.extra
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        rc.amlcompute.vm_size = "STANDARD_D2_V2"
        rc.amlcompute.cluster_max_node_count = 4
    assert rc.to_dict()["amlCompute"] == {"vmSize": "STANDARD_D2_V2", "clusterMaxNodeCount": 4}
    loaded = RunConfiguration.load(rc.save(tmp_path, "aml"))
    assert loaded.amlcompute.vm_size == "STANDARD_D2_V2" and loaded.amlcompute.cluster_max_node_count == 4
    try:
        rc.amlcompute.vm_sise = "x"
    except AttributeError as error:
        assert "vm_size" in str(error)
    else:
        raise AssertionError("a misspelt amlcompute attribute was accepted")


def test_ported_snippet_runs_locally_with_an_added_pip_package(make_project):
    """Real local run; ``six`` is already installed here, so pip resolves it without downloading."""
    project = make_project({"train.py": "import six\nprint('SIX', six.__version__)\n"})
    env = Environment("ported-env")
    env.python.conda_dependencies.add_pip_package("six")
    run_config = RunConfiguration()
    run_config.environment = env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_config.amlcompute.vm_size = "STANDARD_D2_V2"
        run_config.amlcompute.cluster_max_node_count = 2
    config = ScriptRunConfig(source_directory=str(project), script="train.py", run_config=run_config)
    run = Experiment("v1gaps").submit(config)
    details = run.wait_for_completion(timeout=300)
    assert details["status"] == "Completed", run.get_log()
    assert "SIX " in run.get_log()
