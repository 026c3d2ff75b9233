"""Nothing a run configuration names may reach outside the run (issue 10, section 1).

Through the Python API (``submit``, ``Experiment.submit``, estimators, ``Environment`` factories), the
magics on a real IPython shell (``%%runconfig`` + ``%submit``) and the widgets' form: every path-valued
field goes through core/confine.py, and a refused value leaves nothing behind (no run row, no run folder,
no snapshot). Each case asserts what the hostile config could NOT do, not only that an error was raised.
"""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.config import Environment
from runconfig_jupyter.core.config.estimators import Estimator
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.confine import Confinement, register_place, registered_places, unregister_place
from tests.snapshot_store import nothing_stored

SECRET = "confinement-canary-7f3a"


def nothing_recorded(home: Path) -> None:
    """No run row, no run folder, no snapshot archive: the refusal came before anything was written."""
    store = RunStore(home)
    assert store.list(limit=100) == []
    assert list((home / "runs").iterdir()) == []
    assert [p for p in (home / "snapshots").iterdir() if p.suffix == ".tar"] == []
    assert nothing_stored(home)  # nor any object or manifest of the per-file store


@pytest.fixture
def hostile(project: Path, tmp_path: Path) -> dict[str, Path]:
    """A source folder booby-trapped the ways a shared project can be, plus a secret just outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "conda.yml").write_text(f"name: x\ndependencies:\n  - pip:\n    - {SECRET}\n")
    (outside / "env.yml").write_text("python:\n  userManagedDependencies: true\n")
    (project / "link_to_root").symlink_to("/")
    (project / "link_to_outside").symlink_to(outside)
    (project / "evil.py").symlink_to(outside / "secret.txt")
    (project / "nested").mkdir()
    (project / "nested" / "up").symlink_to("../..")
    os.mkfifo(project / "a_fifo")
    sock_dir = project / "with_socket"
    sock_dir.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_dir / "s.sock"))
    yield {"project": project, "outside": outside, "socket": sock_dir / "s.sock"}
    server.close()


RESUME_REFUSED = [
    "/",
    "/etc",
    "/etc/",
    "//etc",
    "/./etc/../etc",
    "/proc/self/root",
    "/proc/1/cwd",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var",
    "/var/run",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/usr",
    "~",
    "~/.ssh",
    "~/.aws",
    "/home/somebody/.ssh",
    "/root/.config/gcloud",
    "ckpt\0",
    "../../../../../../../../",
    "link_to_root",
    "link_to_root/etc",
    "nested/up/..",
    "link_to_outside",
    "a_fifo",
    "with_socket",
    "with_socket/s.sock",
]


@pytest.mark.parametrize("value", RESUME_REFUSED)
def test_resume_from_outside_allowed_places_is_refused_before_anything_is_recorded(hostile, run_home, value):
    config = ScriptRunConfig(str(hostile["project"]), script="train.py", resume_from=value)
    with pytest.raises(ConfigError) as caught:
        submit(config, "conf", target="docker")  # the docker target is never contacted: refused in validate
    assert caught.value.field == "resume_from"
    nothing_recorded(run_home)


@pytest.mark.parametrize("value", ["/tmp", "..", "../outside", "/etc/../tmp"])
def test_a_folder_outside_the_source_is_refused_until_registered(hostile, run_home, value):
    project = hostile["project"]
    config = ScriptRunConfig(str(project), script="train.py", resume_from=value)
    with pytest.raises(ConfigError, match="register") as caught:
        config.validate()
    assert caught.value.field == "resume_from"


def test_allowed_resume_from_values(hostile, run_home):
    project, outside = hostile["project"], hostile["outside"]
    (project / "ckpt").mkdir()
    confinement = Confinement.for_source(project, run_home)
    assert confinement.resume_from("ckpt") == (project / "ckpt").resolve()
    # A run id resolves to that run's outputs (in the run home).
    done = submit(ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", "1"]), "conf")
    done.wait_for_completion(timeout=60)
    assert confinement.resume_from(done.id) == (run_home / "runs" / done.id / "outputs").resolve()
    assert confinement.resume_from(str(run_home / "runs" / done.id / "outputs")) == confinement.resume_from(done.id)
    # Nothing else of the run home: not the index, other runs' logs and snapshots, or the home itself.
    for other in ("", "runs", f"runs/{done.id}", f"runs/{done.id}/logs", "snapshots"):
        with pytest.raises(ConfigError, match="outside"):
            confinement.resume_from(str(run_home / other))
    # A registered place is allowed; unregistering takes it back.
    register_place(outside, name="ckpts")
    assert [p.name for p in registered_places()] == ["ckpts"]
    assert Confinement.for_source(project, run_home).resume_from(str(outside)) == outside.resolve()
    assert unregister_place("ckpts")
    with pytest.raises(ConfigError):
        Confinement.for_source(project, run_home).resume_from(str(outside))


@pytest.mark.parametrize("place", ["/", "/etc", "/var/run", "/proc/self/root", "~/.ssh", "~"])
def test_system_locations_cannot_be_registered(place, run_home):
    with pytest.raises(ConfigError) as caught:
        register_place(place)
    assert caught.value.field == "places"
    assert registered_places() == []


def test_a_hand_edited_places_file_cannot_open_a_system_location(hostile, run_home):
    (run_home / "places.yaml").write_text("places:\n- {name: all, path: /, writable: true}\n- {path: /etc}\n")
    config = ScriptRunConfig(str(hostile["project"]), script="train.py", resume_from="/etc")
    with pytest.raises(ConfigError, match="system location"):
        config.validate()


def test_a_link_through_a_registered_place_to_a_system_location_is_refused(hostile, run_home, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "escape").symlink_to("/etc")
    register_place(data)
    config = ScriptRunConfig(str(hostile["project"]), script="train.py", resume_from=str(data / "escape"))
    with pytest.raises(ConfigError, match="resolves to /etc"):
        config.validate()


@pytest.mark.parametrize("source", ["/", "/etc", "/proc/self/root", "/var", "/run", "~", "~/.ssh", "/root/.ssh"])
def test_source_directory_may_not_be_or_contain_a_system_location(source, run_home):
    with pytest.raises(ConfigError) as caught:
        submit(ScriptRunConfig(source, command="true"), "conf")
    assert caught.value.field == "source_directory"
    nothing_recorded(run_home)


@pytest.mark.parametrize("script", ["evil.py", "link_to_outside/secret.txt", "link_to_root/etc/hostname"])
def test_a_script_that_links_out_of_the_source_folder_is_refused(hostile, run_home, script):
    with pytest.raises(ConfigError) as caught:
        submit(ScriptRunConfig(str(hostile["project"]), script=script), "conf")
    assert caught.value.field == "script"
    nothing_recorded(run_home)


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("environment:\n  python:\n    condaDependenciesFile: ../outside/conda.yml\n", "conda_dependencies_file"),
        ("environment:\n  python:\n    conda_dependencies_file: link_to_outside/conda.yml\n", "conda"),
        ("environment:\n  python:\n    condaDependenciesFile: /etc/passwd\n", "conda_dependencies_file"),
        ("environment: ../outside/env.yml\n", "environment"),
        ("environment: link_to_root/etc/x.yml\n", "environment"),
        ("source_directory: /etc\n", "source_directory"),
        ("sourceDirectory: /proc/self/root\n", "source_directory"),
        ("resumeFrom: /\n", "resume_from"),
        ("resume_from: /var/run/docker.sock\n", "resume_from"),
    ],
)
def test_files_a_yaml_names_are_confined_before_they_are_read(hostile, yaml_text, field):
    with pytest.raises(ConfigError) as caught:
        config = ScriptRunConfig.from_yaml("script: train.py\n" + yaml_text, str(hostile["project"]))
        config.validate()
    assert field in caught.value.field
    assert SECRET not in str(caught.value)  # nothing of the outside file was read into the message


def test_estimator_and_environment_files_go_through_the_same_check(hostile):
    project = hostile["project"]
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError) as caught:
        Estimator(str(project), entry_script="train.py", pip_requirements_file="../outside/secret.txt")
    assert caught.value.field == "pip_requirements_file"
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError) as caught:
        Estimator(str(project), entry_script="train.py", conda_dependencies_file="link_to_outside/conda.yml")
    assert caught.value.field == "conda_dependencies_file"
    for call in (
        lambda: Environment.from_pip_requirements("x", "/etc/shadow"),
        lambda: Environment.from_conda_specification("x", "/proc/self/environ"),
        lambda: Environment.from_dockerfile("x", "/etc/passwd"),
    ):
        with pytest.raises(ConfigError, match="system location"):
            call()


def test_experiment_submit_of_a_config_changed_after_validation_is_refused(hostile, run_home):
    config = ScriptRunConfig(str(hostile["project"]), script="train.py")
    config.validate()
    config.resume_from = "/"  # a Python value set after the checks ran
    with pytest.raises(ConfigError, match="resume_from"):
        Experiment("conf").submit(config)
    nothing_recorded(run_home)


# -- magics, on a real IPython shell --------------------------------------------------------------------
@pytest.fixture
def shell(hostile, monkeypatch):
    monkeypatch.chdir(hostile["project"])
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    ip.run_line_magic("config", "RunConfigMagics.live_view = False")
    yield ip
    for name in ("hostile", "ok"):
        ip.user_ns.pop(name, None)


@pytest.mark.parametrize(
    "body",
    [
        "script: train.py\nresume_from: /\n",
        "script: train.py\nresumeFrom: link_to_root\n",
        "script: train.py\nsource_directory: /etc\n",
        "script: evil.py\n",
        "script: train.py\nenvironment:\n  python:\n    condaDependenciesFile: ../outside/conda.yml\n",
    ],
)
def test_runconfig_cell_refuses_and_stores_nothing(shell, run_home, body):
    with capture_output() as out:
        shell.run_cell_magic("runconfig", "hostile", textwrap.dedent(body))
    assert "hostile" not in shell.user_ns
    assert "ConfigError" in out.stderr and "line" in out.stderr
    assert SECRET not in out.stdout + out.stderr
    nothing_recorded(run_home)


def test_submit_magic_refuses_a_config_edited_in_python(shell, run_home):
    with capture_output():
        shell.run_cell_magic("runconfig", "ok", "script: train.py\n")
    shell.user_ns["ok"].resume_from = "/proc/self/root"
    with capture_output() as out:
        shell.run_line_magic("submit", "ok --target docker")
    assert "resume_from" in out.stderr and "system location" in out.stderr
    nothing_recorded(run_home)


def test_form_refuses_paths_outside_the_source(hostile, run_home):
    from runconfig_jupyter.widgets.form_fields import FormValues, build_config, target_choices

    values = FormValues(
        source_directory=str(hostile["project"]), script="train.py", requirements_file="../outside/secret.txt"
    )
    config, errors = build_config(values, target_choices(check=False))
    assert config is None and [e.field for e in errors] == ["requirements_file"]
    values = FormValues(source_directory=str(hostile["project"]), script="evil.py")
    config, errors = build_config(values, target_choices(check=False))
    assert config is None and errors and errors[0].field == "script"
    nothing_recorded(run_home)


def test_a_folder_holding_a_users_credentials_is_never_the_source(tmp_path, run_home, monkeypatch):
    users = tmp_path / "users"
    home = users / "alice"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(SECRET)
    (home / "train.py").write_text("print(1)\n")
    monkeypatch.setenv("HOME", str(home))
    for source in (users, home):
        with pytest.raises(ConfigError, match="credential store") as caught:
            submit(ScriptRunConfig(str(source), script="train.py"), "conf")
        assert caught.value.field == "source_directory"
    with pytest.raises(ConfigError, match="credential store"):
        register_place(users)
    nothing_recorded(run_home)
