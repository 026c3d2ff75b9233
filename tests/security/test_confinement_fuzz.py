"""Property tests (bounded) of the confinement check and the docker allow list.

Paths are built from hostile pieces (``..``, links to ``/`` and out of the project, system folders, FIFOs);
docker argument lists from allowed and refused options in every spelling. Whatever hypothesis builds, an
accepted path must resolve inside an allowed place and outside every never-allowed location, and accepted
docker options must produce only allowed SDK keywords with values that keep the container's namespaces.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.safety.confine import Confinement, never_allowed, register_place
from runconfig_jupyter.targets.docker.args import IPC_MODES, NETWORK_MODES, VALUE_OPTIONS, parse_docker_arguments

SEGMENTS = ["..", ".", "ckpt", "up", "to_root", "to_outside", "etc", "proc", "self", "root", "fifo", "data", "~", ""]
ROOTS = ["", "/", "~/", "/proc/self/root/", "/var/run/", "/tmp/", "//"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def places(tmp_path: Path, run_home: Path) -> dict[str, Path]:
    project = tmp_path / "project"
    (project / "ckpt" / "data").mkdir(parents=True)
    (project / "up").symlink_to("..")
    (project / "to_root").symlink_to("/")
    outside = tmp_path / "outside"
    (outside / "data").mkdir(parents=True)
    (project / "to_outside").symlink_to(outside)
    os.mkfifo(project / "fifo")
    registered = tmp_path / "registered"
    (registered / "data").mkdir(parents=True)
    register_place(registered)
    return {"project": project, "home": run_home, "registered": registered}


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


@SETTINGS
@given(root=st.sampled_from(ROOTS), parts=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))
def test_an_accepted_path_is_always_inside_an_allowed_place(places, root, parts):
    value = root + "/".join(parts)
    confinement = Confinement.for_source(places["project"], places["home"])
    allowed = [places["project"].resolve(), places["home"].resolve(), places["registered"].resolve()]
    for check in (lambda: confinement.resume_from(value), lambda: confinement.path(value, "x")):
        try:
            real = check()
        except ConfigError as error:
            assert error.field in ("resume_from", "x")
            continue
        assert any(_inside(real, place) for place in allowed), (value, real)
        assert not any(_inside(real, place) or _inside(place, real) for place, _why in never_allowed()), real


OPTIONS = [
    *VALUE_OPTIONS,
    "-m",
    "-e",
    "-v",
    "--init",
    "--rm",
    "--privileged",
    "--pid",
    "--uts",
    "--userns",
    "--cgroupns",
    "--security-opt",
    "--cap-add",
    "--device",
    "--volume",
    "--mount",
    "--volumes-from",
    "--env-file",
    "--Ipc",
    "--securityOpt",
    "ipc",
    "network",
]
VALUES = ["host", "container:x", "private", "none", "bridge", "1g", "2", "A=1", "/:/h", "all", "nofile=1:2", "/s"]


@SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(OPTIONS), st.sampled_from(VALUES), st.sampled_from(["sep", "eq", "one"])),
        min_size=1,
        max_size=5,
    )
)
def test_accepted_docker_options_never_leave_the_container(pieces):
    tokens: list[str] = []
    for option, value, style in pieces:
        tokens += {"sep": [option, value], "eq": [f"{option}={value}"], "one": [f"{option} {value}"]}[style]
    try:
        options = parse_docker_arguments(tokens)
    except ConfigError as error:
        assert error.field == "run_config.docker.arguments"
        return
    kwargs = options.create_kwargs()
    allowed_keys = {key for key, _kind in VALUE_OPTIONS.values()} | {"init"}
    assert set(kwargs) <= allowed_keys, kwargs
    assert kwargs.get("ipc_mode", "private") in IPC_MODES
    assert kwargs.get("network", "bridge") in NETWORK_MODES
    assert not {"privileged", "volumes", "mounts", "devices", "cap_add", "pid_mode", "security_opt"} & set(kwargs)
