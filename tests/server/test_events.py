"""The websocket: live run-list updates and log follow, against real runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit

pytestmark = pytest.mark.timeout(60)


async def receive(ws, timeout: float = 15.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "the server closed the websocket"
    return json.loads(message)


async def test_new_run_is_pushed_and_its_log_followed(jp_ws_fetch, workspace):
    ws = await jp_ws_fetch("runconfig", "api", "events")
    try:
        hello = await receive(ws)
        assert hello["type"] == "hello" and hello["api_version"] == 1
        await ws.write_message(json.dumps({"action": "subscribe_runs"}))
        await asyncio.sleep(0.6)  # one poll, so the run below is a change rather than history
        # Submitted off the event loop, and slow enough (3 x 0.4 s) that the watcher's 0.5 s poll sees it move
        # even on a loaded machine: the server under test shares this loop.
        config = ScriptRunConfig(str(workspace), script="train.py", arguments=["3", "0.4"])
        run = await asyncio.to_thread(submit, config, "live")
        await ws.write_message(json.dumps({"action": "follow", "run_id": run.id}))

        statuses, text, end = [], "", None
        for _ in range(200):  # bounded: a short run sends a few dozen messages
            message = await receive(ws)
            if message["type"] == "runs":
                statuses += [r["status"] for r in message["runs"] if r["run_id"] == run.id]
            elif message["type"] == "log" and message["name"] == "std_log.txt":
                assert message["offset"] == len(text.encode())  # contiguous chunks, no repeats
                text += message["text"]
            elif message["type"] == "log_end":
                end = message
            if end and statuses and statuses[-1] == "Completed":
                break
        assert text == "step 0\nstep 1\nstep 2\n"
        assert end == {"type": "log_end", "run_id": run.id, "status": "Completed"}
        assert statuses[-1] == "Completed" and len(statuses) >= 2  # pushed more than once, as it moved
    finally:
        ws.close()


async def test_follow_resumes_from_offsets_and_reports_errors(jp_ws_fetch, workspace):
    run = submit(ScriptRunConfig(str(workspace), script="train.py", arguments=["3"]), "resume")
    run.wait_for_completion(timeout=30)
    ws = await jp_ws_fetch("runconfig", "api", "events")
    try:
        await receive(ws)
        await ws.write_message(json.dumps({"action": "follow", "run_id": run.id, "offsets": {"std_log.txt": 7}}))
        chunk = await receive(ws)
        assert chunk["type"] == "log" and chunk["text"] == "step 1\nstep 2\n"
        assert (await receive(ws))["type"] == "log_end"
        await ws.write_message(json.dumps({"action": "follow", "run_id": "missing_1_00000000"}))
        error = await receive(ws)
        assert error["type"] == "error" and error["status"] == 404
        await ws.write_message("not json")
        assert (await receive(ws))["status"] == 400
        await ws.write_message(json.dumps({"action": "dance"}))
        bad = await receive(ws)
        assert bad["status"] == 400 and bad["field"] == "action"
    finally:
        ws.close()


async def test_websocket_needs_auth(jp_ws_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_ws_fetch("runconfig", "api", "events", headers={"Authorization": "token wrong"})
    assert info.value.code == 403
