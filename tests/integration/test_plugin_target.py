"""A target type from a separate package, found only through its entry point (issue 11).

tests/plugin_target/ is a real package with its own pyproject.toml declaring ``echo`` in the
``runconfig_jupyter.targets`` group. A session fixture installs it with pip into a temp folder (not
site-packages), puts that folder on ``sys.path`` and on ``PYTHONPATH`` for the drivers runs start; the
tests then use the type by name only. Nothing here imports the plug-in's module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import UnknownKeyError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target import plugins
from runconfig_jupyter.core.target.configured import list_targets, register_target, unregister_target

PACKAGE = Path(__file__).resolve().parents[1] / "plugin_target"
MODULE = "rcj_echo_target"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package pip-installed into a folder of its own (a copy is built: no build/ in the tree)."""
    work = tmp_path_factory.mktemp("plugin")
    source, site = work / "source", work / "site"
    shutil.copytree(PACKAGE, source)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert (next(site.glob("rcj_echo_target-*.dist-info")) / "entry_points.txt").is_file()
    return site


@pytest.fixture
def installed_plugin(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plug-in importable here and in every driver this test starts; gone again afterwards."""
    monkeypatch.syspath_prepend(str(plugin_site))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(plugin_site), path) if p))
    monkeypatch.setattr(plugins, "TARGET_TYPES", plugins.TargetTypes())  # this process scans sys.path anew
    yield plugin_site
    unregister_target("echo-box")
    sys.modules.pop(f"{MODULE}.target", None)
    sys.modules.pop(MODULE, None)


def test_a_run_on_a_plug_in_target_completes_with_its_log_and_outputs(project, installed_plugin):
    assert "echo" in plugins.TARGET_TYPES.names()
    assert MODULE not in sys.modules, "found by its entry point, never imported by name"
    register_target("echo-box", type="echo", greeting="hello from the echo plug-in")
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", "2"]), "plugin", "echo-box")
    details = run.wait_for_completion(timeout=120)
    assert details["status"] == "Completed", run.get_log()
    log = run.get_log()
    assert log.index("hello from the echo plug-in") < log.index("epoch 0 loss 1.000") < log.index("epoch 1 loss")
    assert (run.run_dir / "outputs" / "model.txt").read_text() == "trained 2 epochs; env=\n"
    assert run.record.target_type == "echo"


def test_a_failing_script_on_the_plug_in_is_failed_with_its_exit_code(project, installed_plugin):
    register_target("echo-box", type="echo")
    run = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--fail", "3"]), "plugin", "echo-box")
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == "Failed" and run.record.exit_code == 3


def test_the_plug_in_settings_are_validated_like_the_built_ins(project, installed_plugin):
    with pytest.raises(UnknownKeyError) as caught:
        register_target("echo-box", type="echo", greting="hi")
    assert caught.value.field == "targets.echo-box.greting" and caught.value.suggestion == "greeting"
    register_target("echo-box", type="echo")
    infos = {info.name: info for info in list_targets()}
    assert infos["echo-box"].type == "echo" and infos["echo-box"].available
    assert "temp folder" in infos["echo-box"].capabilities.description
    assert RunStore().list() == []


def test_without_the_package_the_type_is_unknown(project):
    """The same name without the plug-in on sys.path: refused before anything is recorded."""
    from runconfig_jupyter.core.errors import UnknownTarget

    register_target("echo-box", type="echo")
    try:
        with pytest.raises(UnknownTarget) as caught:
            submit(ScriptRunConfig(str(project), script="train.py"), "plugin", "echo-box")
        assert "'echo'" in str(caught.value) and "local" in str(caught.value)
    finally:
        unregister_target("echo-box")
    assert RunStore().list() == []


def test_the_plug_in_offers_its_cache_to_garbage_collection(project, installed_plugin, run_home):
    """Core collects a plug-in's cache through its class's ``garbage_sources`` hook, never naming the plug-in."""
    from runconfig_jupyter.core.runs.garbage import GcPolicy
    from runconfig_jupyter.core.runs.gc import collect_garbage

    register_target("echo-box", type="echo")
    run = submit(ScriptRunConfig(str(project), script="train.py"), "plugin", "echo-box")
    assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log()
    cache = run_home / "echo-cache"
    (used,) = [p.name for p in cache.iterdir()]
    (cache / ("f" * 16)).write_text("an environment no run has")
    report = collect_garbage(GcPolicy(grace_seconds=0), dry_run=False)
    actions = {e.name: (e.action, e.why) for e in report.entries if e.source == "echo-cache"}
    assert actions["f" * 16][0] == "removed" and not (cache / ("f" * 16)).exists()
    assert actions[used][0] == "keep" and run.id in actions[used][1] and (cache / used).exists()
