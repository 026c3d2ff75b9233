"""Starting our own processes without ``site`` (core/system/site_free.py): real interpreters, real files.

What ``python -m MODULE`` would find (sys.path without its working folder, sys.prefix, where modules come
from) must be what the site-free start finds; anything that could make them differ - a new or edited .pth,
a sitecustomize, a finder a .pth installs, a folder that moved - must send the next start the ordinary way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter.core.system import site_free

REPO = Path(__file__).resolve().parents[2]
# A module that prints what an interpreter started as ``-m probe_module`` sees.
PROBE = textwrap.dedent(
    """
    import json, sys, yaml, psutil, runconfig_jupyter
    print(json.dumps({
        "path": [p for p in sys.path if p != __import__("os").getcwd()],
        "prefix": [sys.prefix, sys.exec_prefix],
        "files": [yaml.__file__, psutil.__file__, runconfig_jupyter.__file__],
        "no_site": sys.flags.no_site,
        "argv": sys.argv[1:],
    }))
    """
)
RECORD = textwrap.dedent(
    """
    import json, sys
    from runconfig_jupyter.core.system.site_free import capture, remember
    captured = capture()
    remember(captured)
    print(json.dumps(captured is not None and captured["path"] is not None))
    """
)


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment of our own: a run home, a user site folder (PYTHONUSERBASE) and a folder on PYTHONPATH
    holding the probe; the test process gets it too (the record is keyed on these variables)."""
    user_base = tmp_path / "userbase"
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "probe_module.py").write_text(PROBE)
    (probes / "record_module.py").write_text(RECORD)
    env = {
        **os.environ,
        "RUNCONFIG_JUPYTER_HOME": str(tmp_path / "home"),
        "PYTHONUSERBASE": str(user_base),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(probes)]),
    }
    env.pop("PYTHONNOUSERSITE", None)
    (tmp_path / "home").mkdir()
    for name in ("RUNCONFIG_JUPYTER_HOME", "PYTHONUSERBASE", "PYTHONPATH"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("PYTHONNOUSERSITE", raising=False)
    return env


def user_site(env: dict[str, str]) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(env["PYTHONUSERBASE"]) / "lib" / version / "site-packages"


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def record(env: dict[str, str], cwd: Path) -> bool:
    """An ordinary ``-m`` start remembers what site gave it; whether it was eligible."""
    return json.loads(run([sys.executable, "-m", "record_module"], env, cwd).stdout)


def probe(argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    return json.loads(run(argv, env, cwd).stdout.strip().splitlines()[-1])


def test_a_site_free_start_finds_what_an_ordinary_start_finds(layout, tmp_path):
    assert site_free.module_command("probe_module", ["a"], layout)[1] == "-m"  # nothing recorded yet
    assert record(layout, tmp_path) is True
    command = site_free.module_command("probe_module", ["a", "--b"], layout)
    assert command[1:3] == ["-S", "-c"]
    fast, ordinary = (
        probe(command, layout, tmp_path),
        probe([sys.executable, "-m", "probe_module", "a", "--b"], layout, tmp_path),
    )
    assert fast["no_site"] == 1 and ordinary["no_site"] == 0
    for key in ("path", "prefix", "files", "argv"):
        assert fast[key] == ordinary[key], key


def test_another_environment_is_not_given_this_ones_record(layout, tmp_path):
    assert record(layout, tmp_path) is True
    assert site_free.module_command("probe_module", [], {**layout, "PYTHONPATH": str(REPO)})[1] == "-m"


@pytest.mark.parametrize("change", ["a new .pth", "an edited .pth", "a sitecustomize", "a new user site"])
def test_a_change_to_what_site_reads_sends_the_next_start_the_ordinary_way(layout, tmp_path, change):
    extra = tmp_path / "extra"
    extra.mkdir()
    site_dir = user_site(layout)
    if change != "a new user site":
        site_dir.mkdir(parents=True)
        (site_dir / "one.pth").write_text("")
    assert record(layout, tmp_path) is True
    assert site_free.module_command("probe_module", [], layout)[1] == "-S"
    if change == "a new .pth":
        (site_dir / "two.pth").write_text(f"{extra}\n")
    elif change == "an edited .pth":
        (site_dir / "one.pth").write_text(f"{extra}\n")
    elif change == "a sitecustomize":
        (site_dir / "sitecustomize.py").write_text("")
    else:
        site_dir.mkdir(parents=True)
        (site_dir / "two.pth").write_text(f"{extra}\n")
    assert site_free.module_command("probe_module", [], layout)[1] == "-m"
    eligible = record(layout, tmp_path)
    if change == "a sitecustomize":
        assert eligible is False  # it could do anything: this layout always starts the ordinary way
        assert site_free.module_command("probe_module", [], layout)[1] == "-m"
    else:
        assert eligible is True
        fast = probe(site_free.module_command("probe_module", [], layout), layout, tmp_path)
        assert str(extra) in fast["path"]  # the folder the .pth names is found by the site-free start too


def test_a_pth_that_installs_a_finder_makes_the_layout_start_the_ordinary_way(layout, tmp_path):
    """An editable install in setuptools' strict mode imports through a finder a .pth installs: without site
    it would be missing, so such a layout is never started site-free."""
    site_dir = user_site(layout)
    site_dir.mkdir(parents=True)
    (site_dir / "finder_module.py").write_text(
        "import sys\n"
        "class StrictEditableFinder:\n    @classmethod\n    def find_spec(cls, *a, **k):\n        return None\n"
        "def install():\n    sys.meta_path.append(StrictEditableFinder)\n"
    )
    (site_dir / "zz-editable.pth").write_text("import finder_module; finder_module.install()\n")
    assert record(layout, tmp_path) is False
    assert site_free.module_command("probe_module", [], layout)[1] == "-m"


def test_a_record_that_no_longer_finds_the_module_starts_it_the_ordinary_way(layout, tmp_path):
    """A record that passed its checks but whose path lacks the module (edited by hand): the boot replaces
    itself with ``python -m``, which finds it."""
    assert record(layout, tmp_path) is True
    path = Path(layout["RUNCONFIG_JUPYTER_HOME"]) / site_free.REMEMBERED
    layouts = json.loads(path.read_text())
    for entry in layouts.values():
        entry["path"] = [p for p in entry["path"] if "probes" not in p]
    path.write_text(json.dumps(layouts))
    command = site_free.module_command("probe_module", ["x"], layout)
    assert command[1] == "-S"
    assert probe(command, layout, tmp_path)["no_site"] == 0  # started again the ordinary way
