"""The REST API against a real in-process Jupyter server and real local runs (real driver processes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from runconfig_jupyter import ScriptRunConfig, __version__
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.server.handlers import RUN_ID as RUN_ID_PATTERN
from runconfig_jupyter.server.service import API_VERSION

pytestmark = pytest.mark.timeout(60)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, message: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def submit_local(workspace, experiment: str, steps: int = 3):
    return submit(ScriptRunConfig(str(workspace), script="train.py", arguments=[str(steps)]), experiment)


async def finished(api, run_id: str) -> dict[str, Any]:
    async def check():
        _code, run = await api("runs", run_id)
        return run if run["status"] in ("Completed", "Failed", "Canceled") else None

    return await until(check, message=f"run {run_id} to end")


async def test_version_handshake(api):
    code, body = await api("version")
    assert code == 200
    assert body == {"name": "runconfig-jupyter", "version": __version__, "api_version": API_VERSION}


async def test_the_api_is_served_under_one_prefix_only(api, jp_fetch):
    """The old ``runconfig-jupyter/api`` prefix is gone: nothing answers there, the one prefix still does."""
    assert (await api("version"))[0] == 200
    response = await jp_fetch("runconfig-jupyter", "api", "version", raise_error=False)
    assert response.code == 404


async def test_list_filter_page_detail_log_metrics(api, workspace):
    first = submit_local(workspace, "alpha")
    second = submit_local(workspace, "alpha")
    third = submit_local(workspace, "beta")
    for run in (first, second, third):
        await finished(api, run.id)

    code, page = await api("runs", params={"limit": 2})
    assert code == 200 and page["total"] == 3 and len(page["runs"]) == 2
    assert [r["run_id"] for r in page["runs"]] == [third.id, second.id]  # newest first
    code, rest = await api("runs", params={"limit": 2, "offset": 2})
    assert [r["run_id"] for r in rest["runs"]] == [first.id]
    code, alpha = await api("runs", params={"experiment": "alpha", "status": "Completed,Failed"})
    assert {r["run_id"] for r in alpha["runs"]} == {first.id, second.id} and alpha["total"] == 2
    assert alpha["experiments"] == ["alpha", "beta"]
    assert alpha["runs"][0]["capabilities"]["cancel"] is True
    code, none = await api("runs", params={"status": "Running"})
    assert none["runs"] == [] and none["total"] == 0

    code, detail = await api("runs", first.id)
    assert code == 200 and detail["status"] == "Completed" and detail["exit_code"] == 0
    assert detail["details"]["runDefinition"]["script"] == "train.py"
    assert "outputs/model.txt" in detail["files"] and "logs/std_log.txt" in detail["log_files"]

    code, log = await api("runs", first.id, "log")
    assert log["text"] == "step 0\nstep 1\nstep 2\n" and log["complete"] is True
    code, tail = await api("runs", first.id, "log", params={"offset": 7, "max_bytes": 7})
    assert tail["text"] == "step 1\n" and tail["next_offset"] == 14 and tail["complete"] is False

    code, metrics = await api("runs", first.id, "metrics")
    assert metrics["metrics"]["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert len(metrics["records"]) == 3


async def test_cancel_then_conflict(api, workspace):
    run = submit_local(workspace, "cancel", steps=200)

    async def running():
        _code, log = await api("runs", run.id, "log")
        return "step 1" in log["text"]

    await until(running, message="the script to print")
    code, body = await api("runs", run.id, "cancel", method="POST")
    assert code == 202 and body["status"] in ("CancelRequested", "Canceled")
    ended = await finished(api, run.id)
    assert ended["status"] == "Canceled"
    code, again = await api("runs", run.id, "cancel", method="POST")
    assert code == 409 and again["error"] == "RunStateError" and "already ended Canceled" in again["message"]


async def test_typed_errors(api, workspace):
    code, body = await api("runs", "nope_1_00000000")
    assert code == 404 and body["error"] == "RunNotFound"
    code, body = await api("runs", "nope_1_00000000", "cancel", method="POST")
    assert code == 404
    code, body = await api("runs", params={"limit": "many"})
    assert code == 400 and body["field"] == "limit"
    code, body = await api("runs", params={"status": "Done"})
    assert code == 400 and body["field"] == "status" and "Completed" in body["message"]
    code, body = await api("runs", method="POST", body="{not json")
    assert code == 400 and body["field"] == "body"
    code, body = await api("runs", method="POST", body={"path": "../../etc"})
    assert code == 400 and body["field"] == "path" and "outside" in body["message"]
    code, body = await api("runs", method="POST", body={"path": "proj/plain.ipynb"})
    assert code == 400 and body["field"] == "runconfig" and "%%runconfig" in body["message"]
    code, body = await api("runs", method="POST", body={"path": "proj", "runconfig": "scriptt: train.py"})
    assert code == 400 and body["error"] == "UnknownKeyError" and "script" in body["message"]
    code, body = await api(
        "runs", method="POST", body={"path": "proj", "runconfig": "script: train.py", "target": "nah"}
    )
    assert code in (400, 404) and body["field"] == "compute_target"
    code, body = await api("runs", method="POST", body={"path": "proj", "colour": "red"})
    assert code == 400 and body["field"] == "colour"
    # nothing above was submitted
    code, listing = await api("runs")
    assert listing["total"] == 0
    run = submit_local(workspace, "logs")
    code, body = await api("runs", run.id, "log", params={"name": "../run.json"})
    assert code == 404 and body["error"] == "RunNotFound"


async def test_submit_notebook_folder_rerun_and_outputs(api, workspace, jp_root_dir):
    code, run = await api("runs", method="POST", body={"path": "proj/demo.ipynb", "experiment": "nb"})
    assert code == 201 and run["experiment"] == "nb" and run["script"] == "train.py"
    done = await finished(api, run["run_id"])
    assert done["status"] == "Completed"
    code, log = await api("runs", run["run_id"], "log")
    assert log["text"] == "step 0\nstep 1\n"  # arguments from the %%runconfig cell

    code, again = await api("runs", run["run_id"], "rerun", method="POST")
    assert code == 201 and again["parent_run_id"] == run["run_id"] and again["run_id"] != run["run_id"]
    assert (await finished(api, again["run_id"]))["status"] == "Completed"

    # outputs are listed and read in place: nothing is copied under the root (the source folder stays as it was)
    before = sorted(p.relative_to(jp_root_dir) for p in jp_root_dir.rglob("*"))
    code, listing = await api("runs", run["run_id"], "files")
    assert code == 200 and listing["truncated"] is False
    assert {"outputs/model.txt", "logs/std_log.txt"} <= {f["path"] for f in listing["files"]}
    code, text = await api("runs", run["run_id"], "files", "outputs", "model.txt")
    assert code == 200 and text == "weights"
    code, legacy = await api("runs", run["run_id"], "outputs", method="POST")
    assert code == 200 and legacy["files"] == listing["files"]
    assert sorted(p.relative_to(jp_root_dir) for p in jp_root_dir.rglob("*")) == before

    code, from_file = await api("runs", method="POST", body={"path": "proj", "runconfig_file": "proj/long.runconfig"})
    assert code == 201 and from_file["status"] in ("Queued", "Preparing", "Starting", "Running")

    # cancel at once, before the driver may even listen for the signal: still Canceled, not Failed
    await api("runs", from_file["run_id"], "cancel", method="POST")
    ended = await finished(api, from_file["run_id"])
    assert ended["status"] == "Canceled", ended


async def test_targets_with_capabilities(api):
    code, body = await api("targets")
    assert code == 200
    local = next(t for t in body["targets"] if t["name"] == "local")
    assert local["type"] == "local" and local["available"] is True and local["capabilities"]["cancel"] is True


async def test_openapi_document_is_served_and_parses(jp_fetch):
    import yaml

    response = await jp_fetch("runconfig", "api", "openapi.yaml")
    assert response.headers["Content-Type"].startswith("application/yaml")
    spec = yaml.safe_load(response.body)
    assert spec["openapi"].startswith("3.") and "/runs/{run_id}/cancel" in spec["paths"]
    # every REST route the server registers is documented
    from runconfig_jupyter.server.handlers import handlers

    documented = {path.replace("{run_id}", "RUN") for path in spec["paths"]}
    served = set()
    for route, _handler, _kwargs in handlers("/"):
        if route.startswith("/runconfig/api/") and not route.endswith("openapi.yaml"):
            served.add(
                "/"
                + route.removeprefix("/runconfig/api/").replace(RUN_ID_PATTERN, "RUN").replace("(?P<path>.+)", "{path}")
            )
    assert served <= documented, served - documented


async def test_auth_required(jp_fetch, jp_serverapp):
    for parts, method in ((("runs",), "GET"), (("version",), "GET"), (("runs", "x_1_00000000", "cancel"), "POST")):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(
                "runconfig",
                "api",
                *parts,
                method=method,
                body="" if method == "POST" else None,
                headers={"Authorization": ""},
            )
        assert info.value.code == 403, parts
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("runconfig", "api", "runs", headers={"Authorization": "token wrong"})
    assert info.value.code == 403


async def test_charts_from_the_one_builder_compare_and_log_scale(api, workspace):
    from runconfig_jupyter.core.runs.charts import VEGALITE_MIME, run_charts

    first, second = submit_local(workspace, "charts"), submit_local(workspace, "charts", steps=4)
    for run in (first, second):
        await finished(api, run.id)
    code, body = await api("runs", first.id, "charts")
    assert code == 200 and body["mime"] == VEGALITE_MIME and body["runs"] == [first.id]
    assert body["charts"] == run_charts({first.id: first.get_metric_records()})
    (loss,) = body["charts"]
    assert loss["encoding"]["x"]["title"] == "step" and loss["encoding"]["y"]["title"] == "loss"
    assert [row["value"] for row in loss["data"]["values"]] == pytest.approx([1.0, 0.5, 1 / 3])

    code, body = await api("runs", first.id, "charts", params={"compare": second.id, "log": "loss"})
    (loss,) = body["charts"]
    assert body["runs"] == [first.id, second.id] and loss["usermeta"]["runs"] == [first.id, second.id]
    assert loss["encoding"]["y"]["scale"] == {"type": "log"} and loss["encoding"]["color"]["field"] == "run"

    code, body = await api("runs", first.id, "charts", params={"compare": "nosuch_1_00000000"})
    assert code == 404 and body["error"] == "RunNotFound"
    code, body = await api("runs", first.id, "charts", params={"compare": ",".join(["x"] * 101)})
    assert code == 400 and body["field"] == "compare"


async def test_logged_images_are_listed_and_served(api, jp_fetch, workspace):
    """A run that logs an image record (the shape log_image writes) next to its metrics."""
    (workspace / "img.py").write_text(
        "import json, os, time\n"
        "os.makedirs('outputs', exist_ok=True)\n"
        "open('outputs/plot.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n')\n"
        "print('ok')\n"
    )
    run = submit(ScriptRunConfig(str(workspace), script="img.py"), "images")
    await finished(api, run.id)
    with open(run.run_dir / "metrics.jsonl", "a") as out:
        for path in ("outputs/plot.png", "../run.json", "/etc/passwd"):
            record = {"name": "plot", "kind": "image", "value": {"path": path}, "step": 0, "time": 0}
            out.write(json.dumps(record) + "\n")
    code, body = await api("runs", run.id, "metrics")
    assert code == 200
    assert body["images"] == [{"name": "plot", "path": "outputs/plot.png", "step": 0}]  # unsafe paths dropped
    response = await jp_fetch("runconfig", "api", "runs", run.id, "files", "outputs", "plot.png")
    assert response.body.startswith(b"\x89PNG") and response.headers["Content-Type"] == "image/png"


async def test_a_script_given_as_runconfig_file_is_explained_and_arguments_tell_runs_apart(api, workspace):
    code, body = await api("runs", method="POST", body={"path": "proj", "runconfig_file": "proj/train.py"})
    assert code == 400 and body["field"] == "runconfig_file"
    assert "'train.py' is a Python script, not a runconfig file" in body["message"]
    assert "\n    script: train.py\n" in body["message"] and "%%runconfig" in body["message"]
    code, listing = await api("runs")
    assert listing["total"] == 0  # refused before anything was recorded
    run = submit_local(workspace, "args", steps=2)
    code, listing = await api("runs")
    assert listing["runs"][0]["arguments"] == ["2"]
    await finished(api, run.id)
