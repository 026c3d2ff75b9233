"""One source of target configuration: ``c.TargetSettings`` in a Jupyter or IPython config file.

A real ``jupyter server`` on 127.0.0.1 started with a ``jupyter_server_config.py`` that defines a target
and an alias lists both on its targets route; a real ``ipython`` process with the same settings in its
``ipython_config.py`` lists them with ``%targets`` and refuses a misspelt setting the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import requests

from tests.integration.kernel.servers import launch, stop

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = textwrap.dedent(
    """
    c.TargetSettings.targets = {"lab-box": {"type": "local", "grace_seconds": 3}}
    c.TargetSettings.aliases = {"cpu-cluster": "lab-box"}
    """
)


def _own_env(run_home: Path) -> dict[str, str]:
    """This checkout's code for the child and its drivers, the test's run home, no standby drivers."""
    return {"PYTHONPATH": str(ROOT), "RUNCONFIG_JUPYTER_HOME": str(run_home), "RUNCONFIG_STANDBY_SECONDS": "0"}


def test_a_target_in_jupyter_server_config_is_listed_by_the_server(tmp_path, run_home):
    base = tmp_path / "server"
    (base / "config").mkdir(parents=True)
    (base / "config" / "jupyter_server_config.py").write_text(
        'c.ServerApp.jpserver_extensions = {"runconfig_jupyter.server": True}\n' + SETTINGS
    )
    server = launch("server", base, extra_env=_own_env(run_home))
    try:
        reply = requests.get(f"{server.url}/runconfig/api/targets", headers=server.headers(), timeout=30)
        assert reply.status_code == 200, reply.text
        targets = {t["name"]: t for t in reply.json()["targets"]}
        assert {"local", "docker", "lab-box", "cpu-cluster"} <= set(targets), targets
        assert targets["lab-box"]["type"] == "local" and targets["lab-box"]["available"]
        assert targets["cpu-cluster"]["type"] == "local"
    finally:
        stop(server)


def _ipython(tmp_path: Path, run_home: Path, settings: str, code: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_config.py").write_text(settings)
    env = {**os.environ, **_own_env(run_home), "IPYTHONDIR": str(tmp_path / "ipython")}
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--HistoryManager.enabled=False", "--colors=NoColor", "-c", code],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_a_target_in_ipython_config_is_listed_by_percent_targets(tmp_path, run_home):
    out = _ipython(tmp_path, run_home, SETTINGS, "%load_ext runconfig_jupyter\n%targets\n%targets --settings local")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "lab-box" in lines and "available" in lines["lab-box"], out.stdout
    assert "(alias of lab-box)" in lines["cpu-cluster"], out.stdout
    assert "type: local" in out.stdout and "grace_seconds (a number, default 10.0): Seconds" in out.stdout


def test_a_misspelt_setting_in_ipython_config_is_refused_with_a_suggestion(tmp_path, run_home):
    settings = 'c.TargetSettings.targets = {"lab-box": {"type": "local", "grace_secnds": 3}}\n'
    code = "%load_ext runconfig_jupyter\nfrom runconfig_jupyter.core.target.configured import resolve_target\n"
    code += "try:\n    resolve_target('lab-box')\nexcept Exception as e:\n    print('refused', e.field, e.suggestion)"
    out = _ipython(tmp_path, run_home, settings, code)
    assert out.returncode == 0, out.stderr
    assert "refused targets.lab-box.grace_secnds grace_seconds" in out.stdout, out.stdout + out.stderr


def test_percent_targets_lists_a_target_once_it_is_configured_live(tmp_path, run_home):
    """``%config TargetSettings.targets = ...`` in a running shell changes what %targets shows at once."""
    code = "%load_ext runconfig_jupyter\n%config TargetSettings.targets = {'late-box': {'type': 'local'}}\n%targets"
    out = _ipython(tmp_path, run_home, "", code)
    assert out.returncode == 0, out.stderr
    assert any(line.startswith("late-box") for line in out.stdout.splitlines()), out.stdout
