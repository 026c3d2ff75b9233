"""What the submitting process no longer computes or imports, and that the answers did not change.

A fresh ``python submit.py`` skips three things (benchmarks/bench_script.py): Jupyter's runtime folder is
remembered instead of importing jupyter_core (core/safety/jupyter_runtime.py), a run naming no data is told so
without the data plan module (core/data/mentions.py), and the index's rebuild code is imported only for a
rebuild. Each test below compares the short path with the long one it replaces.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.paths import jupyter_runtime_dir

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.data import mentions
from runconfig_jupyter.core.data.plan import DataPlan
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.names import new_run_id
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.runs.submit import checks_data, start_run
from runconfig_jupyter.core.safety import confine
from runconfig_jupyter.core.safety.jupyter_runtime import REMEMBERED_FILE, jupyter_runtime_folder
from runconfig_jupyter.targets.local.target import LocalTarget


@pytest.fixture
def jupyter_env(run_home, tmp_path, monkeypatch):
    """jupyter_core's rule reads these; each test starts from the XDG rule under its own folder."""
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_PLATFORM_DIRS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    confine._never_allowed.cache_clear()
    yield run_home
    confine._never_allowed.cache_clear()


def test_the_runtime_folder_is_jupyter_cores_then_remembered(jupyter_env):
    assert jupyter_runtime_folder() == jupyter_runtime_dir()
    remembered = json.loads((jupyter_env / REMEMBERED_FILE).read_text())
    assert remembered["runtime_dir"] == jupyter_runtime_dir()
    assert jupyter_runtime_folder() == jupyter_runtime_dir()


@pytest.mark.parametrize("variable", ["XDG_DATA_HOME", "JUPYTER_DATA_DIR", "HOME"])
def test_a_changed_input_of_jupyters_rule_is_asked_again(jupyter_env, tmp_path, monkeypatch, variable):
    if variable == "HOME":  # read only when XDG_DATA_HOME is not set
        monkeypatch.delenv("XDG_DATA_HOME")
    first = jupyter_runtime_folder()
    monkeypatch.setenv(variable, str(tmp_path / f"moved-{variable}"))
    assert jupyter_runtime_folder() == jupyter_runtime_dir() != first


def test_jupyter_runtime_dir_is_used_as_jupyter_core_uses_it(jupyter_env, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    assert jupyter_runtime_folder() == jupyter_runtime_dir() == str(tmp_path / "rt")


def test_a_remembered_folder_for_another_state_is_not_believed(jupyter_env):
    """A file written for other inputs (or damaged) cannot move the folder the never-allowed list protects."""
    (jupyter_env / "cache").mkdir(exist_ok=True)
    (jupyter_env / REMEMBERED_FILE).write_text(json.dumps({"state": "[]", "runtime_dir": "/nowhere"}))
    assert jupyter_runtime_folder() == jupyter_runtime_dir()
    (jupyter_env / REMEMBERED_FILE).write_text("{not json")
    assert jupyter_runtime_folder() == jupyter_runtime_dir()


def test_a_source_in_the_runtime_folder_is_still_refused_when_remembered(jupyter_env):
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True)
    jupyter_runtime_folder()  # remembered now
    confine._never_allowed.cache_clear()
    with pytest.raises(ConfigError, match="Jupyter's runtime folder"):
        confine.refuse_never_allowed(Path(os.path.realpath(runtime)), "source_directory")


ARGUMENTS = [
    "--lr",
    "0.1",
    "DatasetConsumptionConfig:train",
    "DatasetOutputConfig:model-out",
    "$AZUREML_DATAREFERENCE_store1",
    "${AZUREML_DATAREFERENCE_store1}",
    "--data=DatasetConsumptionConfig:a_b",
    "AZUREML_DATAREFERENCE_",  # a marker without a name: no placeholder
    "DatasetConsumptionConfig:",  # the same
    "${AZUREML_DATAREFERENCE_}",
    "datasetconsumptionconfig:x",  # case matters, as in the plan's expression
    7,
]


@pytest.mark.parametrize("argument", ARGUMENTS)
def test_names_data_answers_as_the_placeholder_expression_does(tmp_path, argument):
    """The fixed-part pre-check never hides a placeholder the full expression finds."""
    expected = [next(g for g in m.groups() if g) for m in mentions.placeholder_expression().finditer(str(argument))]
    assert mentions.placeholder_names(argument) == expected
    config = ScriptRunConfig(str(tmp_path), script="t.py", arguments=[argument])
    assert mentions.names_data(config) == bool(expected)
    command = ScriptRunConfig(str(tmp_path), command=f"python t.py {argument}")
    assert mentions.names_data(command) == bool(expected)


class _PlanRecordingTarget(LocalTarget):
    """A local target with its own validate_data: it must still be asked, with an empty plan, and can refuse."""

    seen: list[object] = []

    def validate_data(self, plan):  # type: ignore[no-untyped-def]
        self.seen.append(plan)
        raise ConfigError("refused by the test target", field="data")


def test_a_target_with_its_own_validate_data_is_asked_about_an_empty_plan(run_home, tmp_path):
    source = tmp_path / "project"
    source.mkdir()
    (source / "t.py").write_text("print(1)\n")
    target = _PlanRecordingTarget(name="local")
    assert checks_data(target) and not checks_data(LocalTarget(name="local"))
    with pytest.raises(ConfigError, match="refused by the test target"):
        start_run(ScriptRunConfig(str(source), script="t.py"), "lazy", target=target)
    assert len(_PlanRecordingTarget.seen) == 1
    plan = _PlanRecordingTarget.seen[0]
    assert isinstance(plan, DataPlan) and not plan
    assert RunStore().list() == [], "refused before anything was recorded"


def test_run_ids_keep_their_shape():
    run_id = new_run_id("exp-1")
    assert re.fullmatch(r"exp-1_\d+_[0-9a-f]{8}", run_id)
    assert len({new_run_id("e") for _ in range(200)}) == 200


def _sections() -> list[type]:
    from runconfig_jupyter.core.config import distributed_config, environment, runconfig, serialization

    found = {
        value
        for module in (runconfig, environment, distributed_config)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, serialization.Section)
    }
    return sorted(found, key=lambda cls: cls.__qualname__)


@pytest.mark.parametrize("section", _sections(), ids=lambda cls: cls.__qualname__)
def test_config_sections_repr_and_compare_as_generated_methods_would(section):
    """Section's shared ``__repr__``/``__eq__`` against the ones ``dataclasses`` generates for the same fields
    (a dataclass made from the section's own field table: names, defaults, repr and compare flags)."""
    import dataclasses

    from runconfig_jupyter.core.system import records

    specs = []
    for spec in records.fields(section):
        options: dict[str, Any] = {"repr": spec.repr, "compare": spec.compare, "kw_only": spec.kw_only}
        if spec.default_factory is not records.MISSING:
            options["default_factory"] = spec.default_factory
        elif spec.default is not records.MISSING:
            options["default"] = spec.default
        specs.append((spec.name, Any, dataclasses.field(**options)))
    twin = dataclasses.make_dataclass(section.__name__, specs)
    twin.__qualname__ = section.__qualname__

    def values(obj):
        return {f.name: getattr(obj, f.name) for f in records.fields(obj) if f.init}

    first, second = section(), section()
    changed = section()
    changed.extra["kept"] = 1  # compared, not shown
    for one, other in ((first, second), (first, changed)):
        one_twin, other_twin = twin(**values(one)), twin(**values(other))
        assert repr(one) == repr(one_twin)
        assert (one == other) is (one_twin == other_twin)
    assert first.__eq__(object()) is NotImplemented
    assert section.__hash__ is None, "unhashable, as a generated eq makes a mutable dataclass"


def test_home_workspace_is_still_imported_from_home_and_stays_frozen(tmp_path):
    import dataclasses

    from runconfig_jupyter.core.registries.home import HomeWorkspace

    workspace = HomeWorkspace(tmp_path)
    assert workspace.home == tmp_path and workspace == HomeWorkspace(tmp_path)
    assert repr(workspace) == f"HomeWorkspace(home={tmp_path!r})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        workspace.home = Path("/")  # type: ignore[misc]


def test_place_and_setting_help_are_still_imported_from_their_old_modules(run_home, tmp_path):
    """Both classes moved to modules of their own (created on first use) and keep their old import paths."""
    from runconfig_jupyter.core.safety.confine import Place, register_place, registered_places
    from runconfig_jupyter.core.target.settings import SettingHelp, settings_help
    from runconfig_jupyter.targets.local.target import LocalTarget

    data = tmp_path / "data"
    data.mkdir()
    place = register_place(data, name="d")
    assert isinstance(place, Place) and registered_places() == [place]
    rows = settings_help(LocalTarget.Settings)
    assert rows and all(isinstance(row, SettingHelp) for row in rows)


def test_a_conda_request_is_made_only_for_conda_packages_and_keeps_its_import_path():
    from runconfig_jupyter.core.config.environment import Environment
    from runconfig_jupyter.targets.conda_prefix import CondaRequest, conda_request

    plain = Environment(name="plain")
    assert conda_request(plain) is None
    wanted = Environment(name="numpy")
    wanted.python.conda_dependencies.add_conda_package("numpy")
    request = conda_request(wanted)
    assert isinstance(request, CondaRequest) and request.packages == ("numpy",)
    assert request.describe() == "numpy from conda-forge"
