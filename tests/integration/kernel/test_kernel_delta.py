"""A re-submit to a remote kernel sends only the files its machine lacks (targets/kernel/delta.py), against a
REAL jupyter server and a REAL kernel gateway on 127.0.0.1.

The "remote" machine is this one, so the tests can change the remote cache behind the driver's back, as
another user of that machine or a full disk could, and check that no run ever gets the wrong bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from kernel.conftest import register
from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.snapshot.objects import DEFAULT_ALG, new_hasher
from runconfig_jupyter.targets.kernel import remote_runner
from runconfig_jupyter.targets.kernel.delta import CACHE_FOLDER

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

# Prints the sha256 of every data file it finds in its working folder: what the run really got.
SCRIPT = """
import hashlib, json, os
found = {}
for name in sorted(os.listdir("data")):
    with open(os.path.join("data", name), "rb") as source:
        found[name] = hashlib.sha256(source.read()).hexdigest()
print("FILES " + json.dumps(found), flush=True)
"""
FILES = 6
FILE_BYTES = 512 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "data").mkdir(parents=True)
    (root / "train.py").write_text(textwrap.dedent(SCRIPT))
    for index in range(FILES):
        (root / "data" / f"part{index}.bin").write_bytes(os.urandom(FILE_BYTES))
    return root


def expected(source: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((source / "data").iterdir())}


def run_once(source: Path, target: str) -> tuple[dict[str, str], str]:
    """Submit, wait, and return (the files the run saw, its preparation log)."""
    run = submit(ScriptRunConfig(str(source), script="train.py"), "remote", target=target)
    result = run.wait_for_completion(timeout=150, raise_on_error=False)
    assert result["status"] == "Completed", (result.get("error"), run.get_log())
    line = next(line for line in run.get_log().splitlines() if line.startswith("FILES "))
    return json.loads(line[len("FILES ") :]), run.read_log(name="prepare_log.txt")[0]


def sent_megabytes(prepare: str) -> float:
    found = re.search(r"sent ([\d.]+) MB of a ([\d.]+) MB snapshot", prepare)
    assert found, prepare
    return float(found.group(1))


def object_name(data: bytes) -> str:
    hasher = new_hasher(DEFAULT_ALG)
    hasher.update(data)
    return hasher.hexdigest()


def cached_objects(server) -> list[Path]:
    return [p for p in (server.root / "runconfig-runs" / CACHE_FOLDER).rglob("*") if p.is_file() and len(p.name) == 64]


def test_a_resubmit_after_a_one_file_edit_sends_only_that_file(remote, source, run_home, monkeypatch):
    target = register(remote, monkeypatch, "remote-box")
    seen, prepare = run_once(source, target)
    assert seen == expected(source)
    assert "were already on" not in prepare  # the first submit sends everything

    (source / "data" / "part3.bin").write_bytes(os.urandom(FILE_BYTES))
    seen, prepare = run_once(source, target)
    assert seen == expected(source)  # the edited file is the new one, the others as they were
    assert re.search(rf"{FILES - 1} of {FILES} files \([\d.]+ MB\) were already on", prepare), prepare
    assert sent_megabytes(prepare) < 0.7  # one 0.5 MB file and the headers, not 3 MB

    seen, prepare = run_once(source, target)  # unchanged: nothing but headers and the small script
    assert seen == expected(source)
    assert sent_megabytes(prepare) < 0.05


def test_a_cached_file_changed_on_the_remote_machine_never_reaches_a_run(jupyter_server, source, run_home, monkeypatch):
    """Someone on the remote machine overwrites every cached object with bytes of the same size: the rebuilt
    tar's checksum differs, those objects are forgotten on both sides, and the run gets the submitted files."""
    target = register(jupyter_server, monkeypatch, "remote-box")
    run_once(source, target)
    wanted = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (source / "data").iterdir()}
    ours = {object_name(p.read_bytes()) for p in (source / "data").iterdir()}
    poisoned = []
    for path in (p for p in cached_objects(jupyter_server) if p.name in ours):  # the cache is the session's
        os.chmod(path, 0o644)
        path.write_bytes(b"\0" * path.stat().st_size)
        poisoned.append(path)
    assert len(poisoned) == FILES

    seen, prepare = run_once(source, target)
    assert seen == expected(source)
    assert set(seen.values()) == wanted and hashlib.sha256(b"\0" * FILE_BYTES).hexdigest() not in seen.values()
    assert "does not match the one submitted" in prepare and "uploaded" in prepare
    assert not any(p.exists() and p.read_bytes() == b"\0" * p.stat().st_size for p in poisoned)

    seen, prepare = run_once(source, target)  # sent again, then cached again
    assert seen == expected(source)


def test_a_cached_file_removed_on_the_remote_machine_is_sent_again(kernel_gateway, source, run_home, monkeypatch):
    target = register(kernel_gateway, monkeypatch, "remote-box")
    run_once(source, target)
    ours = {object_name(p.read_bytes()) for p in (source / "data").iterdir()}
    for path in (p for p in cached_objects(kernel_gateway) if p.name in ours):
        path.unlink()
    seen, prepare = run_once(source, target)
    assert seen == expected(source)
    assert re.search(r"\d+ cached files are gone from", prepare), prepare


def test_the_delta_upload_can_be_turned_off(jupyter_server, source, run_home, monkeypatch):
    target = register(jupyter_server, monkeypatch, "remote-box", delta_upload=False)
    run_once(source, target)
    seen, prepare = run_once(source, target)
    assert seen == expected(source)
    assert "were already on" not in prepare and re.search(r"uploaded 3\.\d\d MB", prepare), prepare


def delta_file(path: Path, recipe: dict, sent: bytes = b"") -> str:
    document = json.dumps(recipe).encode()
    path.write_bytes(len(document).to_bytes(8, "big") + document + sent)
    return str(path)


@pytest.mark.parametrize(
    "name", ["../../../../victim", "/tmp/victim", "ab/../../victim", "A" * 64, "0" * 63 + "/", "0" * 65]
)
def test_a_recipe_cannot_name_a_file_outside_the_cache(tmp_path, name):
    """The recipe comes from the driver, but the remote runner still builds no path from a name that is not a
    digest: assemble refuses before writing anything, forget_objects removes nothing."""
    cache = tmp_path / "cache"
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    for kind in ("o", "n"):
        delta = delta_file(tmp_path / "d", {"alg": "sha256", "segments": [[kind, name, 7]]}, b"x" * 7)
        with pytest.raises(ValueError, match="not a snapshot object name"):
            remote_runner.assemble(str(tmp_path / "out.tar"), delta, str(cache))
        assert not (tmp_path / "out.tar").exists() and not (tmp_path / "out.tar.part").exists()
    with pytest.raises(ValueError, match="not a snapshot object name"):
        remote_runner.assemble(
            str(tmp_path / "out.tar"),
            delta_file(tmp_path / "d", {"alg": "../x", "segments": [["o", "0" * 64, 1]]}),
            str(cache),
        )
    assert remote_runner.forget_objects(str(cache), "sha256", [name]) == {"removed": 0}
    assert victim.read_bytes() == b"keep me"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_a_cached_object_that_is_a_link_is_not_followed(tmp_path):
    """A cached name replaced by a link to another file (another user on the remote machine) is missing, not
    read: the run's tar never holds the link target's bytes."""
    cache = tmp_path / "cache"
    digest = hashlib.sha256(b"content").hexdigest()
    path = cache / "sha256" / digest[:2] / digest
    path.parent.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(b"SECRET!")  # same size as the object
    path.symlink_to(secret)
    delta = delta_file(tmp_path / "d", {"alg": "sha256", "segments": [["o", digest, 7]]})
    assert remote_runner.assemble(str(tmp_path / "out.tar"), delta, str(cache)) == {"missing": [digest]}
    assert not (tmp_path / "out.tar").exists()
