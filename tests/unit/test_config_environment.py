"""Environment, its python/docker sections, CondaDependencies, factories and the build hash."""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.config import CondaDependencies, Environment
from runconfig_jupyter.core.errors import ConfigError


def test_defaults_leave_the_base_image_to_the_target():
    env = Environment("train")
    assert env.name == "train"
    assert env.python.user_managed_dependencies is False and env.python.interpreter_path == "python"
    # v1's ready-made object (so ported .add_pip_package() works), meaning "no packages" until one is added
    assert env.python.conda_dependencies.is_empty() and not env.python.has_conda()
    assert env.docker.enabled is False and env.docker.base_image is None and env.docker.gpu_support is False
    assert env.docker.arguments == [] and env.environment_variables == {}


def test_conda_dependencies_create_and_conda_file_shape():
    conda = CondaDependencies.create(
        pip_packages=["numpy==1.26", "rich"], conda_packages=["libgomp"], python_version="3.11"
    )
    assert conda.pip_packages == ["numpy==1.26", "rich"]
    assert conda.conda_packages == ["python=3.11", "libgomp"]
    data = conda.to_dict()
    assert data["dependencies"] == ["python=3.11", "libgomp", {"pip": ["numpy==1.26", "rich"]}]
    assert CondaDependencies.from_dict(data) == conda
    conda.add_pip_package("rich")
    conda.remove_pip_package("numpy")
    assert conda.pip_packages == ["rich"]


def test_conda_file_keeps_unknown_keys_and_pip_options():
    data = {
        "name": "x",
        "channels": ["conda-forge"],
        "dependencies": ["pip", {"pip": ["--extra-index-url u", "a"]}],
        "variables": {"A": "1"},
    }
    conda = CondaDependencies.from_dict(data)
    assert conda.pip_options == ["--extra-index-url u"] and conda.pip_packages == ["a"]
    assert conda.to_dict() == data


def test_from_pip_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# tools\nnumpy>=1.0  # math\n\nrequests==2.31\n")
    env = Environment.from_pip_requirements("req", requirements)
    assert env.python.conda_dependencies.pip_packages == ["numpy>=1.0", "requests==2.31"]
    with pytest.raises(ConfigError, match=r"file_path: requirements file .* does not exist"):
        Environment.from_pip_requirements("req", tmp_path / "nope.txt")


def test_from_conda_specification(tmp_path):
    spec = tmp_path / "env.yml"
    spec.write_text("name: e\ndependencies:\n  - python=3.10\n  - pip:\n    - torch\n")
    env = Environment.from_conda_specification("conda", spec)
    assert env.python.conda_dependencies.conda_packages == ["python=3.10"]
    assert env.python.conda_dependencies.pip_packages == ["torch"]
    spec.write_text("dependencies:\n  - [not, a, package]\n")
    with pytest.raises(ConfigError, match=r"dependencies\[0\].*\(line 2\)"):
        Environment.from_conda_specification("conda", spec)


def test_docker_factories(tmp_path):
    env = Environment.from_docker_image("img", "python:3.11-slim")
    assert env.docker.enabled and env.docker.base_image == "python:3.11-slim"
    assert env.python.user_managed_dependencies
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nRUN pip install rich\n")
    env = Environment.from_dockerfile("df", dockerfile)
    assert env.docker.base_image is None and env.docker.base_dockerfile.startswith("FROM python")


def test_content_hash_covers_the_build_not_the_name_or_variables():
    def make(name, packages, variables):
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=packages)
        env.environment_variables = variables
        return env

    base = make("a", ["rich"], {})
    assert base.content_hash() == make("b", ["rich"], {"X": "1"}).content_hash()
    assert base.content_hash() != make("a", ["rich==13"], {}).content_hash()
    docker = make("a", ["rich"], {})
    docker.docker.base_image = "python:3.12"
    assert docker.content_hash() != base.content_hash()
    assert len(base.content_hash()) == 64


def test_environment_dict_round_trip_and_name_only_form():
    env = Environment("full")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = "/opt/py/bin/python"
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["rich"])
    env.docker.enabled = True
    env.docker.base_image = "python:3.11"
    env.docker.gpu_support = True
    env.docker.shm_size = "1g"
    env.docker.arguments = ["--ipc=host"]
    env.environment_variables = {"A": "1"}
    data = env.to_dict()
    assert data["python"]["interpreterPath"] == "/opt/py/bin/python" and data["docker"]["gpuSupport"] is True
    assert Environment.from_dict(data) == env
    assert Environment.from_dict("AzureML-Minimal") == Environment("AzureML-Minimal")
