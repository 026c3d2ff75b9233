"""Property test of the run-file confinement (server/files.py) on a real run folder with hostile entries.

Whatever path an attacker composes from traversal pieces, link names and separators, RunFiles either
refuses it with a typed error or opens a regular file whose real location is inside a served folder
(outputs/, logs/, artifacts/) of that run. Bounded: a fixed number of examples and a deadline per example.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runconfig_jupyter.core.errors import ConfigError, RunNotFound
from runconfig_jupyter.server.files import SERVED_FOLDERS, RunFiles

SECRET = b"host-secret-fuzz"
PIECES = [
    "outputs", "logs", "artifacts", "..", ".", "", "model.txt", "leak", "hostdir", "secret.txt", "alias", "sub",
    "notes.txt", "runjson", "run.json", "pipe", "%2e%2e", "\\", "/", "\x00", "std_log.txt", "loop",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("fuzz")
    host = base / "host"
    host.mkdir()
    (host / "secret.txt").write_bytes(SECRET)
    run = base / "runs" / "r_1_00000000"
    (run / "outputs" / "sub").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "run.json").write_text('{"config": {}}')
    (run / "outputs" / "model.txt").write_text("weights")
    (run / "outputs" / "sub" / "notes.txt").write_text("notes")
    (run / "logs" / "std_log.txt").write_text("log")
    os.symlink(host / "secret.txt", run / "outputs" / "leak")
    os.symlink(host, run / "outputs" / "hostdir")
    os.symlink("sub", run / "outputs" / "alias")
    os.symlink("../run.json", run / "outputs" / "runjson")
    os.symlink("loop", run / "outputs" / "loop")
    os.mkfifo(run / "outputs" / "pipe")
    os.symlink(host, run / "artifacts")  # a served folder that is itself a link: never entered
    return run, host


@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6), st.sampled_from(["/", "", "//"]))
@example(["outputs", "model.txt"], "")  # served: the success branch is always checked too
@example(["outputs", "sub", "notes.txt"], "")
@example(["outputs", "leak"], "")
@example(["outputs", "hostdir", "secret.txt"], "")
@example(["artifacts", "secret.txt"], "")
def test_any_composed_path_is_refused_or_stays_inside(run_folder, pieces, lead):
    run, host = run_folder
    files = RunFiles(run, "r_1_00000000")
    path = lead + "/".join(pieces)
    try:
        opened = files.open(path)
    except (ConfigError, RunNotFound):
        return
    try:
        data = os.read(opened.fd, 1 << 16)
        real = Path(os.readlink(f"/proc/self/fd/{opened.fd}")).resolve()
    finally:
        os.close(opened.fd)
    assert SECRET not in data
    assert any(real.is_relative_to(run.resolve() / folder) for folder in SERVED_FOLDERS), (path, real)
    assert not real.is_relative_to(host.resolve())


def test_listing_is_bounded_and_skips_links_out(run_folder, tmp_path):
    run, _host = run_folder
    listing = RunFiles(run, "r").listing()
    paths = {f["path"] for f in listing["files"]}
    assert paths == {"outputs/model.txt", "outputs/sub/notes.txt", "logs/std_log.txt"}
    many = tmp_path / "many"
    (many / "outputs").mkdir(parents=True)
    for i in range(30):
        (many / "outputs" / f"f{i:02d}").write_text("x")
    bounded = RunFiles(many, "m").listing(max_files=10)
    assert bounded["truncated"] is True and len(bounded["files"]) == 10
