"""In-script Run API of Azure ML v1 (logging-api sample calls) on real local and docker runs.

The script (tests/v1/scripts_logging.py) is written from the documented v1 API and imports only
``runconfig_jupyter`` where v1 imported ``azureml.core``.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tarfile
import warnings

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.artifacts import MAX_STREAMED_FILE_BYTES, chunk_records
from runconfig_jupyter.core.runs.context import RunContext
from runconfig_jupyter.core.runs.logsink import METRIC_MARKER, LogSink
from runconfig_jupyter.core.runs.shim import shim_tar
from tests.v1.scripts_logging import LOGGING_API_SCRIPT

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def logging_project(make_project):
    return make_project({"train.py": LOGGING_API_SCRIPT}, "logging-api")


def _check_logging_run(run, with_plot: bool) -> None:
    details = run.wait_for_completion(timeout=180)
    log = run.get_log()
    assert details["status"] == "Completed", log
    assert "@runconfig:metric" not in log and "file-chunk" not in log
    metrics = run.get_metrics()
    assert metrics["alpha"] == 0.1 and metrics["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert metrics["fibonacci"] == [0, 1, 1, 2, 3, 5, 8]
    assert metrics["Y over X"] == {"x": [1, 2], "y": [0.4, 0.3]}
    assert metrics["cm"]["data"]["matrix"] == [[3, 1], [0, 4]]
    assert metrics["residuals"]["schema_type"] == "residuals"
    assert metrics["predictions"]["data"]["bin_counts"] == [56, 34]
    assert metrics["accuracy"]["data"]["class_labels"] == ["0", "1"]
    images = {r["name"]: r for r in run.get_metric_records() if r["kind"] == "image"}
    assert set(images) == ({"pixel", "curve", "bars"} if with_plot else {"pixel"})
    for record in images.values():  # the contract other front ends build on
        assert set(record) == {"name", "kind", "value", "step", "time"}
        assert set(record["value"]) == {"path", "description"}
        stored = run.run_dir / record["value"]["path"]
        assert stored.read_bytes().startswith(PNG_HEAD)
    assert images["pixel"]["value"]["description"] == "one red pixel"
    names = run.get_file_names()
    for name in ("outputs/uploaded.txt", "stream.bin", "folder/notes.txt", "folder/sub/deep.txt"):
        assert name in names, names
    assert run.download_file("folder/sub/deep.txt", run.run_dir.parent / "deep.txt").read_text() == "deep\n"
    assert (run.run_dir / "artifacts" / "stream.bin").read_bytes() == b"\x00\x01binary"
    assert (run.outputs_dir() / "uploaded.txt").read_text() == "notes\n"
    # v1 names without a local meaning warn once and go on; a typo still fails, with a suggestion
    assert "warnings: 2 Run.get_portal_url() is not available locally" in log
    assert "did you mean 'log'?" in log and log.rstrip().endswith("done")


def test_logging_api_script_on_local_with_matplotlib(logging_project):
    pytest.importorskip("matplotlib")
    config = ScriptRunConfig(str(logging_project), script="train.py", compute_target="local")
    config.run_config.environment_variables = {"WITH_PLOT": "1", "MPLBACKEND": "Agg"}
    _check_logging_run(Experiment("v1-logging").submit(config), with_plot=True)


@pytest.mark.docker
def test_logging_api_script_on_docker(logging_project, docker_client, our_containers):
    config = ScriptRunConfig(str(logging_project), script="train.py", compute_target="docker")
    run = Experiment("v1-logging").submit(config)
    _check_logging_run(run, with_plot=False)
    assert our_containers(run.id) == []


def test_forged_chunks_cannot_write_outside_the_run_folder(tmp_path):
    """What a script in a container could send: every path that leaves outputs/ or artifacts/ is dropped."""
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_dir / "artifacts").mkdir()
    (run_dir / "artifacts" / "link").symlink_to(outside)
    sink = LogSink(run_dir / "logs" / "std_log.txt", run_dir / "metrics.jsonl")
    data = base64.b64encode(b"pwned").decode()
    for path in ("../outside/x", "/etc/x", "artifacts/../../outside/x", "logs/std_log.txt", "artifacts/link/x", "x"):
        record = {"kind": "file-chunk", "path": path, "offset": 0, "data": data}
        sink.feed(METRIC_MARKER + json.dumps(record).encode() + b"\n")
    too_far = {"kind": "file-chunk", "path": "artifacts/big", "offset": MAX_STREAMED_FILE_BYTES, "data": data}
    sink.feed(METRIC_MARKER + json.dumps(too_far).encode() + b"\n")
    sink.flush()
    assert list(outside.iterdir()) == []
    assert not (run_dir / "x").exists() and not (run_dir / "artifacts" / "big").exists()
    assert not (run_dir / "logs" / "std_log.txt").exists()  # the forged log write did not happen
    assert not (run_dir / "metrics.jsonl").exists()  # chunks are never metrics


def test_a_run_cannot_stream_more_than_its_budget(tmp_path, monkeypatch):
    """Many files, each under the per-file bound, still stop at the per-run total (the host's disk is safe)."""
    from runconfig_jupyter.core.runs import artifacts, logsink

    monkeypatch.setattr(logsink, "MAX_STREAMED_RUN_BYTES", 250_000)
    run_dir = tmp_path / "run"
    sink = LogSink(run_dir / "logs" / "std_log.txt", run_dir / "metrics.jsonl")
    for index in range(5):
        for record in artifacts.chunk_records(f"artifacts/f{index}.bin", b"x" * 100_000):
            sink.feed(METRIC_MARKER + json.dumps(record).encode() + b"\n")
    placed = sum(path.stat().st_size for path in (run_dir / "artifacts").iterdir())
    assert 200_000 <= placed <= 250_000


def test_chunks_interleaved_between_two_files_reassemble(tmp_path):
    run_dir = tmp_path / "run"
    sink = LogSink(run_dir / "logs" / "std_log.txt", run_dir / "metrics.jsonl")
    first, second = bytes(range(256)) * 400, b"z" * 120_000
    lines_a = chunk_records("artifacts/a.bin", first)
    lines_b = chunk_records("outputs/b.bin", second)
    assert len(lines_a) > 1 and len(lines_b) > 1
    for index in range(max(len(lines_a), len(lines_b))):
        for lines in (lines_b, lines_a):  # out of order between files, in order within one
            if index < len(lines):
                payload = METRIC_MARKER + json.dumps(lines[index]).encode() + b"\n"
                sink.feed(payload[:100])  # split mid-line, as docker log chunks are
                sink.feed(payload[100:])
    assert (run_dir / "artifacts" / "a.bin").read_bytes() == first
    assert (run_dir / "outputs" / "b.bin").read_bytes() == second


def test_shim_alone_streams_an_image(tmp_path):
    """Without the package installed (docker, kernel, ray), log_image sends the file, then the record."""
    with tarfile.open(fileobj=io.BytesIO(shim_tar()), mode="r") as archive:
        archive.extractall(tmp_path, filter="data")
    (tmp_path / "img.png").write_bytes(PNG_HEAD + b"rest")
    script = "from runconfig_jupyter import Run; Run.get_context().log_image('i', path='img.png')"
    shim = str(tmp_path / "runconfig-shim")
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {shim!r}); {script}"],
        capture_output=True,
        cwd=tmp_path,
        env={"RUNCONFIG_RUN_ID": "r1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    lines = [json.loads(line[len(METRIC_MARKER) :]) for line in result.stderr.splitlines()]
    assert [line["kind"] for line in lines] == ["file-chunk", "image"]
    assert base64.b64decode(lines[0]["data"]) == PNG_HEAD + b"rest"
    assert lines[1]["value"]["path"] == lines[0]["path"]


def test_chart_values_are_checked_and_name_the_field():
    run = RunContext(None, None, None)
    with pytest.raises(ValueError, match="3x3"):
        run.log_confusion_matrix("cm", {"data": {"class_labels": [1, 2, 3], "matrix": [[1, 2], [3, 4]]}})
    with pytest.raises(ValueError, match="one more entry"):
        run.log_residuals("r", {"data": {"bin_edges": [1, 2], "bin_counts": [1, 2]}})
    with pytest.raises(ValueError, match="missing percentile_tables"):
        run.log_accuracy_table(
            "a",
            '{"data": {"probability_tables": [], "probability_thresholds": [],'
            ' "percentile_thresholds": [], "class_labels": []}}',
        )
    with pytest.raises(ValueError, match="exactly one of"):
        run.log_image("x")
    with pytest.raises(AttributeError, match="not part of Azure ML v1"):
        run.upload_fiel("x", "y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run.get_snapshot_id() is None and run.number is None
    assert {type(w.message) for w in caught} == {RuntimeWarning}
