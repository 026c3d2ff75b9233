"""Re-run from the server of a run whose target exists only where it was submitted (issue 11, point 6).

A kernel target registered with ``register_target`` in a notebook lives in that kernel alone; the Jupyter
server behind the sidebar has never heard its name. The registration is removed here before the REST call,
so this (in-process) server cannot resolve the name either: the re-run works only from the target spec
recorded in run.json. The target is a real ``jupyter server`` on 127.0.0.1 running the script in a real kernel.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.errors import UnknownTarget
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target.configured import register_target, resolve_target, unregister_target
from tests.integration.kernel.servers import LaunchedServer, launch, stop
from tests.server.test_api import until

TOKEN_ENV = "RCJ_TEST_RERUN_KERNEL_TOKEN"
TARGET = "notebook-box"
KERNEL_RUN_SECONDS = 120.0


@pytest.fixture
def remote(tmp_path) -> LaunchedServer:
    server = launch("server", tmp_path / "remote")
    yield server
    stop(server)


async def ended(api, run_id: str) -> dict[str, Any]:
    async def check():
        _code, run = await api("runs", run_id)
        return run if run["status"] in ("Completed", "Failed", "Canceled") else None

    return await until(check, timeout=KERNEL_RUN_SECONDS, message=f"run {run_id} to end")


async def test_rerun_through_the_server_uses_the_recorded_target_not_its_name(api, workspace, remote, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, remote.token)  # the token only ever in an environment variable
    (workspace / "hello.py").write_text("print('hello from the remote kernel', flush=True)\n")
    register_target(TARGET, type="kernel", url=remote.url, token_env=TOKEN_ENV, grace_seconds=2)
    try:
        run = submit(ScriptRunConfig(str(workspace), script="hello.py"), "kernel-rerun", target=TARGET)
    finally:
        unregister_target(TARGET)
    with pytest.raises(UnknownTarget):  # the name means nothing here now, as in a notebook's server
        resolve_target(TARGET)
    first = await ended(api, run.id)
    assert first["status"] == "Completed", first["reason"]
    assert first["capabilities"]["reattach"] is True and first["can_cancel"] is False  # recorded, and ended

    code, again = await api("runs", run.id, "rerun", method="POST")
    assert code == 201, again
    assert (again["target"], again["target_type"], again["rerun_of"]) == (TARGET, "kernel", run.id)
    second = await ended(api, again["run_id"])
    assert second["status"] == "Completed", second["reason"]
    _code, log = await api("runs", again["run_id"], "log")
    assert "hello from the remote kernel" in log["text"]
    specs = [json.loads((RunStore().run_dir(i) / "run.json").read_text()) for i in (run.id, again["run_id"])]
    assert specs[0]["target"] == specs[1]["target"] and specs[1]["target"]["url"] == remote.url
    assert specs[0]["capabilities"] == specs[1]["capabilities"] == first["capabilities"]
    assert all(remote.token not in json.dumps(spec) for spec in specs)  # the recorded spec holds no secret
