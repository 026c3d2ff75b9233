"""How much the server extension adds on top of the run store, and how fast a change is pushed.

Starts a real ``jupyter server`` (temp dirs, 127.0.0.1) with the extension, fills a temporary run
home with N run rows, then prints:

- GET /runconfig/api/runs?limit=100 over HTTP vs the bare baseline ``RunStore.list(limit=100)`` plus
  JSON encoding in this process (same rows, same run), paired (timing.py);
- push latency: a row changed in the store until the websocket ``runs`` message arrives, vs the
  configured poll interval (the expected mean is about half of it).

Run: ``PYTHONPATH=$PWD python3 benchmarks/bench_server.py [N]``
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import figure, paired, timed  # noqa: E402  (benchmarks/timing.py)

from runconfig_jupyter.core.runs.status import RunStatus  # noqa: E402
from runconfig_jupyter.core.runs.store import RunRecord, RunStore  # noqa: E402

POLL = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(store: RunStore, count: int) -> list[str]:
    now = time.time()
    ids = []
    for i in range(count):
        run_id = f"bench_{i:05d}_{secrets.token_hex(4)}"
        store.create_run(
            RunRecord(run_id, f"exp{i % 5}", RunStatus.COMPLETED, "local", "local", now - i, now - i, script="t.py")
        )
        ids.append(run_id)
    return ids


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    home = tmp / "home"
    store = RunStore(home)
    ids = fill(store, count)
    token, port = secrets.token_hex(8), free_port()
    env = {
        **os.environ,
        "RUNCONFIG_JUPYTER_HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
        "PYTHONPATH": str(ROOT),
    }
    argv = [
        sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
        "--ServerApp.jpserver_extensions=runconfig_jupyter.server=True", f"--RunconfigServer.poll_interval={POLL}",
    ]  # fmt: skip
    server = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}/runconfig/api"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{base}/version", headers=headers), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        def over_http() -> None:
            request = urllib.request.Request(f"{base}/runs?limit=100", headers=headers)
            assert len(json.loads(urllib.request.urlopen(request, timeout=10).read())["runs"]) == 100

        def bare() -> None:
            json.dumps([r.to_dict() for r in store.list(limit=100)])

        pair = paired(lambda: timed(over_http), lambda: timed(bare), repeat=30, warmup=3)
        print(f"runs in store: {count}")
        figure("REST run list (GET /runs?limit=100) vs `RunStore.list` + JSON in process", pair, "<= 1.5x")

        import websocket  # websocket-client

        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/runconfig/api/events?token={token}", timeout=10)
        json.loads(ws.recv())  # hello
        ws.send(json.dumps({"action": "subscribe_runs"}))
        time.sleep(POLL * 3)
        latencies = []
        for i in range(10):
            run_id = ids[i]
            time.sleep(POLL * (i % 3) / 3)  # land at different points of the poll cycle
            start = time.perf_counter()
            store.update(run_id, progress={"n": i})
            while True:
                message = json.loads(ws.recv())
                if message["type"] == "runs" and any(r["run_id"] == run_id for r in message["runs"]):
                    break
            latencies.append(time.perf_counter() - start)
        ws.close()
        push = statistics.median(latencies) * 1000
        print(f"push latency (store change -> websocket): {push:.0f} ms median, poll interval {POLL * 1000:.0f} ms")
        print(f"ratio push/poll-interval: {push / (POLL * 1000):.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
