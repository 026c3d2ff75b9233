"""REST submit: every path in the YAML is confined to the server's root (issue 10, section 1).

Through a real jupyter server (pytest-jupyter's in-process server with the extension enabled, driven
with ``jp_fetch``), including the Lab toolbar's Submit, which posts a notebook path whose ``%%runconfig``
cell the server reads. Each refusal is a 4xx naming the field; no run is recorded and no byte of a file
outside the root appears in any answer.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runconfig_jupyter.core.safety.confine import register_place

SECRET = "rest-canary-91c2"


@pytest.fixture
def api(jp_fetch):
    async def call(*parts: str, method: str = "GET", body: Any = None):
        payload = None if body is None else json.dumps(body)
        response = await jp_fetch("runconfig", "api", *parts, method=method, body=payload, raise_error=False)
        text = response.body.decode() if response.body else ""
        return response.code, text

    return call


def notebook(cell: str) -> str:
    """A notebook whose only code cell is ``%%runconfig`` + ``cell`` (what the toolbar's Submit reads)."""
    source = ["%%runconfig\n", *textwrap.dedent(cell).splitlines(keepends=True)]
    return json.dumps(
        {
            "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


@pytest.fixture
def tree(jp_root_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """A project under the root, and secrets outside it reachable by every trick a YAML author has."""
    outside = tmp_path_factory.mktemp("outside_root")
    (outside / "secret.txt").write_text(SECRET)
    (outside / "conda.yml").write_text(f"name: x\ndependencies:\n  - {SECRET}\n")
    (outside / "env.yml").write_text(f"python:\n  interpreterPath: {SECRET}\n")
    (outside / "run.runconfig").write_text(f"script: {SECRET}.py\n")
    (outside / "train.py").write_text(f"print('{SECRET}')\n")
    project = jp_root_dir / "proj"
    project.mkdir()
    (project / "train.py").write_text("print('hello')\n")
    (project / "out").symlink_to(outside)
    (project / "sneaky.py").symlink_to(outside / "train.py")
    (jp_root_dir / "outlink").symlink_to(outside)
    return {"root": jp_root_dir, "project": project, "outside": outside}


def yaml_cases(outside: Path) -> list[str]:
    o = str(outside)
    return [
        f"source_directory: {o}\nscript: train.py\n",
        "source_directory: ../..\nscript: train.py\n",
        "sourceDirectory: out\nscript: train.py\n",
        "source_directory: /etc\nscript: passwd\n",
        "source_directory: /proc/self/root\ncommand: 'true'\n",
        "script: sneaky.py\n",
        "script: out/train.py\n",
        "script: ../../outside_root/train.py\n",
        f"script: train.py\nenvironment:\n  python:\n    condaDependenciesFile: {o}/conda.yml\n",
        "script: train.py\nenvironment:\n  python:\n    condaDependenciesFile: out/conda.yml\n",
        "script: train.py\nenvironment:\n  python:\n    conda_dependencies_file: /etc/hostname\n",
        f"script: train.py\nenvironment: {o}/env.yml\n",
        "script: train.py\nenvironment: out/env.yml\n",
        "script: train.py\nresume_from: /\n",
        f"script: train.py\nresume_from: {o}\n",
        "script: train.py\nresumeFrom: out\n",
        "script: train.py\nresume_from: ../..\n",
        "script: train.py\nresume_from: /var/run/docker.sock\n",
    ]


async def nothing_submitted(api) -> None:
    code, text = await api("runs")
    assert code == 200 and json.loads(text)["total"] == 0


@pytest.mark.parametrize("case", range(18))
async def test_every_path_of_a_posted_runconfig_is_confined_to_the_root(api, tree, case):
    yaml_text = yaml_cases(tree["outside"])[case]
    code, text = await api("runs", method="POST", body={"path": "proj", "runconfig": yaml_text})
    assert code == 400, text
    body = json.loads(text)
    assert body["error"] == "ConfigError" and body["field"]
    assert SECRET not in text
    await nothing_submitted(api)


@pytest.mark.parametrize("case", [0, 2, 5, 9, 13, 15])
async def test_toolbar_submit_of_a_shared_notebook_is_confined(api, tree, case):
    """The Lab toolbar posts only the notebook's path; the server reads its %%runconfig cell."""
    (tree["project"] / "shared.ipynb").write_text(notebook(yaml_cases(tree["outside"])[case]))
    code, text = await api("runs", method="POST", body={"path": "proj/shared.ipynb"})
    assert code == 400 and json.loads(text)["field"], text
    assert SECRET not in text
    await nothing_submitted(api)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "outlink"}, "path"),
        ({"path": "outlink/train.py"}, "path"),
        ({"path": "../outside_root"}, "path"),
        ({"path": "proj/out/train.py"}, "path"),
        ({"path": "proj", "runconfig_file": "outlink/run.runconfig"}, "runconfig_file"),
        ({"path": "proj", "runconfig_file": "proj/out/run.runconfig"}, "runconfig_file"),
        ({"path": "proj", "runconfig_file": "../../../../etc/passwd"}, "runconfig_file"),
    ],
)
async def test_request_paths_that_leave_the_root_are_refused(api, tree, body, field):
    code, text = await api("runs", method="POST", body=body)
    assert code == 400 and json.loads(text)["field"] == field, text
    assert SECRET not in text
    await nothing_submitted(api)


async def test_a_registered_place_is_allowed_and_a_run_inside_the_root_works(api, tree, run_home):
    checkpoint = tree["outside"]
    code, text = await api(
        "runs", method="POST", body={"path": "proj", "runconfig": f"script: train.py\nresume_from: {checkpoint}\n"}
    )
    assert code == 400 and json.loads(text)["field"] == "resume_from"
    register_place(checkpoint)
    code, text = await api(
        "runs", method="POST", body={"path": "proj", "runconfig": f"script: train.py\nresume_from: {checkpoint}\n"}
    )
    assert code == 201, text
