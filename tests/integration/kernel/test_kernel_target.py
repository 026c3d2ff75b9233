"""The kernel target against a REAL jupyter server and a REAL jupyter kernelgateway on 127.0.0.1.

The "remote" machine is this one, so the tests can look at the remote folder and
the remote processes directly (psutil) to check what the target promises:
process groups killed on cancel, folders removed, kernels shut down.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import textwrap
from pathlib import Path

import psutil
import pytest

from kernel.conftest import TOKEN_ENV, assert_token_absent, register
from kernel.proxy import CuttableProxy
from kernel.servers import free_port, launch, stop
from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import TargetAuthError, TargetUnavailable
from runconfig_jupyter.core.runs.drivers import start_driver
from runconfig_jupyter.core.runs.script_run import ScriptRun, submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target.configured import register_target
from runconfig_jupyter.targets.kernel.delta import CACHE_FOLDER
from tests.conftest import wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

SCRIPT = """
import argparse, hashlib, os, subprocess, sys, time
import runconfig_jupyter
from runconfig_jupyter import Run

parser = argparse.ArgumentParser()
parser.add_argument("--fail", type=int, default=0)
parser.add_argument("--wait-for", default="")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--spawn", action="store_true")
parser.add_argument("--sha", default="")
args = parser.parse_args()
run = Run.get_context()
print("first line from", runconfig_jupyter.__file__, flush=True)
run.log("loss", 0.5)
if args.spawn:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(f"child pid {child.pid}", flush=True)
if args.wait_for:
    deadline = time.monotonic() + 90
    while not os.path.exists(args.wait_for) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("released", flush=True)
if args.sha:
    with open("big.bin", "rb") as source:
        print("sha", "ok" if hashlib.sha256(source.read()).hexdigest() == args.sha else "BAD", flush=True)
    os.makedirs("outputs", exist_ok=True)
    os.replace("big.bin", "outputs/big.bin")
time.sleep(args.sleep)
run.log("loss", 0.25)
run.log_row("table", x=1, y=2)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as out:
    out.write(f"env={os.environ.get('GREETING')}")
with open("outputs/environ.txt", "w") as out:  # comes home: the token must not be in it
    out.write(repr(sorted(os.environ.items())))
os.makedirs("logs", exist_ok=True)
with open("logs/extra.txt", "w") as out:
    out.write("user log")
print("to stderr", file=sys.stderr, flush=True)
print("last line", flush=True)
sys.exit(args.fail)
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    root.mkdir()
    (root / "train.py").write_text(textwrap.dedent(SCRIPT))
    (root / "data.csv").write_text("a,b\n1,2\n")
    return root


def config(source: Path, *arguments: object, **kwargs: object) -> ScriptRunConfig:
    cfg = ScriptRunConfig(str(source), script="train.py", arguments=[str(a) for a in arguments], **kwargs)
    cfg.run_config.environment_variables = {"GREETING": "hello"}
    return cfg


def remote_dir(server, run: ScriptRun) -> Path:
    return server.root / "runconfig-runs" / run.id


def kernel_ids(server) -> set[str]:
    return {k["id"] for k in server.kernels()}


def release(server, run: ScriptRun) -> None:
    """Let a script waiting with --wait-for go on (the remote folder is on this machine)."""
    (remote_dir(server, run) / "work" / "go").write_text("")


def wait_log(run: ScriptRun, text: str) -> str:
    return wait_for(lambda: text in run.get_log() and run.get_log(), timeout=60, message=f"{text!r} in the log")


# -- submit -> Completed ------------------------------------------------------------------
def test_completes_with_live_log_metrics_outputs_and_cleans_up(remote, source, run_home, monkeypatch):
    # shim: always, as on a remote machine without runconfig_jupyter (this one may have it installed)
    kernel_target = register(remote, monkeypatch, "remote-box", shim="always")
    before = kernel_ids(remote)
    run = submit(config(source, "--wait-for", "go"), "remote", target=kernel_target)
    # live: the first line is in the run folder while the script is still running
    wait_log(run, "first line from")
    assert run.get_status() == "Running"
    assert run.get_metrics()["loss"] == 0.5
    details = run.get_details()["targetDetails"]["kernel"]
    assert details["kernel_id"] in kernel_ids(remote) and details["url"] == remote.url
    release(remote, run)
    result = run.wait_for_completion(timeout=90)
    assert result["status"] == "Completed" and result["exitCode"] == 0
    log = run.get_log()
    for line in ("first line from", "released", "to stderr", "last line"):
        assert line in log
    # the stdlib shim shipped with the run served Run.get_context()
    assert "control/shim/runconfig_jupyter/__init__.py" in log
    assert "\x1e@runconfig:metric" not in log
    assert run.get_metrics()["loss"] == [0.5, 0.25] and run.get_metrics()["table"] == {"x": [1], "y": [2]}
    assert (run.outputs_dir() / "model.txt").read_text() == "env=hello"
    assert "RUNCONFIG_RUN_ID" in (run.outputs_dir() / "environ.txt").read_text()  # checked for the token below
    assert (run.run_dir / "logs" / "user" / "extra.txt").read_text() == "user log"
    upload = "through the contents API" if remote.kind == "server" else "through the kernel"
    assert upload in run.read_log(name="prepare_log.txt")[0]
    # nothing left on the remote side; the token is nowhere in the run home (run.json, runs.db, logs, snapshot)
    assert not remote_dir(remote, run).exists()
    assert kernel_ids(remote) == before
    assert_token_absent(remote.token, run_home)
    assert TOKEN_ENV in (run.run_dir / "run.json").read_text()


# -- faults before anything is uploaded ----------------------------------------------------------
def test_wrong_token_fails_before_anything_is_started_or_uploaded(remote, kernel_target, source, monkeypatch):
    before_kernels = kernel_ids(remote)
    before_files = remote.remote_files()
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    with pytest.raises(TargetAuthError, match=f"{TOKEN_ENV}") as raised:
        submit(config(source), "remote", target=kernel_target)
    assert str(401 if remote.kind == "gateway" else 403) in str(raised.value)
    assert "not-the-token" not in str(raised.value)
    assert kernel_ids(remote) == before_kernels
    assert remote.remote_files() == before_files
    assert RunStore().list() == []


def test_token_changed_after_submit_fails_in_preparing_without_a_kernel(jupyter_server, source, monkeypatch):
    """The driver checks the token again before starting a kernel (it may have changed since validate)."""
    from runconfig_jupyter.targets.kernel.target import KernelTarget

    name = register(jupyter_server, monkeypatch, "remote-box")
    before = kernel_ids(jupyter_server)
    original = KernelTarget.validate
    monkeypatch.setattr(KernelTarget, "validate", lambda self, cfg: None)
    monkeypatch.setenv(TOKEN_ENV, "stale-token")
    run = submit(config(source), "remote", target=name)
    monkeypatch.setattr(KernelTarget, "validate", original)
    result = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert result["status"] == "Failed" and result["error"]["phase"] == "Preparing"
    assert "refused our token" in result["error"]["message"]
    assert kernel_ids(jupyter_server) == before


def test_unreachable_url_is_target_unavailable_naming_the_url(source, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(TOKEN_ENV, "anything")
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    register_target("nowhere", type="kernel", url=url, token_env=TOKEN_ENV)
    with pytest.raises(TargetUnavailable, match=re.escape(url)) as raised:
        submit(config(source), "remote", target="nowhere")
    assert "Connection refused" in str(raised.value) and "running" in str(raised.value)
    assert RunStore().list() == []


def test_missing_token_variable_and_token_in_spec_are_config_errors(source, monkeypatch):
    from runconfig_jupyter.core.errors import ConfigError

    monkeypatch.delenv("RCJ_UNSET_TOKEN", raising=False)
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    register_target("box", type="kernel", url="http://127.0.0.1:9", token_env="RCJ_UNSET_TOKEN")
    with pytest.raises(ConfigError, match=r"RCJ_UNSET_TOKEN.*is not set"):
        submit(config(source), "remote", target="box")
    with pytest.raises(ConfigError, match="token_env"):
        register_target("leaky", type="kernel", url="http://127.0.0.1:9", token="secret")
    register_target("badurl", type="kernel", url="127.0.0.1:8888")
    with pytest.raises(ConfigError, match="url"):
        submit(config(source), "remote", target="badurl")


# -- cancel and max duration -----------------------------------------------------------------------
def _child_pid(run: ScriptRun) -> int:
    log = wait_log(run, "child pid")
    return int(re.search(r"child pid (\d+)", log).group(1))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_remote_script_runs_in_its_own_process_group_and_cancel_keeps_the_reason(remote, kernel_target, source):
    """The rest of a cancel (nothing left on the remote side) is in tests/contract, on both kinds of server."""
    run = submit(config(source, "--spawn", "--wait-for", "never"), "remote", target=kernel_target)
    child = _child_pid(run)
    wrapper = run.get_details()["targetDetails"]["kernel"]["pid"]
    kernel_id = run.get_details()["targetDetails"]["kernel"]["kernel_id"]
    assert psutil.pid_exists(child) and os.getpgid(child) == wrapper  # the script's child is in the run's group
    assert os.getpgid(wrapper) != os.getpgid(os.getpid())
    run.cancel("enough")
    result = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert result["status"] == "Canceled" and result["error"]["message"] == "enough"
    wait_for(lambda: _gone(child), timeout=10, message="the remote child to be killed")
    assert _gone(wrapper)
    assert kernel_id not in kernel_ids(remote)
    assert not remote_dir(remote, run).exists()


# -- big upload through the gateway ----------------------------------------------------------------
def test_big_snapshot_and_outputs_go_through_the_gateway_kernel_in_chunks(kernel_gateway, source, monkeypatch):
    payload = os.urandom(9 * 1024 * 1024)
    (source / "big.bin").write_bytes(payload)
    name = register(kernel_gateway, monkeypatch, "remote-box")
    run = submit(config(source, "--sha", hashlib.sha256(payload).hexdigest()), "remote", target=name)
    result = run.wait_for_completion(timeout=120, raise_on_error=False)
    assert result["status"] == "Completed", run.get_log()
    assert "sha ok" in run.get_log()
    prepare = run.read_log(name="prepare_log.txt")[0]
    assert re.search(r"uploaded 9\.\d\d MB through the kernel", prepare)
    # and 9 MiB of outputs come back through the kernel too, in chunks
    assert (run.outputs_dir() / "big.bin").read_bytes() == payload


def test_absolute_working_root_on_a_server_uploads_through_the_kernel(jupyter_server, source, monkeypatch, tmp_path):
    """The contents API only reaches the server root: an absolute working_root goes through the kernel."""
    root = tmp_path / "scratch"
    name = register(jupyter_server, monkeypatch, "remote-box", working_root=str(root), keep_remote_dir=True)
    run = submit(config(source), "remote", target=name)
    result = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert result["status"] == "Completed", result.get("error")
    assert "through the kernel" in run.read_log(name="prepare_log.txt")[0]
    kept = root / run.id
    assert (kept / "work" / "train.py").exists() and (kept / "control" / "exit_code").read_text() == "0"
    assert not (kept / "control" / "spec.json").exists()  # the run's environment does not stay on disk
    assert not (jupyter_server.root / "scratch").exists()


# -- robustness: kernel death, server restart, driver restart ------------------------------------------
def test_kernel_death_mid_run_is_survived(jupyter_server, source, monkeypatch):
    """The kernel is killed (the server restarts it under the same id): the run goes on and completes."""
    name = register(jupyter_server, monkeypatch, "remote-box")
    run = submit(config(source, "--wait-for", "go"), "remote", target=name)
    wait_log(run, "first line")
    kernel_pid = run.get_details()["targetDetails"]["kernel"]["kernel_pid"]
    os.kill(kernel_pid, signal.SIGKILL)
    release(jupyter_server, run)
    result = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert result["status"] == "Completed", result.get("error")
    assert "last line" in run.get_log()


def test_kernel_and_script_dying_is_failed_with_the_reason(jupyter_server, source, monkeypatch):
    name = register(jupyter_server, monkeypatch, "remote-box")
    run = submit(config(source, "--wait-for", "never"), "remote", target=name)
    wait_log(run, "first line")
    kernel = run.get_details()["targetDetails"]["kernel"]
    os.kill(kernel["kernel_pid"], signal.SIGKILL)  # the kernel first, so no poll can see the script go before
    os.killpg(kernel["pid"], signal.SIGKILL)  # the wrapper and script: no exit code gets written
    result = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert result["status"] == "Failed" and result["error"]["phase"] == "Running"
    assert "without an exit code" in result["error"]["message"] and "kernel" in result["error"]["message"]


def test_websocket_drop_mid_run_reconnects_to_the_same_kernel(jupyter_server, source, monkeypatch):
    """Every connection through a proxy is cut while the script runs: the driver reconnects and follows on."""
    proxy = CuttableProxy(jupyter_server.port)
    try:
        name = register(jupyter_server, monkeypatch, "remote-box")
        register_target(name, type="kernel", url=proxy.url, token_env=TOKEN_ENV)  # the same server, via the proxy
        run = submit(config(source, "--wait-for", "go"), "remote", target=name)
        wait_log(run, "first line")
        kernel_id = run.get_details()["targetDetails"]["kernel"]["kernel_id"]
        assert proxy.cut() >= 1
        release(jupyter_server, run)
        result = run.wait_for_completion(timeout=90, raise_on_error=False)
        assert result["status"] == "Completed", result.get("error")
        log = run.get_log()
        assert log.count("first line") == 1 and "released" in log and "last line" in log
        assert "new kernel" not in run.read_log(name="prepare_log.txt")[0]
        assert "lost the kernel connection" in run.read_log(name="driver_log.txt")[0]
        assert kernel_id not in kernel_ids(jupyter_server)
    finally:
        proxy.close()


def test_server_restart_mid_run_reconnects_and_keeps_following(tmp_path, source, monkeypatch, run_home):
    server = launch("server", tmp_path / "restarting")
    try:
        name = register(server, monkeypatch, "remote-box")
        run = submit(config(source, "--wait-for", "go"), "remote", target=name)
        wait_log(run, "first line")
        stop(server)  # shuts its kernels down; the websocket drops; the script keeps running
        server = launch("server", tmp_path / "restarting", token=server.token, port=server.port)
        release(server, run)
        result = run.wait_for_completion(timeout=90, raise_on_error=False)
        assert result["status"] == "Completed", result.get("error")
        log = run.get_log()
        assert log.count("first line") == 1 and "released" in log and "last line" in log
        assert "new kernel" in run.read_log(name="prepare_log.txt")[0]
        assert server.kernels() == [] and not remote_dir(server, run).exists()
        assert_token_absent(server.token, run_home)
    finally:
        stop(server)


def test_restarted_driver_reattaches_by_kernel_id(jupyter_server, source, monkeypatch):
    name = register(jupyter_server, monkeypatch, "remote-box")
    run = submit(config(source, "--wait-for", "go"), "remote", target=name)
    wait_log(run, "first line")
    record = run.store.get(run.id)
    kernel_id = record.details["kernel"]["kernel_id"]
    os.kill(record.driver_pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(record.driver_pid) or _gone(record.driver_pid), message="driver gone")
    start_driver(run.store, run.id, reattach=True)
    release(jupyter_server, run)
    result = run.wait_for_completion(timeout=90, raise_on_error=False)
    assert result["status"] == "Completed", result.get("error")
    log = run.get_log()
    assert log.count("first line") == 1 and "last line" in log
    assert "new kernel" not in run.read_log(name="prepare_log.txt")[0]  # it followed the same kernel
    assert kernel_id not in kernel_ids(jupyter_server)


# -- last: nothing left behind by this module ---------------------------------------------------------------
def test_no_kernels_or_remote_folders_left_behind(jupyter_server, kernel_gateway):
    for server in (jupyter_server, kernel_gateway):
        assert server.kernels() == []
        runs_root = server.root / "runconfig-runs"
        # Only the cache of uploaded files stays (kernel/delta.py): the next submit sends what it lacks.
        assert not runs_root.exists() or [p.name for p in runs_root.iterdir() if p.name != CACHE_FOLDER] == []


def test_targets_yaml_entry_is_listed_with_its_availability(jupyter_server, kernel_gateway, monkeypatch, run_home):
    """targets.yaml holds only the variable's name; %targets / list_targets say which servers answer."""
    import yaml

    from runconfig_jupyter.core.target.configured import list_targets, register_target

    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    monkeypatch.setenv(TOKEN_ENV, jupyter_server.token)
    monkeypatch.setenv("RCJ_GATEWAY_TOKEN", "wrong")
    (run_home / "targets.yaml").write_text(
        yaml.safe_dump(
            {
                "box": {"type": "kernel", "url": jupyter_server.url, "token_env": TOKEN_ENV},
                "gw": {"type": "kernel", "url": kernel_gateway.url, "token_env": "RCJ_GATEWAY_TOKEN"},
            }
        )
    )
    register_target("saved", type="kernel", url=jupyter_server.url, token_env=TOKEN_ENV, persist=True)
    infos = {info.name: info for info in list_targets()}
    assert infos["box"].available and infos["box"].type == "kernel"
    assert not infos["gw"].available and "401" in infos["gw"].detail
    assert infos["saved"].available
    saved = yaml.safe_load((run_home / "targets.yaml").read_text())
    assert saved["saved"] == {"type": "kernel", "url": jupyter_server.url, "token_env": TOKEN_ENV}
    assert_token_absent(jupyter_server.token, run_home)
