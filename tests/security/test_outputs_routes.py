"""A run's files are served read-only from its run folder and never from anywhere else (issue 10, "Open outputs").

A real in-process Jupyter server (pytest-jupyter) and a real local run. The run's script itself leaves the
hostile entries a script on any target could leave in its outputs: a link to a host file, a link to a host
folder, a link back to the run's own run.json, a FIFO. Requests are sent raw (not re-encoded by the client)
so ``..``, encoded ``%2e%2e`` and absolute paths reach the server as an attacker would send them.
Each test asserts what the attacker could NOT get: no byte of a host file in any answer, no file written
under the server root.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit

pytestmark = pytest.mark.timeout(90)
SECRET = "host-secret-7f3a9c"


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A 'host' folder outside the run home and the server root, holding a secret."""
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


@pytest.fixture
def hostile_run(jp_root_dir: Path, host_secret: Path):
    """A completed real run whose script left links out of its outputs, a linked folder and a FIFO."""
    project = jp_root_dir / "proj"
    project.mkdir()
    (project / "train.py").write_text(
        textwrap.dedent(
            f"""
            import os
            os.makedirs("outputs/sub", exist_ok=True)
            open("outputs/model.txt", "w").write("weights")
            open("outputs/sub/notes.html", "w").write("<script>alert(1)</script>")
            os.symlink("model.txt", "outputs/latest")                       # stays inside: served
            os.symlink({str(host_secret / "secret.txt")!r}, "outputs/leak")  # a host file
            os.symlink({str(host_secret)!r}, "outputs/hostdir")             # a host folder on the way
            os.symlink("sub", "outputs/alias")                              # a linked folder, even inside
            os.symlink("../../run.json", "outputs/runjson")                 # inside the run, not served
            os.mkfifo("outputs/pipe")
            print("done")
            """
        )
    )
    run = submit(ScriptRunConfig(str(project), script="train.py"), "hostile")
    run.wait_for_completion(timeout=60)
    assert run.get_status() == "Completed", run.get_log()
    outputs = run.outputs_dir()
    if not (outputs / "leak").is_symlink():
        # A target that collected outputs without their links: plant them as the script left them.
        os.symlink(host_secret / "secret.txt", outputs / "leak")
        os.symlink(host_secret, outputs / "hostdir")
    return run


@pytest.fixture
def raw_get(http_server_client, jp_base_url, jp_auth_header):
    """GET a path below /runconfig/api/ exactly as written (no client-side escaping or normalisation)."""

    async def get(path: str):
        url = jp_base_url.rstrip("/") + "/runconfig/api/" + path
        response = await http_server_client.fetch(url, headers=dict(jp_auth_header), raise_error=False)
        return response.code, response.body or b"", response.headers

    return get


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


async def test_listing_shows_only_what_stays_inside(hostile_run, raw_get):
    code, body, _ = await raw_get(f"runs/{hostile_run.id}/files")
    assert code == 200
    listing = json.loads(body)
    paths = {f["path"] for f in listing["files"]}
    assert {"outputs/model.txt", "outputs/sub/notes.html", "outputs/latest", "logs/std_log.txt"} <= paths
    for refused in ("outputs/leak", "outputs/hostdir/secret.txt", "outputs/alias/notes.html", "outputs/runjson"):
        assert refused not in paths
    assert "outputs/pipe" not in paths
    assert not any("secret" in p for p in paths) and listing["truncated"] is False
    model = next(f for f in listing["files"] if f["path"] == "outputs/model.txt")
    assert model["size"] == len("weights") and model["type"] == "text/plain"


async def test_attacks_on_the_file_route_get_nothing(hostile_run, raw_get, host_secret):
    rid = hostile_run.id
    attacks = [
        "outputs/leak",  # a link to a host file
        "outputs/hostdir/secret.txt",  # a linked host folder on the way
        "outputs/alias/notes.html",  # a linked folder, even one pointing inside
        "outputs/runjson",  # inside the run folder but not a served folder
        "outputs/../run.json",
        "outputs/../../../" + str(host_secret / "secret.txt").lstrip("/"),
        "outputs/%2e%2e/%2e%2e/run.json",
        "outputs%2f..%2f..%2frun.json",
        "outputs/%252e%252e/run.json",  # double-encoded: a literal name that does not exist
        "%2F" + str(host_secret / "secret.txt").lstrip("/"),  # absolute
        "/" + str(host_secret / "secret.txt"),
        "outputs/model.txt%00.png",
        "outputs\\..\\run.json",
        "outputs/pipe",  # a FIFO: refused at once, never blocks the server
        "run.json",
        "snapshot.tar",
    ]
    for attack in attacks:
        code, body, _ = await raw_get(f"runs/{rid}/files/{attack}")
        assert code in (400, 404), (attack, code)
        assert SECRET.encode() not in body and b'"config"' not in body, attack
        error = json.loads(body)
        assert error["error"] in ("ConfigError", "RunNotFound"), (attack, error)


async def test_served_files_bytes_types_and_download(hostile_run, raw_get):
    rid = hostile_run.id
    code, body, headers = await raw_get(f"runs/{rid}/files/outputs/model.txt")
    assert code == 200 and body == b"weights"
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    code, body, headers = await raw_get(f"runs/{rid}/files/outputs/latest")  # a link that stays inside
    assert code == 200 and body == b"weights"
    code, body, headers = await raw_get(f"runs/{rid}/files/outputs/model.txt?download=1")
    assert code == 200 and headers["Content-Disposition"].startswith("attachment")
    # HTML a run wrote is never rendered in the Jupyter origin
    code, body, headers = await raw_get(f"runs/{rid}/files/outputs/sub/notes.html")
    assert code == 200 and headers["Content-Disposition"].startswith("attachment")
    code, body, _ = await raw_get(f"runs/{rid}/files/logs/std_log.txt")
    # the script's output, then the collector's warnings for what it would not bring back (links out, a FIFO)
    assert code == 200 and body.startswith(b"done\n") and b"runconfig: warning:" in body
    code, body, _ = await raw_get("runs/nosuchrun_1_00000000/files/outputs/model.txt")
    assert code == 404 and json.loads(body)["error"] == "RunNotFound"


async def test_open_outputs_post_copies_nothing(hostile_run, jp_fetch, jp_root_dir):
    before = tree(jp_root_dir)
    response = await jp_fetch("runconfig", "api", "runs", hostile_run.id, "outputs", method="POST", body="")
    listing = json.loads(response.body)
    assert "outputs/model.txt" in {f["path"] for f in listing["files"]}
    assert tree(jp_root_dir) == before  # nothing written under the server root, nothing in the source folder
    assert not (jp_root_dir / "runconfig-outputs").exists()
