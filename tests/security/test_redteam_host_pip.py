"""Red team: a pip list installed on this machine cannot make pip read this machine's files.

The local target (and Ray, whose nodes may be this machine) runs ``pip install <entries>`` on the host.
A shared notebook's ``%%runconfig`` cell listed ``-r/path/to/secret`` as a "package": pip read the file and
printed its lines into ``prepare_log.txt``, which the REST log route serves. ``-e``/``file://``/plain paths
install from any host folder. Now an option is refused and a path goes through the confinement check, with
the field named, before anything is recorded. Through a real ``jupyter server`` (REST, as the Lab toolbar's
Submit sends it) and the Python API.
"""

from __future__ import annotations

import json

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import submit
from tests.security.inputs_server import LiveServer

pytestmark = pytest.mark.timeout(180)
CANARY = "redteam-pip-canary-3e9a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("redteam-pip")
    live = LiveServer(base).start()
    (live.root / "proj" / "wheels").mkdir(parents=True)
    (live.root / "proj" / "train.py").write_text("print('ok')\n")
    (base / "secret.txt").write_text(f"{CANARY}\n")
    (base / "pkg").mkdir()
    (base / "pkg" / "setup.py").write_text(f"print('{CANARY}')\n")
    yield live
    live.stop()


def pip_yaml(entry: str) -> str:
    return (
        "script: train.py\nenvironment:\n  python:\n    condaDependencies:\n      dependencies:\n"
        f"        - pip:\n          - {json.dumps(entry)}\n"
    )


def hostile_entries(base) -> list[str]:
    secret, pkg = base / "secret.txt", base / "pkg"
    # ('--requirement=...' style entries are pip options, which host targets never pass to pip.)
    return [
        f"-r{secret}",
        f"-r {secret}",
        f" -c{secret}",
        f"-e {pkg}",
        f"-f{pkg}",
        str(pkg),
        f"file://{pkg}",
        f"mypkg @ file://{pkg}",
        f"git+file://{pkg}",
        "../../pkg",
        "~/../../" + str(pkg).lstrip("/"),
    ]


def test_rest_refuses_pip_entries_that_read_host_files(server):
    entries = hostile_entries(server.base)
    before = server.run_count()
    for entry in entries:
        code, body = server.call("runs", method="POST", body={"path": "proj", "runconfig": pip_yaml(entry)})
        assert code == 400, (entry, code, body)
        assert body["field"] == "environment.python.conda_dependencies.pip[0]", (entry, body)
        assert CANARY not in json.dumps(body)
    assert server.run_count() == before
    assert not (server.home / "runs").exists() or list((server.home / "runs").iterdir()) == []
    leaked = [p for p in server.home.rglob("*.txt") if CANARY in p.read_text(errors="replace")]
    assert leaked == []


def test_python_api_refuses_them_for_the_local_target(project, tmp_path, run_home):
    (tmp_path / "secret.txt").write_text(CANARY)
    config = ScriptRunConfig(source_directory=str(project), script="train.py")
    config.run_config.environment.python.conda_dependencies = None
    from runconfig_jupyter.core.environment import CondaDependencies

    for entry in (f"-r{tmp_path / 'secret.txt'}", str(tmp_path), f"x @ file://{tmp_path}"):
        config.run_config.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=[entry])
        with pytest.raises(ConfigError) as refused:
            submit(config, "redteam", target="local")
        assert refused.value.field.startswith("environment.python.conda_dependencies.pip")
    assert not (run_home / "runs").exists() or list((run_home / "runs").iterdir()) == []


def test_packages_inside_the_source_folder_and_index_names_still_pass(project, run_home):
    """The check is about host files, not about pip: names, versions, URLs and the project's own wheels pass."""
    from runconfig_jupyter.core.safety.confine import Confinement

    (project / "wheels").mkdir()
    (project / "wheels" / "mine-1.0-py3-none-any.whl").write_bytes(b"PK")
    confinement = Confinement.for_source(project)
    confinement.host_pip_packages(
        [
            "numpy==1.26",
            "torch>=2; python_version>'3.8'",
            "requests[socks]",
            "git+https://github.com/org/repo@v1",
            "./wheels/mine-1.0-py3-none-any.whl",
            "https://example.org/x.whl",
        ],
        "pip",
    )
