"""Red team through the widgets' form (``build_config``, what the Submit button runs before ``submit``).

The form splits "pip packages" on whitespace, so ``-r /path/to/secret`` arrived as two entries the local
target would hand to pip on this machine; and the "image" box became the FROM line of a generated
Dockerfile, so a newline added build steps (accepted, recorded, failing later). Both are now refused under
the field that holds them, before anything is recorded; ordinary values still build a config.
"""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.widgets.form_fields import FormValues, build_config, target_choices

CANARY = "redteam-form-canary-1a2b"


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "req.txt").write_text(f"{CANARY}\n")
    return folder


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"pip_packages": "-r {outside}/req.txt"}, "environment.python.conda_dependencies.pip[0]"),
        ({"pip_packages": "numpy -c{outside}/req.txt"}, "environment.python.conda_dependencies.pip[1]"),
        ({"pip_packages": "{outside}"}, "environment.python.conda_dependencies.pip[0]"),
        ({"pip_packages": "x@file://{outside}"}, "environment.python.conda_dependencies.pip[0]"),
        ({"target": "docker", "image": "python:3.11\nRUN cat /etc/shadow"}, "environment.docker.base_image"),
        ({"target": "docker", "image": "--privileged"}, "environment.docker.base_image"),
        ({"requirements_file": "{outside}/req.txt"}, "requirements_file"),
    ],
)
def test_form_refuses_what_would_read_host_files_or_inject_build_steps(project, outside, run_home, values, field):
    filled = {key: value.format(outside=outside) for key, value in values.items()}
    form = FormValues(source_directory=str(project), script="train.py", **filled)
    config, errors = build_config(form, target_choices(check=False))
    assert config is None
    assert [e.field for e in errors][:1] == [field], errors
    assert CANARY not in " ".join(str(e) for e in errors)
    assert RunStore(run_home).list(limit=10) == []


def test_form_still_builds_ordinary_values(project):
    form = FormValues(
        source_directory=str(project),
        script="train.py",
        pip_packages="numpy==1.26 requests[socks]",
        target="docker",
        image="registry.example.org:5000/team/python:3.11-slim",
    )
    config, errors = build_config(form, target_choices(check=False))
    assert errors == [] and config is not None
