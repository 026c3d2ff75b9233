"""Red team: a secret set through docker's ``--env/-e`` cannot bypass redaction.

Only ``environment_variables`` have their secret values kept out of records. ``docker.arguments: [--env,
HF_TOKEN=...]`` (or ``-eHF_TOKEN=...``, ``--env=...``, one string ``"-e HF_TOKEN=..."``, the environment's
own ``docker.arguments``, a target's ``arguments`` in targets.yaml) was accepted, recorded in run.json and
served by ``GET /runs/{id}``. Now a secret-looking name there is refused naming the field, before anything
is recorded; plain variables still pass. Through a real ``jupyter server``, the magics and the Python API.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from tests.security.inputs_server import LiveServer

pytestmark = pytest.mark.timeout(180)
SECRET = "redteam-secret-value-77c1"
SPELLINGS = [
    ["--env", f"HF_TOKEN={SECRET}"],
    [f"--env=AWS_SECRET_ACCESS_KEY={SECRET}"],
    [f"-eGITHUB_TOKEN={SECRET}"],
    [f"-e DB_PASSWORD={SECRET}"],
    ["--memory", "1g", "-e", f"MY_API_KEY={SECRET}"],
    [f"env=WANDB_API_KEY={SECRET}"],
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("redteam-secrets")).start()
    (live.root / "proj").mkdir()
    (live.root / "proj" / "train.py").write_text("print('ok')\n")
    yield live
    live.stop()


@pytest.mark.parametrize("arguments", SPELLINGS)
@pytest.mark.parametrize("section", ["docker", "environment"])
def test_rest_refuses_secret_docker_env_and_records_nothing(server, arguments, section):
    flags = json.dumps(arguments)
    text = (
        f"script: train.py\ndocker:\n  arguments: {flags}\n"
        if section == "docker"
        else f"script: train.py\nenvironment:\n  docker:\n    arguments: {flags}\n"
    )
    before = server.run_count()
    code, body = server.call("runs", method="POST", body={"path": "proj", "runconfig": text, "target": "local"})
    assert code == 400, body
    assert body["field"] == ("run_config.docker.arguments" if section == "docker" else "environment.docker.arguments")
    assert SECRET not in json.dumps(body)
    assert server.run_count() == before
    assert not [p for p in server.home.rglob("*.json") if SECRET in p.read_text(errors="replace")]


def test_rest_still_accepts_plain_docker_env(server):
    text = "script: train.py\ndocker:\n  arguments: [--env, EPOCHS=3, -e, MODE=fast]\n"
    code, body = server.call("runs", method="POST", body={"path": "proj", "runconfig": text, "target": "local"})
    assert code == 201, body
    server.wait_finished(body["run_id"])


def test_magics_refuse_it_in_a_runconfig_cell(project, monkeypatch, run_home):
    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    cell = textwrap.dedent(
        f"""\
        script: train.py
        docker:
          arguments: ["-e HF_TOKEN={SECRET}"]
        """
    )
    with capture_output() as out:
        shell.run_cell_magic("runconfig", "leaky", cell)
    assert "leaky" not in shell.user_ns
    assert "run_config.docker.arguments" in out.stderr and "environment_variables" in out.stderr
    assert SECRET not in out.stdout + out.stderr


def test_python_api_refuses_it_in_a_target_setting(run_home):
    for arguments in (["--env", f"HF_TOKEN={SECRET}"], {"env": [f"HF_TOKEN={SECRET}"]}):
        with pytest.raises(ConfigError) as refused:
            register_target("leaky-docker", "docker", persist=True, arguments=arguments)
        assert refused.value.field == "targets.leaky-docker.arguments"
    assert not (run_home / "targets.yaml").exists() or SECRET not in (run_home / "targets.yaml").read_text()
    unregister_target("leaky-docker")
