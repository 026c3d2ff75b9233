"""RunConfigForm driven headless: field errors inline, nothing submitted on bad input, YAML both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome
from runconfig_jupyter.widgets import form_fields as ff
from runconfig_jupyter.widgets.form import RunConfigForm
from tests.snapshot_store import nothing_stored


def _nothing_recorded(home: Path) -> bool:
    store = RunStore(home)
    return (
        store.list() == []
        and not any(store.runs_dir.iterdir())
        and not any(store.snapshots_dir.glob("*.tar"))
        and nothing_stored(home)  # nor an object or manifest of the per-file store
    )


def test_bad_input_shows_each_error_under_its_field_and_submits_nothing(project, run_home):
    form = RunConfigForm(source_directory=str(project))
    form.arguments.value = "--epochs 'unclosed"
    form.env_vars.value = "GREETING=hi\nnot a pair"
    form.max_duration.value = 0
    assert form.submit() is None
    errors = form.field_errors
    assert set(errors) == {"script", "arguments", "env_vars", "max_duration"}
    assert "give a script" in errors["script"] and "quotes" in errors["arguments"]
    assert "line 2" in errors["env_vars"] and "positive number of seconds" in errors["max_duration"]
    assert form.errors["script"].layout.display == "" and form.errors["target"].layout.display == "none"
    assert form.run is None and form.result.children == ()
    assert _nothing_recorded(run_home)


def test_missing_source_folder_and_missing_script_are_named(project, run_home):
    form = RunConfigForm(source_directory=str(project / "nope"))
    form.script.value = "train.py"
    form.submit_button.click()
    assert "is not a folder" in form.field_errors["source_directory"]
    form.source_directory.value = str(project)
    assert "train.py" in form.script.options, "the script picker rescans the new folder"
    form.script.value = "missing.py"
    assert form.build() is None
    assert "missing.py" in form.field_errors["script"], "the core's ConfigError lands under Script"
    assert _nothing_recorded(run_home)


def test_unavailable_target_is_an_error_on_the_target_field(project, run_home):
    register_target("broken-box", type="no-such-type")
    try:
        form = RunConfigForm(source_directory=str(project))
        assert "broken-box" in [value for _label, value in form.target.options]
        form.script.value = "train.py"
        form.target.value = "broken-box"
        assert "unavailable" in form.target_info.value
        assert form.submit() is None
        assert "broken-box" in form.field_errors["target"]
    finally:
        unregister_target("broken-box")
    assert _nothing_recorded(run_home)


class _GpuClusterTarget(ComputeTarget):
    """Declares GPU + distributed capabilities only, to check the form shows those fields.

    A stand-in because this machine has no GPU and no multi-node cluster; it is never started.
    """

    type_name = "widget-test-gpu-cluster"

    def capabilities(self) -> Capabilities:
        return Capabilities(gpu=True, distributed=True, description="test target with GPUs")

    def start(self, ctx) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")

    def wait(self, ctx) -> Outcome:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")

    def cancel(self, ctx, reason: str) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("never started")


class _SingleCpuTarget(_GpuClusterTarget):
    """A registered target that can do neither GPUs nor distributed runs (local can run ranks now)."""

    type_name = "widget-test-single-cpu"

    def capabilities(self) -> Capabilities:
        return Capabilities(gpu=False, distributed=False, description="test target, one CPU process")


class _NoLimitTarget(_GpuClusterTarget):
    """A registered target that cannot enforce max_run_duration_seconds (Capabilities.max_duration=False)."""

    type_name = "widget-test-no-limit"

    def capabilities(self) -> Capabilities:
        return Capabilities(max_duration=False, description="test target without a run time limit")


def test_max_duration_is_offered_only_where_the_target_can_enforce_it(project, install_target_types):
    install_target_types(_NoLimitTarget)
    register_target("no-limit", type=_NoLimitTarget.type_name)
    try:
        form = RunConfigForm(source_directory=str(project))
        form.script.value = "train.py"
        form.max_duration.value = 60
        assert form.max_duration_row.layout.display == ""  # local enforces it
        assert form.build().max_run_duration_seconds == 60
        form.target.value = "no-limit"
        assert form.max_duration_row.layout.display == "none"
        config = form.build()  # the hidden value no longer counts: no limit is asked of this target
        assert config is not None and config.max_run_duration_seconds == ff.DEFAULT_MAX_DURATION
    finally:
        unregister_target("no-limit")


def test_fields_follow_the_target_capabilities(project, install_target_types):
    install_target_types(_GpuClusterTarget, _SingleCpuTarget)
    register_target("gpu-cluster", type=_GpuClusterTarget.type_name)
    register_target("single-cpu", type=_SingleCpuTarget.type_name)
    try:
        form = RunConfigForm(source_directory=str(project))
        form.target.value = "single-cpu"
        assert form.gpu_row.layout.display == "none" and form.distributed_row.layout.display == "none"
        form.target.value = "local"
        assert form.gpu_row.layout.display == "none" and form.distributed_row.layout.display == ""
        form.target.value = "gpu-cluster"
        assert form.gpu_row.layout.display == "" and form.distributed_row.layout.display == ""
        form.script.value = "train.py"
        form.gpu.value = True
        form.backend.value = "PyTorch (Gloo)"
        form.node_count.value = 2
        form.process_count.value = 3
        config = form.build()
        assert config is not None, form.field_errors
        assert config.distributed_job_config.node_count == 2
        assert config.distributed_job_config.process_count == 6
        assert config.effective_environment().docker.gpu_support is True
        form.node_count.value = 0
        assert form.build() is None and "at least 1" in form.field_errors["distributed"]
        form.node_count.value = 2
        form.target.value = "single-cpu"  # hidden fields no longer count
        config = form.build()
        assert config is not None and config.distributed_job_config is None
    finally:
        unregister_target("gpu-cluster")
        unregister_target("single-cpu")


def test_yaml_export_and_load_round_trip(project):
    form = RunConfigForm(source_directory=str(project))
    form.script.value = "train.py"
    form.arguments.value = "--epochs 2 --note 'two words'"
    form.env_vars.value = "GREETING=hello"
    form.pip_packages.value = "six"
    form.max_duration.value = 120
    text = form.export_yaml()
    assert text and "train.py" in text and form.yaml.value == text
    again = RunConfigForm(source_directory=str(project))
    loaded = again.load_yaml(text)
    assert loaded is not None
    assert again.values == form.values
    assert ScriptRunConfig.from_yaml(text, source_directory=str(project)).max_run_duration_seconds == 120


def test_bad_yaml_is_shown_under_the_yaml_box(project):
    form = RunConfigForm(source_directory=str(project))
    assert form.load_yaml("script: [unclosed") is None
    assert form.field_errors.keys() == {"yaml"}


def test_config_object_fills_the_form_and_builds_back(project):
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 3], max_run_duration_seconds=90)
    config.run_config.environment_variables = {"GREETING": "hi"}
    form = RunConfigForm(config)
    assert form.script.value == "train.py" and form.arguments.value == "--epochs 3"
    assert form.env_vars.value == "GREETING=hi" and form.max_duration.value == 90
    built = form.config
    assert built.argv() == config.argv() and built.environment_variables() == {"GREETING": "hi"}


def test_valid_form_submits_and_shows_run_details_to_completed(project, run_home):
    submitted = []
    form = RunConfigForm(source_directory=str(project), experiment="formexp", on_submit=submitted.append)
    form.script.value = "train.py"
    form.arguments.value = "--epochs 2"
    form.env_vars.value = "GREETING=from-form"
    form.submit_button.click()
    assert form.field_errors == {}, form.field_errors
    run = form.run
    assert run is not None and submitted == [run] and run.experiment == "formexp"
    assert form.result.children == (form.details.widget,)
    assert form.details.wait(60)
    assert form.details.view.status == "Completed"
    assert "env from-form" in run.get_log()


@pytest.mark.parametrize(
    ("config_field", "key"),
    [
        ("script", "script"),
        ("compute_target", "target"),
        ("run_config.target", "target"),
        ("max_run_duration_seconds", "max_duration"),
        ("maxRunDurationSeconds", "max_duration"),
        ("environmentVariables", "env_vars"),
        ("environment.python.conda_dependencies.pip_packages", "pip_packages"),
        ("environment.docker.base_image", "image"),
        ("run_config.docker.shm_size", "shm_size"),
        ("run_config.environment_variables", "env_vars"),
        ("distributed_job_config.process_count", "distributed"),
        ("environment.python.interpreter_path", "general"),
        (None, "general"),
    ],
)
def test_config_error_fields_map_to_form_fields(config_field, key):
    assert ff.field_key(config_field) == key
    form_error = ConfigError("x", field=config_field)
    assert ff.field_key(form_error.field) in ff.FIELD_KEYS


def test_a_command_instead_of_a_script(project):
    form = RunConfigForm(source_directory=str(project))
    form.command.value = "python train.py --epochs 1"
    config = form.build()
    assert config is not None and config.argv()[-3:] == ["train.py", "--epochs", "1"]
    form.command.value = 'python "unclosed'
    assert form.build() is None and list(form.field_errors) == ["command"]


class _PickyTarget(_SingleCpuTarget):
    """A target whose own ``validate`` refuses every config (a stand-in for e.g. a remote box's checks)."""

    type_name = "widget-test-picky"

    def validate(self, config) -> None:  # type: ignore[no-untyped-def]
        raise ConfigError("this box runs only scripts under jobs/", field="script")


def test_check_reports_every_submit_check_at_once_and_records_nothing(project, run_home, install_target_types):
    """Check = the checks Submit makes: the experiment name, the fields, and the target's own validate."""
    install_target_types(_PickyTarget)
    register_target("picky", type=_PickyTarget.type_name)
    try:
        form = RunConfigForm(source_directory=str(project), experiment="not a valid name!")
        form.target.value = "picky"
        form.script.value = "train.py"
        form.env_vars.value = "not-a-pair"
        form.max_duration.value = 0
        form.check_button.click()
        errors = form.field_errors
        assert errors.keys() == {"experiment", "env_vars", "max_duration"}, errors
        form.env_vars.value, form.max_duration.value = "", 60
        form.check_button.click()
        assert form.field_errors.keys() == {"experiment", "script"}, "the target's own check runs too"
        assert "jobs/" in form.field_errors["script"] and "not a valid name!" in form.field_errors["experiment"]
        form.experiment.value = "ok-name"
        form.check_button.click()
        assert form.field_errors.keys() == {"script"} and "jobs/" in form.field_errors["script"]
        assert form.submit() is None and form.field_errors.keys() == {"script"}, "Submit says the same as Check"
    finally:
        unregister_target("picky")
    assert _nothing_recorded(run_home)


def test_export_yaml_writes_only_what_differs_from_the_defaults(project):
    form = RunConfigForm(source_directory=str(project))
    form.script.value = "train.py"
    form.arguments.value = "--epochs 2"
    form.env_vars.value = "GREETING=hello"
    text = form.export_yaml()
    assert text is not None and len(text.splitlines()) <= 10, text
    for default in ("maxRunDurationSeconds", "nodeCount", "framework", "docker", "interpreterPath", "target:"):
        assert default not in text, f"{default} is a default and should not be exported"
    again = ScriptRunConfig.from_yaml(text, source_directory=str(project))
    assert again.to_dict() == form.config.to_dict() | {"compute_target": again.to_dict()["compute_target"]}
    assert again.target_name == "local" and again.argv() == form.config.argv()
    form.max_duration.value = 120
    assert "maxRunDurationSeconds: 120" in form.export_yaml()


def test_export_leaves_out_the_source_folder_when_it_is_the_notebooks(project, monkeypatch):
    monkeypatch.chdir(project)
    config = ScriptRunConfig(str(project), script="train.py")
    assert ff.minimal_yaml(config) == "script: train.py\n"
    assert ff.minimal_yaml(config, notebook_dir=project.parent).startswith("source_directory: ")


def test_check_says_what_packaging_at_submit_would_refuse(project, run_home, monkeypatch):
    """Check measures the folder against the snapshot limits (sizes only), so it never says valid before a refusal."""
    (project / "big.bin").write_bytes(b"\0" * (3 * 1024 * 1024))
    monkeypatch.setenv("RUNCONFIG_SNAPSHOT_MAX_MB", "1")
    form = RunConfigForm(source_directory=str(project))
    form.script.value = "train.py"
    assert form.check() is False
    assert "big.bin" in form.field_errors["source_directory"], form.field_errors
    assert form.submit() is None and "big.bin" in " ".join(form.field_errors.values()), "Submit refuses the same"
    assert _nothing_recorded(run_home)
    monkeypatch.delenv("RUNCONFIG_SNAPSHOT_MAX_MB")
    assert form.check() is True and form.field_errors == {}
