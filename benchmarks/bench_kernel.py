"""Kernel target: submit -> first log line, and snapshot upload, against bare baselines in the same run.

Starts a real ``jupyter server`` and a real ``jupyter kernelgateway`` on 127.0.0.1 and measures:

1. submit -> first line: ``submit()`` to a kernel target until the script's first line is in the run
   folder, vs a bare client doing the least a remote run needs: POST /api/kernels, open the websocket,
   execute ``print(...)`` and read the stream message (then DELETE the kernel). Goal: <= 1.3x.
   "warm" is what a user sees from the second submit of a session on (a standby driver, core/standby.py,
   waits pre-imported; the count it served is printed); "cold" starts a fresh driver process per submit.
   Importing the test servers' helpers turns standbys off (tests/conftest.py), so both are set here.
2. upload of N MB: our snapshot upload (contents API on the server, chunks through the kernel on the
   gateway, both with a checksum check) vs one plain contents-API PUT of the same bytes.
3. a re-submit after a one-file edit of a 32 MB folder, submit -> Completed: the delta upload (only the
   edited file travels) vs the whole snapshot (``delta_upload: false``), with the MB each sends.

Each figure is paired with its baseline (ours, bare, ours, bare, ...; timing.py).

    PYTHONPATH=$PWD python benchmarks/bench_kernel.py [--repeat 5] [--mb 32]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
import websocket
from timing import figure, paired, wait_for_line, wait_for_standby  # benchmarks/timing.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runconfig_jupyter.core.runs.standby import standby_pids
from tests.integration.kernel.servers import LaunchedServer, launch, stop

LINE = "first line"
TOKEN_ENV = "RCJ_BENCH_TOKEN"
STANDBY_ENV = "RUNCONFIG_STANDBY_SECONDS"
served = {"standby": 0}  # submits a warm standby driver took


def bare_first_line(server: LaunchedServer) -> float:
    """Start a kernel, execute a print over the websocket, wait for the stream message."""
    headers = server.headers()
    start = time.perf_counter()
    kernel = requests.post(f"{server.url}/api/kernels", json={"name": "python3"}, headers=headers, timeout=60).json()
    ws_url = server.url.replace("http", "ws") + f"/api/kernels/{kernel['id']}/channels?session_id={uuid.uuid4().hex}"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: {headers['Authorization']}"], timeout=60)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": "b", "username": "b", "version": "5.3"}
    content = {"code": f"print({LINE!r})", "silent": False, "store_history": False, "user_expressions": {}}
    ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}))
    while True:
        message = json.loads(ws.recv())
        if message.get("msg_type") == "stream" and message["parent_header"].get("msg_id") == msg_id:
            break
    elapsed = time.perf_counter() - start
    ws.close()
    requests.delete(f"{server.url}/api/kernels/{kernel['id']}", headers=headers, timeout=60)
    return elapsed


def ours_first_line(server: LaunchedServer, source: Path) -> float:
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.runs.script_run import submit
    from runconfig_jupyter.core.target.configured import register_target

    os.environ[TOKEN_ENV] = server.token
    register_target(f"bench-{server.kind}", type="kernel", url=server.url, token_env=TOKEN_ENV)
    config = ScriptRunConfig(str(source), script="train.py")
    start = time.perf_counter()
    run = submit(config, "bench", target=f"bench-{server.kind}")
    wait_for_line(run, LINE)
    elapsed = time.perf_counter() - start
    run.wait_for_completion(timeout=120)
    served["standby"] += bool(run.record.details.get("standby_driver"))
    return elapsed


def first_line_figures(server: LaunchedServer, source: Path, home: Path, repeat: int) -> None:
    """Cold (a fresh driver per submit), then warm (the standby the previous submit left)."""
    name = f"remote kernel ({server.kind}) submit -> first line"
    os.environ[STANDBY_ENV] = "0"
    pair = paired(lambda: ours_first_line(server, source), lambda: bare_first_line(server), repeat)
    figure(f"{name}, cold (fresh driver) vs bare kernel + websocket execute", pair, "")
    os.environ[STANDBY_ENV] = "120"  # the default

    def warm() -> float:
        wait_for_standby(home)  # a user's next submit comes seconds later
        return ours_first_line(server, source)

    def bare() -> float:
        wait_for_standby(home)  # both sides start on a machine where the standby is ready
        return bare_first_line(server)

    ours_first_line(server, source)  # the first submit of a session starts the first standby
    served["standby"] = 0
    pair = paired(warm, bare, repeat, warmup=0)
    end_standbys(home)  # the next server's token makes another fingerprint: its own standby must be awaited
    note = f"{served['standby']}/{repeat} by a standby"
    figure(f"{name}, warm (standby) vs bare kernel + websocket execute", pair, "<= 1.3x", note=note)


def resubmit_figure(server: LaunchedServer, scratch: Path, total_mb: int, repeat: int) -> None:
    """A re-submit after a one-file edit of a ``total_mb`` folder (64 files): submit -> Completed with the delta
    upload (only the edited file travels, targets/kernel/delta.py) vs the same with ``delta_upload: false``
    (the whole snapshot, as before), paired; and the bytes each sends, from the preparation log."""
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.runs.script_run import submit
    from runconfig_jupyter.core.target.configured import register_target

    source = scratch / f"resubmit-{server.kind}"
    (source / "data").mkdir(parents=True)
    (source / "train.py").write_text("print('done', flush=True)\n")
    for index in range(64):
        (source / "data" / f"part{index:02d}.bin").write_bytes(os.urandom(total_mb * 1024 * 1024 // 64))
    os.environ[TOKEN_ENV] = server.token
    sent: dict[str, list[float]] = {"delta": [], "whole": []}

    def resubmit(kind: str) -> float:
        register_target(
            f"bench-{kind}", type="kernel", url=server.url, token_env=TOKEN_ENV, delta_upload=kind == "delta"
        )
        edited = source / "data" / "part00.bin"
        edited.write_bytes(os.urandom(edited.stat().st_size))
        start = time.perf_counter()
        run = submit(ScriptRunConfig(str(source), script="train.py"), "bench", target=f"bench-{kind}")
        run.wait_for_completion(timeout=300)
        elapsed = time.perf_counter() - start
        prepare = run.read_log(name="prepare_log.txt")[0]
        found = re.search(r"sent ([\d.]+) MB of a|uploaded ([\d.]+) MB", prepare)
        sent[kind].append(float(next(g for g in found.groups() if g)) if found else float("nan"))
        return elapsed

    resubmit("delta")  # the first submit puts every file on the server's machine
    pair = paired(lambda: resubmit("delta"), lambda: resubmit("whole"), repeat)
    note = f"sent {statistics.median(sent['delta'][1:]):.2f} MB vs {statistics.median(sent['whole']):.2f} MB"
    figure(
        f"remote kernel ({server.kind}) re-submit -> Completed after a 1-file edit of {total_mb} MB / 64 files, "
        "delta upload vs whole snapshot",
        pair,
        "",
        note=note,
    )


def end_standbys(home: Path) -> None:
    """The standby drivers this script started, by PID."""
    for pid in standby_pids(home):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while standby_pids(home) and time.monotonic() < deadline:
        time.sleep(0.05)


class _UploadContext:
    """The few RunContext members the upload step uses."""

    def __init__(self, snapshot: Path, run_dir: Path):
        self.snapshot_path, self.run_dir, self.run_id = snapshot, run_dir, "bench"
        self.cancel_event = threading.Event()

    def progress(self, *args: object) -> None:
        pass

    def prepare_log(self, line: str) -> None:
        pass

    def record(self, **details: object) -> None:
        pass

    def driver_log(self, message: str) -> None:
        pass


def ours_upload(server: LaunchedServer, snapshot: Path, scratch: Path) -> float:
    from runconfig_jupyter.targets.kernel.session import RemoteKernel
    from runconfig_jupyter.targets.kernel.target import KernelTarget, transfer

    os.environ[TOKEN_ENV] = server.token
    target = KernelTarget("bench", url=server.url, token_env=TOKEN_ENV)
    remote = RemoteKernel.start(target.client(), "python3")
    try:
        info = remote.call("setup", run_dir="runconfig-runs/bench", install=True)
        ctx = _UploadContext(snapshot, scratch)
        archive = f"{info['run_dir']}/control/snapshot.tar"
        start = time.perf_counter()
        # the upload steps as prepare() runs them: read + hash, send, checksum on the remote side
        data = snapshot.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if target.client().has_contents():
            transfer.upload_contents(target.client(), ctx, "runconfig-runs/bench", data, target.contents_chunk_bytes)
        else:
            transfer.upload_through_kernel(remote, ctx, archive, data, target.chunk_bytes)
        assert remote.call("file_digest", path=archive)["sha256"] == digest
        elapsed = time.perf_counter() - start
        remote.call("remove", run_dir=info["run_dir"])
    finally:
        remote.close()
        target.client().shutdown(remote.kernel_id)
    return elapsed


def bare_put(server: LaunchedServer, data: bytes) -> float:
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    start = time.perf_counter()
    response = requests.put(f"{server.url}/api/contents/bare.tar", json=body, headers=server.headers(), timeout=300)
    response.raise_for_status()
    elapsed = time.perf_counter() - start
    requests.delete(f"{server.url}/api/contents/bare.tar", headers=server.headers(), timeout=60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mb", type=int, default=32)
    parser.add_argument("--resubmit-mb", type=int, default=32, help="folder size of the re-submit figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        os.environ["RUNCONFIG_JUPYTER_HOME"] = str(scratch / "home")
        source = scratch / "source"
        source.mkdir()
        (source / "train.py").write_text(f"print({LINE!r}, flush=True)\n")
        snapshot = scratch / "snapshot.bin"
        data = os.urandom(args.mb * 1024 * 1024)
        snapshot.write_bytes(data)
        servers = [launch("server", scratch / "server"), launch("gateway", scratch / "gateway")]
        try:
            for server in servers:
                first_line_figures(server, source, scratch / "home", args.repeat)
            os.environ[STANDBY_ENV] = "0"
            for server in servers:
                via = "contents API" if server.kind == "server" else "kernel chunks"
                pair = paired(
                    lambda s=server: ours_upload(s, snapshot, scratch), lambda: bare_put(servers[0], data), args.repeat
                )
                figure(f"upload {args.mb} MB ({server.kind}, {via}) vs one contents PUT", pair, "")
            for server in servers:
                resubmit_figure(server, scratch, args.resubmit_mb, args.repeat)
        finally:
            for server in servers:
                stop(server)
            end_standbys(scratch / "home")


if __name__ == "__main__":
    main()
