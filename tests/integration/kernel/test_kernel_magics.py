"""``%submit`` to a kernel target from a real (headless) IPython shell: the token comes from a prompt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from kernel.conftest import TOKEN_ENV, assert_token_absent, register
from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.runs.store import RunStore

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jupyter_server):
    source = tmp_path / "nb"
    source.mkdir()
    (source / "train.py").write_text("print('hello from the remote side', flush=True)\n")
    monkeypatch.chdir(source)
    register(jupyter_server, monkeypatch, "gpu-box")
    monkeypatch.delenv(TOKEN_ENV)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    ip.run_line_magic("config", "RunConfigMagics.live_view = False")
    ip.user_ns["remote_cfg"] = ScriptRunConfig(str(source), script="train.py", compute_target="gpu-box")
    yield ip
    ip.user_ns.pop("remote_cfg", None)


def _prompt(monkeypatch: pytest.MonkeyPatch, answer: str) -> list[str]:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return answer

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    return prompts


def test_submit_prompts_for_the_token_once_and_runs_remotely(shell, jupyter_server, monkeypatch, run_home):
    prompts = _prompt(monkeypatch, jupyter_server.token)
    with capture_output() as out:
        shell.run_line_magic("submit", "remote_cfg --wait")
    assert "hello from the remote side" in out.stdout and "Status: Completed" in out.stdout
    assert len(prompts) == 1 and TOKEN_ENV in prompts[0] and "gpu-box" in prompts[0]
    assert os.environ[TOKEN_ENV] == jupyter_server.token
    with capture_output():
        shell.run_line_magic("submit", "remote_cfg --wait")
    assert len(prompts) == 1  # kept in this kernel's environment, not asked again
    assert jupyter_server.token not in out.stdout + out.stderr
    assert_token_absent(jupyter_server.token, run_home)
    with capture_output() as listed:
        shell.run_line_magic("targets", "")
    assert "gpu-box" in listed.stdout and "kernel" in listed.stdout and "available" in listed.stdout


def test_refused_token_shows_a_typed_error_and_submits_nothing(shell, monkeypatch):
    _prompt(monkeypatch, "wrong-token")
    with capture_output() as out:
        run = shell.run_line_magic("submit", "remote_cfg")
    assert run is None and "TargetAuthError" in out.stderr and TOKEN_ENV in out.stderr
    assert "wrong-token" not in out.stdout + out.stderr
    assert RunStore().list() == []


def test_refused_token_is_asked_again_on_the_next_submit(shell, monkeypatch):
    prompts = _prompt(monkeypatch, "wrong-token")
    with capture_output():
        shell.run_line_magic("submit", "remote_cfg")
        shell.run_line_magic("submit", "remote_cfg")
    assert len(prompts) == 2


def test_remote_kernel_notebook_executes_headless(tmp_path, run_home):
    """notebooks/remote_kernel.ipynb end to end on a real kernel (it starts and stops its own demo server)."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "nb"
    shutil.copytree(Path(__file__).resolve().parents[3] / "notebooks", folder)
    notebook = nbformat.read(folder / "remote_kernel.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    text = "\n".join(
        "".join(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for c in notebook.cells
        for output in c.get("outputs", [])
    )
    assert "Status: Completed" in text and "final loss" in text and "'Canceled'" in text
    assert "demo server stopped" in text
    assert RunStore().count("remote-demo") == 2


def test_target_from_traitlets_config(shell, jupyter_server, monkeypatch):
    """A kernel target configured only through traitlets (``TargetSettings.targets``, as in ipython_config.py)."""
    from runconfig_jupyter.core.target.target_settings import TargetSettings

    monkeypatch.setattr("runconfig_jupyter.core.target.configured._registered", {})
    # The shell's settings are the source, as in a kernel. This process also runs in-process Jupyter servers for
    # other tests, and each made its own TargetSettings current after this shell's extension was loaded.
    own = [c for c in shell.configurables if isinstance(c, TargetSettings)]
    monkeypatch.setattr("runconfig_jupyter.core.target.configured._current_config", own[-1:])
    spec = {"type": "kernel", "url": jupyter_server.url, "token_env": TOKEN_ENV}
    shell.run_line_magic("config", f"TargetSettings.targets = {{'lab-box': {spec!r}}}")
    try:
        prompts = _prompt(monkeypatch, jupyter_server.token)
        with capture_output() as out:
            shell.run_line_magic("submit", "remote_cfg --target lab-box --wait")
        assert "hello from the remote side" in out.stdout and "Status: Completed" in out.stdout
        assert len(prompts) == 1 and "lab-box" in prompts[0]
    finally:
        shell.run_line_magic("config", "TargetSettings.targets = {}")
