"""Docker run options are an allow list, and a docker run cannot reach the host (issue 10, section 1).

Against the real dockerd and the offline base image: every refused spelling is refused by ``submit``
before a container, a run row or a run folder exists; a permitted run (resources, env, a registered
checkpoint folder) gets a container that cannot see the host's /etc/shadow or the Docker socket.
"""

from __future__ import annotations

import hashlib
import secrets
import textwrap
from pathlib import Path

import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.safety.confine import register_place
from runconfig_jupyter.targets.docker.args import parse_docker_arguments
from tests.docker_engine import engine_or_skip

LABEL = "runconfig-jupyter"
NONCE = secrets.token_hex(4)


@pytest.fixture(scope="module")
def engine():
    """The real engine (scripts/ensure_docker.sh starts it when needed); skipped with its reason if impossible."""
    client = engine_or_skip()
    yield client
    client.close()


def containers_of(client, experiment: str) -> list:
    return client.containers.list(all=True, ignore_removed=True, filters={"label": f"{LABEL}.experiment={experiment}"})


def nothing_recorded(home: Path) -> None:
    assert RunStore(home).list(limit=100) == []
    assert list((home / "runs").iterdir()) == []


REFUSED = [
    ["--ipc=host"],
    ["--ipc", "host"],
    ["--ipc host"],
    ["--IPC=host"],
    ["--ipc=container:other"],
    ["--network=container:other"],
    ["--network", "host"],
    ["--net=host"],
    ["--network=some-other-network"],
    ["--pid=host"],
    ["--pid", "container:other"],
    ["--uts=host"],
    ["--userns=host"],
    ["--cgroupns=host"],
    ["--cgroup-parent=/"],
    ["--security-opt", "seccomp=unconfined"],
    ["--security-opt=apparmor=unconfined"],
    ["--securityOpt=label=disable"],
    ["--privileged"],
    ["--privileged=true"],
    ["--Privileged"],
    ["--cap-add=ALL"],
    ["--cap-add", "SYS_ADMIN"],
    ["--device=/dev/sda"],
    ["--device-cgroup-rule=a *:* rwm"],
    ["-v", "/:/host"],
    ["-v/:/host"],
    ["--volume=/var/run/docker.sock:/var/run/docker.sock"],
    ["--mount", "type=bind,source=/,target=/host"],
    ["--volumes-from", "other"],
    ["--env-file", "/etc/shadow"],
    ["--label-file=/etc/shadow"],
    ["--sysctl", "kernel.core_pattern=|/x"],
    ["--oom-kill-disable"],
    ["--runtime=runc"],
    ["--link", "other:db"],
    ["--add-host=host.docker.internal:host-gateway"],
    ["--tmpfs", "relative/path"],
    ["--tmpfs", "/x/../../etc:rw"],
    ["--label", "runconfig-jupyter.run_id=someone-else"],
    ["--user", "0;id"],
    ["--hostname", "a b"],
    ["--cpuset-cpus", "0;1"],
    ["--gpus", "device=/dev/sda"],
    ["--gpus=device=0,/dev/mem"],
    ["--memory", "1g", "--ipc=host"],  # a bad option after a good one
    ["ipc=host"],  # a bare word where an option belongs
    [{"ipc": "host"}],  # mapping form inside the list
    {"ipc": "host"},  # mapping form, the whole value
    {"privileged": True},
    {"network": "host"},
    {"--pid": "host"},
    {"shmSize": "1g", "capAdd": "ALL"},
    {"volume": ["/:/host"]},
]


@pytest.mark.parametrize("arguments", REFUSED, ids=[str(a) for a in REFUSED])
def test_refused_docker_options_never_create_anything(engine, project, run_home, arguments):
    experiment = f"sec-opt-{NONCE}"
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker")
    config.run_config.docker.arguments = arguments
    with pytest.raises(ConfigError) as caught:
        submit(config, experiment)
    assert caught.value.field == "run_config.docker.arguments"
    nothing_recorded(run_home)
    assert containers_of(engine, experiment) == []


@pytest.mark.parametrize(
    "yaml_text",
    [
        "docker_runtime_config:\n  arguments: [--ipc=host]\n",
        "dockerRuntimeConfig:\n  arguments: {pid: host}\n",
        "docker:\n  arguments: ['--network', 'container:other']\n",
        "docker:\n  arguments: {securityOpt: seccomp=unconfined}\n",
        "environment:\n  docker:\n    arguments: [--privileged]\n",
        "environment:\n  docker:\n    arguments: {ipc: host}\n",
        "docker:\n  arguments: --ipc=host\n",
    ],
)
def test_refused_options_in_a_runconfig_cell(engine, project, run_home, yaml_text):
    experiment = f"sec-yaml-{NONCE}"
    with pytest.raises(ConfigError) as caught:
        config = ScriptRunConfig.from_yaml("script: train.py\ncompute_target: docker\n" + yaml_text, str(project))
        submit(config, experiment)
    assert "arguments" in (caught.value.field or "")
    nothing_recorded(run_home)
    assert containers_of(engine, experiment) == []


def test_allowed_options_in_every_spelling_map_to_the_same_keywords():
    listed = parse_docker_arguments(["--memory=1g", "--shm-size", "256m", "--ipc=private", "--network", "none"])
    camel = parse_docker_arguments(["--Memory", "1g", "--shmSize=256m", "--ipc private", "--net=none"])
    mapping = parse_docker_arguments({"memory": "1g", "shm_size": "256m", "ipc": "private", "network": "none"})
    for options in (listed, camel, mapping):
        assert options.create_kwargs() == {
            "mem_limit": "1g",
            "shm_size": "256m",
            "ipc_mode": "private",
            "network": "none",
        }


@pytest.mark.parametrize("resume_from", ["/", "/var/run", "/proc/1/root", "/var/run/docker.sock", "link"])
def test_a_docker_run_resuming_from_the_host_never_starts(engine, project, run_home, resume_from):
    (project / "link").symlink_to("/")
    experiment = f"sec-resume-{NONCE}"
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", resume_from=resume_from)
    with pytest.raises(ConfigError) as caught:
        Experiment(experiment).submit(config)
    assert caught.value.field == "resume_from"
    nothing_recorded(run_home)
    assert containers_of(engine, experiment) == []


PROBE = textwrap.dedent(
    """
    import hashlib, os
    def digest(path):
        try:
            return hashlib.sha256(open(path, "rb").read()).hexdigest()
        except OSError as error:
            return "unreadable " + error.__class__.__name__
    print("shadow", digest("/etc/shadow"))
    for sock in ("/var/run/docker.sock", "/run/docker.sock", "/resume_from/docker.sock"):
        print("socket", sock, os.path.exists(sock))
    print("resume", sorted(os.listdir(os.environ["RUNCONFIG_RESUME_FROM"])))
    mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
    print("mounts", sorted(m for m in mounts if m.startswith(("/host", "/var/run", "/run/docker"))))
    print("ipc", os.readlink("/proc/self/ns/ipc"))
    """
)


def test_a_permitted_run_cannot_see_the_host(engine, project, run_home, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "ckpt.txt").write_text("epoch=3\n")
    register_place(checkpoint)
    (project / "probe.py").write_text(PROBE)
    config = ScriptRunConfig(str(project), script="probe.py", compute_target="docker", resume_from=str(checkpoint))
    config.run_config.docker.arguments = ["--memory=512m", "--cpus", "1", "--ipc=private", "--pids-limit=200"]
    run = Experiment(f"sec-ok-{NONCE}").submit(config)
    details = run.wait_for_completion(timeout=180)
    log = run.get_log()
    assert details["status"] == "Completed", log
    host_shadow = hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest()
    assert f"shadow {host_shadow}" not in log  # the container's /etc/shadow is the image's, not the host's
    assert "True" not in "".join(line for line in log.splitlines() if line.startswith("socket"))
    assert "resume ['ckpt.txt']" in log and "mounts []" in log
    host_ipc = Path("/proc/self/ns/ipc").readlink()
    assert f"ipc {host_ipc}" not in log  # its own IPC namespace
    assert containers_of(engine, f"sec-ok-{NONCE}") == []  # and nothing is left behind


def test_the_driver_checks_resume_from_again_right_before_mounting(project, run_home):
    """A folder accepted at submit and swapped for a link to / before the container is created is refused."""
    from runconfig_jupyter.targets.docker.container import resume_mount

    (project / "ckpt").mkdir()
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker", resume_from="ckpt")
    config.validate()
    assert resume_mount(config) == {str((project / "ckpt").resolve()): {"bind": "/resume_from", "mode": "ro"}}
    (project / "ckpt").rmdir()
    (project / "ckpt").symlink_to("/")
    with pytest.raises(ConfigError, match="resolves to /") as caught:
        resume_mount(config)
    assert caught.value.field == "resume_from"
