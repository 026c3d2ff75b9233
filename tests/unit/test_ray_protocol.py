"""The ray target's side of the launcher protocol: addresses, log lines, shipped outputs (no cluster needed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.targets.ray import launcher as ray_launcher
from runconfig_jupyter.targets.ray.target import RayTarget, dashboard_url


class FakeContext:
    """Records what the target writes; stands in for the driver's context (pure parsing, no processes)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.run_id = "exp_1_abcd"
        self.outputs_dir = run_dir / "outputs"
        self.logs: dict[str, str] = {}
        self.prepared: list[str] = []

    def write_log(self, data, name="std_log.txt"):
        self.logs[name] = self.logs.get(name, "") + (data.decode() if isinstance(data, bytes) else data)

    def prepare_log(self, line):
        self.prepared.append(line)

    def record(self, **details):
        self.recorded = {**getattr(self, "recorded", {}), **details}


def test_dashboard_url_accepts_http_ray_and_host_port():
    assert dashboard_url("http://head:8265/") == "http://head:8265"
    assert dashboard_url("ray://head:10001") == "http://head:8265"
    assert dashboard_url("ray://head:10001", dashboard_port=9000) == "http://head:9000"
    assert dashboard_url("head:8265") == "http://head:8265"
    with pytest.raises(ConfigError):
        dashboard_url("grpc://head:1")
    with pytest.raises(ConfigError, match="no address"):
        _ = RayTarget("r").url


def test_log_lines_rank_files_noise_and_markers(tmp_path, capsys):
    target = RayTarget("r", address="http://x")
    ctx = FakeContext(tmp_path)
    (tmp_path / "work" / "outputs").mkdir(parents=True)
    (tmp_path / "work" / "outputs" / "model.txt").write_text("weights")
    data, problem = ray_launcher.pack_outputs(tmp_path / "work", limit=10**6)
    assert data and not problem
    ray_launcher.emit_outputs(data)
    ray_launcher.emit_failure("rank 1 exited with code 3")
    shipped = capsys.readouterr().out
    text = (
        "2026-01-01 00:00:00,000\tINFO job_manager.py:581 -- Runtime env is setting up.\n"
        "Running entrypoint for job runconfig_x: python -m runconfig_jupyter.targets.ray.launcher\n"
        "plain line\n[rank 1] hello from one\n" + shipped + "tail without newline"
    )
    # Delivered in awkward pieces (as a websocket would), then the whole log again: nothing twice.
    position = 0
    for size in (7, 1, 50, 3, 10**6):
        piece = text[position : position + size]
        target._receive(ctx, piece, position)
        position += len(piece)
    target._receive(ctx, text, 0)
    target._handle(ctx, "\n")
    assert ctx.logs["std_log.txt"] == "plain line\n[rank 1] hello from one\ntail without newline\n"
    assert ctx.logs["rank_1.txt"] == "hello from one\n"
    assert len(ctx.prepared) == 2 and "Runtime env" in ctx.prepared[0]
    assert target._failure_reason == "rank 1 exited with code 3"
    with tarfile.open(fileobj=io.BytesIO(target._outputs_data), mode="r:gz") as tar:
        assert tar.getnames() == ["outputs/model.txt"]
    target.collect(ctx)
    assert (ctx.outputs_dir / "model.txt").read_text() == "weights"


def test_corrupted_outputs_are_dropped(tmp_path):
    target = RayTarget("r", address="http://x")
    ctx = FakeContext(tmp_path)
    target._handle(ctx, ray_launcher.OUTPUTS_MARKER + "aGVsbG8=\n" + ray_launcher.OUTPUTS_END_MARKER + "0" * 64 + "\n")
    assert target._outputs_data is None
    target.collect(ctx)
    assert not ctx.outputs_dir.exists()


def test_outputs_over_the_limit_stay_behind(tmp_path):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "big.bin").write_bytes(b"x" * 2048)
    data, problem = ray_launcher.pack_outputs(tmp_path, limit=1024)
    assert data is None and "max_output_bytes" in problem
    assert ray_launcher.pack_outputs(tmp_path / "nothing", limit=1024) == (None, "")


def test_the_failure_line_carries_the_scripts_exit_code(tmp_path, capsys):
    """Ray's job record can say FAILED before it holds the entrypoint's exit code (a full CI run met a failed run
    with no exit code): the launcher's failure line carries it too, and the target keeps it."""
    ray_launcher.emit_failure("the script exited with code 3", 3)
    ray_launcher.emit_failure("rank 1 exited with code 2")  # a rank's failure has no code of its own
    first, second = capsys.readouterr().out.split("\n")[:2]  # not splitlines: it splits at \x1e too
    target = RayTarget("r", address="http://x")
    ctx = FakeContext(tmp_path)
    target._handle(ctx, first + "\n")
    assert (target._failure_reason, target._failure_code) == ("the script exited with code 3", 3)
    target._handle(ctx, second + "\n")
    assert (target._failure_reason, target._failure_code) == ("rank 1 exited with code 2", None)
