"""Target types come only from the entry-point group; every type's settings are validated one way.

Real installed entry points (this project's pyproject declares the four built-ins), real targets.yaml
files in the test's run home, real traitlets config objects; nothing is contacted (resolving a target
builds it, it does not start it).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import yaml
from traitlets.config import Config

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError, TargetPluginError, UnknownKeyError, UnknownTarget
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.system import records
from runconfig_jupyter.core.target import plugins
from runconfig_jupyter.core.target.configured import (
    configured_targets,
    current_target_source,
    list_targets,
    register_target,
    resolve_target,
    target_aliases,
    unregister_target,
    use_target_settings,
)
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget
from runconfig_jupyter.core.target.settings import settings_help
from runconfig_jupyter.core.target.target_settings import (
    TargetSettings,
    current_target_settings,
    ensure_target_settings,
)

BUILTINS = ("local", "docker", "kernel", "ray")
# One valid spec per built-in type (required settings given) and a setting each one declares.
VALID = {
    "local": ({}, "grace_seconds"),
    "docker": ({}, "stop_timeout"),
    "kernel": ({"url": "http://127.0.0.1:9", "token_env": "RCJ_TEST_BOX_TOKEN"}, "grace_seconds"),
    "ray": ({"address": "http://127.0.0.1:9"}, "connect_timeout"),
}


@pytest.fixture(autouse=True)
def no_config_source():
    """Each test starts with an empty TargetSettings; the one before (a shell's) and the registrations come back."""
    before = current_target_source()
    use_target_settings(TargetSettings())
    yield
    use_target_settings(before)
    for name in ("typo", "wrong", "leaky", "fine"):
        unregister_target(name)


def _write_targets_yaml(run_home, content: dict) -> None:
    (run_home / "targets.yaml").write_text(yaml.safe_dump(content))


def test_the_built_in_types_are_the_installed_entry_points():
    assert set(BUILTINS) <= set(plugins.TARGET_TYPES.names())
    for type_name in BUILTINS:
        assert plugins.target_class(type_name).__module__ == f"runconfig_jupyter.targets.{type_name}.target"


@pytest.mark.parametrize("type_name", BUILTINS)
def test_unknown_setting_is_refused_with_the_closest_name(type_name, run_home):
    spec, known = VALID[type_name]
    typo = known.replace("_", "", 1)  # grace_seconds -> graceseconds: one slip of the finger
    _write_targets_yaml(run_home, {"typo": {"type": type_name, **spec, typo: 1}})
    with pytest.raises(UnknownKeyError) as caught:
        resolve_target("typo")
    assert caught.value.field == f"targets.typo.{typo}"
    assert caught.value.suggestion == known and f"Did you mean '{known}'" in str(caught.value)
    (run_home / "targets.yaml").unlink()
    with pytest.raises(UnknownKeyError):
        register_target("typo", type=type_name, **spec, **{typo: 1})
    assert "typo" not in configured_targets(), "a refused registration leaves nothing behind"


@pytest.mark.parametrize("type_name", BUILTINS)
def test_wrong_type_is_refused_naming_the_field(type_name):
    spec, known = VALID[type_name]
    with pytest.raises(ConfigError) as caught:
        register_target("wrong", type=type_name, **spec, **{known: "soon"})
    assert caught.value.field == f"targets.wrong.{known}" and "a number" in str(caught.value)
    with pytest.raises(ConfigError):
        register_target("wrong", type=type_name, **spec, **{known: True})  # a bool is no number
    assert "wrong" not in configured_targets()


@pytest.mark.parametrize("type_name", BUILTINS)
@pytest.mark.parametrize("secret", ["token", "password", "Secret", "api_key"])
def test_secret_keys_are_refused_for_every_type(type_name, secret, run_home):
    spec, _ = VALID[type_name]
    with pytest.raises(ConfigError) as caught:
        register_target("leaky", type=type_name, **spec, **{secret: "hunter2"}, persist=True)
    assert caught.value.field == f"targets.leaky.{secret}" and f"{secret}_env" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert not (run_home / "targets.yaml").exists(), "nothing written"
    _write_targets_yaml(run_home, {"leaky": {"type": type_name, **spec, secret: "hunter2"}})
    with pytest.raises(ConfigError):
        configured_targets()


@pytest.mark.parametrize("type_name", BUILTINS)
def test_every_setting_has_a_type_a_default_and_help(type_name):
    settings_cls = plugins.target_class(type_name).Settings
    rows = settings_help(settings_cls)
    assert rows and [row.name for row in rows] == [f.name for f in records.fields(settings_cls)]
    for row in rows:
        assert row.help.strip() and row.type, row


@pytest.mark.parametrize("type_name", BUILTINS)
def test_a_valid_spec_round_trips_through_to_spec(type_name):
    spec, known = VALID[type_name]
    register_target("fine", type=type_name, **spec, **{known: 3})
    target = resolve_target("fine")
    assert getattr(target.options, known) == 3
    rebuilt = ComputeTarget.from_spec(target.to_spec())  # what the driver does with run.json's spec
    assert type(rebuilt) is type(target) and rebuilt.to_spec() == target.to_spec()


def test_unknown_key_in_targets_yaml_fails_a_submit_before_anything_is_recorded(project, run_home):
    _write_targets_yaml(run_home, {"typo": {"type": "local", "keep_workingdir": True}})
    with pytest.raises(UnknownKeyError) as caught:
        submit(ScriptRunConfig(str(project), script="train.py", compute_target="typo"), "settings")
    assert caught.value.field == "targets.typo.keep_workingdir" and caught.value.suggestion == "keep_working_dir"
    assert RunStore().list() == []


def test_a_setting_named_by_a_number_is_a_config_error(run_home):
    (run_home / "targets.yaml").write_text("typo:\n  type: local\n  1: 2\n")
    with pytest.raises(ConfigError) as caught:
        resolve_target("typo")
    assert caught.value.field == "targets.typo" and "1" in str(caught.value)


def test_unknown_type_names_the_installed_ones_and_the_closest(run_home):
    _write_targets_yaml(run_home, {"typo": {"type": "dokcer"}})
    with pytest.raises(UnknownTarget) as caught:
        resolve_target("typo")
    message = str(caught.value)
    assert "Did you mean 'docker'" in message and all(name in message for name in BUILTINS)
    info = {i.name: i for i in list_targets(check=False)}["typo"]
    assert not info.available and "dokcer" in info.detail, "listed with its error, not hiding the others"


def test_a_class_that_is_no_entry_point_is_not_a_type():
    """Defining a subclass registers nothing: types come only from the entry-point group."""

    class Unlisted(ComputeTarget):
        type_name = "unlisted-test-type"

        def capabilities(self) -> Capabilities:
            return Capabilities()

        start = wait = cancel = None  # type: ignore[assignment]

    with pytest.raises(UnknownTarget):
        ComputeTarget.from_spec({"type": Unlisted.type_name, "name": "x"})


def test_a_broken_plug_in_is_a_typed_error_naming_its_entry_point(monkeypatch):
    points = [
        EntryPoint("broken", "no_such_module_rcj.target:Target", plugins.GROUP),
        EntryPoint("notatarget", "json:dumps", plugins.GROUP),
    ]
    monkeypatch.setattr(plugins, "TARGET_TYPES", plugins.TargetTypes(lambda: points))
    with pytest.raises(TargetPluginError) as caught:
        ComputeTarget.from_spec({"type": "broken"})
    assert caught.value.entry_point == "broken = no_such_module_rcj.target:Target"
    assert "ModuleNotFoundError" in str(caught.value)
    with pytest.raises(TargetPluginError) as caught:
        ComputeTarget.from_spec({"type": "notatarget"})
    assert "not a ComputeTarget subclass" in str(caught.value) and caught.value.entry_point.endswith("json:dumps")


def test_the_scan_is_cached_and_a_missing_type_rescans_once():
    calls = []

    def scan():
        calls.append(1)
        return plugins.installed_entry_points()

    types = plugins.TargetTypes(scan)
    types.get("local")
    types.get("docker")
    types.names()
    assert len(calls) == 1, "one scan per process"
    with pytest.raises(UnknownTarget):
        types.get("not-installed-yet")
    assert len(calls) == 2, "an unknown type scans again (a plug-in installed since) before it is refused"


def test_traitlets_config_is_a_source_of_targets_and_aliases(run_home):
    config = Config()
    config.TargetSettings.targets = {"lab-box": {"type": "local", "grace_seconds": 2}}
    config.TargetSettings.aliases = {"cpu-cluster": "lab-box"}
    current_target_settings(config=config)
    assert configured_targets()["lab-box"] == {"type": "local", "grace_seconds": 2}
    assert target_aliases() == {"cpu-cluster": "lab-box"}
    assert resolve_target("cpu-cluster").options.grace_seconds == 2
    names = {info.name for info in list_targets(check=False)}
    assert {"lab-box", "cpu-cluster"} <= names
    config.TargetSettings.targets = {"lab-box": {"type": "local", "grace_secs": 2}}
    current_target_settings(config=config)
    with pytest.raises(UnknownKeyError) as caught:
        resolve_target("lab-box")
    assert caught.value.field == "targets.lab-box.grace_secs"


def test_registration_wins_over_traitlets_config_which_wins_over_targets_yaml(run_home):
    _write_targets_yaml(run_home, {"fine": {"type": "local", "grace_seconds": 1}})
    assert resolve_target("fine").options.grace_seconds == 1
    config = Config()
    config.TargetSettings.targets = {"fine": {"type": "local", "grace_seconds": 2}}
    current_target_settings(config=config)
    assert resolve_target("fine").options.grace_seconds == 2
    register_target("fine", type="local", grace_seconds=3)
    assert resolve_target("fine").options.grace_seconds == 3


def test_a_form_does_not_replace_the_settings_the_magics_made_current():
    """``ensure_target_settings`` (the form's call) keeps what ``%load_ext`` installed from ipython_config."""
    config = Config()
    config.TargetSettings.targets = {"lab-box": {"type": "local"}}
    current_target_settings(config=config)
    other = Config()
    other.TargetSettings.targets = {"other-box": {"type": "local"}}
    ensure_target_settings(other)
    assert "lab-box" in configured_targets() and "other-box" not in configured_targets()
