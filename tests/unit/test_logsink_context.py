"""Log re-assembly, metric extraction and the in-script API."""

from __future__ import annotations

import json
import subprocess
import sys

from runconfig_jupyter.core.runs.logsink import METRIC_MARKER, LogSink


def test_split_chunks_are_reassembled_and_metrics_extracted(tmp_path):
    sink = LogSink(tmp_path / "log.txt", tmp_path / "metrics.jsonl")
    metric = METRIC_MARKER + json.dumps({"name": "loss", "value": 0.5, "kind": "scalar", "step": 0}).encode()
    stream = b"hello wor" + b"ld\npartial " + metric[:7]
    sink.feed(stream)
    assert (tmp_path / "log.txt").read_bytes() == b"hello world\n"
    sink.feed(metric[7:] + b"\nline after\nno newline")
    sink.flush()
    assert (tmp_path / "log.txt").read_bytes() == b"hello world\npartial \nline after\nno newline\n"
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["name"] == "loss" and records[0]["value"] == 0.5 and "time" in records[0]


def test_garbled_metric_is_dropped_not_fatal(tmp_path):
    sink = LogSink(tmp_path / "log.txt", tmp_path / "metrics.jsonl")
    sink.feed(METRIC_MARKER + b"{not json\nok\n")
    assert (tmp_path / "log.txt").read_text() == "ok\n"
    assert not (tmp_path / "metrics.jsonl").exists()


SCRIPT = """
from runconfig_jupyter import Run
run = Run.get_context()
run.log("loss", 0.25)
run.log("loss", 0.125)
run.log_list("acc", [1, 2])
run.log_row("row", a=1, b=2.5)
print(repr(run))
"""


def _run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCONFIG_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=full_env, check=True)


def test_offline_context_prints_like_azure():
    result = _run_script({})
    assert "Attempted to log scalar metric loss:\n0.25" in result.stdout
    assert "offline" in result.stdout


def test_metrics_file_mode_writes_json_lines(tmp_path):
    metrics = tmp_path / "m.jsonl"
    _run_script({"RUNCONFIG_RUN_ID": "r1", "RUNCONFIG_METRICS_FILE": str(metrics)})
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(r["name"], r["value"], r["step"]) for r in records[:2]] == [("loss", 0.25, 0), ("loss", 0.125, 1)]
    assert records[3]["value"] == {"a": 1, "b": 2.5} and records[3]["kind"] == "row"


def test_marker_mode_goes_through_the_sink(tmp_path):
    result = _run_script({"RUNCONFIG_RUN_ID": "r1"})
    sink = LogSink(tmp_path / "log.txt", tmp_path / "metrics.jsonl")
    sink.feed(result.stderr.encode())
    sink.flush()
    names = [json.loads(line)["name"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert names == ["loss", "loss", "acc", "row"]
    assert not (tmp_path / "log.txt").exists() or (tmp_path / "log.txt").read_text() == ""
