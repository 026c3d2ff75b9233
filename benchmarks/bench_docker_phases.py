"""Where a fresh script's docker run spends its time, phase by phase, beside ``docker run --rm``.

``bench_script.py --target docker`` gives one number (a whole ``python submit.py`` against ``docker run
--rm IMAGE python -c ...``); this splits both into the same phases, from timestamps nobody has to add to the
code: the engine's own events (``docker events``: create, start, die, destroy, in nanoseconds), the run
record's ``created_at`` (written by the submit just before it hands the run over) and ``ended_at`` (the
terminal status), and when the process started and ended here. Pairs run in turn (ours, bare, ...) and each
phase is the median over the pairs:

    ours:  launch -> recorded -> create -> start -> die -> destroy -> ended -> exit
    bare:  launch ------------> create -> start -> die -> destroy ----------> exit

``launch -> recorded`` is the submitting process (interpreter, imports, validate, snapshot, record);
``recorded -> create`` the driver (claim, prepare, create request); ``start -> die`` the container's command;
``die -> destroy`` the engine's clean-up plus, for ours, collecting outputs and the removal; ``ended -> exit``
the waiter noticing the end and the interpreter's exit.

    python benchmarks/bench_docker_phases.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_script import IMAGE, SCRIPT, SUBMIT, script_project  # benchmarks/bench_script.py: the same script and submit
from timing import Pair, figure, load, wait_for_standby  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BARE_LABEL = "runconfig-bench.bare"
RUN_LABEL = "runconfig-jupyter.run_id"
OURS = ("launch", "recorded", "create", "start", "die", "destroy", "ended", "exit")
BARE = ("launch", "create", "start", "die", "destroy", "exit")


class EngineEvents:
    """``docker events`` for containers, read on a thread: (seconds, action, attributes) as they happen."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, str]]] = []
        self._process = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}", "--filter", "type=container"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.3)  # the stream is subscribed before anything it should see

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event = json.loads(line)
            attributes = event.get("Actor", {}).get("Attributes", {})
            self.events.append((int(event["timeNano"]) / 1e9, str(event.get("Action", "")), attributes))

    def moments(self, label: str, value: str) -> dict[str, float]:
        """The first time of each action of the container labelled ``label=value``."""
        found: dict[str, float] = {}
        for at, action, attributes in list(self.events):
            if attributes.get(label) == value:
                found.setdefault(action.split(":")[0], at)
        return found

    def close(self) -> None:
        time.sleep(0.3)  # the last destroy reaches the stream
        self._process.terminate()
        self._process.wait()


def phases(moments: dict[str, float], names: tuple[str, ...]) -> dict[str, float] | None:
    """Durations between consecutive moments, by "a -> b"; None when one is missing (e.g. a failed run)."""
    if any(name not in moments for name in names):
        return None
    return {f"{a} -> {b}": moments[b] - moments[a] for a, b in itertools.pairwise(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as folder:
        source = script_project(home, folder)
        from runconfig_jupyter.core.runs.store import RunStore

        submit = Path(folder, "submit.py")
        submit.write_text(SUBMIT)
        store = RunStore(Path(home))
        ours_argv = [sys.executable, str(submit), str(source), "docker"]
        subprocess.run(ours_argv, check=True, stdout=subprocess.DEVNULL)  # warm-up: leaves a standby
        engine = EngineEvents()
        ours_rows: list[dict[str, float]] = []
        bare_rows: list[dict[str, float]] = []
        pair = Pair([], [], [])
        for _ in range(args.repeat):
            pair.loads.append(load())
            wait_for_standby(Path(home))
            known = {record.run_id for record in store.list("bench-script", limit=1000)}
            launch = time.time()
            subprocess.run(ours_argv, check=True, stdout=subprocess.DEVNULL)
            ours = {"launch": launch, "exit": time.time()}
            nonce = secrets.token_hex(4)
            launch = time.time()
            bare_argv = ["docker", "run", "--rm", "--label", f"{BARE_LABEL}={nonce}", IMAGE, "python", "-c", SCRIPT]
            subprocess.run(bare_argv, check=True, stdout=subprocess.DEVNULL)
            bare = {"launch": launch, "exit": time.time()}
            time.sleep(0.2)  # the events of both reach the stream
            record = next(r for r in store.list("bench-script", limit=1000) if r.run_id not in known)
            ours.update(
                recorded=record.created_at, ended=record.ended_at or 0.0, **engine.moments(RUN_LABEL, record.run_id)
            )
            bare.update(engine.moments(BARE_LABEL, nonce))
            ours_phases, bare_phases = phases(ours, OURS), phases(bare, BARE)
            if ours_phases is None or bare_phases is None:
                print(f"skipped a pair: an event is missing (ours {sorted(ours)}, bare {sorted(bare)})")
                continue
            ours_rows.append(ours_phases)
            bare_rows.append(bare_phases)
            pair.ours.append(ours["exit"] - ours["launch"])
            pair.bare.append(bare["exit"] - bare["launch"])
        pair.loads.append(load())
        engine.close()
        records = store.list("bench-script", limit=args.repeat)
        served = sum(bool(r.details.get("standby_driver")) for r in records)
    if not ours_rows:
        raise SystemExit("no complete pair: see the lines above")
    print(f"{'phase (median ms)':<22} {'ours':>8} {'bare':>8}")
    names = dict.fromkeys(f"{a} -> {b}" for names in (OURS, BARE) for a, b in itertools.pairwise(names))
    for name in names:
        values = [
            statistics.median(row[name] for row in rows) * 1000 if name in rows[0] else None
            for rows in (ours_rows, bare_rows)
        ]
        print(f"{name:<22} " + " ".join("".rjust(8) if value is None else f"{value:8.1f}" for value in values))
    note = f"{served}/{len(records)} by a standby"
    figure("fresh script submit+wait, docker vs `docker run --rm` (phases)", pair, "<= 1.5x", note=note)


if __name__ == "__main__":
    main()
