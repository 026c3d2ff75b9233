"""Hostile YAML is refused fast, by line, wherever YAML enters: %%runconfig cells, runconfig files, conda
files, targets.yaml and REST bodies (a real jupyter server that must stay responsive for other clients)."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.environment import CondaDependencies
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runconfig import RunConfiguration
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.bounded import MAX_DEPTH, MAX_EXPANDED_NODES, load_yaml
from runconfig_jupyter.core.target.configured import configured_targets
from tests.security.inputs_server import LiveServer

pytestmark = pytest.mark.timeout(120)
FAST = 1.0  # CPU seconds of the parsing thread: "well under a second". CPU time, so a loaded machine cannot
# flake it; of this thread only, since other tests' threads in the same pytest process also spend CPU
# Across a server (wall time): the bombs used to take minutes; this bound only has to tell the two apart.
SERVER_BOUND = 15.0


def laughs(levels: int = 9, width: int = 9, indent: str = "") -> str:
    """The billion-laughs document: each level is ``width`` aliases of the one before (width**levels leaves)."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"{indent}l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def doubling(levels: int = 40, merge: bool = False) -> str:
    """Each anchor holds the previous one twice (2**levels leaves), optionally through a ``<<`` merge key."""
    lines = ["x0: &x0 [a, b]"]
    for i in range(1, levels):
        before = f"*x{i - 1}"
        body = f"{{<<: {{k: {before}}}, k{i}: [{before}, {before}]}}" if merge else f"[{before}, {before}]"
        lines.append(f"x{i}: &x{i} {body}")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion-laughs": "script: train.py\ntags:\n" + laughs(indent="  "),
    "doubling-aliases": "script: train.py\n" + doubling(),
    "merge-keys": "script: train.py\n" + doubling(merge=True),
    "recursive-alias": "script: train.py\nenvironmentVariables: &e {X: *e}\n",
    "deep-flow": "script: train.py\narguments: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-block": "script: train.py\n" + "".join(" " * i + f"k{i}:\n" for i in range(500)),
    "deep-block-list": "script: train.py\narguments:\n" + "".join("  " * i + "-\n" for i in range(1, 400)),
    "too-big": "script: train.py\n# " + "x" * (300 << 10) + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_runconfig_cells_are_config_errors_with_a_line(tmp_path, name):
    (tmp_path / "train.py").write_text("print(1)\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.thread_time()
    with pytest.raises(ConfigError) as caught:
        ScriptRunConfig.from_yaml(HOSTILE[name], source_directory=str(tmp_path)).validate()
    elapsed = time.thread_time() - started
    assert elapsed < FAST, f"{name} took {elapsed:.2f}s"
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"{name} grew the process by {grown_mb:.0f} MB"
    if name != "too-big":
        assert caught.value.line is not None and f"(line {caught.value.line})" in str(caught.value)


def test_budget_is_what_expansion_would_cost_not_what_the_text_costs(tmp_path):
    """Aliases are fine while the expanded document stays small: Azure files use them for shared sections."""
    (tmp_path / "train.py").write_text("print(1)\n")
    ok = "script: train.py\nenvironment:\n  environmentVariables: &v {X: '1'}\nenvironmentVariables: *v\n"
    config = ScriptRunConfig.from_yaml(ok, source_directory=str(tmp_path))
    config.validate()
    assert config.environment_variables() == {"X": "1"}
    assert load_yaml(laughs(levels=3, width=9)) is not None  # 9**3 = 729 leaves: well inside the budget
    with pytest.raises(ConfigError, match=f"{MAX_EXPANDED_NODES:,}"):
        load_yaml(laughs(levels=6, width=9))  # 531,441 leaves
    with pytest.raises(ConfigError, match=f"deeper than {MAX_DEPTH}"):
        load_yaml("x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert load_yaml("x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)) is not None


def test_runconfig_file_conda_file_and_targets_yaml_use_the_bounded_loader(tmp_path, run_home: Path):
    project = tmp_path / "p"
    (project / ".azureml").mkdir(parents=True)
    (project / ".azureml" / "bomb.runconfig").write_text("script: train.py\nx:\n" + laughs(indent="  "))
    started = time.thread_time()
    with pytest.raises(ConfigError, match="expands to more than"):
        RunConfiguration.load(project, "bomb")
    conda = project / "env.yml"
    conda.write_text("name: x\ndependencies:\n  - python=3.11\nextra:\n" + laughs(indent="  "))
    with pytest.raises(ConfigError, match="expands to more than"):
        CondaDependencies.from_file(conda)
    (run_home / "targets.yaml").write_text("gpu:\n  type: local\n  junk:\n" + laughs(indent="    "))
    with pytest.raises(ConfigError, match="expands to more than") as caught:
        configured_targets()
    assert caught.value.field == "targets"
    assert time.thread_time() - started < 3 * FAST


def test_magic_cell_with_a_bomb_is_refused_quickly(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    (tmp_path / "train.py").write_text("print(1)\n")
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runconfig_jupyter")
    shell.user_ns.pop("bomb", None)
    started = time.thread_time()
    with capture_output() as captured:
        shell.run_cell_magic("runconfig", "bomb", HOSTILE["billion-laughs"])
    assert time.thread_time() - started < FAST
    assert "ConfigError" in captured.stderr and "line" in captured.stderr
    assert "bomb" not in shell.user_ns
    assert RunStore().list() == []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("yaml-server")).start()
    (live.root / "proj").mkdir()
    (live.root / "proj" / "train.py").write_text("print(1)\n")
    yield live
    live.stop()


def test_rest_bombs_are_400_fast_and_the_server_keeps_answering(server):
    """Four hostile submits in parallel with a reader: every answer is a typed 400 and the runs list stays fast."""
    answers: dict[str, tuple[int, dict]] = {}

    def hostile(name: str) -> None:
        answers[name] = server.call("runs", method="POST", body={"path": "proj", "runconfig": HOSTILE[name]})

    names = ["billion-laughs", "merge-keys", "recursive-alias", "deep-flow"]
    threads = [threading.Thread(target=hostile, args=(n,)) for n in names]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    read_times = []
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        code, _ = server.call("runs")
        read_times.append(time.monotonic() - t0)
        assert code == 200
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < SERVER_BOUND
    for name in names:
        code, body = answers[name]
        assert code == 400 and body["error"] == "ConfigError" and "line" in body["message"], (name, body)
    assert server.run_count() == 0
    code, notebook = server.call("runs", method="POST", body={"path": "proj", "runconfig": "script: train.py\n"})
    assert code == 201, notebook  # still takes real work afterwards
    assert server.wait_finished(notebook["run_id"])["status"] == "Completed"


def test_huge_or_binary_configuration_files_are_refused_without_reading_them(tmp_path):
    """A 10 GB sparse file named as the environment file, and a conda file that is not UTF-8."""
    (tmp_path / "train.py").write_text("print(1)\n")
    with open(tmp_path / "env.yml", "wb") as sparse:
        sparse.truncate(10 << 30)
    started = time.thread_time()
    with pytest.raises(ConfigError) as caught:
        ScriptRunConfig.from_yaml("script: train.py\nenvironment: env.yml\n", source_directory=str(tmp_path))
    assert caught.value.field == "environment" and "larger than" in str(caught.value)
    assert time.thread_time() - started < FAST
    (tmp_path / "conda.yml").write_bytes(b"name: x\ndependencies: [\xff\xfe]\n")
    text = "script: train.py\nenvironment:\n  python:\n    condaDependenciesFile: conda.yml\n"
    with pytest.raises(ConfigError, match="not UTF-8"):
        ScriptRunConfig.from_yaml(text, source_directory=str(tmp_path))
