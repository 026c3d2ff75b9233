"""Launch semantics as Azure ML ran them: variables in command and arguments expand per process, a list
command is one command line, legacy AZ_BATCHAI_* names are set, and nothing is ever re-parsed by a shell.

Real runs: the local target (single process and the per-node ``torch.distributed.launch`` with gloo,
2 nodes x 2 processes) and the docker target (same per-node launch, one container per node, in an
image that carries this machine's CPU torch).
"""

from __future__ import annotations

import json

import pytest

from runconfig_jupyter import Experiment, PyTorchConfiguration, ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.launch import argument_template, expand, split_command
from tests.v1.scripts_launch import ECHO_ARGS, PER_NODE_COMMAND, PER_NODE_TRAIN

EVIL = "$(touch pwned1); touch pwned2 `touch pwned3` && touch pwned4 > pwned5"


def test_tokenizer_quotes_and_references():
    env = {"NODE_RANK": "1", "A": "x y", "EVIL": EVIL}
    words = split_command("""run --r $NODE_RANK --b ${NODE_RANK}x '$A' "$A" \\$A $EVIL "a\\"b" '' $5 $(id)""")
    assert expand(words, env) == [
        "run", "--r", "1", "--b", "1x", "$A", "x y", "$A", EVIL, 'a"b', "", "$5", "$(id)",
    ]  # fmt: skip
    assert expand(words, None)[4] == "${NODE_RANK}x"  # what records show
    assert expand(split_command(["python train.py", "--n", "$UNSET"]), {}) == ["python", "train.py", "--n", ""]
    assert expand([argument_template("$NODE_RANK-$A"), argument_template("\\$HOME")], env) == ["1-x y", "$HOME"]
    with pytest.raises(ValueError, match="closing quotation"):
        split_command("echo 'open")


def test_unclosed_quote_in_a_list_command_is_refused_before_submit(tmp_path):
    (tmp_path / "train.py").write_text("")
    config = ScriptRunConfig(str(tmp_path), command=["python", "train.py", "--name", "it's"])
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "command"


def test_command_and_arguments_expand_on_local_without_a_shell(tmp_path):
    (tmp_path / "echo.py").write_text(ECHO_ARGS)
    command = ["python", "echo.py", "--task", "$AZ_BATCHAI_TASK_INDEX", "--greet", '"${GREETING} there"']
    config = ScriptRunConfig(str(tmp_path), command=[*command, "--evil", "$EVIL", "--lit", "'$GREETING'"])
    config.run_config.environment_variables = {"GREETING": "hello", "EVIL": EVIL}
    run = Experiment("v1-launch").submit(config)
    assert run.wait_for_completion(timeout=60)["status"] == "Completed", run.get_log()
    log = run.get_log()
    argv = json.loads(log.split("ARGV ", 1)[1].splitlines()[0])
    assert argv == ["--task", "0", "--greet", "hello there", "--evil", EVIL, "--lit", "$GREETING"]
    assert "PWNED []" in log  # no shell ever ran the value
    assert run.get_metrics()["task_index"] == 0
    assert run.get_details()["targetDetails"]["argv"][1:5] == ["echo.py", "--task", "0", "--greet"]

    scripted = ScriptRunConfig(str(tmp_path), script="echo.py", arguments=["--evil", "$EVIL", "--n", "${GREETING}!"])
    scripted.run_config.environment_variables = {"GREETING": "hi", "EVIL": EVIL}
    second = Experiment("v1-launch").submit(scripted)
    assert second.wait_for_completion(timeout=60)["status"] == "Completed"
    assert json.loads(second.get_log().split("ARGV ", 1)[1].splitlines()[0]) == ["--evil", EVIL, "--n", "hi!"]


def _per_node_config(tmp_path, target: str) -> ScriptRunConfig:
    (tmp_path / "train.py").write_text(PER_NODE_TRAIN)
    config = ScriptRunConfig(
        str(tmp_path),
        command=PER_NODE_COMMAND,
        compute_target=target,
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", node_count=2),
    )
    config.run_config.environment_variables = {"OMP_NUM_THREADS": "1"}
    return config


def _check_per_node(run) -> None:
    details = run.wait_for_completion(timeout=300)
    log = run.get_log()
    assert details["status"] == "Completed", log
    lines = sorted(line.split("] ", 1)[-1] for line in log.splitlines() if " sum " in line)
    assert len(lines) == 4, log
    assert {line.split(" node ")[0] for line in lines} == {"rank 0/4", "rank 1/4", "rank 2/4", "rank 3/4"}
    # each node's launcher got its own $NODE_RANK / $AZ_BATCHAI_TASK_INDEX; 1+2+3+4 = 10 on every rank
    assert sorted(line.split(" node ")[1][0] for line in lines) == ["0", "0", "1", "1"]
    assert all(line.endswith("sum 10") for line in lines)
    assert run.get_metrics() == {"world_size": 4, "rank_sum": 10.0}


def test_per_node_torch_distributed_launch_on_local(tmp_path):
    pytest.importorskip("torch")
    _check_per_node(Experiment("v1-launch").submit(_per_node_config(tmp_path, "local")))


TORCH_PACKAGES = ("torch", "torchgen", "functorch", "typing_extensions", "sympy", "mpmath", "networkx", "jinja2")
TORCH_PACKAGES += ("markupsafe", "filelock", "fsspec")


@pytest.fixture(scope="session")
def torch_image(docker_client):
    """An image with this machine's CPU torch (no registry and no CPU wheel index are reachable here).

    Built once from the base image plus a copy of torch and its pure-python dependencies (same CPython
    3.11 ABI); kept across sessions under a version tag, since it is a large, unchanging cache.
    """
    import importlib.util
    import io
    import tarfile
    import tempfile
    from pathlib import Path

    torch = pytest.importorskip("torch")
    tag = f"runconfig-jupyter/v1script-torch:{torch.__version__.replace('+', '-')}"
    if docker_client.images.list(name=tag):
        return tag
    dockerfile = b"FROM runconfig-jupyter/python:bookworm\nCOPY site/ /usr/local/lib/python3.11/dist-packages/\n"
    with tempfile.TemporaryFile() as context:
        with tarfile.open(fileobj=context, mode="w") as archive:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            archive.addfile(info, io.BytesIO(dockerfile))
            for name in TORCH_PACKAGES:
                spec = importlib.util.find_spec(name)
                assert spec is not None and spec.origin, name
                origin = Path(spec.origin)
                path = origin.parent if origin.name == "__init__.py" else origin
                archive.add(path, f"site/{path.name}", filter=lambda i: None if "__pycache__" in i.name else i)
        context.seek(0)
        docker_client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, timeout=900)
    return tag


@pytest.mark.docker
def test_per_node_torch_distributed_launch_on_docker(tmp_path, torch_image, our_containers):
    from runconfig_jupyter import Environment

    config = _per_node_config(tmp_path, "docker")
    environment = Environment("torch-cpu")
    environment.docker.base_image = torch_image
    environment.python.user_managed_dependencies = True
    config.run_config.environment = environment
    run = Experiment("v1-launch").submit(config)
    _check_per_node(run)
    assert our_containers(run.id) == []


def test_mpi_command_expands_the_master_node_once_for_every_rank(tmp_path):
    """Under mpirun (Open MPI is installed here) the line is expanded once, with the master-node names."""
    from runconfig_jupyter import MpiConfiguration

    (tmp_path / "echo.py").write_text(ECHO_ARGS)
    config = ScriptRunConfig(
        str(tmp_path),
        command="python echo.py --master $AZ_BATCH_MASTER_NODE --nodes $AZUREML_NODE_COUNT",
        distributed_job_config=MpiConfiguration(process_count_per_node=2),
    )
    run = Experiment("v1-launch").submit(config)
    assert run.wait_for_completion(timeout=120)["status"] == "Completed", run.get_log()
    argvs = [json.loads(line.split("ARGV ", 1)[1]) for line in run.get_log().splitlines() if "ARGV " in line]
    assert len(argvs) == 2 and argvs[0] == argvs[1]
    assert argvs[0][0] == "--master" and argvs[0][1].startswith("127.0.0.1:") and argvs[0][2:] == ["--nodes", "1"]
