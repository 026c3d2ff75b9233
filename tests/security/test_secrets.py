"""Secret environment variables never land in records, answers or logs, yet the script still receives them;
a local run does not inherit the kernel's cloud credentials unless asked to (docs/SECURITY.md).

Real components: a real ``jupyter server`` subprocess for REST, a real IPython shell for magics, real driver
processes (cold and warm standby) and real scripts that report what they received by hash, never by value.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
from pathlib import Path

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs import standby
from runconfig_jupyter.core.runs.drivers import prewarm
from runconfig_jupyter.core.runs.script_run import ScriptRun, submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.secret_env import REDACTED, is_secret_name
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from tests.conftest import wait_for
from tests.security.inputs_server import LiveServer

pytestmark = pytest.mark.timeout(180)

TOKEN = "hf_s3cr3t-V4LUE-4c9b1e"
PASSWORD = "pw-Zq81!-not-for-records"
# The script proves it received each value by comparing hashes; it never prints the value itself.
REPORT = """
import hashlib, json, os
expected = json.loads(os.environ["EXPECTED_SHA"])
def digest(name):
    return hashlib.sha256(os.environ.get(name, "").encode()).hexdigest()
seen = {name: digest(name) == wanted for name, wanted in expected.items()}
print("received", json.dumps(seen, sort_keys=True), flush=True)
"""


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EXPECTED = json.dumps({"HF_TOKEN": sha(TOKEN), "DB_PASSWORD": sha(PASSWORD)})
RUNCONFIG = f"""
script: report.py
environmentVariables:
  HF_TOKEN: {TOKEN}
  EPOCHS: 3
  EXPECTED_SHA: '{EXPECTED}'
environment:
  environmentVariables:
    DB_PASSWORD: '{PASSWORD}'
"""
RECEIVED_ALL = 'received {"DB_PASSWORD": true, "HF_TOKEN": true}'


def files_containing(root: Path, needles: tuple[str, ...], skip: Path | None = None) -> list[str]:
    """Every file under ``root`` (run folders, runs.db and its WAL, snapshots, logs) holding a needle."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink() or (skip is not None and path.is_relative_to(skip)):
            continue
        data = path.read_bytes()
        if any(needle.encode() in data for needle in needles):
            found.append(str(path.relative_to(root)))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("secrets-server")).start()
    (live.root / "proj").mkdir()
    (live.root / "proj" / "report.py").write_text(REPORT)
    yield live
    live.stop()


def test_rest_answers_records_and_logs_hold_no_secret_but_the_script_gets_it(server):
    code, body = server.call("runs", method="POST", body={"path": "proj", "runconfig": RUNCONFIG})
    assert code == 201, body
    run_id = body["run_id"]
    assert server.wait_finished(run_id)["status"] == "Completed"
    answers = [
        server.call(f"runs/{run_id}"),
        server.call("runs"),
        server.call(f"runs/{run_id}/log"),
        server.call(f"runs/{run_id}/log?name=driver_log.txt"),
        server.call(f"runs/{run_id}/metrics"),
    ]
    for code, answer in answers:
        assert code == 200, answer
        text = json.dumps(answer)
        assert TOKEN not in text and PASSWORD not in text
    detail = answers[0][1]["details"]
    recorded = json.dumps(detail)
    assert REDACTED in recorded and '"EPOCHS": 3' in recorded  # names and public values stay visible
    assert RECEIVED_ALL in answers[2][1]["text"]
    secrets_dir = server.home / "secrets"
    assert files_containing(server.home, (TOKEN, PASSWORD), skip=secrets_dir) == []
    private = secrets_dir / f"{run_id}.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert json.loads(private.read_text()) == {
        "environment_variables": {"HF_TOKEN": TOKEN},
        "environment.environment_variables": {"DB_PASSWORD": PASSWORD},
    }

    # Re-run restores the values from the private file ...
    code, rerun = server.call(f"runs/{run_id}/rerun", method="POST", body={})
    assert code == 201, rerun
    assert server.wait_finished(rerun["run_id"])["status"] == "Completed"
    assert RECEIVED_ALL in server.call(f"runs/{rerun['run_id']}/log")[1]["text"]
    assert files_containing(server.home, (TOKEN, PASSWORD), skip=secrets_dir) == []
    # ... and when that file is gone, refuses (naming the variable) instead of running with the placeholder.
    private.unlink()
    before = server.run_count()
    code, refused = server.call(f"runs/{run_id}/rerun", method="POST", body={})
    assert code == 400 and refused["field"] == "environment_variables.HF_TOKEN", refused
    assert server.run_count() == before


def test_rest_refuses_the_placeholder_copied_from_a_record(server):
    before = server.run_count()
    text = f"script: report.py\nenvironmentVariables:\n  API_KEY: '{REDACTED}'\n"
    code, body = server.call("runs", method="POST", body={"path": "proj", "runconfig": text})
    assert code == 400 and body["field"] == "environment_variables.API_KEY", body
    assert server.run_count() == before


def test_magics_runs_and_logs_show_no_secret(project, monkeypatch, run_home):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    (project / "report.py").write_text(REPORT)
    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    shell.run_line_magic("config", "RunConfigMagics.live_view = False")
    with capture_output() as captured:
        shell.run_cell_magic("runconfig", "secretcfg", RUNCONFIG)
        shell.run_line_magic("submit", "secretcfg --wait -o secretrun")
        shell.run_line_magic("runs", "")
        shell.run_line_magic("logs", shell.user_ns["secretrun"].id)
        print(repr(shell.user_ns["secretrun"]), shell.user_ns["secretrun"].get_details())
    output = captured.stdout + captured.stderr
    assert RECEIVED_ALL in output
    assert TOKEN not in output and PASSWORD not in output
    assert files_containing(run_home, (TOKEN, PASSWORD), skip=run_home / "secrets") == []


def test_warm_standby_driver_hands_the_secret_to_the_script(project, monkeypatch, run_home):
    """The standby was started before the run existed, so the value cannot be in its environment: it reads the
    run's private file after claiming the run."""
    (project / "report.py").write_text(REPORT)
    monkeypatch.setenv(standby.STANDBY_ENV, "60")
    try:
        assert prewarm() is not None
        pid = wait_for(lambda: standby.waiting_pids(run_home), timeout=30, message="a warm standby")[0]
        config = ScriptRunConfig.from_yaml(RUNCONFIG, source_directory=str(project))
        run = submit(config, "warm")
        run.wait_for_completion(timeout=90)
        assert run.record.driver_pid == pid and run.record.details.get("standby_driver")
        assert RECEIVED_ALL in run.get_log()
        assert files_containing(run_home, (TOKEN, PASSWORD), skip=run_home / "secrets") == []
    finally:
        for leftover in standby.standby_pids(run_home):
            os.kill(leftover, signal.SIGKILL)


INHERIT = """
import json, os
print("inherited", json.dumps(sorted(n for n in os.environ if n in json.loads(os.environ["PROBE"]))), flush=True)
"""
KERNEL_ENV = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-from-kernel",
    "AWS_PROFILE": "prod",
    "GOOGLE_APPLICATION_CREDENTIALS": "/keys/gcp.json",
    "AZURE_CLIENT_SECRET": "azure-secret-from-kernel",
    "GITHUB_TOKEN": "ghp_fromkernel",
    "DATA_DIR": "/data",
    "CUDA_VISIBLE_DEVICES": "0",
}


def inherited_names(project: Path, **submit_args) -> list[str]:
    (project / "inherit.py").write_text(INHERIT)
    config = ScriptRunConfig(str(project), script="inherit.py")
    config.run_config.environment_variables = {"PROBE": json.dumps([*KERNEL_ENV, "PATH"])}
    run = submit(config, "inherit", **submit_args)
    run.wait_for_completion(timeout=60)
    line = next(ln for ln in run.get_log().splitlines() if ln.startswith("inherited "))
    return json.loads(line.removeprefix("inherited "))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, ["CUDA_VISIBLE_DEVICES", "DATA_DIR", "PATH"]),  # default: safe
        ("safe", ["CUDA_VISIBLE_DEVICES", "DATA_DIR", "PATH"]),
        ("none", ["CUDA_VISIBLE_DEVICES", "PATH"]),
        ("DATA_*", ["CUDA_VISIBLE_DEVICES", "DATA_DIR", "PATH"]),
        ("all", sorted([*KERNEL_ENV, "PATH"])),
    ],
)
def test_local_run_inherits_no_cloud_credentials_by_default(project, monkeypatch, setting, expected):
    for name, value in KERNEL_ENV.items():
        monkeypatch.setenv(name, value)  # the kernel's environment, inherited by the driver
    if setting is not None:
        monkeypatch.setenv("RUNCONFIG_INHERIT_ENV", setting)
    assert inherited_names(project) == expected


def test_inherit_setting_of_the_target_wins_and_bad_settings_are_refused_before_recording(project, monkeypatch):
    for name, value in KERNEL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUNCONFIG_INHERIT_ENV", "all")
    register_target("tight", type="local", inherit_env="none")
    try:
        assert inherited_names(project, target="tight") == ["CUDA_VISIBLE_DEVICES", "PATH"]
    finally:
        unregister_target("tight")
    store_before = len(RunStore().list())
    monkeypatch.setenv("RUNCONFIG_INHERIT_ENV", "everything please")
    with pytest.raises(ConfigError) as caught:
        submit(ScriptRunConfig(str(project), script="train.py"), "inherit")
    assert caught.value.field == "RUNCONFIG_INHERIT_ENV"
    assert len(RunStore().list()) == store_before


@pytest.mark.parametrize(
    "name",
    ["HF_TOKEN", "DB_PASSWORD", "AZURE_STORAGE_CONNECTION_STRING", "AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY", "SAS"],
)
def test_names_that_look_secret(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["EPOCHS", "PATH", "PWD", "AUTHOR", "MONKEY", "LEARNING_RATE"])
def test_names_that_do_not(name):
    assert not is_secret_name(name)


def test_run_object_from_another_process_sees_placeholders_only(project, run_home):
    (project / "report.py").write_text(REPORT)
    run = submit(ScriptRunConfig.from_yaml(RUNCONFIG, source_directory=str(project)), "reader")
    run.wait_for_completion(timeout=60)
    again = ScriptRun(run.id, store=RunStore(run_home))
    shown = json.dumps([again.get_details(), again.get_config().to_dict(), again.get_spec()], default=str)
    assert TOKEN not in shown and PASSWORD not in shown and REDACTED in shown


def test_extra_secret_name_patterns(monkeypatch):
    assert not is_secret_name("MY_DATASET_URL")
    monkeypatch.setenv("RUNCONFIG_SECRET_NAMES", "MY_DATASET_*, OTHER")
    assert is_secret_name("MY_DATASET_URL") and is_secret_name("other") and not is_secret_name("EPOCHS")
    monkeypatch.setenv("RUNCONFIG_SECRET_NAMES", "*")
    assert is_secret_name("EPOCHS")
