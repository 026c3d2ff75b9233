"""Red team: what packaging a source folder could be tricked into shipping (issue 10, section 1).

Found by attacking the snapshot the way a hostile shared project or a racing process would:

* a file (or a folder on the way to one) swapped for a link out of the project, or for a FIFO, between the
  walk that listed it and the read that packages it - the packer used to follow the link and ship the
  outside file's bytes;
* the source folder's own link swapped after the confinement check accepted it;
* credential stores (``.aws/``, ``.ssh/``, ``.docker/config.json``, ``.netrc``...) below the top of a source
  folder, packaged even when a shared project's ``.gitignore`` re-includes them.

Every case asserts what could NOT happen: no outside byte in any archive, no run recorded, no credential in
the run's working folder, its log or its snapshot. The swaps are timed with the public ``snapshot_progress``
callback (called while content is copied) or right after the real check, against the real packer.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError, SnapshotError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from tests.snapshot_store import run_snapshot_names, stored_text

pytestmark = pytest.mark.timeout(120)
SECRET = "redteam-outside-canary-51c2"
CREDENTIAL = "AKIA-REDTEAM-CANARY-9d0e"


@pytest.fixture
def racy(tmp_path: Path) -> dict[str, Path]:
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    (project / "a_first.bin").write_bytes(b"0" * 4096)  # packaged first: the swap happens on its progress
    (project / "b_target.txt").write_text("harmless")
    (project / "sub" / "key.txt").write_text("decoy")
    (project / "train.py").write_text("print('ran')\n")
    outside = tmp_path / "outside"
    (outside / "keys").mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET)
    (outside / "keys" / "key.txt").write_text(SECRET)
    return {"project": project, "outside": outside}


def swap_once(action):
    done = []

    def progress(_done: int, _total: int) -> None:
        if not done:
            done.append(True)
            action()

    return progress


def swap_file_for_outside_link(racy):
    target = racy["project"] / "b_target.txt"
    target.unlink()
    target.symlink_to(racy["outside"] / "secret.txt")


def swap_folder_for_outside_link(racy):
    sub = racy["project"] / "sub"
    sub.rename(racy["project"] / "sub_old")
    sub.symlink_to(racy["outside"] / "keys")


def swap_file_for_fifo(racy):
    target = racy["project"] / "b_target.txt"
    target.unlink()
    os.mkfifo(target)


@pytest.mark.parametrize("swap", [swap_file_for_outside_link, swap_folder_for_outside_link, swap_file_for_fifo])
def test_python_api_packages_no_byte_from_a_file_swapped_during_packaging(racy, run_home, swap):
    config = ScriptRunConfig(source_directory=str(racy["project"]), script="train.py")
    with pytest.raises(SnapshotError) as refused:
        submit(config, "redteam", snapshot_progress=swap_once(lambda: swap(racy)))
    assert "while it was packaged" in str(refused.value) or "leads out of the source folder" in str(refused.value)
    assert SECRET not in stored_text(run_home)
    assert RunStore(run_home).list(limit=10) == []
    assert not (run_home / "runs").exists() or list((run_home / "runs").iterdir()) == []


def test_python_api_packages_the_checked_folder_when_its_link_is_swapped_after_the_check(
    racy, run_home, tmp_path, monkeypatch
):
    link = tmp_path / "proj_link"
    link.symlink_to(racy["project"])
    original = ScriptRunConfig.validate

    def validate_then_swap(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        link.unlink()
        link.symlink_to(racy["outside"])  # now holds secret.txt and keys/, not the checked project
        return result

    monkeypatch.setattr(ScriptRunConfig, "validate", validate_then_swap)
    config = ScriptRunConfig(source_directory=str(link), script="train.py")
    run = submit(config, "redteam")
    names = run_snapshot_names(run.run_dir)
    assert "train.py" in names and "secret.txt" not in names and "keys/key.txt" not in names
    assert SECRET not in stored_text(run_home)
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"


# -- credential stores below the top of a source folder, through the magics ---------------------------------
LIST_FILES = textwrap.dedent(
    """
    import os
    for folder, _dirs, files in os.walk('.'):
        for name in files:
            path = os.path.join(folder, name)
            print('FILE', path, open(path, errors='replace').read(200).replace(chr(10), ' '))
    """
)


@pytest.fixture
def credential_project(tmp_path: Path) -> Path:
    project = tmp_path / "shared-project"
    project.mkdir()
    (project / "train.py").write_text(LIST_FILES)
    for store in (".aws", ".ssh", ".azure", ".kube", ".gnupg", "deep/er/.aws", "cfg/.config/gcloud"):
        (project / store).mkdir(parents=True)
        (project / store / "credentials").write_text(CREDENTIAL)
    (project / ".docker").mkdir()
    (project / ".docker" / "config.json").write_text(CREDENTIAL)
    (project / ".docker" / "Dockerfile").write_text("FROM scratch\n")  # a project's own docker files stay
    for name in (".netrc", "sub/.git-credentials", ".pypirc", "_netrc", "keys/id_ed25519", ".kaggle/kaggle.json"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(CREDENTIAL)
    # The shared project's own ignore file tries to re-include them: it cannot.
    (project / ".gitignore").write_text("!.aws/\n!.ssh/\n!.netrc\n!.docker/config.json\n")
    return project


@pytest.fixture
def shell(credential_project, monkeypatch):
    monkeypatch.chdir(credential_project)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    ip.run_line_magic("config", "RunConfigMagics.live_view = False")
    yield ip
    ip.user_ns.pop("cfg", None)
    ip.user_ns.pop("run", None)


def test_magics_never_package_credential_stores_below_the_top(shell, credential_project, run_home):
    with capture_output() as out:
        shell.run_cell_magic("runconfig", "cfg", "script: train.py\n")
        shell.run_line_magic("submit", "cfg --wait")
    assert "Completed" in out.stdout + out.stderr, out.stdout + out.stderr
    (run_dir,) = list((run_home / "runs").iterdir())
    log = (run_dir / "logs" / "std_log.txt").read_text()
    assert "FILE ./train.py" in log and "Dockerfile" in log  # the run got the project...
    assert CREDENTIAL not in log  # ...but no credential store
    assert CREDENTIAL not in stored_text(run_home)
    names = run_snapshot_names(run_dir)
    assert not [n for n in names if ".aws" in n or ".ssh" in n or "netrc" in n or "config.json" in n], names
    assert not [n for n in names if "id_ed25519" in n or "kaggle" in n or "credentials" in n], names


def test_only_an_explicit_setting_packages_a_credential_store(credential_project, run_home, monkeypatch):
    monkeypatch.setenv("RUNCONFIG_PACKAGE_CREDENTIALS", ".kube/")
    run = submit(ScriptRunConfig(source_directory=str(credential_project), script="train.py"), "redteam")
    names = run_snapshot_names(run.run_dir)
    assert ".kube/credentials" in names
    assert not [n for n in names if ".aws" in n or ".ssh" in n], names
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"


def test_docker_container_never_sees_credential_stores_of_the_project(credential_project, run_home):
    """The same never-packaged list on the real dockerd: the container's /workspace holds no credential."""
    from tests.docker_engine import engine_or_skip

    engine_or_skip().close()
    config = ScriptRunConfig(source_directory=str(credential_project), script="train.py", compute_target="docker")
    run = submit(config, "redteam-docker")
    details = run.wait_for_completion(timeout=180)
    log = run.get_log()
    assert details["status"] == "Completed", log
    assert "FILE ./train.py" in log and "Dockerfile" in log
    assert CREDENTIAL not in log


def test_a_checkpoint_folder_holding_a_credential_store_is_never_mounted(project, run_home):
    """resume_from follows the never-packaged rule: a docker run gets no credential store by a mount either."""
    (project / "ckpt" / "epoch3" / ".aws").mkdir(parents=True)
    (project / "ckpt" / "epoch3" / ".aws" / "credentials").write_text(CREDENTIAL)
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", resume_from="ckpt")
    with pytest.raises(ConfigError) as refused:
        submit(config, "redteam")
    assert refused.value.field == "resume_from" and "credential store" in str(refused.value)
    assert RunStore(run_home).list(limit=10) == []


@pytest.fixture(scope="module")
def kernel_server(tmp_path_factory):
    from tests.integration.kernel.servers import launch, stop

    server = launch("server", tmp_path_factory.mktemp("redteam-kernel"))
    yield server
    stop(server)


def test_kernel_target_never_receives_credential_stores(credential_project, kernel_server, run_home, monkeypatch):
    """The same rule on a remote kernel of a real ``jupyter server``: nothing of them lands on the remote."""
    from runconfig_jupyter.core.target.configured import register_target

    monkeypatch.setenv("RCJ_REDTEAM_TOKEN", kernel_server.token)
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    register_target(
        "redteam-kernel", type="kernel", url=kernel_server.url, token_env="RCJ_REDTEAM_TOKEN", shim="always"
    )
    config = ScriptRunConfig(str(credential_project), script="train.py")
    run = submit(config, "redteam-kernel", target="redteam-kernel")
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    log = run.get_log()
    assert details["status"] == "Completed", log
    assert "FILE ./train.py" in log and CREDENTIAL not in log
    remote = [p for p in kernel_server.root.rglob("*") if p.is_file() and CREDENTIAL in p.read_text(errors="replace")]
    assert remote == []


def test_a_hard_link_to_a_home_credential_file_is_never_packaged(tmp_path, run_home, monkeypatch):
    """A hard link has no path that gives it away: the packer compares inodes with the home's credential files."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(CREDENTIAL)
    monkeypatch.setenv("HOME", str(home))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(LIST_FILES)
    os.link(home / ".ssh" / "id_rsa", project / "notes.txt")
    (project / "data.txt").write_text("shared data")
    os.link(project / "data.txt", project / "data-copy.txt")  # an ordinary hard link stays
    run = submit(ScriptRunConfig(str(project), script="train.py"), "redteam")
    assert run.wait_for_completion(timeout=60)["status"] == "Completed"
    log = run.get_log()
    assert "data-copy.txt shared data" in log and CREDENTIAL not in log
    assert CREDENTIAL not in stored_text(run_home)


@pytest.mark.parametrize(("script", "rule"), [(".aws/run.py", "credential store"), ("skip/t.py", ".amlignore")])
def test_a_script_left_out_of_the_snapshot_is_refused_before_anything_is_recorded(project, run_home, script, rule):
    """Accepted before, it failed at run time ("no such file"): refused now, naming the rule, with no run row."""
    (project / script).parent.mkdir(parents=True, exist_ok=True)
    (project / script).write_text("print('never runs')\n")
    (project / ".amlignore").write_text("skip/\n")
    with pytest.raises(ConfigError) as refused:
        submit(ScriptRunConfig(str(project), script=script), "redteam")
    assert refused.value.field == "script" and rule in str(refused.value)
    assert RunStore(run_home).list(limit=10) == []
    assert not (run_home / "runs").exists() or list((run_home / "runs").iterdir()) == []
